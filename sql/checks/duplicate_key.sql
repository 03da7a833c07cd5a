-- duplicate_key: keys found more than once, each with its number of copies (every copy counts as a problem). The
-- keys are those of cnpj_duck/tables.py; socios is keyed as `cnpj-duck diff` matches it (company, document, name).
WITH
    keys(table_name, column_name) AS (
        VALUES ('estabelecimentos', 'cnpj'), ('empresas', 'cnpj_basico'), ('simples', 'cnpj_basico'),
               ('socios', 'cnpj_basico, cnpj_cpf_socio, nome_socio_razao_social'), ('cnaes', 'codigo'),
               ('motivos', 'codigo'), ('municipios', 'codigo'), ('naturezas', 'codigo'), ('paises', 'codigo'),
               ('qualificacoes', 'codigo')
    ),
    -- read twice (the counts, the repeats), never held whole in memory
    keyed AS NOT MATERIALIZED (
        SELECT 'estabelecimentos' AS table_name, cnpj AS key FROM estabelecimentos
        UNION ALL SELECT 'empresas', cnpj_basico FROM empresas
        UNION ALL SELECT 'simples', cnpj_basico FROM simples
        UNION ALL SELECT 'socios', concat_ws(' | ', cnpj_basico, coalesce(cnpj_cpf_socio, ''),
                                             coalesce(nome_socio_razao_social, '')) FROM socios
        UNION ALL SELECT 'cnaes', codigo FROM cnaes
        UNION ALL SELECT 'motivos', codigo FROM motivos
        UNION ALL SELECT 'municipios', codigo FROM municipios
        UNION ALL SELECT 'naturezas', codigo FROM naturezas
        UNION ALL SELECT 'paises', codigo FROM paises
        UNION ALL SELECT 'qualificacoes', codigo FROM qualificacoes
    ),
    counted AS (SELECT table_name, count(*) AS n FROM keyed GROUP BY table_name)
SELECT k.table_name, k.column_name, NULL AS value, 0 AS problems, coalesce(c.n, 0) AS rows_checked,
       'rows whose key is repeated (every copy counts)' AS detail
FROM keys k LEFT JOIN counted c USING (table_name)
UNION ALL SELECT k.table_name, k.column_name, x.key, count(*), NULL, NULL
FROM keyed x JOIN keys k USING (table_name)
GROUP BY ALL HAVING count(*) > 1
