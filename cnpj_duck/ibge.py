"""The IBGE code of each Receita (SIAFI) municipality code, from the table the Tesouro Nacional publishes.

The release codes municipalities the Receita's way (SIAFI, 4 digits; RFB_FORMAT.md §5), while most other data
sets use IBGE's 7-digit codes. The Tesouro's SIAFI table maps one to the other; its rows read
`siafi;cnpj;name;uf;ibge` (a header line is allowed). cnpj-duck does not ship it: a user passes the file
(`serve --ibge FILE`), and without it the IBGE code is null.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import UsageError


@dataclass(frozen=True)
class IbgeCodes:
    """SIAFI code (4 digits, zero-padded as the release writes it) -> IBGE code, and back."""

    by_siafi: dict[str, int] = field(default_factory=dict)
    by_ibge: dict[int, str] = field(default_factory=dict)
    source: Path | None = None

    def ibge(self, siafi: str | None) -> int | None:
        """The IBGE code of a SIAFI code; None without a table or for a code it lacks."""
        return self.by_siafi.get(siafi) if siafi else None


def siafi_code(text: str) -> str:
    """A SIAFI code as the release writes it: 4 digits with leading zeros."""
    return text.strip().zfill(4)


def load_ibge(path: Path) -> IbgeCodes:
    """Read a SIAFI-to-IBGE table (`siafi;cnpj;name;uf;ibge`, UTF-8 or Latin-1); UsageError names a bad line."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UsageError(
            f"{path}: cannot read the SIAFI-to-IBGE table ({e.strerror}); pass an existing file to --ibge"
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # the Tesouro's CSV exports are Latin-1
    codes: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [f.strip().strip('"') for f in line.split(";")]
        if len(fields) < 5:
            raise UsageError(
                f"{path} line {number}: expected 5 fields `siafi;cnpj;name;uf;ibge`, found "
                f"{len(fields)}; pass the Tesouro's SIAFI municipality table"
            )
        siafi, ibge = fields[0], fields[-1]
        if not (siafi.isdigit() and ibge.isdigit()):
            if number == 1:  # a header
                continue
            raise UsageError(
                f"{path} line {number}: the SIAFI code {siafi!r} and the IBGE code {ibge!r} must be digits"
            )
        codes[siafi_code(siafi)] = int(ibge)
    if not codes:
        raise UsageError(
            f"{path}: no municipality in the SIAFI-to-IBGE table; expected lines `siafi;cnpj;name;uf;ibge`"
        )
    return IbgeCodes(codes, {ibge: siafi for siafi, ibge in codes.items()}, path)
