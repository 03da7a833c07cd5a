-- qualidade: data quality of the release the catalog's table views show, one row per table, column and check:
-- orphan codes (a code its lookup table lacks, or a value outside the layout's fixed list), values nulled by casts
-- (from the audit of the build that wrote the partition), CNPJs with wrong check digits, and repeated keys.
-- Each check is a file of sql/checks that selects the rows it finds wrong; this view sums them.

-- This file is the view's frame: cnpj_duck/sqlproject.py puts `found`, the union of the checks' rows (each with its
-- check_name, the file's name), before it (README.md here says what the rows are).
SELECT
    view_release(f.table_name)           AS release,         -- the release month (YYYY-MM) of the table view that was checked
    f.table_name                         AS table_name,      -- the output table checked
    f.column_name                        AS column_name,     -- the column checked (for duplicate_key, the key's columns)
    f.check_name                         AS check_name,      -- orphan_code, nulled_by_cast, invalid_check_digits or duplicate_key (the files of sql/checks)
    max(f.rows_checked)::BIGINT          AS rows_checked,    -- rows of the table (for cnae_fiscal_secundaria, list items; for socios' CNPJs, legal-entity partners)
    coalesce(sum(f.problems), 0)::BIGINT AS problems,        -- rows (or items) that fail the check; 0 when all pass
    coalesce(len(list(DISTINCT f.value) FILTER (WHERE f.rows_checked IS NULL)), 0)
                                         AS distinct_values, -- distinct offending values: orphan codes, invalid CNPJs, repeated keys
    (list(DISTINCT f.value ORDER BY f.value) FILTER (WHERE f.rows_checked IS NULL))[1:10]
                                         AS examples,        -- up to 10 of those values, in order (NULL for nulled_by_cast: the audit keeps no values)
    max(f.detail)                        AS detail           -- what exactly is counted
FROM found f
GROUP BY f.table_name, f.column_name, f.check_name
ORDER BY f.table_name, f.check_name, f.column_name
