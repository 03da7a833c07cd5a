-- socios_completos: every partner (socio) with its company's legal name and the description of every code.
-- Lookups are LEFT-joined: a code missing from its lookup keeps its value with a NULL description. One row per
-- row of socios: where empresas repeats a key, the first of its rows by their columns is used; where a lookup
-- repeats a code, its descriptions are joined with ' | '.
WITH
    empresa AS (
        SELECT cnpj_basico, razao_social FROM empresas
        QUALIFY row_number() OVER (PARTITION BY cnpj_basico ORDER BY razao_social, natureza_juridica,
            qualificacao_responsavel, capital_social, porte_empresa, ente_federativo_responsavel) = 1
    )
SELECT
    s.cnpj_basico                      AS cnpj_basico,                      -- CNPJ root of the company (8 characters); joins to empresas and estabelecimentos
    emp.razao_social                   AS razao_social,                     -- the company's legal name (empresas); NULL when the root is not in empresas
    s.identificador_socio              AS identificador_socio,              -- partner type: 1 legal entity (PJ), 2 person (PF), 3 foreigner
    CASE s.identificador_socio WHEN '1' THEN 'PESSOA JURIDICA' WHEN '2' THEN 'PESSOA FISICA'
        WHEN '3' THEN 'ESTRANGEIRO' END
                                       AS identificador_socio_descricao,    -- partner type in words (PESSOA JURIDICA, PESSOA FISICA, ESTRANGEIRO); NULL for another code
    s.nome_socio_razao_social          AS nome_socio_razao_social,          -- partner's name, or legal name when the partner is a company
    s.cnpj_cpf_socio                   AS cnpj_cpf_socio,                   -- partner's CNPJ (14 characters) for PJ, masked CPF ***NNNNNN** for PF (not unique), NULL for foreigners
    s.qualificacao_socio               AS qualificacao_socio,               -- partner's qualification code; see qualificacoes
    qs.descricao                       AS qualificacao_socio_descricao,     -- description of the partner's qualification (qualificacoes); NULL when the code is not there
    s.data_entrada_sociedade           AS data_entrada_sociedade,           -- date the partner joined
    s.pais                             AS pais,                             -- country code of a foreign partner; see paises
    pais.descricao                     AS pais_descricao,                   -- the country's name (paises); NULL when there is no code or it is not there
    s.representante_legal              AS representante_legal,              -- masked CPF of the legal representative; ***000000** means none
    s.nome_representante               AS nome_representante,               -- name of the legal representative
    s.qualificacao_representante_legal AS qualificacao_representante_legal, -- the representative's qualification code (00 when none); see qualificacoes
    qr.descricao                       AS qualificacao_representante_legal_descricao, -- description of the representative's qualification (qualificacoes); NULL when the code is not there
    s.faixa_etaria                     AS faixa_etaria,                     -- age band code: 0 not applicable, 1 up to 12 years, 2 13-20, 3 21-30, ... 8 71-80, 9 over 80
    CASE s.faixa_etaria WHEN '0' THEN 'NAO SE APLICA' WHEN '1' THEN '0 A 12 ANOS' WHEN '2' THEN '13 A 20 ANOS'
        WHEN '3' THEN '21 A 30 ANOS' WHEN '4' THEN '31 A 40 ANOS' WHEN '5' THEN '41 A 50 ANOS'
        WHEN '6' THEN '51 A 60 ANOS' WHEN '7' THEN '61 A 70 ANOS' WHEN '8' THEN '71 A 80 ANOS'
        WHEN '9' THEN 'MAIS DE 80 ANOS' END
                                       AS faixa_etaria_descricao            -- age band in words (NAO SE APLICA, 0 A 12 ANOS, ..., MAIS DE 80 ANOS); NULL for another code
FROM socios s
LEFT JOIN empresa emp ON emp.cnpj_basico = s.cnpj_basico
LEFT JOIN lookup_descriptions('qualificacoes') qs ON qs.codigo = s.qualificacao_socio
LEFT JOIN lookup_descriptions('qualificacoes') qr ON qr.codigo = s.qualificacao_representante_legal
LEFT JOIN lookup_descriptions('paises') pais ON pais.codigo = s.pais
