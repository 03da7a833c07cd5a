"""What a hand-over file (`export duckdb`, `export sqlite`) holds, and the run that writes one.

A hand-over file is one database file a user can copy anywhere: every table built for a release, the data
dictionary (`cnpj_duck_dictionary`: each table's and column's description, from the sql/ files' comments) and
one row of metadata (`cnpj_duck_metadata`: release, extraction date, run id, cnpj-duck version, when made, and
whether the privacy rules were applied: export.privacy, --privacy).

The run is shared by both writers: the data dir's writer lock, an audit run (run > table > file > batch, like
`export postgres`), the Parquet part files checked against their manifests, the file written aside (a hidden
name in the target's folder) and renamed over the target only when complete: a failed or killed export leaves
the previous file as it was. The writers (export_duckdb.py, export_sqlite.py) fill the file in between.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from . import __version__
from .audit import Audit, RunScope
from .catalogdb import Journal, snapshot
from .config import Config, load_config
from .errors import CnpjDuckError, UsageError
from .export_sources import locate_sources
from .progress import NullProgress, Progress
from .sqlproject import table_docs
from .store import Store, process_alive
from .tables import KEYS

METADATA_TABLE = "cnpj_duck_metadata"
DICTIONARY_TABLE = "cnpj_duck_dictionary"
# One row: where the file came from. Types are the writer's (DuckDB gets DATE/TIMESTAMP, SQLite ISO text).
METADATA_COLUMNS: dict[str, str] = {
    "release": "the release month (YYYY-MM) of every table in this file",
    "extracted_on": "the day the Receita extracted the release (the Dyymmdd tag of its file names); NULL if unknown",
    "run_id": "the cnpj-duck run (audit_runs.run_id in the data dir's catalog) that wrote this file",
    "cnpj_duck_version": "the cnpj-duck version that wrote this file",
    "created_at": "when this file was written (local time)",
    "format": "duckdb or sqlite",
    "privacy": "true when estabelecimentos was written with the privacy rules (--privacy): no e-mail, no "
    "CPF-looking digits in nome_fantasia, no street address, CEP or phones of an individual's company",
}
DICTIONARY_COLUMNS: dict[str, str] = {
    "table_name": "a table or view of this file",
    "column_name": "one of its columns; NULL on the row that describes the table itself",
    "data_type": "the column's type in this file",
    "description": "what the table or column holds (from the cnpj-duck SQL project's comments)",
}
_TAG_RE = re.compile(r"\.D(\d)(\d\d)(\d\d)(?:\.|$)")  # the extraction date in a member name (RFB_FORMAT.md §2)


@dataclass(frozen=True)
class HandoverTable:
    """One table of the release as the writers read it: its part files, their manifest rows, its dictionary."""

    name: str
    files: tuple[Path, ...]
    part_rows: dict[str, int]  # rows per part file, from the manifest
    doc: str
    columns: dict[str, str]  # column -> description
    sort_key: tuple[str, ...]  # the order the Parquet is written in (sql/<table>.sql's ORDER BY)
    partial: bool = False  # built by a development run (--limit-rows, --max-files-per-table)

    @property
    def rows(self) -> int:
        return sum(self.part_rows.values())


@dataclass(frozen=True)
class Handover:
    """What goes into a hand-over file of a release."""

    release: str
    tables: tuple[HandoverTable, ...]
    extracted_on: date | None
    privacy: bool = False  # the privacy rules are applied to estabelecimentos (export_sources.read_sql)

    def metadata(self, run_id: int, fmt: str, created_at: datetime) -> dict[str, Any]:
        """The metadata row, in METADATA_COLUMNS' order."""
        return {
            "release": self.release,
            "extracted_on": self.extracted_on,
            "run_id": run_id,
            "cnpj_duck_version": __version__,
            "created_at": created_at,
            "format": fmt,
            "privacy": self.privacy,
        }


@dataclass(frozen=True)
class TableWritten:
    """How one table went into the file."""

    name: str
    rows: int
    seconds: float  # loading the rows
    index_seconds: float  # indexes (and, in SQLite, ANALYZE)
    indexes: tuple[str, ...]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class HandoverSummary:
    """A finished hand-over file."""

    run_id: int
    release: str
    path: Path
    format: str
    tables: tuple[TableWritten, ...]
    views: tuple[str, ...]
    bytes: int
    seconds: float
    privacy: bool = False

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


# What a writer does between the run's start and the rename: fill `tmp` and say what it wrote.
Writer = Callable[[RunScope, Handover, Path], tuple[tuple[TableWritten, ...], tuple[str, ...]]]


def handover_config(store: Store, config: Config | None) -> Config:
    """The settings a hand-over writer runs with: the given ones (or the defaults) for the store's data dir."""
    if config is None:
        return load_config(None, overrides={"data_dir": str(store.root)})
    return config if config.data_dir == store.root else dataclasses.replace(config, data_dir=store.root)


def plan_handover(config: Config, release: str | None) -> Handover:
    """The release asked for (None or 'latest': config's, else the latest built) and its built tables, with their
    part files and manifest rows (export_sources, as for Postgres) and their data dictionary."""
    store = Store(config.data_dir)
    found, sources = locate_sources(store, config, release, None)
    docs = table_docs(config.sql_dir)
    tables = []
    for source in sources:
        if source.kind != "parquet":
            continue  # the views: the DuckDB file makes its own over the tables; SQLite has none
        doc, columns = docs.get(source.name, ("", {}))
        # Parquet of the release tables is ordered by the first key column (their sql/ files' ORDER BY).
        key = KEYS.get(source.name, ())[:1]
        tables.append(HandoverTable(source.name, source.files, source.part_rows, doc, columns, key, source.partial))
    return Handover(found, tuple(tables), extraction_date(store, found), config.export_privacy)


def extraction_date(store: Store, release: str) -> date | None:
    """The day the Receita extracted a release: the Dyymmdd tag of the member names the build read (the year has
    one digit: the latest year ending in it, not after the release's year)."""
    if not store.catalog_path.is_file():
        return None
    con = snapshot(store)
    try:
        rows = con.execute(
            "SELECT member_name, count(*) FROM audit_files WHERE release = ? AND member_name IS NOT "
            "NULL AND status = 'succeeded' GROUP BY ALL ORDER BY 2 DESC",
            [release],
        ).fetchall()
    finally:
        con.close()
    year = int(release[:4])
    for member, _ in rows:
        m = _TAG_RE.search(member)
        if m:
            digit, month, day = (int(g) for g in m.groups())
            found = year - (year - digit) % 10
            try:
                return date(found, month, day)
            except ValueError:
                continue
    return None


def check_parts(table: HandoverTable, path: Path, rows: int) -> None:
    """A part file must hold the rows its manifest says (else the Parquet changed since it was built)."""
    expected = table.part_rows[path.name]
    if rows != expected:
        raise CnpjDuckError(
            f"{path}: {rows:,} rows, its manifest says {expected:,}; rebuild {table.name} "
            f"(`cnpj-duck build --tables {table.name} --force`)"
        )


def check_total(table: HandoverTable, rows: int, where: str) -> None:
    """The table in the file must hold every row of its manifests."""
    if rows != table.rows:
        raise CnpjDuckError(
            f"{where}: {rows:,} rows in the file, {table.rows:,} in the Parquet's manifests; "
            "the file was not written (a previous one is unchanged)"
        )


def aside(path: Path) -> Path:
    """The hidden name a file is written under, in its target's folder, so the rename is atomic."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def drop_leftovers(path: Path) -> list[Path]:
    """Remove what killed exports to `path` left (their aside files, by the pid in the name); returns them."""
    gone = []
    for old in path.parent.glob(f".{path.name}.*.tmp*"):
        pid = old.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)) and int(pid) != os.getpid():
            old.unlink(missing_ok=True)
            gone.append(old)
    return gone


def check_target(path: Path, flag: str = "FILE") -> Path:
    """The file to write: its folder must exist and it must not be a folder."""
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a folder; name the file to write, e.g. {path / 'cnpj.db'}")
    if not path.parent.is_dir():
        raise UsageError(f"{flag} {path}: no such folder {path.parent}; create it first")
    return path


@contextmanager
def written_aside(path: Path) -> Iterator[Path]:
    """Yield the aside name; on success rename it over `path`, else remove it (and any side files)."""
    tmp = aside(path)
    for side in (tmp, *tmp.parent.glob(tmp.name + "*")):
        side.unlink(missing_ok=True)
    try:
        yield tmp
        tmp.replace(path)
    finally:
        for side in (tmp, *tmp.parent.glob(tmp.name + "*")):  # the -journal, .wal a failed writer left
            side.unlink(missing_ok=True)


def run_handover(
    config: Config,
    path: Path,
    release: str | None,
    fmt: str,
    write: Writer,
    progress: Progress | None = None,
    command: str | None = None,
) -> HandoverSummary:
    """Write a hand-over file of a release to `path` in an audited run: `write` fills the aside file."""
    path = check_target(Path(path))
    store = Store(config.data_dir)
    progress = progress or NullProgress()
    started = time.monotonic()
    with store.writer_lock(command or f"export {fmt}"):
        handover = plan_handover(config, release)
        found = handover.release
        for t in handover.tables:
            if t.partial:
                progress.message(
                    f"{t.name}: built by a partial (development) run; exporting what it holds", level="warning"
                )
        for old in drop_leftovers(path):
            progress.message(f"removed {old}, left by an interrupted export", level="warning")
        journal = Journal(store, notify=lambda text: progress.message(text, level="warning"))
        try:
            audit = Audit(journal)
            audit.abandon_leftovers()
            settings = {**config.redacted(), "export.path": str(path.resolve())}
            with audit.run(command or f"export {fmt}", found, settings, __version__) as run:
                progress.start(
                    "export", total=sum(t.rows for t in handover.tables), release=found, run_id=run.id, path=str(path)
                )
                try:
                    with written_aside(path) as tmp:
                        tables, views = write(run, handover, tmp)
                        run.add(bytes_out=tmp.stat().st_size)
                except BaseException as e:
                    progress.finish("export", status="interrupted" if isinstance(e, KeyboardInterrupt) else "failed")
                    raise
                progress.finish("export", rows=sum(t.rows for t in tables))
                return HandoverSummary(
                    run.id,
                    found,
                    path,
                    fmt,
                    tables,
                    views,
                    path.stat().st_size,
                    time.monotonic() - started,
                    handover.privacy,
                )
        finally:
            journal.close()
