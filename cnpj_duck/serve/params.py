"""What a request may ask, checked before any query: the CNPJ of a path, the search's filters and options.

Anything else is a BadRequestError whose message (in Portuguese, like the API's other messages) says what is
wrong: unknown parameters, too many values, values that are not codes of the expected shape. So every value that
reaches SQL is a short string of digits or letters, and it reaches it as a bound parameter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..cnpj import InvalidCnpjError, format_cnpj, parse
from ..ibge import IbgeCodes, siafi_code

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_VALUES = 100  # values of one filter in one request
FILTERS = ("uf", "municipio", "cnae_fiscal", "cnae", "natureza_juridica", "cnpf")
OPTIONS = ("limit", "cursor", "compact")
_PUNCTUATION = re.compile(r"[\s./\-]")
_UF_RE = re.compile(r"[A-Za-z]{2}")
_CURSOR_RE = re.compile(r"[0-9A-Z]{12}[0-9]{2}")
_MASKED_CPF_RE = re.compile(r"\*\*\*[0-9]{6}\*\*")
_CODE_WIDTH = {"cnae_fiscal": 7, "cnae": 7, "natureza_juridica": 4}


class BadRequestError(Exception):
    """A request that cannot be answered as given: its message goes back in a 400."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SearchQuery:
    """A checked search: each filter's values (OR within a filter, AND between filters), page size and cursor."""

    uf: tuple[str, ...] = ()
    municipio: tuple[str, ...] = ()  # Receita (SIAFI) codes, 4 digits
    cnae_fiscal: tuple[str, ...] = ()  # 7 digits
    cnae: tuple[str, ...] = ()
    natureza_juridica: tuple[str, ...] = ()  # 4 digits
    cnpf: tuple[str, ...] = ()  # a partner's CNPJ (14) or masked CPF (***NNNNNN**)
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None  # the last CNPJ of the previous page
    compact: bool = False


def parse_cnpj(text: str) -> str:
    """The canonical CNPJ of a path (bare, punctuated, alphanumeric); BadRequestError when it is not valid."""
    try:
        return parse(text)
    except InvalidCnpjError:
        raise BadRequestError(f"CNPJ {text} inválido.") from None


def not_found_message(cnpj: str) -> str:
    return f"CNPJ {format_cnpj(cnpj)} não encontrado."


def parse_search(items: Iterable[tuple[str, str]], ibge: IbgeCodes) -> SearchQuery:
    """A SearchQuery from the query string's (name, value) pairs; a filter may repeat or list values with commas."""
    values: dict[str, list[str]] = {}
    for name, value in items:
        if name not in FILTERS and name not in OPTIONS:
            raise BadRequestError(
                f"Parâmetro {name[:40]!r} desconhecido; os aceitos são: {', '.join(FILTERS + OPTIONS)}."
            )
        values.setdefault(name, []).append(value)
    for name in OPTIONS:
        if len(values.get(name, ())) > 1:
            raise BadRequestError(f"O parâmetro {name} aparece mais de uma vez; informe-o uma vez.")
    filters = {name: _values(name, values[name]) for name in FILTERS if name in values}
    return SearchQuery(
        uf=tuple(_uf(v) for v in filters.get("uf", ())),
        municipio=tuple(_municipio(v, ibge) for v in filters.get("municipio", ())),
        cnae_fiscal=tuple(_code("cnae_fiscal", v) for v in filters.get("cnae_fiscal", ())),
        cnae=tuple(_code("cnae", v) for v in filters.get("cnae", ())),
        natureza_juridica=tuple(_code("natureza_juridica", v) for v in filters.get("natureza_juridica", ())),
        cnpf=tuple(_cnpf(v) for v in filters.get("cnpf", ())),
        limit=_limit(values["limit"][0]) if "limit" in values else DEFAULT_LIMIT,
        cursor=_cursor(values["cursor"][0]) if "cursor" in values else None,
        compact="compact" in values,
    )


def _values(name: str, given: list[str]) -> list[str]:
    found = [part.strip() for value in given for part in value.split(",") if part.strip()]
    if not found:
        raise BadRequestError(f"O filtro {name} está vazio; informe ao menos um valor.")
    if len(found) > MAX_VALUES:
        raise BadRequestError(f"O filtro {name} tem {len(found)} valores; o máximo é {MAX_VALUES} por consulta.")
    return found


def _shown(value: str) -> str:
    return value if len(value) <= 40 else value[:40] + "..."


def _uf(value: str) -> str:
    if not _UF_RE.fullmatch(value):
        raise BadRequestError(f"UF {_shown(value)!r} inválida; use a sigla de duas letras (SP, rj, ...).")
    return value.upper()


def _digits(name: str, value: str) -> str:
    digits = _PUNCTUATION.sub("", value)
    if not digits.isdigit() or not digits.isascii():
        raise BadRequestError(f"{name} {_shown(value)!r} inválido; informe um código numérico.")
    return digits


def _code(name: str, value: str) -> str:
    digits = _digits(name, value)
    width = _CODE_WIDTH[name]
    if len(digits) > width:
        raise BadRequestError(f"{name} {_shown(value)!r} inválido; o código tem até {width} dígitos.")
    return digits.zfill(width)


def _municipio(value: str, ibge: IbgeCodes) -> str:
    digits = _digits("municipio", value)
    if len(digits) <= 4:
        return siafi_code(digits)
    if len(digits) == 7:  # an IBGE code
        if not ibge.by_siafi:
            raise BadRequestError(
                f"municipio {digits}: código do IBGE, mas este servidor não tem a tabela "
                "SIAFI-IBGE (cnpj-duck serve --ibge ARQUIVO); use o código da Receita (SIAFI)."
            )
        return ibge.by_ibge.get(int(digits), digits)  # an unknown code stays as it is and matches nothing
    raise BadRequestError(
        f"municipio {_shown(value)!r} inválido; use o código da Receita (SIAFI, até 4 dígitos) ou do IBGE (7 dígitos)."
    )


def _cnpf(value: str) -> str:
    if _MASKED_CPF_RE.fullmatch(value):
        return value
    plain = _PUNCTUATION.sub("", value).upper()
    if len(plain) == 11 and plain.isdigit() and plain.isascii():  # a CPF in clear: masked as the Receita does
        return f"***{plain[3:9]}**"
    try:
        return parse(value)
    except InvalidCnpjError:
        raise BadRequestError(
            f"cnpf {_shown(value)!r} inválido; informe o CNPJ do sócio ou o CPF mascarado como publicado (***123456**)."
        ) from None


def _limit(value: str) -> int:
    if not value.strip().isdigit() or not value.isascii() or not 1 <= int(value) <= MAX_LIMIT:
        raise BadRequestError(f"limit {_shown(value)!r} inválido; use um número de 1 a {MAX_LIMIT}.")
    return int(value)


def _cursor(value: str) -> str:
    if not _CURSOR_RE.fullmatch(value):
        raise BadRequestError(f"cursor {_shown(value)!r} inválido; use o valor de cursor da página anterior.")
    return value
