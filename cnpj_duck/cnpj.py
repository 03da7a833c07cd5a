"""CNPJ numbers: parse what people type, check the two check digits (numeric and alphanumeric), format them.

From July 2026 the Receita issues alphanumeric CNPJs: the first 12 characters take [0-9A-Z], the two check
digits stay numeric, and each character counts as its ASCII code minus 48 (RFB_FORMAT.md §5). For the old
all-digit CNPJs that is the classic rule, so one function checks both. The SQL twin is `cnpj_is_valid` in
sql/_macros.sql; tests/test_lookup.py checks that they agree.
"""

from __future__ import annotations

import re
from operator import mul

from .errors import UsageError

_W1 = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_W2 = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CANONICAL = re.compile(r"[0-9A-Z]{12}[0-9]{2}")
_PUNCTUATION = re.compile(r"[\s./\-]+")  # what people put between the parts: 12.ABC.345/01DE-35


class InvalidCnpjError(UsageError):
    """A CNPJ argument that is not 14 valid characters with the right check digits."""


def check_digits(first12: str) -> str:
    """The two check digits of a 12-character CNPJ prefix ([0-9A-Z], upper case)."""
    values = [ord(c) - 48 for c in first12]
    r1 = sum(map(mul, _W1, values)) % 11
    d1 = 0 if r1 < 2 else 11 - r1
    r2 = (sum(map(mul, _W2, values)) + 2 * d1) % 11
    return f"{d1}{0 if r2 < 2 else 11 - r2}"


def is_valid(cnpj: str) -> bool:
    """True for a canonical CNPJ (14 characters, no punctuation, upper case) whose check digits match."""
    return bool(_CANONICAL.fullmatch(cnpj)) and cnpj[12:] == check_digits(cnpj[:12])


def normalize(text: str) -> str:
    """Drop the punctuation and spaces people type and upper-case the letters; does not validate."""
    return _PUNCTUATION.sub("", text).upper()


def parse(text: str) -> str:
    """The canonical 14-character CNPJ for what a person typed; InvalidCnpjError says what is wrong."""
    cnpj = normalize(text)
    shown = repr(text.strip())
    if len(cnpj) != 14:
        raise InvalidCnpjError(
            f"CNPJ {shown}: has {len(cnpj)} characters without punctuation, expected 14 "
            "(8 root + 4 order + 2 check digits, e.g. 12.345.678/0001-95)"
        )
    bad = sorted({c for c in cnpj[:12] if not ("0" <= c <= "9" or "A" <= c <= "Z")})
    if bad:
        raise InvalidCnpjError(
            f"CNPJ {shown}: character {', '.join(map(repr, bad))} not allowed; the first 12 "
            "characters are digits or letters A-Z"
        )
    if not cnpj[12:].isdigit() or not cnpj[12:].isascii():
        raise InvalidCnpjError(
            f"CNPJ {shown}: the last two characters are check digits and must be 0-9, not {cnpj[12:]!r}"
        )
    expected = check_digits(cnpj[:12])
    if cnpj[12:] != expected:
        which = [name for name, got, want in zip(("first", "second"), cnpj[12:], expected, strict=True) if got != want]
        differs = "both differ" if len(which) == 2 else f"the {which[0]} one differs"
        raise InvalidCnpjError(
            f"CNPJ {shown}: wrong check digits {cnpj[12:]!r}, expected {expected!r} ({differs}); "
            "check the CNPJ for a typo"
        )
    return cnpj


def format_cnpj(cnpj: str) -> str:
    """12.345.678/0001-95 for a canonical CNPJ (letters too: 12.ABC.345/01DE-35)."""
    return f"{cnpj[:2]}.{cnpj[2:5]}.{cnpj[5:8]}/{cnpj[8:12]}-{cnpj[12:]}" if len(cnpj) == 14 else cnpj
