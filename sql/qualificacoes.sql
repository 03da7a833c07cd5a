-- qualificacoes: lookup of qualifications of partners and responsible persons (2-digit code), from Qualificacoes.zip.
SELECT
    rfb_text(codigo)    AS codigo,    -- the code as it appears in the other tables, leading zeros kept
    rfb_text(descricao) AS descricao  -- its description
FROM raw_qualificacoes
ORDER BY codigo
