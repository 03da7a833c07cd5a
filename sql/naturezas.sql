-- naturezas: lookup of legal natures (natureza_juridica, 4-digit code), from Naturezas.zip.
SELECT
    codigo              AS codigo,    -- the code as it appears in the other tables, leading zeros kept
    descricao           AS descricao  -- its description
FROM raw_naturezas
ORDER BY codigo
