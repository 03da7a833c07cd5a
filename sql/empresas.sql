-- empresas: one row per company (the 8-character CNPJ root), from Empresas0..9.zip.
SELECT
    cnpj_basico                           AS cnpj_basico,                 -- CNPJ root: the first 8 characters, shared by the company's establishments; digits, or [0-9A-Z] for CNPJs issued from July 2026
    razao_social                          AS razao_social,                -- legal name; for individual entrepreneurs (natureza 2135) it ends with the owner's CPF
    natureza_juridica                     AS natureza_juridica,           -- legal nature code (4 digits, e.g. 2062 limited company); see naturezas
    qualificacao_responsavel              AS qualificacao_responsavel,    -- qualification code of the person responsible for the company; see qualificacoes
    rfb_decimal(capital_social)           AS capital_social,              -- share capital in BRL, DECIMAL(18,2); negatives and the 999999999999 sentinel are kept as published
    porte_empresa                         AS porte_empresa,               -- size: 00 not informed, 01 micro (ME), 03 small (EPP), 05 other
    ente_federativo_responsavel           AS ente_federativo_responsavel  -- federative entity responsible, only for public bodies (natureza 1XXX)
FROM raw_empresas
ORDER BY cnpj_basico
