"""Privacy rules for publishing the release without the personal contacts of individuals (shared/API_COMPAT.md).

The public lookup API that clients already call applies them by default: no e-mail address; no CPF-looking run
of digits in the trade name (individual entrepreneurs often put their CPF there); and for a company whose legal
nature is a person's (empresário individual, MEI and the like) no street address and no phone numbers, since
they are the person's home and phone. The row keeps its keys; the values become NULL.

One definition, two forms: `apply` on a row dict (serve, `lookup --privacy`) and `select_sql`, the same rules as
one DuckDB SELECT over a whole table (the exports' --privacy, in bulk). tests/test_privacy.py checks on the sample
build that both blank the same values.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

# Legal natures (naturezas, 4 digits) of a business that is one natural person: its establishment's address is
# the person's. 2135 Empresário (Individual), which every MEI is; 2305 and 2313 EIRELI (one owner, abolished in
# 2021 but still in the data); 2321 Sociedade Unipessoal de Advocacia; 4014 Empresa Individual Imobiliária;
# 4080-4120 the individuals the Receita registers (contribuinte individual, candidato a cargo político,
# leiloeiro, produtor rural pessoa física).
INDIVIDUAL_NATURES = frozenset({"2135", "2305", "2313", "2321", "4014", "4080", "4090", "4111", "4120"})

# The estabelecimentos columns blanked for an individual's business: the street address and the phones. Bairro,
# municipio and uf stay: they locate the business no closer than a neighbourhood.
CONTACT_COLUMNS = (
    "tipo_logradouro",
    "logradouro",
    "numero",
    "complemento",
    "cep",
    "ddd_1",
    "telefone_1",
    "ddd_2",
    "telefone_2",
    "ddd_fax",
    "fax",
)
EMAIL_COLUMN = "correio_eletronico"
NAME_COLUMN = "nome_fantasia"
TABLE = "estabelecimentos"  # the one table the rules change
# What the rules do, in words: the help, the README, the hand-over files and the Postgres comments say it.
SUMMARY = (
    "privacy rules applied: no e-mail (correio_eletronico), no CPF-looking digits in nome_fantasia, and for an "
    "individual's company (empresário individual, MEI and similar natures) no street address, CEP or phones"
)

# A CPF: 11 digits, bare (12345678901) or punctuated (123.456.789-01), not part of a longer run of digits (a
# CNPJ). The same text serves Python's re and DuckDB's RE2; RE2 has no look-around, so its form takes the
# neighbouring character (or the edge) into groups 1 and 2 and puts them back.
_CPF = r"[0-9]{3}\.?[0-9]{3}\.?[0-9]{3}-?[0-9]{2}"
_CPF_RE = re.compile(rf"(?<![0-9]){_CPF}(?![0-9])")
_CPF_RE2 = rf"(^|[^0-9]){_CPF}([^0-9]|$)"
# The whitespace a removal leaves is collapsed: these characters, in both engines (Python's str.split would
# take more of Unicode than RE2's classes do).
_SPACES = r"[ \t\n\r\f\v]+"
_SPACES_RE = re.compile(_SPACES)


def is_individual(natureza_juridica: str | None, opcao_mei: bool | None = None) -> bool:
    """Whether a company is one natural person's: its legal nature says so, or it opted for MEI."""
    return bool(opcao_mei) or (natureza_juridica or "").strip() in INDIVIDUAL_NATURES


def strip_cpf(text: str | None) -> str | None:
    """The text without CPF-looking runs of digits (and the spaces they leave); text without one is unchanged."""
    if not text or not _CPF_RE.search(text):
        return text
    return _SPACES_RE.sub(" ", _CPF_RE.sub(" ", text)).strip(" ")


def apply(
    estabelecimento: Mapping[str, Any], natureza_juridica: str | None, opcao_mei: bool | None = None
) -> dict[str, Any]:
    """A copy of an estabelecimentos row with the rules applied (keys kept, personal values NULL)."""
    return blank(estabelecimento, is_individual(natureza_juridica, opcao_mei))


def blank(estabelecimento: Mapping[str, Any], individual: bool) -> dict[str, Any]:
    """A copy of an estabelecimentos row with the rules applied, for a company known to be (or not) a person's."""
    row = dict(estabelecimento)
    if EMAIL_COLUMN in row:
        row[EMAIL_COLUMN] = None
    if row.get(NAME_COLUMN):
        row[NAME_COLUMN] = strip_cpf(row[NAME_COLUMN]) or None
    if individual:
        for column in CONTACT_COLUMNS:
            if column in row:
                row[column] = None
    return row


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def individuals_sql(empresas: str, simples: str | None) -> str:
    """The roots (cnpj_basico) of the companies that are a person's, as a SELECT over the empresas relation and
    the simples one (None: not built). A root is a person's when any of its rows says so (a key repeated in the
    release is treated as the stricter of its rows)."""
    natures = ", ".join(_literal(n) for n in sorted(INDIVIDUAL_NATURES))
    sql = f"SELECT cnpj_basico FROM {empresas} WHERE trim(natureza_juridica) IN ({natures})"
    if simples is not None:
        sql += f" UNION SELECT cnpj_basico FROM {simples} WHERE opcao_mei"
    return sql


def select_sql(estabelecimentos: str, individuals: str, columns: Collection[str]) -> str:
    """A SELECT of the estabelecimentos relation (whose columns are `columns`) with the rules applied, every
    column in its place and type; `individuals` is a relation of the roots that are a person's (individuals_sql,
    or a table made from it)."""
    flag = "__cnpj_duck_individual"
    name = NAME_COLUMN
    stripped = f"regexp_replace({name}, {_literal(_CPF_RE2)}, '\\1 \\2', 'g')"
    stripped = f"regexp_replace({stripped}, {_literal(_CPF_RE2)}, '\\1 \\2', 'g')"  # a CPF right after another
    collapsed = f"nullif(trim(regexp_replace({stripped}, {_literal(_SPACES)}, ' ', 'g'), ' '), '')"
    replaced = [f"CAST(NULL AS VARCHAR) AS {EMAIL_COLUMN}"] if EMAIL_COLUMN in columns else []
    if name in columns:
        replaced.append(
            f"CASE WHEN regexp_matches({name}, {_literal(_CPF_RE2)}) THEN {collapsed} ELSE {name} END AS {name}"
        )
    replaced += [f"CASE WHEN {flag} THEN NULL ELSE {c} END AS {c}" for c in CONTACT_COLUMNS if c in columns]
    if not replaced:
        return f"SELECT * FROM {estabelecimentos}"
    return (
        f"SELECT * EXCLUDE ({flag}) REPLACE ({', '.join(replaced)}) FROM (SELECT *, coalesce(cnpj_basico IN "
        f"(SELECT cnpj_basico FROM {individuals}), false) AS {flag} FROM {estabelecimentos})"
    )
