"""`export postgres`: the built Parquet tables (and the enriched views) into Postgres, streamed, typed and atomic.

Each table is loaded into a staging table (`cnpj_duck_staging__<table>`) created first with exact types, then
given its primary key, indexes, statistics and comments, and counted against the Parquet. Only when every table
is staged are they all swapped in, in one transaction: readers see the previous tables, whole, until then. A
killed export leaves staging tables behind and nothing else; the next export drops them.

Here: the run, table by table. The tables and views it reads are found by export_sources.py; the rows stream in
through export_stream.py; the lock, indexes and swap are export_staging.py; the connection and types are
postgres.py; the DSN's checks and redaction are dsn.py.
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__, interrupts, privacy, sqlproject
from .audit import Audit, RunScope, TableScope
from .catalogdb import Journal, snapshot
from .config import Config
from .dsn import as_url, scrub, validate_dsn
from .errors import CnpjDuckError, UsageError
from .export_guard import Guard
from .export_sources import Source, locate_sources, prepare_privacy, privacy_applies, privacy_note, read_sql
from .export_staging import STAGING, create_indexes, drop_staging, prepare_schema, swap
from .export_stream import ingest
from .ibge import load_configured
from .layout import is_valid_release
from .postgres import Session, narrow_hugeints, postgres_type, qualified
from .progress import NullProgress, Progress
from .sqlproject import describe_sql, quote_ident, quote_literal, select_over
from .store import Store, open_engine
from .tables import PRIMARY_KEYS

log = logging.getLogger(__name__)

DEFAULT_BATCH_ROWS = 16_384  # rows per Arrow batch to the driver: measured as fast as 32k, faster than 64k+
_SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class TableExport:
    """How one table went to Postgres."""

    name: str
    source: str  # 'parquet' or 'view'
    rows: int
    seconds: float  # streaming the rows in
    index_seconds: float  # primary key, indexes, ANALYZE and comments
    primary_key: tuple[str, ...]  # empty when the data does not allow one
    duplicate_keys: int  # key values found more than once
    duplicate_rows: int  # rows beyond the first of each repeated key value (all kept)
    null_keys: int  # rows with a NULL in a key column (all kept)
    indexes: tuple[str, ...]
    nul_bytes: int  # NUL characters removed from text (Postgres rejects them)
    rows_replaced: int | None = None  # rows of the live table it replaced (None: there was none)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class ExportSummary:
    """The outcome of an export: every table is live in `schema`, or the export raised and nothing changed."""

    run_id: int
    release: str
    schema: str
    tables: tuple[TableExport, ...]
    seconds: float
    swap_seconds: float
    dropped_leftovers: tuple[str, ...] = ()
    privacy: bool = False  # estabelecimentos (and the views over it) exported with the privacy rules


@dataclass
class _Staged:
    """A table loaded into its staging table, waiting for the swap."""

    source: Source
    result: TableExport
    renames: list[tuple[str, str, str]]  # (kind 'index'|'constraint', staging name, final name)


class Exporter:
    """One export: the Postgres connection, the DuckDB engine for checks and views, the audit and progress."""

    def __init__(
        self, config: Config, dsn: str, guard: Guard, release: str, progress: Progress, batch_rows: int
    ) -> None:
        self.config = config
        self.guard = guard
        self.schema = guard.schema
        self.release = release
        self.progress = progress
        self.batch_rows = batch_rows
        self.private = config.export_privacy
        self.ibge = load_configured(config.ibge_path)  # before the run: a bad file is named first
        self.pg = Session(dsn)
        self.engine: duckdb.DuckDBPyConnection | None = None
        self.staging: list[str] = []  # staging tables created by this run, dropped if it fails
        self.run_id = 0

    def run(self, run: RunScope, sources: list[Source]) -> ExportSummary:
        started = time.monotonic()
        self.run_id = run.id
        begun = False
        try:
            self.pg.open()
            self.engine = self.open_engine()
            if self.private:
                prepare_privacy(self.engine, Store(self.config.data_dir), self.release)
            leftovers = prepare_schema(self.pg, self.schema)
            if leftovers:
                self.progress.message(
                    f"dropped {len(leftovers)} staging table(s) left by an interrupted export: {', '.join(leftovers)}",
                    level="warning",
                )
            sources = self.define_views(sources)
            checks = {}
            for source in sources:  # a full scan per table: say so, or the first seconds look stuck (issue 12)
                self.progress.message(f"checking {source.name} before the export: rows and primary key")
                checks[source.name] = self.check(source)
            # The manifests' counts for the Parquet (the load checks the files against them), a view's own count.
            new_rows = {
                s.name: sum(s.part_rows.values()) if s.kind == "parquet" else checks[s.name][0] for s in sources
            }
            replaced = self.guard.check(self.pg, run, new_rows, self.progress)  # before anything is loaded
            self.progress.start(
                "export",
                total=sum(c[0] for c in checks.values()),
                release=self.release,
                run_id=run.id,
                schema=self.schema,
            )
            begun = True
            staged: list[_Staged] = []
            with ExitStack() as scopes:  # each table's audit row stays open until the swap makes it live
                for source in sources:
                    scope = scopes.enter_context(run.table(source.name, self.release))
                    scope.set(rows_replaced=replaced.get(source.name))
                    staged.append(self.stage(scope, source, checks[source.name]))
                    staged[-1].result = replace(staged[-1].result, rows_replaced=replaced.get(source.name))
                swap_started = time.monotonic()
                swap(self.pg, self.schema, [(s.source.name, s.renames) for s in staged])
                self.staging.clear()
                swap_seconds = time.monotonic() - swap_started
            self.progress.finish("export", rows=sum(s.result.rows for s in staged))
            return ExportSummary(
                run.id,
                self.release,
                self.schema,
                tuple(s.result for s in staged),
                time.monotonic() - started,
                swap_seconds,
                tuple(leftovers),
                self.private,
            )
        except BaseException as e:
            if begun:
                self.progress.finish("export", status="interrupted" if interrupts.is_interrupt(e) else "failed")
            if self.pg.con is not None and self.staging:
                drop_staging(self.pg, self.schema, self.staging)
            raise
        finally:
            self.close()

    def open_engine(self) -> duckdb.DuckDBPyConnection:
        """An in-memory engine for the checks and the views, bounded like a build, with a copy of the audit
        tables (qualidade reads them); the catalog file itself stays free for others."""
        store = Store(self.config.data_dir)
        # Row order means nothing to a Postgres table.
        engine = open_engine(
            self.config.threads, self.config.memory_limit, store.tmp_dir, preserve_insertion_order=False
        )
        return snapshot(store, engine)

    def define_views(self, sources: list[Source]) -> list[Source]:
        """Define the release's views in the engine; a view that cannot be made is left out with a warning."""
        views = [s for s in sources if s.kind == "view"]
        if not views:
            return sources
        from .catalog import create_views

        assert self.engine is not None
        problems: list[str] = []
        made = set(
            create_views(
                self.engine,
                self.config.data_dir,
                self.config.sql_dir,
                release=self.release,
                temporary=True,
                problems=problems,
                table_sql=self.private_tables(),
                ibge=self.ibge,
            )
        )
        for view in views:
            if view.name not in made:
                why = next((p for p in problems if f"/{view.name}.sql" in p), "a table it reads is not built")
                self.progress.message(f"view {view.name} not exported: {why}", level="warning")
        return [s for s in sources if s.kind != "view" or s.name in made]

    def private_tables(self) -> dict[str, str]:
        """The tables whose view the engine's views must read through the privacy rules (none when off)."""
        assert self.engine is not None
        store = Store(self.config.data_dir)
        return {
            table: read_sql(self.engine, table, store.part_files(table, self.release), True)
            for table in store.tables_of(self.release)
            if privacy_applies(table, self.private)
        }

    def close(self) -> None:
        self.pg.close()
        try:
            if self.engine is not None:
                self.engine.close()
        except Exception:  # closing what a failed run left: nothing more to do
            log.debug("closing the DuckDB engine failed", exc_info=True)

    def relation(self, source: Source) -> duckdb.DuckDBPyRelation:
        """A source as a DuckDB relation: its view, or its part files."""
        assert self.engine is not None
        if source.kind == "view":
            relation = self.engine.sql(f"SELECT * FROM {quote_ident(source.name)}")
        else:
            relation = self.engine.read_parquet([str(f) for f in source.files], hive_partitioning=False)
        return narrow_hugeints(relation)

    def check(self, source: Source) -> tuple[int, int, int, int]:
        """Rows, and for the primary key: key values that repeat, rows beyond the first of each, rows with a
        NULL key. Done in DuckDB before the load, on the source itself, so nothing is dropped or guessed."""
        assert self.engine is not None
        key = self.primary_key(source)
        try:
            relation = self.relation(source)
            key = key if all(k in relation.columns for k in key) else ()
            if not key:
                row = select_over(relation, "src", "SELECT count(*), 0, 0, 0 FROM src").fetchall()[0]
            else:
                keys = ", ".join(quote_ident(k) for k in key)
                null = " OR ".join(f"{quote_ident(k)} IS NULL" for k in key)
                row = select_over(
                    relation,
                    "src",
                    f"SELECT coalesce(sum(n), 0), count(*) FILTER (WHERE n > 1 AND NOT has_null), "
                    f"coalesce(sum(n - 1) FILTER (WHERE n > 1 AND NOT has_null), 0), "
                    f"coalesce(sum(n) FILTER (WHERE has_null), 0) "
                    f"FROM (SELECT {null} AS has_null, count(*) AS n FROM src GROUP BY {keys})",
                ).fetchall()[0]
        except duckdb.Error as e:
            raise CnpjDuckError(f"{source.name}: cannot read it for the export: {str(e).splitlines()[0]}") from None
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])

    @staticmethod
    def primary_key(source: Source) -> tuple[str, ...]:
        return PRIMARY_KEYS.get(source.name, ())

    def stage(self, scope: TableScope, source: Source, check: tuple[int, int, int, int]) -> _Staged:
        """Load one table into its staging table, verify and index it: everything but the swap."""
        expected, duplicate_keys, duplicate_rows, null_keys = check
        name, staging = source.name, STAGING + source.name
        if len(f"{staging}_pkey") > 63:  # Postgres would cut the names and mix tables up
            raise CnpjDuckError(
                f"{name}: a table name of at most {63 - len(STAGING) - 5} characters can be "
                "exported; rename its sql/ file"
            )
        scope.set(output_path=f"{self.schema}.{name}")
        if source.partial:
            self.progress.message(
                f"{name}: built by a partial (development) run; exporting what it holds", level="warning"
            )
        schema = self.arrow_schema(source)
        columns, fields = [], []
        for f in schema:
            pg_type, arrow = postgres_type(f.type, f"{name}.{f.name}")
            columns.append(f"{quote_ident(f.name)} {pg_type}")
            fields.append(pa.field(f.name, arrow))
        self.staging.append(staging)
        self.pg.sql(
            f"CREATE TABLE {qualified(self.schema, staging)} ({', '.join(columns)})",
            doing=f"creating the staging table of {name}",
        )
        self.pg.commit(f"creating the staging table of {name}")

        self.progress.start(name, total=expected, table=name)
        started = time.monotonic()
        rows, nul = self.load(scope, source, staging, pa.schema(fields))
        seconds = time.monotonic() - started
        self.progress.finish(name, rows=rows)
        if nul:
            self.progress.message(
                f"{name}: removed {nul:,} NUL character(s) from text (Postgres rejects them)", level="warning"
            )
        in_postgres = self.pg.sql(
            f"SELECT count(*) FROM {qualified(self.schema, staging)}", doing=f"counting the rows of {name}"
        )[0][0]
        if in_postgres != expected or rows != expected:
            raise CnpjDuckError(
                f"{self.schema}.{name}: {in_postgres:,} rows in Postgres, {rows:,} streamed, "
                f"{expected:,} in the source; nothing was swapped in, the previous tables are "
                "unchanged"
            )

        started = time.monotonic()
        key = self.primary_key(source)
        key = key if all(k in schema.names for k in key) else ()
        renames: list[tuple[str, str, str]] = []
        primary = key if key and not duplicate_rows and not null_keys else ()
        if primary:
            staged_pk = f"{STAGING}{name}_pkey"
            self.pg.sql(
                f"ALTER TABLE {qualified(self.schema, staging)} ADD CONSTRAINT {quote_ident(staged_pk)} "
                f"PRIMARY KEY ({', '.join(quote_ident(k) for k in key)})",
                doing=f"adding the primary key of {name}",
            )
            renames.append(("constraint", staged_pk, f"{name}_pkey"))
        elif key:
            why = [
                f"{duplicate_keys:,} key value(s) occur more than once ({duplicate_rows:,} extra row(s))"
                if duplicate_rows
                else "",
                f"{null_keys:,} row(s) have a NULL key" if null_keys else "",
            ]
            self.progress.message(
                f"{name}: no primary key on ({', '.join(key)}): {' and '.join(filter(None, why))};"
                " every row is kept and the key gets a plain index",
                level="warning",
            )
        indexes = create_indexes(self.pg, self.schema, name, staging, schema.names, key, primary, renames)
        self.pg.sql(f"ANALYZE {qualified(self.schema, staging)}", doing=f"analyzing {name}")
        self.comment(source, staging)
        self.pg.commit(f"indexing {name}")

        pk_note = (
            f"primary key ({', '.join(primary)})"
            if primary
            else (
                f"no primary key: {duplicate_keys:,} duplicate key(s), {duplicate_rows:,} extra row(s), "
                f"{null_keys:,} NULL key(s)"
                if key
                else "no primary key"
            )
        )
        note = privacy_note(name, self.private)
        scope.note = f"{pk_note}; {len(indexes)} index(es); {nul:,} NUL character(s) removed" + (
            f"; {note}" if note else ""
        )
        result = TableExport(
            name,
            source.kind,
            rows,
            seconds,
            time.monotonic() - started,
            primary,
            duplicate_keys,
            duplicate_rows,
            null_keys,
            tuple(indexes),
            nul,
        )
        return _Staged(source, result, renames)

    def load(self, scope: TableScope, source: Source, staging: str, target: pa.Schema) -> tuple[int, int]:
        """Stream a source's rows into its staging table: each part file (or the view) is an audit file."""
        rows = nul = 0
        if source.kind == "view":
            with scope.file(f"view {source.name}", release=self.release) as f:
                f.set(output_path=f"{self.schema}.{source.name}")
                relation = self.relation(source)
                rows, nul = ingest(
                    self.pg,
                    f,
                    self.schema,
                    staging,
                    source.name,
                    target,
                    lambda: relation.to_arrow_reader(batch_size=self.batch_rows),
                    self.progress,
                )
        for path in source.files:
            with scope.file(path.name, release=self.release, zip_path=str(path), zip_size=path.stat().st_size) as f:
                f.set(output_path=f"{self.schema}.{source.name}")
                with pq.ParquetFile(path) as reader:
                    batches = partial(reader.iter_batches, batch_size=self.batch_rows)
                    if privacy_applies(source.name, self.private):  # the rules, in DuckDB, as every export
                        assert self.engine is not None
                        private = self.engine.sql(read_sql(self.engine, source.name, [path], True))
                        batches = partial(private.to_arrow_reader, batch_size=self.batch_rows)
                    got, removed = ingest(self.pg, f, self.schema, staging, source.name, target, batches, self.progress)
                if got != source.part_rows[path.name]:
                    raise CnpjDuckError(
                        f"{path}: {got:,} rows, its manifest says {source.part_rows[path.name]:,}; "
                        f"rebuild {source.name} (`cnpj-duck build --tables {source.name} --force`)"
                    )
                rows, nul = rows + got, nul + removed
        self.pg.commit(f"loading {source.name}")
        return rows, nul

    def arrow_schema(self, source: Source) -> pa.Schema:
        if source.kind == "parquet":
            schemas = [pq.read_schema(f).remove_metadata() for f in source.files]
            if any(s != schemas[0] for s in schemas):
                raise CnpjDuckError(f"{source.name}: its part files have different columns; rebuild it with --force")
            return schemas[0]
        return self.relation(source).limit(0).to_arrow_table().schema

    def comment(self, source: Source, staging: str) -> None:
        """Table comment with the release and run; column comments from the data dictionary in sql/."""
        path = self.config.sql_dir.file(f"{source.name}.sql")
        sql = (
            (path.read_text(encoding="utf-8") if path else None)
            if source.kind == "parquet"
            else sqlproject.view_sql(self.config.sql_dir, source.name)
        )
        table_doc, columns = describe_sql(sql) if sql is not None else ("", {})
        stamp = datetime.now().isoformat(timespec="seconds")
        text = f"cnpj-duck {__version__}: release {self.release}, run {self.run_id}, exported {stamp}."
        if self.private:
            text += f" Exported with the {privacy.SUMMARY}."
        if table_doc:
            text += " " + table_doc
        table = qualified(self.schema, staging)
        self.pg.sql(f"COMMENT ON TABLE {table} IS {quote_literal(text)}", doing=f"commenting {source.name}")
        present = {
            r[0]
            for r in self.pg.sql(
                "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
                (f"{quote_ident(self.schema)}.{quote_ident(staging)}",),
                doing=f"reading the columns of {source.name}",
            )
        }
        for column, doc in columns.items():
            if column in present:
                self.pg.sql(
                    f"COMMENT ON COLUMN {table}.{quote_ident(column)} IS {quote_literal(doc)}",
                    doing=f"commenting {source.name}.{column}",
                )


def export_postgres(
    config: Config,
    dsn: str | None = None,
    schema: str | None = None,
    tables: list[str] | None = None,
    release: str | None = None,
    progress: Progress | None = None,
    command: str = "export postgres",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    quality: bool = False,
    allow_shrink: bool = False,
) -> ExportSummary:
    """Export a built release's tables (and enriched views; qualidade with `quality`) into Postgres; every table
    is swapped in, or none. A table that would shrink past export.max_shrink, or go missing, stops it first
    (ShrinkError) unless `allow_shrink`."""
    dsn = dsn or config.export_dsn
    if not dsn:
        raise UsageError("no Postgres DSN: pass --dsn postgresql://user:password@host:5432/db or set CNPJ_DUCK_PG_DSN")
    validate_dsn(dsn)  # the check of config load and libpq's own rules, for every caller
    dsn = as_url(dsn)  # libpq's key/value form too: one form for the connection, the names and the redaction
    if release is not None and release != "latest" and not is_valid_release(release):
        raise UsageError(f"--release {release!r}: expected a month as YYYY-MM, or latest")
    if tables is not None:
        tables = list(dict.fromkeys(tables))  # a table named twice is exported once
    schema = schema or config.export_schema
    if not _SCHEMA_RE.fullmatch(schema):
        raise UsageError(f"--schema {schema!r}: expected a lower-case Postgres identifier such as cnpj")
    if batch_rows < 1:
        raise UsageError(f"batch_rows = {batch_rows}: expected a whole number >= 1")
    store = Store(config.data_dir)
    rel, sources = locate_sources(store, config, release, tables, quality)
    command = scrub(command.replace(dsn, "***"), dsn)  # the audit never holds the DSN
    optional = frozenset({sqlproject.QUALITY_VIEW})  # exported only when asked for: never "missing"
    guard = Guard(schema, rel, config.export_max_shrink, allow_shrink, tables is None, optional)
    exporter = Exporter(config, dsn, guard, rel, progress or NullProgress(), batch_rows)
    with store.writer_lock(command):
        journal = Journal(store, notify=lambda text: exporter.progress.message(text, level="warning"))
        try:
            audit = Audit(journal)
            audit.abandon_leftovers()
            settings = {**config.redacted(), "export.dsn": "***", "export.schema": schema}  # what this export used
            with audit.run(command, rel, settings, __version__) as run:
                return exporter.run(run, sources)
        finally:
            journal.close()
