-- simples: Simples Nacional and MEI tax regime options per company, from Simples.zip.
SELECT
    cnpj_basico                     AS cnpj_basico,           -- CNPJ root of the company (8 characters); joins to empresas
    rfb_flag(opcao_simples)         AS opcao_simples,         -- opted for Simples Nacional (S -> true, N -> false, blank -> NULL)
    rfb_date(data_opcao_simples)    AS data_opcao_simples,    -- date of the Simples option
    rfb_date(data_exclusao_simples) AS data_exclusao_simples, -- date the company left Simples
    rfb_flag(opcao_mei)             AS opcao_mei,             -- opted for MEI, the individual micro-entrepreneur regime (S/N/blank)
    rfb_date(data_opcao_mei)        AS data_opcao_mei,        -- date of the MEI option
    rfb_date(data_exclusao_mei)     AS data_exclusao_mei      -- date the company left MEI
FROM raw_simples
ORDER BY cnpj_basico
