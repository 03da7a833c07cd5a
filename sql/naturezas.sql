-- naturezas: lookup of legal natures (natureza_juridica, 4-digit code), from Naturezas.zip.
SELECT
    rfb_text(codigo)    AS codigo,    -- the code as it appears in the other tables, leading zeros kept
    rfb_text(descricao) AS descricao  -- its description
FROM raw_naturezas
ORDER BY codigo
