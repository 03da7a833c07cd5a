-- nulled_by_cast: values that did not cast (dates like 2021221 or 20230230, decimals, S/N flags) and became NULL,
-- as the build that wrote the partition counted them per column (audit_files.values_nulled). Every typed column of
-- a table gets its row, nulled or not; the audit keeps counts, not values, so there are no offending rows.
WITH
    -- The partition's parts come from the latest succeeded file of each zip in a succeeded table build of the
    -- release the table view shows (a file skipped as unchanged keeps the run that wrote it).
    audited AS (
        SELECT f.release, t.table_name, f.values_nulled,
               row_number() OVER (PARTITION BY f.release, t.table_name, f.zip_name ORDER BY f.run_id DESC, f.file_id DESC) AS latest
        FROM audit_files f JOIN audit_tables t ON t.table_run_id = f.table_run_id
        WHERE f.status = 'succeeded' AND t.status = 'succeeded'
    ),
    nulled AS (
        SELECT a.table_name, e.key AS column_name, sum(e.value) AS n
        FROM audited a, unnest(map_entries(coalesce(a.values_nulled, '{}')::JSON::MAP(VARCHAR, BIGINT))) AS m(e)
        WHERE a.latest = 1 AND a.release = view_release(a.table_name)
        GROUP BY ALL
    ),
    -- Every typed column that a cast can null (dates, decimals, flags).
    typed AS (
        SELECT DISTINCT table_name, column_name FROM duckdb_columns()
        WHERE database_name IN (current_database(), 'temp') AND table_name IN ('estabelecimentos', 'empresas', 'simples', 'socios')
          AND data_type <> 'VARCHAR' AND NOT data_type LIKE '%[]'
        UNION SELECT table_name, column_name FROM nulled
    ),
    table_rows AS (
        SELECT 'estabelecimentos' AS table_name, count(*) AS n FROM estabelecimentos
        UNION ALL SELECT 'empresas', count(*) FROM empresas
        UNION ALL SELECT 'simples', count(*) FROM simples
        UNION ALL SELECT 'socios', count(*) FROM socios
    )
SELECT ty.table_name, ty.column_name, NULL AS value, coalesce(nu.n, 0) AS problems, t.n AS rows_checked,
       'values that did not cast and became NULL (audit_files.values_nulled)' AS detail
FROM typed ty JOIN table_rows t USING (table_name) LEFT JOIN nulled nu USING (table_name, column_name)
