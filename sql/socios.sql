-- socios: one row per partner (socio) of a company, from Socios0..9.zip. A company has zero or more.
SELECT
    cnpj_basico                                AS cnpj_basico,                      -- CNPJ root of the company (8 characters); joins to empresas
    identificador_socio                        AS identificador_socio,              -- partner type: 1 legal entity (PJ), 2 person (PF), 3 foreigner
    nome_socio_razao_social                    AS nome_socio_razao_social,          -- partner's name, or legal name when the partner is a company
    cnpj_cpf_socio                             AS cnpj_cpf_socio,                   -- partner's CNPJ (14 characters) for PJ, masked CPF ***NNNNNN** for PF (not unique), NULL for foreigners
    qualificacao_socio                         AS qualificacao_socio,               -- partner's qualification code; see qualificacoes
    rfb_date(data_entrada_sociedade)           AS data_entrada_sociedade,           -- date the partner joined
    pais                                       AS pais,                             -- country code of a foreign partner; see paises
    representante_legal                        AS representante_legal,              -- masked CPF of the legal representative; ***000000** means none
    nome_representante                         AS nome_representante,               -- name of the legal representative
    qualificacao_representante_legal           AS qualificacao_representante_legal, -- the representative's qualification code (00 when none); see qualificacoes
    faixa_etaria                               AS faixa_etaria                      -- age band: 0 not applicable, 1 up to 12 years, 2 13-20, 3 21-30, ... 8 71-80, 9 over 80
FROM raw_socios
ORDER BY cnpj_basico
