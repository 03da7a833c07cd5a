-- Helpers the transforms share. Files whose names start with "_" are not output tables.
-- Every raw column arrives as text as the Receita wrote it (latin-1 decoded, quotes removed), with two changes
-- made before the SQL sees it (ingest.py, transform.trim_padded; issue 13): an empty value is NULL, and a value
-- that starts or ends with a space is trimmed as rfb_text trims it (NULL when nothing is left). So a text column
-- needs no macro; rfb_text is for text from elsewhere, and the typed macros below use it to stay general.

-- Text: leading and trailing spaces trimmed, '' -> NULL. Runs of inner spaces are kept: they are in the
-- source. (NUL bytes, which Postgres rejects, never get here: ingest drops them while decoding.)
-- (Trimming only values that start or end with a space is twice as fast as trimming every value.)
CREATE OR REPLACE MACRO rfb_text(s) AS
    nullif(CASE WHEN starts_with(s, ' ') OR ends_with(s, ' ') THEN trim(s) ELSE s END, '');

-- Dates are YYYYMMDD. '0', '00000000', empty, 7-character ('2021221'), impossible ('20230230') and absurd
-- years (outside 1800-2099: 0202, 4100) all mean "no usable date" and become NULL (RFB_FORMAT.md §5).
CREATE OR REPLACE MACRO rfb_date(s) AS
    CASE WHEN length(rfb_text(s)) = 8 AND left(rfb_text(s), 2) IN ('18', '19', '20')
         THEN try_strptime(rfb_text(s), '%Y%m%d')::DATE END;

-- capital_social: decimal comma, no thousands separator ("1061004829,23"); NULL when not a number.
CREATE OR REPLACE MACRO rfb_decimal(s) AS
    try_cast(replace(rfb_text(s), ',', '.') AS DECIMAL(18, 2));

-- S/N flags: 'S' -> true, 'N' -> false, anything else (blank) -> NULL.
CREATE OR REPLACE MACRO rfb_flag(s) AS
    CASE upper(rfb_text(s)) WHEN 'S' THEN true WHEN 'N' THEN false END;

-- A comma-separated list of codes ('6201501,6202300') as a list; NULL when there is none.
CREATE OR REPLACE MACRO rfb_list(s) AS
    nullif(list_filter(list_transform(string_split(rfb_text(s), ','), lambda x: trim(x)), lambda x: x <> ''), []);

-- CNPJ check digits (RFB_FORMAT.md §5), numeric and alphanumeric alike: each of the first 12 characters counts as
-- its ASCII code - 48 ('0'-'9' keep their value, 'A' = 17); weights 5,4,3,2,9,8,7,6,5,4,3,2 give the first digit,
-- 6,5,4,3,2,9,8,7,6,5,4,3 and 2 x the first digit give the second; a remainder (mod 11) < 2 gives 0, else
-- 11 - remainder. The sums are written out: three times faster than list_transform over a list of weights.
-- The Python twin is cnpj_duck/cnpj.py; a test checks that both agree.
CREATE OR REPLACE MACRO cnpj_char(s, i) AS ascii(s[i]) - 48;
CREATE OR REPLACE MACRO cnpj_dv_of(sum) AS CASE WHEN sum % 11 < 2 THEN 0 ELSE 11 - sum % 11 END;
CREATE OR REPLACE MACRO cnpj_sum1(s) AS
    5 * cnpj_char(s, 1) + 4 * cnpj_char(s, 2) + 3 * cnpj_char(s, 3) + 2 * cnpj_char(s, 4)
    + 9 * cnpj_char(s, 5) + 8 * cnpj_char(s, 6) + 7 * cnpj_char(s, 7) + 6 * cnpj_char(s, 8)
    + 5 * cnpj_char(s, 9) + 4 * cnpj_char(s, 10) + 3 * cnpj_char(s, 11) + 2 * cnpj_char(s, 12);
CREATE OR REPLACE MACRO cnpj_sum2(s) AS
    6 * cnpj_char(s, 1) + 5 * cnpj_char(s, 2) + 4 * cnpj_char(s, 3) + 3 * cnpj_char(s, 4)
    + 2 * cnpj_char(s, 5) + 9 * cnpj_char(s, 6) + 8 * cnpj_char(s, 7) + 7 * cnpj_char(s, 8)
    + 6 * cnpj_char(s, 9) + 5 * cnpj_char(s, 10) + 4 * cnpj_char(s, 11) + 3 * cnpj_char(s, 12);

-- The two check digits ('95') of a 12-character CNPJ prefix ('123456780001' or '12ABC34501DE').
CREATE OR REPLACE MACRO cnpj_check_digits(first12) AS
    cnpj_dv_of(cnpj_sum1(first12))::VARCHAR
    || cnpj_dv_of(cnpj_sum2(first12) + 2 * cnpj_dv_of(cnpj_sum1(first12)))::VARCHAR;

-- true when a 14-character CNPJ without punctuation ([0-9A-Z]{12} then 2 digits) has the right check digits;
-- false for any other text (wrong length, lower case, punctuation); NULL for NULL.
CREATE OR REPLACE MACRO cnpj_is_valid(cnpj) AS
    regexp_full_match(cnpj, '[0-9A-Z]{12}[0-9]{2}') AND right(cnpj, 2) = cnpj_check_digits(left(cnpj, 12));

-- The views' helpers. A lookup table (cnaes, motivos, ...) with one row per code, for LEFT JOINs that must not
-- multiply rows: where the lookup repeats a code, its descriptions are joined with ' | ', in order.
-- `FROM lookup_descriptions('cnaes')`; the catalog sees the view read cnaes.
CREATE OR REPLACE MACRO lookup_descriptions(lookup_table) AS TABLE
    SELECT codigo, string_agg(DISTINCT descricao, ' | ' ORDER BY descricao) AS descricao
    FROM query_table(lookup_table) GROUP BY codigo;

-- The release (YYYY-MM) that the catalog's view of an output table shows, from the partition path in its SQL
-- (release=YYYY-MM): the view this query sees (a temporary one, or the current database's), not one of another
-- attached catalog. NULL when there is no such view.
CREATE OR REPLACE MACRO view_release(name) AS (
    SELECT regexp_extract(arg_max(sql, temporary::INTEGER), 'release=([0-9]{4}-[0-9]{2})', 1)
    FROM duckdb_views()
    WHERE (temporary OR database_name = current_database()) AND view_name = name
);
