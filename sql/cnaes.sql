-- cnaes: lookup of economic activities (CNAE, 7-digit code), from Cnaes.zip.
SELECT
    codigo              AS codigo,    -- the code as it appears in the other tables, leading zeros kept
    descricao           AS descricao  -- its description
FROM raw_cnaes
ORDER BY codigo
