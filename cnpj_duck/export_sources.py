"""What an export reads: a built release's tables (Parquet partitions) and the SQL project's views over it, and
how: read_sql is the one SELECT the three exports read a table's part files with (the privacy rules, when on,
are applied there)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from . import privacy, sqlproject
from .catalog import sql_message
from .config import Config
from .errors import CnpjDuckError, UsageError
from .sqlproject import quote_literal
from .store import Store


@dataclass(frozen=True)
class Source:
    """A table to export: a Parquet partition, or a view over the release in DuckDB."""

    name: str
    kind: str  # 'parquet' or 'view'
    files: tuple[Path, ...] = ()
    part_rows: dict[str, int] = field(default_factory=dict)  # manifest rows per part file
    partial: bool = False


def locate_sources(
    store: Store, config: Config, release: str | None, tables: list[str] | None, quality: bool = False
) -> tuple[str, list[Source]]:
    """The release to export (asked for, else config's, else the latest built) and its tables and views: the one
    place that knows where a built release's Parquet is."""
    wanted = release if release and release != "latest" else None
    if wanted is None and config.release != "latest":
        wanted = config.release
    found = store.resolve_release(wanted)
    return found, find_sources(config, found, tables, quality)


def find_sources(config: Config, release: str, tables: list[str] | None, quality: bool = False) -> list[Source]:
    """The release's built tables, then the enriched views; qualidade only when asked for (`quality`, or by name
    in `tables`): it is a scan of every table, seconds for a few dozen rows (issue 12)."""
    store = Store(config.data_dir)
    sources: list[Source] = []
    for table in store.tables_of(release):
        manifest = store.manifest(table, release) or {}
        files = store.part_files(table, release)
        parts = {f.name: int(manifest["parts"][f.name]["rows"]) for f in files}
        sources.append(Source(table, "parquet", tuple(files), parts, bool(manifest.get("partial"))))
    if not sources:
        raise UsageError(
            f"release {release}: no built table under {config.data_dir / 'parquet'}; "
            "run `cnpj-duck build` for it or pass another --release"
        )
    built = {s.name for s in sources}
    sources += [Source(name, "view") for name in sqlproject.view_names(config.sql_dir) if name not in built]
    if tables is None:
        return [s for s in sources if quality or s.name != sqlproject.QUALITY_VIEW]
    known = {s.name: s for s in sources}
    unknown = [t for t in tables if t not in known]
    if unknown:
        raise UsageError(f"--tables: {', '.join(unknown)} not built for release {release}; known: {', '.join(known)}")
    return [known[t] for t in tables]


# The roots of the companies that are a person's, made once per export in its DuckDB engine (a temporary table:
# nothing of it stays in a hand-over file) when the privacy rules are on.
INDIVIDUALS_TABLE = "cnpj_duck_individuals"


def prepare_privacy(con: duckdb.DuckDBPyConnection, store: Store, release: str) -> None:
    """Make the table of roots that are a person's (privacy.individuals_sql over the release's empresas and
    simples) in `con`, for read_sql; UsageError when empresas is not built (the rules need its legal natures)."""
    if not store.part_files("empresas", release):
        raise UsageError(
            f"--privacy: empresas is not built for release {release}, and the rules need its legal natures; "
            f"build it (`cnpj-duck build --release {release} --tables empresas`) or export without --privacy"
        )
    simples = store.scan_sql("simples", release) if store.part_files("simples", release) else None
    sql = privacy.individuals_sql(store.scan_sql("empresas", release), simples)
    try:
        con.execute(f"CREATE OR REPLACE TEMPORARY TABLE {INDIVIDUALS_TABLE} AS {sql}")
    except duckdb.Error as e:
        raise CnpjDuckError(f"--privacy: cannot read empresas or simples of {release}: {sql_message(e)}") from None


def read_sql(con: duckdb.DuckDBPyConnection, table: str, files: Sequence[Path], private: bool) -> str:
    """The SELECT every export reads a table's part files with: the rows as built or, with `private` for
    estabelecimentos, with the privacy rules applied in bulk (prepare_privacy made the roots table in `con`)."""
    scan = f"read_parquet([{', '.join(quote_literal(str(f)) for f in files)}], hive_partitioning = false)"
    if not privacy_applies(table, private):
        return f"SELECT * FROM {scan}"
    columns = con.sql(f"SELECT * FROM {scan} LIMIT 0").columns
    return privacy.select_sql(scan, INDIVIDUALS_TABLE, columns)


def privacy_applies(table: str, private: bool) -> bool:
    """Whether an export with the privacy rules on (`private`) changes this table's rows."""
    return private and table == privacy.TABLE


def privacy_note(table: str, private: bool) -> str:
    """What an export's audit note and comment of a table say when the privacy rules changed it ("" if not)."""
    return privacy.SUMMARY if privacy_applies(table, private) else ""


def table_doc(doc: str, table: str, release: str, private: bool) -> str:
    """A hand-over file's description of a table: its sql/ doc, its release, the privacy rules if they changed it."""
    note = privacy_note(table, private)
    return f"{doc} Release {release}.{f' Exported with the {note}.' if note else ''}".strip()
