-- qualidade: data quality of the release the catalog's table views show, one row per table, column and check:
-- orphan codes (a code its lookup table lacks, or a value outside the layout's fixed list), values nulled by casts
-- (from the audit of the build that wrote the partition), CNPJs with wrong check digits, and repeated keys.
-- Each big table is read once for its code checks, once more per key check.
WITH
    -- The release each table view reads, from its partition path (release=YYYY-MM): the view this query sees,
    -- a temporary one or the current database's, not one of another attached catalog.
    view_release AS (
        SELECT view_name AS table_name,
               regexp_extract(arg_max(sql, temporary::INTEGER), 'release=([0-9]{4}-[0-9]{2})', 1) AS release
        FROM duckdb_views()
        WHERE (temporary OR database_name = current_database()) AND view_name IN ('estabelecimentos', 'empresas', 'simples', 'socios', 'cnaes', 'motivos', 'municipios',
                            'naturezas', 'paises', 'qualificacoes')
        GROUP BY view_name
    ),
    estab AS MATERIALIZED (
        SELECT
            count(*) AS n,
            count(*) FILTER (WHERE e.motivo_situacao_cadastral IS NOT NULL AND mo.codigo IS NULL) AS motivo,
            list_sort(list(DISTINCT e.motivo_situacao_cadastral) FILTER (WHERE e.motivo_situacao_cadastral IS NOT NULL AND mo.codigo IS NULL)) AS motivo_codes,
            count(*) FILTER (WHERE e.pais IS NOT NULL AND pa.codigo IS NULL) AS pais,
            list_sort(list(DISTINCT e.pais) FILTER (WHERE e.pais IS NOT NULL AND pa.codigo IS NULL)) AS pais_codes,
            count(*) FILTER (WHERE e.cnae_fiscal_principal IS NOT NULL AND cn.codigo IS NULL) AS cnae,
            list_sort(list(DISTINCT e.cnae_fiscal_principal) FILTER (WHERE e.cnae_fiscal_principal IS NOT NULL AND cn.codigo IS NULL)) AS cnae_codes,
            count(*) FILTER (WHERE e.municipio IS NOT NULL AND mu.codigo IS NULL) AS municipio,
            list_sort(list(DISTINCT e.municipio) FILTER (WHERE e.municipio IS NOT NULL AND mu.codigo IS NULL)) AS municipio_codes,
            count(*) FILTER (WHERE e.situacao_cadastral NOT IN ('01', '02', '03', '04', '08')) AS situacao,
            list_sort(list(DISTINCT e.situacao_cadastral) FILTER (WHERE e.situacao_cadastral NOT IN ('01', '02', '03', '04', '08'))) AS situacao_codes,
            count(*) FILTER (WHERE e.identificador_matriz_filial NOT IN ('1', '2')) AS matriz,
            list_sort(list(DISTINCT e.identificador_matriz_filial) FILTER (WHERE e.identificador_matriz_filial NOT IN ('1', '2'))) AS matriz_codes,
            count(*) FILTER (WHERE NOT coalesce(cnpj_is_valid(e.cnpj), false)) AS dv,
            list_sort(list(DISTINCT e.cnpj) FILTER (WHERE NOT coalesce(cnpj_is_valid(e.cnpj), false))) AS dv_codes
        FROM estabelecimentos e
        LEFT JOIN (SELECT DISTINCT codigo FROM motivos) mo ON mo.codigo = e.motivo_situacao_cadastral
        LEFT JOIN (SELECT DISTINCT codigo FROM paises) pa ON pa.codigo = e.pais
        LEFT JOIN (SELECT DISTINCT codigo FROM cnaes) cn ON cn.codigo = e.cnae_fiscal_principal
        LEFT JOIN (SELECT DISTINCT codigo FROM municipios) mu ON mu.codigo = e.municipio
    ),
    secundaria AS MATERIALIZED (
        SELECT count(*) FILTER (WHERE cn.codigo IS NULL) AS n_orphan, count(*) AS n_codes,
               list_sort(list(DISTINCT u.codigo) FILTER (WHERE cn.codigo IS NULL)) AS codes
        FROM (SELECT unnest(cnae_fiscal_secundaria) AS codigo FROM estabelecimentos) u
        LEFT JOIN (SELECT DISTINCT codigo FROM cnaes) cn ON cn.codigo = u.codigo
    ),
    empresa AS MATERIALIZED (
        SELECT
            count(*) AS n,
            count(*) FILTER (WHERE e.natureza_juridica IS NOT NULL AND na.codigo IS NULL) AS natureza,
            list_sort(list(DISTINCT e.natureza_juridica) FILTER (WHERE e.natureza_juridica IS NOT NULL AND na.codigo IS NULL)) AS natureza_codes,
            count(*) FILTER (WHERE e.qualificacao_responsavel IS NOT NULL AND qu.codigo IS NULL) AS qualificacao,
            list_sort(list(DISTINCT e.qualificacao_responsavel) FILTER (WHERE e.qualificacao_responsavel IS NOT NULL AND qu.codigo IS NULL)) AS qualificacao_codes,
            count(*) FILTER (WHERE e.porte_empresa NOT IN ('00', '01', '03', '05')) AS porte,
            list_sort(list(DISTINCT e.porte_empresa) FILTER (WHERE e.porte_empresa NOT IN ('00', '01', '03', '05'))) AS porte_codes
        FROM empresas e
        LEFT JOIN (SELECT DISTINCT codigo FROM naturezas) na ON na.codigo = e.natureza_juridica
        LEFT JOIN (SELECT DISTINCT codigo FROM qualificacoes) qu ON qu.codigo = e.qualificacao_responsavel
    ),
    socio AS MATERIALIZED (
        SELECT
            count(*) AS n,
            count(*) FILTER (WHERE s.qualificacao_socio IS NOT NULL AND qs.codigo IS NULL) AS qualificacao,
            list_sort(list(DISTINCT s.qualificacao_socio) FILTER (WHERE s.qualificacao_socio IS NOT NULL AND qs.codigo IS NULL)) AS qualificacao_codes,
            count(*) FILTER (WHERE s.qualificacao_representante_legal IS NOT NULL AND qr.codigo IS NULL) AS representante,
            list_sort(list(DISTINCT s.qualificacao_representante_legal) FILTER (WHERE s.qualificacao_representante_legal IS NOT NULL AND qr.codigo IS NULL)) AS representante_codes,
            count(*) FILTER (WHERE s.pais IS NOT NULL AND pa.codigo IS NULL) AS pais,
            list_sort(list(DISTINCT s.pais) FILTER (WHERE s.pais IS NOT NULL AND pa.codigo IS NULL)) AS pais_codes,
            count(*) FILTER (WHERE s.identificador_socio NOT IN ('1', '2', '3')) AS identificador,
            list_sort(list(DISTINCT s.identificador_socio) FILTER (WHERE s.identificador_socio NOT IN ('1', '2', '3'))) AS identificador_codes,
            count(*) FILTER (WHERE NOT regexp_full_match(s.faixa_etaria, '[0-9]')) AS faixa,
            list_sort(list(DISTINCT s.faixa_etaria) FILTER (WHERE NOT regexp_full_match(s.faixa_etaria, '[0-9]'))) AS faixa_codes,
            -- A legal-entity partner (identificador 1) is named by its CNPJ: its check digits can be verified.
            count(*) FILTER (WHERE s.identificador_socio = '1') AS pj,
            count(*) FILTER (WHERE s.identificador_socio = '1' AND NOT coalesce(cnpj_is_valid(s.cnpj_cpf_socio), false)) AS dv,
            list_sort(list(DISTINCT s.cnpj_cpf_socio) FILTER (WHERE s.identificador_socio = '1' AND NOT coalesce(cnpj_is_valid(s.cnpj_cpf_socio), false))) AS dv_codes
        FROM socios s
        LEFT JOIN (SELECT DISTINCT codigo FROM qualificacoes) qs ON qs.codigo = s.qualificacao_socio
        LEFT JOIN (SELECT DISTINCT codigo FROM qualificacoes) qr ON qr.codigo = s.qualificacao_representante_legal
        LEFT JOIN (SELECT DISTINCT codigo FROM paises) pa ON pa.codigo = s.pais
    ),
    -- Keys found more than once: every copy counts in problems, each key once in distinct_values. socios is keyed
    -- as `cnpj-duck diff` matches it (company, document, name).
    repeated AS (
        SELECT 'estabelecimentos' AS table_name, 'cnpj' AS column_name, count(*) AS n, sum(k) AS copies, list(key ORDER BY key) AS keys
        FROM (SELECT cnpj AS key, count(*) AS k FROM estabelecimentos GROUP BY ALL HAVING count(*) > 1)
        UNION ALL SELECT 'empresas', 'cnpj_basico', count(*), sum(k), list(key ORDER BY key)
        FROM (SELECT cnpj_basico AS key, count(*) AS k FROM empresas GROUP BY ALL HAVING count(*) > 1)
        UNION ALL SELECT 'simples', 'cnpj_basico', count(*), sum(k), list(key ORDER BY key)
        FROM (SELECT cnpj_basico AS key, count(*) AS k FROM simples GROUP BY ALL HAVING count(*) > 1)
        UNION ALL SELECT 'socios', 'cnpj_basico, cnpj_cpf_socio, nome_socio_razao_social', count(*), sum(k), list(key ORDER BY key)
        FROM (SELECT concat_ws(' | ', cnpj_basico, coalesce(cnpj_cpf_socio, ''), coalesce(nome_socio_razao_social, '')) AS key,
                     count(*) AS k FROM socios GROUP BY ALL HAVING count(*) > 1)
        UNION ALL SELECT 'cnaes', 'codigo', count(*), sum(k), list(key ORDER BY key) FROM (SELECT codigo AS key, count(*) AS k FROM cnaes GROUP BY ALL HAVING count(*) > 1)
        UNION ALL SELECT 'motivos', 'codigo', count(*), sum(k), list(key ORDER BY key) FROM (SELECT codigo AS key, count(*) AS k FROM motivos GROUP BY ALL HAVING count(*) > 1)
        UNION ALL SELECT 'municipios', 'codigo', count(*), sum(k), list(key ORDER BY key) FROM (SELECT codigo AS key, count(*) AS k FROM municipios GROUP BY ALL HAVING count(*) > 1)
        UNION ALL SELECT 'naturezas', 'codigo', count(*), sum(k), list(key ORDER BY key) FROM (SELECT codigo AS key, count(*) AS k FROM naturezas GROUP BY ALL HAVING count(*) > 1)
        UNION ALL SELECT 'paises', 'codigo', count(*), sum(k), list(key ORDER BY key) FROM (SELECT codigo AS key, count(*) AS k FROM paises GROUP BY ALL HAVING count(*) > 1)
        UNION ALL SELECT 'qualificacoes', 'codigo', count(*), sum(k), list(key ORDER BY key) FROM (SELECT codigo AS key, count(*) AS k FROM qualificacoes GROUP BY ALL HAVING count(*) > 1)
    ),
    table_rows AS (
        SELECT 'estabelecimentos' AS table_name, n FROM estab
        UNION ALL SELECT 'empresas', n FROM empresa
        UNION ALL SELECT 'socios', n FROM socio
        UNION ALL SELECT 'simples', count(*) FROM simples
        UNION ALL SELECT 'cnaes', count(*) FROM cnaes
        UNION ALL SELECT 'motivos', count(*) FROM motivos
        UNION ALL SELECT 'municipios', count(*) FROM municipios
        UNION ALL SELECT 'naturezas', count(*) FROM naturezas
        UNION ALL SELECT 'paises', count(*) FROM paises
        UNION ALL SELECT 'qualificacoes', count(*) FROM qualificacoes
    ),
    -- Values that did not cast (dates like 2021221 or 20230230, decimals, S/N flags) were counted per column by
    -- the build, in audit_files.values_nulled. The partition's parts come from the latest succeeded file of each
    -- zip in a succeeded table build of that release (a file skipped as unchanged keeps the run that wrote it).
    audited AS (
        SELECT f.release, t.table_name, f.values_nulled,
               row_number() OVER (PARTITION BY f.release, t.table_name, f.zip_name ORDER BY f.run_id DESC, f.file_id DESC) AS latest
        FROM audit_files f JOIN audit_tables t ON t.table_run_id = f.table_run_id
        WHERE f.status = 'succeeded' AND t.status = 'succeeded'
    ),
    nulled AS (
        SELECT a.table_name, e.key AS column_name, sum(e.value) AS n
        FROM audited a
        JOIN view_release v ON v.table_name = a.table_name AND v.release = a.release,
             unnest(map_entries(coalesce(a.values_nulled, '{}')::JSON::MAP(VARCHAR, BIGINT))) AS m(e)
        WHERE a.latest = 1
        GROUP BY ALL
    ),
    -- Every typed column that a cast can null (dates, decimals, flags) gets a row, nulled or not.
    typed AS (
        SELECT DISTINCT table_name, column_name FROM duckdb_columns()
        WHERE database_name IN (current_database(), 'temp') AND table_name IN ('estabelecimentos', 'empresas', 'simples', 'socios')
          AND data_type <> 'VARCHAR' AND NOT data_type LIKE '%[]'
        UNION SELECT table_name, column_name FROM nulled
    ),
    checks AS (
        SELECT 'estabelecimentos' AS table_name, 'motivo_situacao_cadastral' AS column_name, 'orphan_code' AS check_name,
               n AS rows_checked, motivo AS problems, motivo_codes AS codes, 'rows whose code is not in motivos' AS detail FROM estab
        UNION ALL SELECT 'estabelecimentos', 'pais', 'orphan_code', n, pais, pais_codes, 'rows whose code is not in paises' FROM estab
        UNION ALL SELECT 'estabelecimentos', 'cnae_fiscal_principal', 'orphan_code', n, cnae, cnae_codes, 'rows whose code is not in cnaes' FROM estab
        UNION ALL SELECT 'estabelecimentos', 'cnae_fiscal_secundaria', 'orphan_code', n_codes, n_orphan, codes,
                         'codes (list items, not rows) that are not in cnaes' FROM secundaria
        UNION ALL SELECT 'estabelecimentos', 'municipio', 'orphan_code', n, municipio, municipio_codes, 'rows whose code is not in municipios' FROM estab
        UNION ALL SELECT 'estabelecimentos', 'situacao_cadastral', 'orphan_code', n, situacao, situacao_codes,
                         'rows whose code is not one of the layout''s 01, 02, 03, 04, 08' FROM estab
        UNION ALL SELECT 'estabelecimentos', 'identificador_matriz_filial', 'orphan_code', n, matriz, matriz_codes,
                         'rows whose code is not 1 (matriz) or 2 (filial)' FROM estab
        UNION ALL SELECT 'estabelecimentos', 'cnpj', 'invalid_check_digits', n, dv, dv_codes,
                         'rows whose CNPJ check digits are wrong (cnpj_is_valid in sql/_macros.sql)' FROM estab
        UNION ALL SELECT 'empresas', 'natureza_juridica', 'orphan_code', n, natureza, natureza_codes, 'rows whose code is not in naturezas' FROM empresa
        UNION ALL SELECT 'empresas', 'qualificacao_responsavel', 'orphan_code', n, qualificacao, qualificacao_codes,
                         'rows whose code is not in qualificacoes' FROM empresa
        UNION ALL SELECT 'empresas', 'porte_empresa', 'orphan_code', n, porte, porte_codes,
                         'rows whose code is not one of the layout''s 00, 01, 03, 05' FROM empresa
        UNION ALL SELECT 'socios', 'qualificacao_socio', 'orphan_code', n, qualificacao, qualificacao_codes,
                         'rows whose code is not in qualificacoes' FROM socio
        UNION ALL SELECT 'socios', 'qualificacao_representante_legal', 'orphan_code', n, representante, representante_codes,
                         'rows whose code is not in qualificacoes' FROM socio
        UNION ALL SELECT 'socios', 'pais', 'orphan_code', n, pais, pais_codes, 'rows whose code is not in paises' FROM socio
        UNION ALL SELECT 'socios', 'identificador_socio', 'orphan_code', n, identificador, identificador_codes,
                         'rows whose code is not 1 (PJ), 2 (PF) or 3 (foreigner)' FROM socio
        UNION ALL SELECT 'socios', 'faixa_etaria', 'orphan_code', n, faixa, faixa_codes, 'rows whose code is not one digit 0-9' FROM socio
        UNION ALL SELECT 'socios', 'cnpj_cpf_socio', 'invalid_check_digits', pj, dv, dv_codes,
                         'legal-entity partners (identificador_socio 1) whose CNPJ check digits are wrong' FROM socio
        UNION ALL SELECT r.table_name, r.column_name, 'duplicate_key', t.n, coalesce(r.copies, 0), r.keys,
                         'rows whose key is repeated (every copy counts)'
        FROM repeated r JOIN table_rows t USING (table_name)
        UNION ALL SELECT ty.table_name, ty.column_name, 'nulled_by_cast', t.n, coalesce(nu.n, 0), NULL,
                         'values that did not cast and became NULL (audit_files.values_nulled)'
        FROM typed ty JOIN table_rows t USING (table_name) LEFT JOIN nulled nu USING (table_name, column_name)
    )
SELECT
    v.release                        AS release,         -- the release month (YYYY-MM) of the table view that was checked
    c.table_name                     AS table_name,      -- the output table checked
    c.column_name                    AS column_name,     -- the column checked (for duplicate_key, the key's columns)
    c.check_name                     AS check_name,      -- orphan_code, nulled_by_cast, invalid_check_digits or duplicate_key
    c.rows_checked                   AS rows_checked,    -- rows of the table (for cnae_fiscal_secundaria, list items; for socios' CNPJs, legal-entity partners)
    c.problems::BIGINT               AS problems,        -- rows (or items) that fail the check; 0 when all pass
    coalesce(len(c.codes), 0)        AS distinct_values, -- distinct offending values: orphan codes, invalid CNPJs, repeated keys
    c.codes[1:10]                    AS examples,        -- up to 10 of those values, in order (NULL for nulled_by_cast: the audit keeps no values)
    c.detail                         AS detail           -- what exactly is counted
FROM checks c
LEFT JOIN view_release v USING (table_name)
ORDER BY c.table_name, c.check_name, c.column_name
