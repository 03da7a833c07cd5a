"""The IBGE code of each Receita (SIAFI) municipality code, from the table the Tesouro Nacional publishes.

The release codes municipalities the Receita's way (SIAFI, 4 digits; RFB_FORMAT.md §5), while most other data
sets use IBGE's 7-digit codes. The Tesouro's SIAFI table maps one to the other; its rows read
`siafi;cnpj;name;uf;ibge` (a header line is allowed). cnpj-duck does not ship it: a user names the file (the
config key `ibge`, formerly `serve.ibge`, or `serve --ibge FILE`), and without it the IBGE code is null.

Where it is used: serve's answers and `?municipio=`; and the catalog's table `municipios_ibge` (codigo ->
codigo_ibge, made by catalog.create_views in every reader, in the catalog file and in `export duckdb` files, and
empty without a file), which estabelecimentos_completos joins for its codigo_municipio_ibge column, so that the
view has the same columns with or without the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from .errors import UsageError

TABLE = "municipios_ibge"
TABLE_DOC = (
    "The IBGE code of each municipality code of the Receita (SIAFI), from the Tesouro Nacional's table named by "
    "the config key ibge; empty when none is named"
)
COLUMN_DOCS = {
    "codigo": "municipality code of the Receita (SIAFI, 4 digits), as municipios.codigo and estabelecimentos.municipio",
    "codigo_ibge": "the municipality's IBGE code (7 digits)",
}


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
            f"{path}: cannot read the SIAFI-to-IBGE table ({e.strerror}); name an existing file in the config "
            "key ibge (or serve --ibge)"
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


def load_configured(path: Path | None) -> IbgeCodes:
    """The table a setting names (load_ibge), or an empty one when it names none."""
    return load_ibge(path) if path is not None else IbgeCodes()


def create_table(con: duckdb.DuckDBPyConnection, codes: IbgeCodes, temporary: bool = False) -> None:
    """(Re)create the municipios_ibge table in `con` with the codes (no rows for an empty IbgeCodes)."""
    kind = "TEMPORARY TABLE" if temporary else "TABLE"
    con.execute(f"CREATE OR REPLACE {kind} {TABLE} (codigo VARCHAR, codigo_ibge INTEGER)")
    if codes.by_siafi:  # one statement for the whole table: ~5,570 rows
        con.execute(
            f"INSERT INTO {TABLE} SELECT unnest(?::VARCHAR[]), unnest(?::INTEGER[])",
            [list(codes.by_siafi), list(codes.by_siafi.values())],
        )
