-- cnaes_secundarias: one row per establishment and secondary economic activity (CNAE) in its list, with the
-- activity's description. The lookup is LEFT-joined: a code missing from cnaes keeps its value with a NULL
-- description; where cnaes repeats a code, its descriptions are joined with ' | '.
WITH
    item AS (  -- two unnests in one SELECT list go in step: each code with its position (faster than ORDINALITY)
        SELECT cnpj, cnpj_basico, unnest(cnae_fiscal_secundaria) AS codigo,
            generate_subscripts(cnae_fiscal_secundaria, 1) AS posicao
        FROM estabelecimentos
    )
SELECT
    item.cnpj        AS cnpj,           -- full CNPJ of the establishment (14 characters); joins to estabelecimentos
    item.cnpj_basico AS cnpj_basico,    -- CNPJ root (8 characters); joins to empresas
    item.posicao     AS posicao,        -- position of the code in the establishment's cnae_fiscal_secundaria list, from 1
    item.codigo      AS cnae,           -- the secondary activity's 7-digit CNAE code; see cnaes
    cnae.descricao   AS cnae_descricao  -- description of the activity (cnaes); NULL when the code is not there
FROM item
LEFT JOIN lookup_descriptions('cnaes') cnae ON cnae.codigo = item.codigo
