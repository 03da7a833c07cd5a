"""Privacy rules for publishing the release without the personal contacts of individuals (shared/API_COMPAT.md).

The public lookup API that clients already call applies them by default: no e-mail address; no CPF-looking run
of digits in the trade name (individual entrepreneurs often put their CPF there); and for a company whose legal
nature is a person's (empresário individual, MEI and the like) no street address and no phone numbers, since
they are the person's home and phone. The row keeps its keys; the values become NULL. `serve` applies them to
every establishment it answers; `lookup` and the exports can take them as an option (`apply` on a row dict).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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

# 11 digits, bare (12345678901) or punctuated (123.456.789-01), not part of a longer run of digits (a CNPJ).
_CPF_RE = re.compile(r"(?<![0-9])[0-9]{3}\.?[0-9]{3}\.?[0-9]{3}-?[0-9]{2}(?![0-9])")


def is_individual(natureza_juridica: str | None, opcao_mei: bool | None = None) -> bool:
    """Whether a company is one natural person's: its legal nature says so, or it opted for MEI."""
    return bool(opcao_mei) or (natureza_juridica or "").strip() in INDIVIDUAL_NATURES


def strip_cpf(text: str | None) -> str | None:
    """The text without CPF-looking runs of digits (and the spaces they leave); None stays None."""
    if not text:
        return text
    return " ".join(_CPF_RE.sub(" ", text).split())


def apply(
    estabelecimento: Mapping[str, Any], natureza_juridica: str | None, opcao_mei: bool | None = None
) -> dict[str, Any]:
    """A copy of an estabelecimentos row with the rules applied (keys kept, personal values NULL)."""
    row = dict(estabelecimento)
    if EMAIL_COLUMN in row:
        row[EMAIL_COLUMN] = None
    if row.get("nome_fantasia"):
        row["nome_fantasia"] = strip_cpf(row["nome_fantasia"]) or None
    if is_individual(natureza_juridica, opcao_mei):
        for column in CONTACT_COLUMNS:
            if column in row:
                row[column] = None
    return row
