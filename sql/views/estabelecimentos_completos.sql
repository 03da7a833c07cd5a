-- estabelecimentos_completos: every establishment with its company (empresas), its Simples/MEI option (simples)
-- and the description of every code. Lookups are LEFT-joined: a code missing from its lookup keeps its value
-- with a NULL description. One row per row of estabelecimentos: where empresas or simples repeats a key, the
-- first of its rows by their columns is used; where a lookup repeats a code, its descriptions are joined with
-- ' | ' (the qualidade view counts repeated keys). codigo_municipio_ibge comes from municipios_ibge, which every
-- catalog has: empty unless the config key ibge names the Tesouro's SIAFI-to-IBGE table (cnpj_duck/ibge.py).
WITH
    empresa AS (
        SELECT * FROM empresas
        QUALIFY row_number() OVER (PARTITION BY cnpj_basico ORDER BY razao_social, natureza_juridica,
            qualificacao_responsavel, capital_social, porte_empresa, ente_federativo_responsavel) = 1
    ),
    opcao AS (
        SELECT * FROM simples
        QUALIFY row_number() OVER (PARTITION BY cnpj_basico ORDER BY opcao_simples, data_opcao_simples,
            data_exclusao_simples, opcao_mei, data_opcao_mei, data_exclusao_mei) = 1
    )
SELECT
    e.cnpj                        AS cnpj,                                 -- full CNPJ, 14 characters without punctuation: basico + ordem + dv
    e.cnpj_basico                 AS cnpj_basico,                          -- CNPJ root (8 characters), joins to empresas, socios and simples
    e.cnpj_ordem                  AS cnpj_ordem,                           -- establishment number (4 characters): 0001 is usually the head office
    e.cnpj_dv                     AS cnpj_dv,                              -- the two check digits
    e.identificador_matriz_filial AS identificador_matriz_filial,          -- 1 head office (matriz), 2 branch (filial)
    CASE e.identificador_matriz_filial WHEN '1' THEN 'MATRIZ' WHEN '2' THEN 'FILIAL' END
                                  AS identificador_matriz_filial_descricao, -- MATRIZ (head office) or FILIAL (branch); NULL for another code
    emp.razao_social              AS razao_social,                         -- the company's legal name (empresas); NULL when the root is not in empresas
    e.nome_fantasia               AS nome_fantasia,                        -- trade name of the establishment
    emp.natureza_juridica         AS natureza_juridica,                    -- the company's legal nature code (4 digits); see naturezas
    natureza.descricao            AS natureza_juridica_descricao,          -- description of the legal nature (naturezas); NULL when the code is not there
    emp.qualificacao_responsavel  AS qualificacao_responsavel,             -- qualification code of the person responsible for the company; see qualificacoes
    qualificacao.descricao        AS qualificacao_responsavel_descricao,   -- description of that qualification (qualificacoes); NULL when the code is not there
    emp.capital_social            AS capital_social,                       -- the company's share capital in BRL, DECIMAL(18,2), as published
    emp.porte_empresa             AS porte_empresa,                        -- company size: 00 not informed, 01 micro (ME), 03 small (EPP), 05 other
    CASE emp.porte_empresa WHEN '00' THEN 'NAO INFORMADO' WHEN '01' THEN 'MICRO EMPRESA'
        WHEN '03' THEN 'EMPRESA DE PEQUENO PORTE' WHEN '05' THEN 'DEMAIS' END
                                  AS porte_empresa_descricao,              -- company size in words, as the Receita's layout names it; NULL for another code
    emp.ente_federativo_responsavel AS ente_federativo_responsavel,        -- federative entity responsible, only for public bodies (natureza 1XXX)
    e.situacao_cadastral          AS situacao_cadastral,                   -- registration status: 01 null, 02 active, 03 suspended, 04 unfit (inapta), 08 closed (baixada)
    CASE e.situacao_cadastral WHEN '01' THEN 'NULA' WHEN '02' THEN 'ATIVA' WHEN '03' THEN 'SUSPENSA'
        WHEN '04' THEN 'INAPTA' WHEN '08' THEN 'BAIXADA' END
                                  AS situacao_cadastral_descricao,         -- registration status in words (NULA, ATIVA, SUSPENSA, INAPTA, BAIXADA); NULL for another code
    e.data_situacao_cadastral     AS data_situacao_cadastral,              -- date of the current registration status
    e.motivo_situacao_cadastral   AS motivo_situacao_cadastral,            -- reason code for the status; see motivos
    motivo.descricao              AS motivo_situacao_cadastral_descricao,  -- description of the reason (motivos); NULL when the code is not there (32 is missing from motivos)
    e.nome_cidade_exterior        AS nome_cidade_exterior,                 -- city abroad, for establishments outside Brazil
    e.pais                        AS pais,                                 -- country code for establishments abroad; see paises
    pais.descricao                AS pais_descricao,                       -- the country's name (paises); NULL when there is no code or it is not there
    e.data_inicio_atividade       AS data_inicio_atividade,                -- date the activity started
    e.cnae_fiscal_principal       AS cnae_fiscal_principal,                -- main economic activity, 7-digit CNAE code; see cnaes
    cnae.descricao                AS cnae_fiscal_principal_descricao,      -- description of the main activity (cnaes); NULL when the code is not there
    e.cnae_fiscal_secundaria      AS cnae_fiscal_secundaria,               -- secondary activities: list of 7-digit CNAE codes (NULL when none); one row each with descriptions in cnaes_secundarias
    e.tipo_logradouro             AS tipo_logradouro,                      -- street type (RUA, AVENIDA, ...)
    e.logradouro                  AS logradouro,                           -- street name
    e.numero                      AS numero,                               -- street number as written: digits, S/N, SN, letters
    e.complemento                 AS complemento,                          -- address complement (may hold ';' and line breaks)
    e.bairro                      AS bairro,                               -- neighbourhood
    e.cep                         AS cep,                                  -- postal code as published (usually 8 digits)
    e.uf                          AS uf,                                   -- state (two letters); EX for establishments abroad
    e.municipio                   AS municipio,                            -- municipality code of the Receita (SIAFI, not IBGE); see municipios
    municipio.descricao           AS municipio_descricao,                  -- the municipality's name (municipios); NULL when the code is not there
    municipio_ibge.codigo_ibge    AS codigo_municipio_ibge,                -- the municipality's IBGE code (7 digits), from the Tesouro's SIAFI-to-IBGE table named by the config key ibge (municipios_ibge); NULL without one or for a code it lacks
    e.ddd_1                       AS ddd_1,                                -- area code of phone 1
    e.telefone_1                  AS telefone_1,                           -- phone 1
    e.ddd_2                       AS ddd_2,                                -- area code of phone 2
    e.telefone_2                  AS telefone_2,                           -- phone 2
    e.ddd_fax                     AS ddd_fax,                              -- area code of the fax
    e.fax                         AS fax,                                  -- fax number
    e.correio_eletronico          AS correio_eletronico,                   -- e-mail address as published
    e.situacao_especial           AS situacao_especial,                    -- special status (e.g. bankruptcy, judicial recovery)
    e.data_situacao_especial      AS data_situacao_especial,               -- date of the special status
    opcao.opcao_simples           AS opcao_simples,                        -- the company opted for Simples Nacional (true/false; NULL when blank or the root is not in simples)
    opcao.data_opcao_simples      AS data_opcao_simples,                   -- date of the Simples option
    opcao.data_exclusao_simples   AS data_exclusao_simples,                -- date the company left Simples
    opcao.opcao_mei               AS opcao_mei,                            -- the company opted for MEI, the individual micro-entrepreneur regime (true/false/NULL)
    opcao.data_opcao_mei          AS data_opcao_mei,                       -- date of the MEI option
    opcao.data_exclusao_mei       AS data_exclusao_mei                     -- date the company left MEI
FROM estabelecimentos e
LEFT JOIN empresa emp ON emp.cnpj_basico = e.cnpj_basico
LEFT JOIN opcao ON opcao.cnpj_basico = e.cnpj_basico
LEFT JOIN lookup_descriptions('naturezas') natureza ON natureza.codigo = emp.natureza_juridica
LEFT JOIN lookup_descriptions('qualificacoes') qualificacao ON qualificacao.codigo = emp.qualificacao_responsavel
LEFT JOIN lookup_descriptions('motivos') motivo ON motivo.codigo = e.motivo_situacao_cadastral
LEFT JOIN lookup_descriptions('paises') pais ON pais.codigo = e.pais
LEFT JOIN lookup_descriptions('cnaes') cnae ON cnae.codigo = e.cnae_fiscal_principal
LEFT JOIN lookup_descriptions('municipios') municipio ON municipio.codigo = e.municipio
LEFT JOIN municipios_ibge municipio_ibge ON municipio_ibge.codigo = e.municipio
