-- orphan_code: codes that their lookup table lacks (motivos, paises, ...), and values outside the layout's fixed
-- list of codes (situacao_cadastral, porte_empresa, ...). A NULL code is no orphan. The lookups and the lists are
-- those of cnpj_duck/tables.py.
WITH
    checked(table_name, column_name, detail) AS (
        VALUES
            ('estabelecimentos', 'motivo_situacao_cadastral', 'rows whose code is not in motivos'),
            ('estabelecimentos', 'pais', 'rows whose code is not in paises'),
            ('estabelecimentos', 'cnae_fiscal_principal', 'rows whose code is not in cnaes'),
            ('estabelecimentos', 'municipio', 'rows whose code is not in municipios'),
            ('estabelecimentos', 'situacao_cadastral', 'rows whose code is not one of the layout''s 01, 02, 03, 04, 08'),
            ('estabelecimentos', 'identificador_matriz_filial', 'rows whose code is not 1 (matriz) or 2 (filial)'),
            ('empresas', 'natureza_juridica', 'rows whose code is not in naturezas'),
            ('empresas', 'qualificacao_responsavel', 'rows whose code is not in qualificacoes'),
            ('empresas', 'porte_empresa', 'rows whose code is not one of the layout''s 00, 01, 03, 05'),
            ('socios', 'qualificacao_socio', 'rows whose code is not in qualificacoes'),
            ('socios', 'qualificacao_representante_legal', 'rows whose code is not in qualificacoes'),
            ('socios', 'pais', 'rows whose code is not in paises'),
            ('socios', 'identificador_socio', 'rows whose code is not 1 (PJ), 2 (PF) or 3 (foreigner)'),
            ('socios', 'faixa_etaria', 'rows whose code is not one digit 0-9')
    ),
    table_rows AS (
        SELECT 'estabelecimentos' AS table_name, count(*) AS n FROM estabelecimentos
        UNION ALL SELECT 'empresas', count(*) FROM empresas
        UNION ALL SELECT 'socios', count(*) FROM socios
    )
-- The scope rows: every table and column checked, with the rows (or list items) looked at.
SELECT c.table_name, c.column_name, NULL AS value, 0 AS problems, t.n AS rows_checked, c.detail
FROM checked c JOIN table_rows t USING (table_name)
UNION ALL SELECT 'estabelecimentos', 'cnae_fiscal_secundaria', NULL, 0, coalesce(sum(len(cnae_fiscal_secundaria)), 0),
                 'codes (list items, not rows) that are not in cnaes'
FROM estabelecimentos
-- The offending rows: codes their lookup lacks.
UNION ALL SELECT 'estabelecimentos', 'motivo_situacao_cadastral', e.motivo_situacao_cadastral, 1, NULL, NULL
FROM estabelecimentos e ANTI JOIN motivos l ON l.codigo = e.motivo_situacao_cadastral
WHERE e.motivo_situacao_cadastral IS NOT NULL
UNION ALL SELECT 'estabelecimentos', 'pais', e.pais, 1, NULL, NULL
FROM estabelecimentos e ANTI JOIN paises l ON l.codigo = e.pais WHERE e.pais IS NOT NULL
UNION ALL SELECT 'estabelecimentos', 'cnae_fiscal_principal', e.cnae_fiscal_principal, 1, NULL, NULL
FROM estabelecimentos e ANTI JOIN cnaes l ON l.codigo = e.cnae_fiscal_principal WHERE e.cnae_fiscal_principal IS NOT NULL
UNION ALL SELECT 'estabelecimentos', 'municipio', e.municipio, 1, NULL, NULL
FROM estabelecimentos e ANTI JOIN municipios l ON l.codigo = e.municipio WHERE e.municipio IS NOT NULL
UNION ALL SELECT 'estabelecimentos', 'cnae_fiscal_secundaria', u.codigo, 1, NULL, NULL
FROM (SELECT unnest(cnae_fiscal_secundaria) AS codigo FROM estabelecimentos) u ANTI JOIN cnaes l ON l.codigo = u.codigo
UNION ALL SELECT 'empresas', 'natureza_juridica', e.natureza_juridica, 1, NULL, NULL
FROM empresas e ANTI JOIN naturezas l ON l.codigo = e.natureza_juridica WHERE e.natureza_juridica IS NOT NULL
UNION ALL SELECT 'empresas', 'qualificacao_responsavel', e.qualificacao_responsavel, 1, NULL, NULL
FROM empresas e ANTI JOIN qualificacoes l ON l.codigo = e.qualificacao_responsavel
WHERE e.qualificacao_responsavel IS NOT NULL
UNION ALL SELECT 'socios', 'qualificacao_socio', s.qualificacao_socio, 1, NULL, NULL
FROM socios s ANTI JOIN qualificacoes l ON l.codigo = s.qualificacao_socio WHERE s.qualificacao_socio IS NOT NULL
UNION ALL SELECT 'socios', 'qualificacao_representante_legal', s.qualificacao_representante_legal, 1, NULL, NULL
FROM socios s ANTI JOIN qualificacoes l ON l.codigo = s.qualificacao_representante_legal
WHERE s.qualificacao_representante_legal IS NOT NULL
UNION ALL SELECT 'socios', 'pais', s.pais, 1, NULL, NULL
FROM socios s ANTI JOIN paises l ON l.codigo = s.pais WHERE s.pais IS NOT NULL
-- The offending rows: values outside the layout's fixed lists (RFB_FORMAT.md §5).
UNION ALL SELECT 'estabelecimentos', 'situacao_cadastral', situacao_cadastral, 1, NULL, NULL
FROM estabelecimentos WHERE situacao_cadastral NOT IN ('01', '02', '03', '04', '08')
UNION ALL SELECT 'estabelecimentos', 'identificador_matriz_filial', identificador_matriz_filial, 1, NULL, NULL
FROM estabelecimentos WHERE identificador_matriz_filial NOT IN ('1', '2')
UNION ALL SELECT 'empresas', 'porte_empresa', porte_empresa, 1, NULL, NULL
FROM empresas WHERE porte_empresa NOT IN ('00', '01', '03', '05')
UNION ALL SELECT 'socios', 'identificador_socio', identificador_socio, 1, NULL, NULL
FROM socios WHERE identificador_socio NOT IN ('1', '2', '3')
UNION ALL SELECT 'socios', 'faixa_etaria', faixa_etaria, 1, NULL, NULL
FROM socios WHERE NOT regexp_full_match(faixa_etaria, '[0-9]')
