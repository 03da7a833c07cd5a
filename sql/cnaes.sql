-- cnaes: lookup of economic activities (CNAE, 7-digit code), from Cnaes.zip.
SELECT
    rfb_text(codigo)    AS codigo,    -- the code as it appears in the other tables, leading zeros kept
    rfb_text(descricao) AS descricao  -- its description
FROM raw_cnaes
ORDER BY codigo
