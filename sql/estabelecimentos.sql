-- estabelecimentos: one row per establishment (head office or branch), from Estabelecimentos0..9.zip.
SELECT
    rfb_text(cnpj_basico) || rfb_text(cnpj_ordem) || rfb_text(cnpj_dv)
                                          AS cnpj,                        -- full CNPJ, 14 characters without punctuation: basico + ordem + dv
    rfb_text(cnpj_basico)                 AS cnpj_basico,                 -- CNPJ root (8 characters), joins to empresas, socios and simples
    rfb_text(cnpj_ordem)                  AS cnpj_ordem,                  -- establishment number (4 characters): 0001 is usually the head office
    rfb_text(cnpj_dv)                     AS cnpj_dv,                     -- the two check digits
    rfb_text(identificador_matriz_filial) AS identificador_matriz_filial, -- 1 head office (matriz), 2 branch (filial)
    rfb_text(nome_fantasia)               AS nome_fantasia,               -- trade name
    rfb_text(situacao_cadastral)          AS situacao_cadastral,          -- registration status: 01 null, 02 active, 03 suspended, 04 unfit (inapta), 08 closed (baixada)
    rfb_date(data_situacao_cadastral)     AS data_situacao_cadastral,     -- date of the current registration status
    rfb_text(motivo_situacao_cadastral)   AS motivo_situacao_cadastral,   -- reason code for the status; see motivos (some codes, like 32, are missing there)
    rfb_text(nome_cidade_exterior)        AS nome_cidade_exterior,        -- city abroad, for establishments outside Brazil
    rfb_text(pais)                        AS pais,                        -- country code for establishments abroad (empty for most Brazilian ones, 105 for some); see paises
    rfb_date(data_inicio_atividade)       AS data_inicio_atividade,       -- date the activity started
    rfb_text(cnae_fiscal_principal)       AS cnae_fiscal_principal,       -- main economic activity, 7-digit CNAE code; see cnaes
    rfb_list(cnae_fiscal_secundaria)      AS cnae_fiscal_secundaria,      -- secondary activities: list of 7-digit CNAE codes (NULL when none)
    rfb_text(tipo_logradouro)             AS tipo_logradouro,             -- street type (RUA, AVENIDA, ...)
    rfb_text(logradouro)                  AS logradouro,                  -- street name
    rfb_text(numero)                      AS numero,                      -- street number as written: digits, S/N, SN, letters
    rfb_text(complemento)                 AS complemento,                 -- address complement (may hold ';' and line breaks)
    rfb_text(bairro)                      AS bairro,                      -- neighbourhood
    rfb_text(cep)                         AS cep,                         -- postal code as published (usually 8 digits; 7 digits, 0 or letters occur)
    rfb_text(uf)                          AS uf,                          -- state (two letters); EX for establishments abroad
    rfb_text(municipio)                   AS municipio,                   -- municipality code of the Receita (SIAFI, not IBGE); 9707 abroad; see municipios
    rfb_text(ddd_1)                       AS ddd_1,                       -- area code of phone 1
    rfb_text(telefone_1)                  AS telefone_1,                  -- phone 1
    rfb_text(ddd_2)                       AS ddd_2,                       -- area code of phone 2
    rfb_text(telefone_2)                  AS telefone_2,                  -- phone 2
    rfb_text(ddd_fax)                     AS ddd_fax,                     -- area code of the fax
    rfb_text(fax)                         AS fax,                         -- fax number
    rfb_text(correio_eletronico)          AS correio_eletronico,          -- e-mail address as published
    rfb_text(situacao_especial)           AS situacao_especial,           -- special status (e.g. bankruptcy, judicial recovery)
    rfb_date(data_situacao_especial)      AS data_situacao_especial       -- date of the special status
FROM raw_estabelecimentos
ORDER BY cnpj
