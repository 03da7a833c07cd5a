-- estabelecimentos: one row per establishment (head office or branch), from Estabelecimentos0..9.zip.
SELECT
    cnpj_basico || cnpj_ordem || cnpj_dv  AS cnpj,                        -- full CNPJ, 14 characters without punctuation: basico + ordem + dv
    cnpj_basico                           AS cnpj_basico,                 -- CNPJ root (8 characters), joins to empresas, socios and simples
    cnpj_ordem                            AS cnpj_ordem,                  -- establishment number (4 characters): 0001 is usually the head office
    cnpj_dv                               AS cnpj_dv,                     -- the two check digits
    identificador_matriz_filial           AS identificador_matriz_filial, -- 1 head office (matriz), 2 branch (filial)
    nome_fantasia                         AS nome_fantasia,               -- trade name
    situacao_cadastral                    AS situacao_cadastral,          -- registration status: 01 null, 02 active, 03 suspended, 04 unfit (inapta), 08 closed (baixada)
    rfb_date(data_situacao_cadastral)     AS data_situacao_cadastral,     -- date of the current registration status
    motivo_situacao_cadastral             AS motivo_situacao_cadastral,   -- reason code for the status; see motivos (some codes, like 32, are missing there)
    nome_cidade_exterior                  AS nome_cidade_exterior,        -- city abroad, for establishments outside Brazil
    pais                                  AS pais,                        -- country code for establishments abroad (empty for most Brazilian ones, 105 for some); see paises
    rfb_date(data_inicio_atividade)       AS data_inicio_atividade,       -- date the activity started
    cnae_fiscal_principal                 AS cnae_fiscal_principal,       -- main economic activity, 7-digit CNAE code; see cnaes
    rfb_list(cnae_fiscal_secundaria)      AS cnae_fiscal_secundaria,      -- secondary activities: list of 7-digit CNAE codes (NULL when none)
    tipo_logradouro                       AS tipo_logradouro,             -- street type (RUA, AVENIDA, ...)
    logradouro                            AS logradouro,                  -- street name
    numero                                AS numero,                      -- street number as written: digits, S/N, SN, letters
    complemento                           AS complemento,                 -- address complement (may hold ';' and line breaks)
    bairro                                AS bairro,                      -- neighbourhood
    cep                                   AS cep,                         -- postal code as published (usually 8 digits; 7 digits, 0 or letters occur)
    uf                                    AS uf,                          -- state (two letters); EX for establishments abroad
    municipio                             AS municipio,                   -- municipality code of the Receita (SIAFI, not IBGE); 9707 abroad; see municipios
    ddd_1                                 AS ddd_1,                       -- area code of phone 1
    telefone_1                            AS telefone_1,                  -- phone 1
    ddd_2                                 AS ddd_2,                       -- area code of phone 2
    telefone_2                            AS telefone_2,                  -- phone 2
    ddd_fax                               AS ddd_fax,                     -- area code of the fax
    fax                                   AS fax,                         -- fax number
    correio_eletronico                    AS correio_eletronico,          -- e-mail address as published
    situacao_especial                     AS situacao_especial,           -- special status (e.g. bankruptcy, judicial recovery)
    rfb_date(data_situacao_especial)      AS data_situacao_especial       -- date of the special status
FROM raw_estabelecimentos
ORDER BY cnpj
