-- qualificacoes: lookup of qualifications of partners and responsible persons (2-digit code), from Qualificacoes.zip.
SELECT
    codigo              AS codigo,    -- the code as it appears in the other tables, leading zeros kept
    descricao           AS descricao  -- its description
FROM raw_qualificacoes
ORDER BY codigo
