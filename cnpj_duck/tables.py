"""What the output tables mean: their keys, which lookup table describes each code column, and the codes whose
meanings the layout fixes. Next to layout.py, which says what the release's files look like.

diff, export and lookup read this; the SQL of sql/views and sql/checks spells the same joins and codes out, and
tests/test_tables.py checks that it agrees with this module (RFB_FORMAT.md §4 and §5).
"""

from __future__ import annotations

LOOKUP_TABLES = ("cnaes", "motivos", "municipios", "naturezas", "paises", "qualificacoes")

# The columns that identify a record of each output table: `diff` matches records on them, the duplicate_key
# check counts their repeats. Socios has no key of its own: a partner is identified within its company by its
# document (CNPJ, masked CPF ***NNNNNN**, or NULL for a foreigner) and its name; the masked CPF alone repeats
# (RFB_FORMAT.md §5).
KEYS: dict[str, tuple[str, ...]] = {
    "estabelecimentos": ("cnpj",),
    "empresas": ("cnpj_basico",),
    "simples": ("cnpj_basico",),
    "socios": ("cnpj_basico", "cnpj_cpf_socio", "nome_socio_razao_social"),
    **{name: ("codigo",) for name in LOOKUP_TABLES},
}

# Keys that Postgres gets as primary keys (when the data allows: no repeats, no NULLs), for the tables and the
# views of sql/views. Not socios: its key holds NULLs (foreign partners have no document).
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    **{name: key for name, key in KEYS.items() if name != "socios"},
    "estabelecimentos_completos": ("cnpj",),
    "cnaes_secundarias": ("cnpj", "posicao"),
}

# The columns people look records up by: export indexes them in every table that has them (unless the primary
# key already serves them).
INDEXED: tuple[tuple[str, ...], ...] = (
    ("cnpj",),
    ("cnpj_basico",),
    ("razao_social",),
    ("nome_fantasia",),
    ("nome_socio_razao_social",),
    ("cnpj_cpf_socio",),
    ("uf", "municipio"),
    ("cnae_fiscal_principal",),
    ("cnae",),
    ("codigo",),
)
# Names, searched by equality and by prefix (LIKE 'BANCO DO%').
NAME_COLUMNS = frozenset({"razao_social", "nome_fantasia", "nome_socio_razao_social"})

# Code columns described by a lookup table of the release: table -> {column: lookup table} (RFB_FORMAT.md §4).
CODE_LOOKUPS: dict[str, dict[str, str]] = {
    "estabelecimentos": {
        "motivo_situacao_cadastral": "motivos",
        "pais": "paises",
        "cnae_fiscal_principal": "cnaes",
        "municipio": "municipios",
    },
    "empresas": {"natureza_juridica": "naturezas", "qualificacao_responsavel": "qualificacoes"},
    "socios": {
        "qualificacao_socio": "qualificacoes",
        "pais": "paises",
        "qualificacao_representante_legal": "qualificacoes",
    },
}
# List columns whose every item is a code of a lookup table.
LIST_CODE_LOOKUPS: dict[str, dict[str, str]] = {"estabelecimentos": {"cnae_fiscal_secundaria": "cnaes"}}

# Codes whose meanings are fixed by the layout document rather than shipped as a lookup (RFB_FORMAT.md §5):
# column -> {code: meaning, as the Receita's layout names it}.
DOMAINS: dict[str, dict[str, str]] = {
    "identificador_matriz_filial": {"1": "MATRIZ", "2": "FILIAL"},
    "situacao_cadastral": {"01": "NULA", "02": "ATIVA", "03": "SUSPENSA", "04": "INAPTA", "08": "BAIXADA"},
    "porte_empresa": {"00": "NAO INFORMADO", "01": "MICRO EMPRESA", "03": "EMPRESA DE PEQUENO PORTE", "05": "DEMAIS"},
    "identificador_socio": {"1": "PESSOA JURIDICA", "2": "PESSOA FISICA", "3": "ESTRANGEIRO"},
    "faixa_etaria": {
        "0": "NAO SE APLICA",
        "1": "0 A 12 ANOS",
        "2": "13 A 20 ANOS",
        "3": "21 A 30 ANOS",
        "4": "31 A 40 ANOS",
        "5": "41 A 50 ANOS",
        "6": "51 A 60 ANOS",
        "7": "61 A 70 ANOS",
        "8": "71 A 80 ANOS",
        "9": "MAIS DE 80 ANOS",
    },
}
# Which table has each domain's column.
DOMAIN_COLUMNS: dict[str, tuple[str, ...]] = {
    "estabelecimentos": ("identificador_matriz_filial", "situacao_cadastral"),
    "empresas": ("porte_empresa",),
    "socios": ("identificador_socio", "faixa_etaria"),
}
