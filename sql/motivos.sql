-- motivos: lookup of reasons for a registration status (motivo_situacao_cadastral, 2-digit code), from Motivos.zip.
SELECT
    rfb_text(codigo)    AS codigo,    -- the code as it appears in the other tables, leading zeros kept
    rfb_text(descricao) AS descricao  -- its description
FROM raw_motivos
ORDER BY codigo
