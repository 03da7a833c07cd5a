-- paises: lookup of countries (3-digit code), from Paises.zip.
SELECT
    codigo              AS codigo,    -- the code as it appears in the other tables, leading zeros kept
    descricao           AS descricao  -- its description
FROM raw_paises
ORDER BY codigo
