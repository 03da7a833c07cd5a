-- municipios: lookup of municipalities by the Receita's own 4-digit (SIAFI) code, not IBGE's, from Municipios.zip.
SELECT
    rfb_text(codigo)    AS codigo,    -- the code as it appears in the other tables, leading zeros kept
    rfb_text(descricao) AS descricao  -- its description
FROM raw_municipios
ORDER BY codigo
