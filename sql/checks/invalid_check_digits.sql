-- invalid_check_digits: CNPJs whose check digits are wrong (cnpj_is_valid in sql/_macros.sql): every
-- establishment's, and every legal-entity partner's (identificador_socio 1 is named by its CNPJ). A NULL CNPJ fails.
SELECT 'estabelecimentos' AS table_name, 'cnpj' AS column_name, NULL AS value, 0 AS problems, count(*) AS rows_checked,
       'rows whose CNPJ check digits are wrong (cnpj_is_valid in sql/_macros.sql)' AS detail
FROM estabelecimentos
UNION ALL SELECT 'socios', 'cnpj_cpf_socio', NULL, 0, count(*),
                 'legal-entity partners (identificador_socio 1) whose CNPJ check digits are wrong'
FROM socios WHERE identificador_socio = '1'
UNION ALL SELECT 'estabelecimentos', 'cnpj', cnpj, 1, NULL, NULL
FROM estabelecimentos WHERE NOT coalesce(cnpj_is_valid(cnpj), false)
UNION ALL SELECT 'socios', 'cnpj_cpf_socio', cnpj_cpf_socio, 1, NULL, NULL
FROM socios WHERE identificador_socio = '1' AND NOT coalesce(cnpj_is_valid(cnpj_cpf_socio), false)
