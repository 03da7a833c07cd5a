"""Quirks of RFB_FORMAT.md §3 and §5 given to rows, and the records that a strict parser must reject."""

from __future__ import annotations

import random
from dataclasses import dataclass

from cnpj_duck.layout import FAMILIES

from .companies import _cpf, _full_cnpj, _masked_cpf, _Plan
from .rows import _FAIXAS, _FOREIGN_CITIES, _FOREIGN_SURNAMES
from .vocabulary import _ACTIVITIES, _FANCY, _MALE, ORPHAN_CODES, _Pools

MALFORMED_KINDS = ("extra_field", "missing_field", "unterminated_quote")
_C1_BYTES = "\x8f\x81\x90\x9d\x96\x93\x94"  # 0x8F was seen in a 2026-06 file (§3): valid latin-1, not cp1252


@dataclass(frozen=True)
class MalformedRecord:
    """A record a strict parser must reject: a field too many or too few, or a last quote never closed."""

    zip_name: str
    member_name: str
    family: str
    line: int  # 1-based physical line where the record starts
    kind: str  # one of MALFORMED_KINDS
    text: str  # the raw record, decoded latin-1, without its final newline


@dataclass(frozen=True)
class QuirkRecord:
    """One deliberate quirk: the row that has it (line and raw key columns) and the raw value that shows it."""

    family: str
    zip_name: str
    line: int
    kind: str
    key: dict[str, str]
    column: str
    raw: str


# ---------------------------------------------------------------------------------------------------------
# Quirks (RFB_FORMAT.md §3 and §5). Forced ones take the first rows of file 0, one per row, and are listed in
# the manifest; random ones hit later rows at the per-row rates below (only malformed ones are listed).

_FORCED = {
    "empresas": (
        "semicolon_in_value",
        "newline_in_value",
        "c1_control_byte",
        "leading_trailing_spaces",
        "extra_field",
        "capital_negative",
        "capital_sentinel",
        "orphan_natureza",
        "orphan_qualificacao",
        "missing_field",
        "ente_apostrophe",
        "cpf_in_name",
        "duplicate_row",
        "duplicate_key",
        "unterminated_quote",
    ),
    "estabelecimentos": (
        "semicolon_in_value",
        "newline_in_value",
        "c1_control_byte",
        "nul_byte",
        "leading_trailing_spaces",
        "extra_field",
        "date_zero",
        "date_zeros",
        "date_empty",
        "date_7_chars",
        "date_impossible",
        "date_absurd_year",
        "orphan_motivo",
        "missing_field",
        "orphan_pais",
        "cep_7_digits",
        "cep_zero",
        "cep_letters",
        "cep_spaces",
        "numero_sn",
        "numero_sn_compact",
        "numero_sn_spaced",
        "pais_brasil",
        "abroad",
        "long_cnae_list",
        "duplicate_row",
        "duplicate_key",
        "unterminated_quote",
    ),
    "socios": (
        "semicolon_in_value",
        "newline_in_value",
        "c1_control_byte",
        "leading_trailing_spaces",
        "extra_field",
        "masked_cpf",
        "pj_socio",
        "foreign_socio",
        "legal_representative",
        "date_zero",
        "date_7_chars",
        "missing_field",
        "date_impossible",
        "date_absurd_year",
        "orphan_qualificacao",
        "orphan_pais",
        "duplicate_row",
        "unterminated_quote",
    ),
    "simples": (
        "date_zero",
        "date_7_chars",
        "date_impossible",
        "date_absurd_year",
        "opcao_blank",
        "extra_field",
        "missing_field",
        "duplicate_row",
        "unterminated_quote",
    ),
}
_TEXT_RATES = {
    "leading_trailing_spaces": 2e-3,
    "semicolon_in_value": 1e-6,
    "newline_in_value": 1e-7,
    "c1_control_byte": 1e-7,
}
_DATE_RATES = {"date_zero": 1e-5, "date_7_chars": 2e-6, "date_impossible": 2e-6, "date_absurd_year": 2e-6}
_MALFORMED_RATES = dict.fromkeys(MALFORMED_KINDS, 3e-8)  # a few per family in a full release
_RATES = {
    "empresas": {
        **_TEXT_RATES,
        "capital_negative": 1e-5,
        "capital_sentinel": 2e-6,
        "orphan_natureza": 1e-5,
        "orphan_qualificacao": 1e-5,
        "duplicate_row": 1e-7,
        "duplicate_key": 1e-7,
        **_MALFORMED_RATES,
    },
    "estabelecimentos": {
        **_TEXT_RATES,
        **_DATE_RATES,
        "nul_byte": 1e-6,
        "date_zeros": 1e-5,
        "date_empty": 1e-5,
        "orphan_motivo": 2.8e-4,
        "orphan_pais": 1e-5,
        "cep_7_digits": 5e-4,
        "cep_zero": 2e-4,
        "cep_letters": 1e-5,
        "cep_spaces": 1e-5,
        "abroad": 1.5e-3,
        "long_cnae_list": 1e-6,
        "duplicate_row": 1e-7,
        "duplicate_key": 1e-7,
        **_MALFORMED_RATES,
    },
    "socios": {
        **_TEXT_RATES,
        **_DATE_RATES,
        "orphan_qualificacao": 1e-4,
        "orphan_pais": 1e-5,
        "duplicate_row": 1e-6,
        **_MALFORMED_RATES,
    },
    "simples": {**_DATE_RATES, "duplicate_row": 1e-7, **_MALFORMED_RATES},
}
_RANDOM = {f: (tuple(r), tuple(sum(list(r.values())[: n + 1]) for n in range(len(r)))) for f, r in _RATES.items()}
_COL = {name: {c: n for n, c in enumerate(f.columns)} for name, f in FAMILIES.items()}
_KEY_COLUMNS = {
    "empresas": ("cnpj_basico",),
    "estabelecimentos": ("cnpj_basico", "cnpj_ordem", "cnpj_dv"),
    "socios": ("cnpj_basico", "nome_socio_razao_social"),
    "simples": ("cnpj_basico",),
}
_TEXT_COLUMN = {
    "empresas": "razao_social",
    "estabelecimentos": "complemento",
    "socios": "nome_socio_razao_social",
    "simples": "opcao_simples",
}
_DATE_COLUMN = {
    "estabelecimentos": "data_inicio_atividade",
    "socios": "data_entrada_sociedade",
    "simples": "data_opcao_simples",
}


def _odd_date(kind: str, rng: random.Random) -> str:
    """The broken dates of §5: 0, 00000000, empty, 7 characters, impossible days, absurd years."""
    year = rng.randrange(1990, 2026)
    return {
        "date_zero": "0",
        "date_zeros": "00000000",
        "date_empty": "",
        "date_7_chars": f"{year}{rng.randrange(1, 10)}{rng.randrange(10, 29)}",  # 2021221: the month lost its 0
        "date_impossible": f"{year}{rng.choice(('0230', '0231', '0431', '0631', '1131', '1332'))}",
        "date_absurd_year": f"{rng.choice(('4100', '0202', '2202', '0020'))}{rng.choice(('0101', '0615', '1231'))}",
    }[kind]


def _apply(kind: str, family: str, f: list[str], rng: random.Random, p: _Pools, plan: _Plan) -> str:
    """Give row f the quirk `kind`, in place; return the column that carries it."""
    col, column = _COL[family], _TEXT_COLUMN[family]
    if kind == "c1_control_byte" and family == "estabelecimentos":
        column = "logradouro"
    elif kind == "leading_trailing_spaces" and family == "estabelecimentos":
        column = "nome_fantasia"
    value = f[col[column]] or "SALA 1"
    if kind.startswith("date_"):
        estab_none = family == "estabelecimentos" and kind in ("date_zero", "date_zeros", "date_empty")
        column = "data_situacao_cadastral" if estab_none else _DATE_COLUMN[family]
        f[col[column]] = _odd_date(kind, rng)
    elif kind == "semicolon_in_value":
        f[col[column]] = (
            f"QUADRA: {rng.randrange(1, 999)}; LOTE: {rng.randrange(1, 60)}; SALA: 02;"
            if family == "estabelecimentos"
            else f"{value}; {rng.choice(('EM LIQUIDACAO', 'ESPOLIO'))}"
        )
    elif kind == "newline_in_value":  # a record over two physical lines (§3)
        cut = value.rfind(" ")
        f[col[column]] = f"{value[:cut]}\n{value[cut + 1 :]}" if cut > 0 else f"{value}\nFUNDOS"
    elif kind == "c1_control_byte":
        at = rng.randrange(len(value))
        f[col[column]] = value[:at] + (_C1_BYTES[0] if rng.random() < 0.5 else rng.choice(_C1_BYTES)) + value[at + 1 :]
    elif kind == "nul_byte":  # NULs inside Estabelecimentos fields (§3)
        at = rng.randrange(len(value) + 1)
        f[col[column]] = value[:at] + "\x00" + value[at:]
    elif kind == "leading_trailing_spaces":
        value = f[col[column]] or f"{rng.choice(_FANCY)} {rng.choice(_ACTIVITIES)}"
        f[col[column]] = f" {value.replace(' ', '   ', 1)}  "
    elif kind in ("capital_negative", "capital_sentinel"):
        column = "capital_social"
        f[col[column]] = f"-{rng.randrange(1, 100_000)},00" if kind == "capital_negative" else "999999999999"
    elif kind.startswith("orphan_"):
        column = {
            "orphan_natureza": "natureza_juridica",
            "orphan_pais": "pais",
            "orphan_motivo": "motivo_situacao_cadastral",
            "orphan_qualificacao": "qualificacao_responsavel" if family == "empresas" else "qualificacao_socio",
        }[kind]
        lookup = {"orphan_natureza": "naturezas", "orphan_pais": "paises", "orphan_motivo": "motivos"}
        f[col[column]] = rng.choice(ORPHAN_CODES[lookup.get(kind, "qualificacoes")])
        if kind == "orphan_motivo":
            f[col["situacao_cadastral"]] = "08"
    elif kind == "ente_apostrophe":
        column = "ente_federativo_responsavel"
        town = "SANTA BARBARA D'OESTE"
        f[1:] = [f"MUNICIPIO DE {town}", "1244", "05", "0,00", "05", f"MUNICIPIO DE {town} - SP"]
    elif kind == "cpf_in_name":
        column = "razao_social"
        f[1:] = [f"{rng.choice(p.people)} {_cpf(rng)}", "2135", "50", "5000,00", "01", ""]
    elif kind.startswith("cep_"):  # 7 digits (leading zero lost), 0, letters, spaces (§5)
        column, cep = "cep", f[col["cep"]]
        f[col[column]] = {
            "cep_7_digits": cep[1:],
            "cep_zero": "0",
            "cep_letters": f"{cep[:2]}O{cep[3:]}",
            "cep_spaces": f"{cep[:5]} {cep[5:]}",
        }[kind]
    elif kind.startswith("numero_sn"):
        column = "numero"
        f[col[column]] = {"numero_sn": "S/N", "numero_sn_compact": "SN", "numero_sn_spaced": "S N"}[kind]
    elif kind == "pais_brasil":
        column = "pais"
        f[col[column]] = "105"
    elif kind == "abroad":  # uf EX, municipio 9707, a foreign city and country (§5)
        column = "nome_cidade_exterior"
        for name, v in (
            ("nome_cidade_exterior", rng.choice(_FOREIGN_CITIES)),
            ("pais", rng.choice(p.foreign_paises)),
            ("uf", "EX"),
            ("municipio", "9707"),
            ("cep", ""),
            ("bairro", ""),
            ("ddd_1", ""),
            ("telefone_1", ""),
        ):
            f[col[name]] = v
    elif kind == "long_cnae_list":
        column = "cnae_fiscal_secundaria"
        f[col[column]] = ",".join(rng.sample(p.cnae_codes, 97))
    elif kind == "masked_cpf":
        column = "cnpj_cpf_socio"
        f[1], f[3], f[10] = "2", _masked_cpf(rng.random), rng.choice(_FAIXAS)
    elif kind == "pj_socio":
        column = "cnpj_cpf_socio"
        f[1:5] = ["1", f"{rng.choice(p.heads)} LTDA", _full_cnpj(plan, rng.randrange(plan.total)), "22"]
        f[10] = "0"
    elif kind == "foreign_socio":
        column = "identificador_socio"
        f[1:5] = ["3", f"{rng.choice(_MALE)} {rng.choice(_FOREIGN_SURNAMES)}", "", "37"]
        f[6], f[10] = rng.choice(p.foreign_paises), "0"
    elif kind == "legal_representative":
        column = "representante_legal"
        f[7:10] = [_masked_cpf(rng.random), rng.choice(p.people), "05"]
    elif kind == "opcao_blank":
        column = "opcao_simples"
        f[1:4] = ["", "00000000", "00000000"]
    else:
        raise ValueError(f"unknown quirk kind {kind!r}")
    return column


def _text(f: list[str]) -> str:
    """One record: every field double-quoted, `;` between, LF at the end (§3)."""
    return '"' + '";"'.join(f) + '"\n'


def _malformed_text(kind: str, family: str, f: list[str]) -> str:
    if kind == "extra_field":  # as if an unescaped separator had split a text value in two
        at = _COL[family][_TEXT_COLUMN[family]]
        left, _, right = f[at].partition(" ")
        return _text([*f[:at], left, right, *f[at + 1 :]])
    if kind == "missing_field":
        return _text(f[:-1])
    return '"' + '";"'.join(f) + "\n"  # unterminated_quote: the last field never closes
