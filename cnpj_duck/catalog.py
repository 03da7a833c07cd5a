"""The catalog: `<data_dir>/cnpj.duckdb` holds views over the Parquet outputs, so any DuckDB client can query them.

Per output table: `<table>` (its latest release) and `<table>_history` (every release, with a `release` column),
then the views of `sql/views/*.sql`, with the data dictionary as table and column comments. Every build
refreshes them (`refresh_catalog`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

import duckdb

from .build import MANIFEST_NAME, open_catalog, partition_dir, read_manifest
from .errors import SqlError, UsageError
from .sqlproject import (
    MACROS_FILE,
    describe_sql,
    macros_sql,
    ordered_views,
    quote_ident,
    quote_literal,
    table_docs,
    view_names,
)

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_RELEASE_DIR_RE = re.compile(r"^release=(\d{4}-\d{2})$")
_DATA_FILES = "[!_]*.parquet"  # files starting with "_" are not data (the manifest, and by convention any other)
RELEASE_DOC = "the release month (YYYY-MM) the row comes from"
AUDIT_DOCS = {
    "audit_runs": "audit: one row per run (a build, an export, a download): command, release, status, row counts "
                  "and the configuration used",
    "audit_tables": "audit: one row per table of a run, with its status, row counts and output folder",
    "audit_files": "audit: one row per file of a table in a run: the zip, its sha256, rows and values nulled",
    "audit_batches": "audit: one row per batch of rows read from a file, with the physical lines it covers",
    "rejects": "audit: records that could not be parsed, with their file, line, reason and raw text",
}


def table_releases(data_dir: Path) -> dict[str, list[str]]:
    """The output tables under <data_dir>/parquet and the releases each has with data, oldest first."""
    root = data_dir / "parquet"
    found: dict[str, list[str]] = {}
    if not root.is_dir():
        return found
    for table_dir in sorted(root.iterdir()):
        if not table_dir.is_dir() or not _NAME_RE.match(table_dir.name):
            continue
        releases = sorted(
            m.group(1) for d in table_dir.iterdir()
            if d.is_dir() and (m := _RELEASE_DIR_RE.match(d.name)) and any(d.glob(_DATA_FILES))
        )
        if releases:
            found[table_dir.name] = releases
    return found


def create_views(con: duckdb.DuckDBPyConnection, data_dir: Path, sql_dir: Path, release: str | None = None,
                 temporary: bool = False, problems: list[str] | None = None, atomic: bool = False) -> list[str]:
    """Define the views of every output table for `release` (default: each table's latest), their `_history`
    views and the views of sql/views/, with comments; returns the names created.

    A table without `release` gets no view, and nor does a view of sql/views/ that reads it (with `temporary`
    in the catalog itself, that table's persistent view, of another release, stays visible). A view of
    sql/views/ that DuckDB cannot create raises SqlError, or is skipped and described in `problems` when a
    list is given. `atomic` makes each view and its comments one transaction (ten times faster on a database
    file, where each statement would otherwise commit on its own); `con` must not be in a transaction then.
    """
    data_dir = data_dir.resolve()  # views outlive the working directory: absolute paths only
    releases = table_releases(data_dir)
    if release is not None and not any(release in found for found in releases.values()):
        built = sorted({r for found in releases.values() for r in found})
        raise UsageError(f"release {release}: nothing built under {data_dir / 'parquet'} "
                         f"(built: {', '.join(built) or 'none'}); build it first")
    create_macros(con, sql_dir, temporary, atomic)
    view = "TEMPORARY VIEW" if temporary else "VIEW"
    docs = table_docs(sql_dir)
    created: list[str] = []
    for table, found in releases.items():
        doc, columns = docs.get(table, ("", {}))
        wanted = release or found[-1]
        every = quote_literal(str(data_dir / "parquet" / table / "release=[0-9][0-9][0-9][0-9]-[0-9][0-9]"
                                  / _DATA_FILES))
        latest = quote_literal(str(partition_dir(data_dir, table, wanted) / _DATA_FILES))
        # union_by_name: a column added in a later release reads as NULL in the earlier ones.
        history = (f"SELECT release, * EXCLUDE (release) FROM read_parquet({every}, hive_partitioning = true, "
                   "hive_types = {'release': VARCHAR}, union_by_name = true)")
        for name, body, about, docs_of in (
            (table, f"SELECT * FROM read_parquet({latest}, hive_partitioning = false)", f"Release {wanted}.",
             columns),
            (f"{table}_history", history, f"Every built release ({', '.join(found)}), with its month in release.",
             {"release": RELEASE_DOC, **columns}),
        ):
            if name == table and wanted not in found:
                continue
            try:
                _create(con, view, name, body, _sentence(doc, about), docs_of, atomic)
            except duckdb.Error as e:  # a damaged file: DuckDB reads every footer to create the view
                _problem(problems, f"{name}: {sql_message(e)}")
                continue
            created.append(name)
    outputs = set(releases) | {f"{t}_history" for t in releases} | set(docs) | {f"{t}_history" for t in docs}
    existing = _existing_names(con)
    ordered = ordered_views(con, sql_dir, problems)
    ours = outputs | {item.name for item, _ in ordered}
    for item, reads in ordered:
        if item.name in outputs:
            _problem(problems, f"{item.path}: a view cannot be named after the output table {item.name}; "
                               "rename the file")
            continue
        # An output table or view must have been made now (for this release); anything else (the audit tables)
        # must exist in the connection.
        missing = sorted(t for t in reads if t not in created and (t in ours or t not in existing))
        if missing:
            log.debug("%s: not created, it reads %s, not available", item.path, ", ".join(missing))
            continue
        doc, columns = describe_sql(item.sql)
        try:
            _create(con, view, item.name, item.sql, doc, columns, atomic)
        except duckdb.Error as e:
            _problem(problems, f"{item.path}: {sql_message(e)}")
            continue
        created.append(item.name)
        existing.add(item.name)
    return created


def create_macros(con: duckdb.DuckDBPyConnection, sql_dir: Path, temporary: bool = False,
                  atomic: bool = False) -> None:
    """Run sql/_macros.sql in `con`, as temporary macros when asked (a read-only catalog takes only those)."""
    path = sql_dir / MACROS_FILE
    text = macros_sql(sql_dir, temporary)
    if text is None:
        return
    if atomic:
        text = f"BEGIN TRANSACTION;\n{text}\n;COMMIT;"
    try:
        con.execute(text)
    except duckdb.Error as e:
        if atomic:
            con.execute("ROLLBACK")
        raise SqlError(f"{path}: {sql_message(e)}") from None


@dataclass(frozen=True)
class CatalogRefresh:
    """What a refresh made: the views, and the sql/views files that could not become views."""

    views: tuple[str, ...]
    problems: tuple[str, ...]
    mixed: str | None = None  # set when the table views show different releases (a month built in part)


def refresh_catalog(data_dir: Path, sql_dir: Path) -> CatalogRefresh:
    """(Re)create the catalog's views and comments over what is built now; drop views of what is gone."""
    con = open_catalog(data_dir)
    try:
        problems: list[str] = []
        views = create_views(con, data_dir, sql_dir, problems=problems, atomic=True)
        managed = set(table_releases(data_dir.resolve())) | set(table_docs(sql_dir))
        managed |= {f"{t}_history" for t in managed}
        managed |= set(view_names(sql_dir))
        persistent = {r[0] for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal AND database_name = current_database()"
        ).fetchall()}
        for stale in sorted((managed & persistent) - set(views)):
            con.execute(f"DROP VIEW {quote_ident(stale)}")
        _comment_audit_tables(con)
    finally:
        con.close()
    return CatalogRefresh(tuple(views), tuple(problems), mixed_releases(data_dir))


def mixed_releases(data_dir: Path) -> str | None:
    """A warning when the table views show different months: each shows its own latest release, so after a
    month built in part, the enriched views would join two months."""
    latest: dict[str, list[str]] = {}
    for table, found in table_releases(data_dir.resolve()).items():
        latest.setdefault(found[-1], []).append(table)
    if len(latest) < 2:
        return None
    shown = "; ".join(f"{release}: {', '.join(tables)}" for release, tables in sorted(latest.items()))
    return (f"the catalog's table views show different releases ({shown}): each table's latest; views that join "
            "them mix months. Build the missing tables for the newest month, or query with --release YYYY-MM")


@dataclass(frozen=True)
class CatalogColumn:
    name: str
    type: str
    description: str | None


@dataclass(frozen=True)
class CatalogObject:
    """A table or view of the catalog with its data dictionary."""

    name: str
    kind: str  # table (an output table's latest release), history, view (sql/views), audit
    description: str | None
    columns: tuple[CatalogColumn, ...]


_KINDS = ("table", "history", "view", "audit")


def describe_catalog(con: duckdb.DuckDBPyConnection, sql_dir: Path) -> list[CatalogObject]:
    """Every table and view of the catalog, with its description and its columns' types and descriptions."""
    own = set(view_names(sql_dir))
    found = con.execute(
        "SELECT view_name, comment, true FROM duckdb_views() WHERE NOT internal AND database_name = current_database()"
        " UNION ALL SELECT table_name, comment, false FROM duckdb_tables() WHERE database_name = current_database()"
    ).fetchall()
    columns: dict[str, list[CatalogColumn]] = {}
    for table, name, kind, doc in con.execute(
        "SELECT table_name, column_name, data_type, comment FROM duckdb_columns() "
        "WHERE database_name = current_database() ORDER BY table_name, column_index"
    ).fetchall():
        columns.setdefault(table, []).append(CatalogColumn(name, kind, doc))
    objects = []
    for name, doc, is_view in found:
        kind = "audit" if not is_view else "view" if name in own else "history" if name.endswith("_history") \
            else "table"
        objects.append(CatalogObject(name, kind, doc or None, tuple(columns.get(name, ()))))
    return sorted(objects, key=lambda o: (_KINDS.index(o.kind), o.name))


@dataclass(frozen=True)
class LocalTable:
    """One table's partition of a release on disk."""

    name: str
    rows: int | None  # from the manifest; None when the partition has none
    files: int
    bytes: int  # the partition's size on disk, manifest included
    built_at: datetime | None  # when the partition was published (its manifest's time), local time like the audit
    run_id: int | None
    partial: bool  # made by a development run (--limit-rows, --max-files-per-table)


@dataclass(frozen=True)
class LocalRelease:
    """A release built into <data_dir>/parquet."""

    release: str
    tables: tuple[LocalTable, ...]

    @property
    def rows(self) -> int:
        return sum(t.rows or 0 for t in self.tables)

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.tables)

    @property
    def built_at(self) -> datetime | None:
        times = [t.built_at for t in self.tables if t.built_at is not None]
        return max(times) if times else None

    @property
    def partial(self) -> bool:
        return any(t.partial for t in self.tables)


def local_releases(data_dir: Path) -> list[LocalRelease]:
    """The releases built under <data_dir>/parquet, oldest first: per table, rows, size and when it was built."""
    per_release: dict[str, list[LocalTable]] = {}
    for table, found in table_releases(data_dir).items():
        for release in found:
            folder = partition_dir(data_dir, table, release)
            files = [p for p in folder.iterdir() if p.is_file()]
            manifest = read_manifest(folder)
            rows = sum(p["rows"] for p in manifest["parts"].values()) if manifest else None
            built = datetime.fromtimestamp((folder / MANIFEST_NAME).stat().st_mtime) if manifest else None
            per_release.setdefault(release, []).append(LocalTable(
                table, rows, sum(1 for p in files if p.match(_DATA_FILES)), sum(p.stat().st_size for p in files),
                built, manifest.get("run_id") if manifest else None, bool(manifest and manifest.get("partial"))))
    return [LocalRelease(r, tuple(per_release[r])) for r in sorted(per_release)]


def _create(con: duckdb.DuckDBPyConnection, view: str, name: str, body: str, doc: str,
            columns: dict[str, str], atomic: bool) -> None:
    """Create (or replace) one view and give it and its columns their comments."""
    if atomic:
        con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE OR REPLACE {view} {quote_ident(name)} AS {body}")
        if doc:
            con.execute(f"COMMENT ON VIEW {quote_ident(name)} IS {quote_literal(doc)}")
        for column in con.sql(f"SELECT * FROM {quote_ident(name)} LIMIT 0").columns if columns else ():
            if column in columns:
                con.execute(f"COMMENT ON COLUMN {quote_ident(name)}.{quote_ident(column)} IS "
                            f"{quote_literal(columns[column])}")
    except BaseException:
        if atomic:
            con.execute("ROLLBACK")
        raise
    if atomic:
        con.execute("COMMIT")


def _existing_names(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("SELECT table_name FROM duckdb_tables() UNION ALL "
                       "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    return {r[0] for r in rows}


def _comment_audit_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The audit tables get their descriptions too, from AUDIT_DOCS and audit.sql's column comments."""
    text = resources.files("cnpj_duck").joinpath("audit.sql").read_text(encoding="utf-8")
    present = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()}
    statements = []
    for table, body in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\);", text, re.DOTALL):
        if table not in present:
            continue
        if table in AUDIT_DOCS:
            statements.append(f"COMMENT ON TABLE {quote_ident(table)} IS {quote_literal(AUDIT_DOCS[table])}")
        for column, doc in re.findall(r"^\s+(\w+)\s+[A-Z][^\n]*?--\s*(.+?)\s*$", body, re.MULTILINE):
            statements.append(f"COMMENT ON COLUMN {quote_ident(table)}.{quote_ident(column)} IS "
                              f"{quote_literal(doc)}")
    if statements:  # one transaction: one commit instead of one per comment
        con.execute("BEGIN TRANSACTION;\n" + ";\n".join(statements) + ";\nCOMMIT;")


def _sentence(doc: str, extra: str) -> str:
    return f"{doc.rstrip()} {extra}".strip()


def _problem(problems: list[str] | None, message: str) -> None:
    if problems is None:
        raise SqlError(message)
    problems.append(message)


def sql_message(e: BaseException) -> str:
    """DuckDB's message on one line: the first line, then any hint (`Did you mean ...`, `LINE 1: ...`)."""
    lines = [line.strip() for line in str(e).strip().splitlines()]
    rest = [line for line in lines[1:] if line and set(line) != {"^"}]
    first = lines[0] if lines and lines[0] else type(e).__name__
    return f"{first} ({'; '.join(rest)})" if rest else first
