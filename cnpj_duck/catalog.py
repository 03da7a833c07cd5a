"""The catalog's views over the Parquet outputs, with the data dictionary as table and column comments.

Per output table: `<table>` (the latest built release, or the one asked for) and `<table>_history` (every built
release, with a `release` column), then the views of `sql/views/*.sql`. Readers make their own, in memory, from
the store (`connect_reader`); every writer refreshes the ones in `<data_dir>/cnpj.duckdb` for other DuckDB
clients, with paths relative to the data dir (`refresh_catalog`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

import duckdb

from . import ibge
from .catalogdb import open_catalog, snapshot
from .errors import SqlError, UsageError
from .ibge import IbgeCodes
from .sqlfiles import SqlDir
from .sqlproject import (
    MACROS_FILE,
    describe_sql,
    macros_sql,
    ordered_views,
    quote_ident,
    quote_literal,
    source_files,
    table_docs,
    view_names,
)
from .store import DATA_FILES, Store

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
RELEASE_DOC = "the release month (YYYY-MM) the row comes from"
AUDIT_DOCS = {
    "audit_runs": "audit: one row per run (a build, an export, a download): command, release, status, row counts "
    "and the configuration used",
    "audit_tables": "audit: one row per table of a run, with its status, row counts and output folder",
    "audit_files": "audit: one row per file of a table in a run: the zip, its sha256, rows and values nulled",
    "audit_batches": "audit: one row per batch of rows read from a file, with the physical lines it covers",
    "rejects": "audit: records that could not be parsed, with their file, line, reason and raw text",
}


def create_views(
    con: duckdb.DuckDBPyConnection,
    data_dir: Path,
    sql_dir: SqlDir,
    release: str | None = None,
    temporary: bool = False,
    problems: list[str] | None = None,
    atomic: bool = False,
    relative: bool = False,
    documented: bool = True,
    table_sql: Mapping[str, str] | None = None,
    ibge: IbgeCodes | None = None,
) -> list[str]:
    """Define the views of every output table for `release` (default: the latest built release), their
    `_history` views and the views of sql/views/, with comments; returns the names created.

    A table not built for the release gets no view, and nor does a view of sql/views/ that reads it. A view of
    sql/views/ that DuckDB cannot create raises SqlError, or is skipped and described in `problems` when a list
    is given. `atomic` makes each view and its comments one transaction (ten times faster on a database file,
    where each statement would otherwise commit on its own); `con` must not be in a transaction then.
    `relative` writes the Parquet paths relative to the data dir (the catalog file's views, which must survive
    the data dir being moved); otherwise they are absolute (a reader's own views). Without `documented` the
    views get no comments (a third of a reader's start-up; `describe` asks for them). `table_sql` gives a table's
    view another body than its Parquet scan (an export's privacy rules). The municipios_ibge table is made too,
    from `ibge` (the config key ibge's file; empty without one), before the views of sql/views/ that join it.
    """
    store = Store(data_dir)
    releases = store.built()
    if release is not None and not any(release in found for found in releases.values()):
        built = store.releases()
        raise UsageError(
            f"release {release}: nothing built under {store.parquet_dir} "
            f"(built: {', '.join(built) or 'none'}); build it first"
        )
    create_macros(con, sql_dir, temporary, atomic)
    view = "TEMPORARY VIEW" if temporary else "VIEW"
    docs = table_docs(sql_dir) if documented else {}
    created: list[str] = []
    wanted = release or store.latest_release() or ""
    for table, found in releases.items():
        doc, columns = docs.get(table, ("", {}))
        history_about = f"Every built release ({', '.join(found)}), with its month in release."
        for name, about, docs_of in (
            (table, f"Release {wanted}.", columns),
            (f"{table}_history", history_about, {"release": RELEASE_DOC, **columns}),
        ):
            if name == table and wanted not in found:
                continue
            try:
                body = (
                    (table_sql or {}).get(table) or f"SELECT * FROM {store.scan_sql(table, wanted, relative)}"
                    if name == table
                    else f"SELECT release, * EXCLUDE (release) FROM {store.history_sql(table, relative, found)}"
                )
                _create(
                    con,
                    view,
                    name,
                    body,
                    _sentence(doc, about) if documented else "",
                    docs_of if documented else {},
                    atomic,
                )
                if relative and name != table:  # the catalog file's: every footer read once, a damaged one found
                    con.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchall()
            except duckdb.Error as e:  # a damaged file
                if relative:
                    con.execute(f"DROP VIEW IF EXISTS {quote_ident(name)}")
                _problem(problems, f"{name}: {sql_message(e)}")
                continue
            created.append(name)
    outputs = set(releases) | {f"{t}_history" for t in releases} | set(docs) | {f"{t}_history" for t in docs}
    create_ibge_table(con, ibge or IbgeCodes(), temporary, documented)
    existing = _existing_names(con)
    ordered = ordered_views(con, sql_dir, problems)
    ours = outputs | {item.name for item, _ in ordered}
    for item, reads in ordered:
        if item.name in outputs:
            _problem(
                problems, f"{item.path}: a view cannot be named after the output table {item.name}; rename the file"
            )
            continue
        # An output table or view must have been made now (for this release); anything else (the audit tables)
        # must exist in the connection.
        missing = sorted(t for t in reads if t not in created and (t in ours or t not in existing))
        if missing:
            log.debug("%s: not created, it reads %s, not available", item.path, ", ".join(missing))
            continue
        doc, columns = describe_sql(item.sql) if documented else ("", {})
        try:
            _create(con, view, item.name, item.sql, doc, columns, atomic)
        except duckdb.Error as e:
            _problem(problems, f"{item.path}: {sql_message(e)}")
            continue
        created.append(item.name)
        existing.add(item.name)
    return created


def create_ibge_table(
    con: duckdb.DuckDBPyConnection, codes: IbgeCodes, temporary: bool = False, documented: bool = True
) -> None:
    """The municipios_ibge table (ibge.py) in `con`, with its comments when `documented`."""
    ibge.create_table(con, codes, temporary)
    if documented:
        statements = [f"COMMENT ON TABLE {ibge.TABLE} IS {quote_literal(ibge.TABLE_DOC)}"]
        statements += [
            f"COMMENT ON COLUMN {ibge.TABLE}.{column} IS {quote_literal(doc)}"
            for column, doc in ibge.COLUMN_DOCS.items()
        ]
        con.execute(";\n".join(statements))


def connect_reader(
    data_dir: Path,
    sql_dir: SqlDir,
    release: str | None = None,
    documented: bool = False,
    engine: duckdb.DuckDBPyConnection | None = None,
    ibge_file: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """What every reader queries: an in-memory database with a copy of the catalog's audit tables and the views
    over the Parquet of `release` (default: the latest built release), commented. It holds no file: builds,
    exports and downloads write meanwhile, and a moved data dir answers the same. `documented` adds the data
    dictionary as comments; `engine` is the in-memory database to use (store.open_engine: bounded like the config);
    `ibge_file` the SIAFI-to-IBGE table of the config key ibge, for municipios_ibge.
    """
    store = Store(data_dir)
    if not store.catalog_path.is_file() and not store.releases():
        raise UsageError(f"{store.catalog_path}: no catalog yet; run `cnpj-duck build` first (or pass --data-dir)")
    codes = ibge.load_configured(ibge_file)  # a bad file is named before anything is opened
    con = snapshot(store, engine)
    try:
        create_views(con, data_dir, sql_dir, release=release, documented=documented, ibge=codes)
        if documented:
            _comment_audit_tables(con)
    except BaseException:
        con.close()
        raise
    return con


def create_macros(
    con: duckdb.DuckDBPyConnection, sql_dir: SqlDir, temporary: bool = False, atomic: bool = False
) -> None:
    """Run sql/_macros.sql in `con`, as temporary macros when asked (a read-only catalog takes only those)."""
    path = sql_dir.file(MACROS_FILE)
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


def refresh_catalog(data_dir: Path, sql_dir: SqlDir, ibge_file: Path | None = None) -> CatalogRefresh:
    """(Re)create the catalog file's views and comments over what is built now (paths relative to the data dir,
    so a DuckDB client opened there finds them), and its municipios_ibge table from `ibge_file`; drop views of
    what is gone. Needs only the published partitions. A bad `ibge_file` is a problem, not an error: the build
    that refreshes is done."""
    store = Store(data_dir)
    problems: list[str] = []
    try:
        codes = ibge.load_configured(ibge_file)
    except UsageError as e:
        problems.append(f"{e}; {ibge.TABLE} is empty")
        codes = ibge.IbgeCodes()
    with open_catalog(store, wait=600.0) as con:
        # Relative paths resolve against the working directory: from here, the data dir.
        con.execute(f"SET file_search_path = {quote_literal(str(store.root.resolve()))}")
        views = create_views(con, data_dir, sql_dir, problems=problems, atomic=True, relative=True, ibge=codes)
        managed = set(store.built()) | set(table_docs(sql_dir))
        managed |= {f"{t}_history" for t in managed}
        managed |= set(view_names(sql_dir))
        persistent = {
            r[0]
            for r in con.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal AND database_name = current_database()"
            ).fetchall()
        }
        for stale in sorted((managed & persistent) - set(views)):
            con.execute(f"DROP VIEW {quote_ident(stale)}")
        _comment_audit_tables(con)
    return CatalogRefresh(tuple(views), tuple(problems), mixed_releases(data_dir))


def mixed_releases(data_dir: Path) -> str | None:
    """A warning when a month newer than the latest built release is built in part: the views do not show it."""
    store = Store(data_dir)
    newer = store.incomplete_newer()
    if not newer:
        return None
    shown = "; ".join(f"{release}: {', '.join(tables)}" for release, tables in sorted(newer.items()))
    return (
        f"newer releases are built only in part ({shown}); the views show {store.latest_release()}, the "
        "latest complete release. Build the missing tables, or query one of them with --release YYYY-MM"
    )


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
    source: str | None = None  # the SQL it comes from: 'packaged', or the user's files (sql_dir)


_KINDS = ("table", "history", "view", "audit")


def describe_catalog(con: duckdb.DuckDBPyConnection, sql_dir: SqlDir) -> list[CatalogObject]:
    """Every table and view of the catalog, with its description, its columns' types and descriptions, and the
    SQL file(s) it comes from."""
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
        if not is_view:
            kind = "table" if name == ibge.TABLE else "audit"  # the IBGE codes are a lookup table, like municipios
        else:
            kind = "view" if name in own else "history" if name.endswith("_history") else "table"
        files = source_files(sql_dir, name) if kind != "audit" else []
        # 'packaged', or the user's file(s) (a user's check makes qualidade come from both)
        source = ", ".join(dict.fromkeys(sql_dir.origin(p) for p in files)) or None
        objects.append(CatalogObject(name, kind, doc or None, tuple(columns.get(name, ())), source))
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
    store = Store(data_dir)
    per_release: dict[str, list[LocalTable]] = {}
    for table, found in store.built().items():
        for release in found:
            folder = store.partition(table, release)
            files = [p for p in folder.iterdir() if p.is_file()]
            manifest = store.manifest(table, release) or {}
            rows = sum(p["rows"] for p in manifest["parts"].values()) if manifest else None
            path = store.manifest_path(table, release)
            built = datetime.fromtimestamp(path.stat().st_mtime) if manifest and path.is_file() else None
            per_release.setdefault(release, []).append(
                LocalTable(
                    table,
                    rows,
                    sum(1 for p in files if p.match(DATA_FILES)),
                    sum(p.stat().st_size for p in files),
                    built,
                    manifest.get("run_id") if manifest else None,
                    bool(manifest and manifest.get("partial")),
                )
            )
    return [LocalRelease(r, tuple(per_release[r])) for r in sorted(per_release)]


def _create(
    con: duckdb.DuckDBPyConnection, view: str, name: str, body: str, doc: str, columns: dict[str, str], atomic: bool
) -> None:
    """Create (or replace) one view and give it and its columns their comments."""
    if atomic:
        con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE OR REPLACE {view} {quote_ident(name)} AS {body}")
        if doc:
            con.execute(f"COMMENT ON VIEW {quote_ident(name)} IS {quote_literal(doc)}")
        for column in con.sql(f"SELECT * FROM {quote_ident(name)} LIMIT 0").columns if columns else ():
            if column in columns:
                con.execute(
                    f"COMMENT ON COLUMN {quote_ident(name)}.{quote_ident(column)} IS {quote_literal(columns[column])}"
                )
    except BaseException:
        if atomic:
            con.execute("ROLLBACK")
        raise
    if atomic:
        con.execute("COMMIT")


def _existing_names(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal"
    ).fetchall()
    return {r[0] for r in rows}


def _comment_audit_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The audit tables get their descriptions too, from AUDIT_DOCS and audit.sql's column comments."""
    text = resources.files("cnpj_duck").joinpath("audit.sql").read_text(encoding="utf-8")
    present = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchall()
    }
    statements = []
    for table, body in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\);", text, re.DOTALL):
        if table not in present:
            continue
        if table in AUDIT_DOCS:
            statements.append(f"COMMENT ON TABLE {quote_ident(table)} IS {quote_literal(AUDIT_DOCS[table])}")
        for column, doc in re.findall(r"^\s+(\w+)\s+[A-Z][^\n]*?--\s*(.+?)\s*$", body, re.MULTILINE):
            statements.append(f"COMMENT ON COLUMN {quote_ident(table)}.{quote_ident(column)} IS {quote_literal(doc)}")
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
