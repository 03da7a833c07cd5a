-- paises: lookup of countries (3-digit code), from Paises.zip.
SELECT
    rfb_text(codigo)    AS codigo,    -- the code as it appears in the other tables, leading zeros kept
    rfb_text(descricao) AS descricao  -- its description
FROM raw_paises
ORDER BY codigo
