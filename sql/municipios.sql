-- municipios: lookup of municipalities by the Receita's own 4-digit (SIAFI) code, not IBGE's, from Municipios.zip.
SELECT
    codigo              AS codigo,    -- the code as it appears in the other tables, leading zeros kept
    descricao           AS descricao  -- its description
FROM raw_municipios
ORDER BY codigo
