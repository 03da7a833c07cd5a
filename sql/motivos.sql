-- motivos: lookup of reasons for a registration status (motivo_situacao_cadastral, 2-digit code), from Motivos.zip.
SELECT
    codigo              AS codigo,    -- the code as it appears in the other tables, leading zeros kept
    descricao           AS descricao  -- its description
FROM raw_motivos
ORDER BY codigo
