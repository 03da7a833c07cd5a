-- Helpers the transforms share. Files whose names start with "_" are not output tables.
-- Every raw column arrives as text exactly as the Receita wrote it (latin-1 decoded, quotes removed).

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
