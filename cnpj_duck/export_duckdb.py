"""`export duckdb FILE`: one self-contained DuckDB database of a release, for handing over or serving.

Every table of the release becomes a real table (sorted like its Parquet, so a lookup by its key reads one row
group), with ART indexes on the lookup keys; the enriched views of sql/views/ are views over those tables; the
macros of sql/_macros.sql are in it; the data dictionary is its COMMENT ON TABLE/COLUMN and the
cnpj_duck_dictionary table; cnpj_duck_metadata says which release and run it came from (handover.py). Nothing
in it names a path: it opens anywhere, alone.

The file is written in the storage version DuckDB 1.x clients read (catalogdb.STORAGE_VERSION), aside, and
renamed over FILE when complete.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from .audit import RunScope
from .catalog import create_ibge_table, create_macros, sql_message
from .catalogdb import STORAGE_VERSION
from .config import Config, memory_bytes
from .errors import CnpjDuckError
from .export_sources import prepare_privacy, privacy_note, read_sql, table_doc
from .handover import (
    DICTIONARY_COLUMNS,
    DICTIONARY_TABLE,
    METADATA_COLUMNS,
    METADATA_TABLE,
    Handover,
    HandoverSummary,
    HandoverTable,
    TableWritten,
    check_parts,
    check_total,
    handover_config,
    run_handover,
)
from .ibge import TABLE as IBGE_TABLE
from .ibge import IbgeCodes, load_configured
from .progress import NullProgress, Progress
from .sqlproject import describe_sql, ordered_views, quote_ident, quote_literal
from .store import Store, open_engine

# ART indexes, per table: the point lookups by key. Measured (README, "export duckdb"): with the table sorted
# by its key, the zone maps already prune a lookup to one row group; the index serves the lookup from the
# index instead of scanning that row group.
# What an ART index holds per key in memory, rounded up (measured: empresas' 17.3 M keys did not fit in 732 MB).
ART_BYTES_PER_KEY = 64
INDEXES: dict[str, tuple[tuple[str, ...], ...]] = {
    "estabelecimentos": (("cnpj",), ("cnpj_basico",)),
    "empresas": (("cnpj_basico",),),
    "simples": (("cnpj_basico",),),
    "socios": (("cnpj_basico",),),
}
_METADATA_TYPES = {
    "release": "VARCHAR",
    "extracted_on": "DATE",
    "run_id": "BIGINT",
    "cnpj_duck_version": "VARCHAR",
    "created_at": "TIMESTAMP",
    "format": "VARCHAR",
    "privacy": "BOOLEAN",
}


def write_duckdb(
    store: Store,
    release: str | None,
    path: Path,
    *,
    config: Config | None = None,
    progress: Progress | None = None,
    command: str = "export duckdb",
    indexes: bool = True,
    extra: Callable[[duckdb.DuckDBPyConnection, Progress], object] | None = None,
) -> HandoverSummary:
    """Write a release ('latest' or None: the latest built) as one self-contained DuckDB file at `path`.

    `extra(con, progress)` adds tables of its own once the release's are written (serve's lookup documents).
    """
    config = handover_config(store, config)
    progress = progress or NullProgress()
    codes = load_configured(config.ibge_path)  # a bad file is named before the run starts

    def write(run: RunScope, handover: Handover, tmp: Path) -> tuple[tuple[TableWritten, ...], tuple[str, ...]]:
        return _DuckdbWriter(config, store, progress, indexes, codes, extra).write(run, handover, tmp)

    return run_handover(config, Path(path), release, "duckdb", write, progress, command)


class _DuckdbWriter:
    def __init__(
        self,
        config: Config,
        store: Store,
        progress: Progress,
        indexes: bool,
        codes: IbgeCodes,
        extra: Callable[[duckdb.DuckDBPyConnection, Progress], object] | None = None,
    ) -> None:
        self.config = config
        self.codes = codes
        self.store = store
        self.progress = progress
        self.indexes = indexes
        self.extra = extra

    def write(self, run: RunScope, handover: Handover, tmp: Path) -> tuple[tuple[TableWritten, ...], tuple[str, ...]]:
        con = open_engine(
            self.config.threads,
            self.config.memory_limit,
            self.store.tmp_dir,
            database=tmp,
            storage_version=STORAGE_VERSION,
        )
        try:
            if handover.privacy:
                prepare_privacy(con, self.store, handover.release)
            tables = tuple(self.table(con, run, handover, t) for t in handover.tables)
            if self.extra is not None:
                self.extra(con, self.progress)
            views = self.views(con, {t.name for t in handover.tables})
            self.describe(con, run.id, handover)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        return tables, views

    def table(
        self, con: duckdb.DuckDBPyConnection, run: RunScope, handover: Handover, t: HandoverTable
    ) -> TableWritten:
        """Load one table, sorted, counted against the manifests; then its indexes and comments."""
        name, release = quote_ident(t.name), handover.release
        with run.table(t.name, release) as scope, ExitStack() as files:
            scope.set(output_path=t.name)
            self.progress.start(t.name, total=t.rows, table=t.name)
            batches = []
            for part in t.files:
                f = files.enter_context(
                    scope.file(part.name, release=release, zip_path=str(part), zip_size=part.stat().st_size)
                )
                f.set(output_path=t.name)
                rows = pq.ParquetFile(part).metadata.num_rows
                check_parts(t, part, rows)
                batches.append((files.enter_context(f.batch(1)), rows, part.stat().st_size))
            order = f" ORDER BY {', '.join(quote_ident(k) for k in t.sort_key)}" if t.sort_key else ""
            started = time.monotonic()
            try:
                self.run_with_progress(
                    con,
                    f"CREATE TABLE {name} AS {read_sql(con, t.name, t.files, handover.privacy)}{order}",
                    t,
                )
            except duckdb.Error as e:
                raise CnpjDuckError(f"{t.name}: cannot load it: {sql_message(e)}") from None
            seconds = time.monotonic() - started
            got = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
            check_total(t, got, f"{t.name}")
            for batch, rows, size in batches:
                batch.add(rows_read=rows, rows_written=rows, bytes_in=size)
                batch.set(last_line=rows)
            started = time.monotonic()
            made = self.create_indexes(con, t) if self.indexes else ()
            note = privacy_note(t.name, handover.privacy)
            self.comment(con, t.name, table_doc(t.doc, t.name, release, handover.privacy), t.columns)
            index_seconds = time.monotonic() - started
            scope.note = "; ".join(
                filter(None, [f"{len(made)} index(es)", f"sorted by {', '.join(t.sort_key) or 'nothing'}", note])
            )
            self.progress.finish(t.name, rows=got)
        return TableWritten(t.name, got, seconds, index_seconds, made)

    def run_with_progress(self, con: duckdb.DuckDBPyConnection, sql: str, t: HandoverTable) -> None:
        """Run one long statement, reporting DuckDB's own progress of it as rows of the table."""
        done = threading.Event()
        reported = [0]

        def watch() -> None:
            while not done.wait(0.5):
                try:
                    share = con.query_progress()
                except duckdb.Error:  # the connection closed under it (a Ctrl-C): the statement's own error tells
                    return
                if share > 0:
                    rows = min(t.rows, int(t.rows * share / 100))
                    if rows > reported[0]:
                        self.progress.advance(t.name, rows - reported[0], rows=rows - reported[0])
                        self.progress.advance("export", rows - reported[0], rows=rows - reported[0])
                        reported[0] = rows

        watcher = threading.Thread(target=watch, name="cnpj-duck-export-progress", daemon=True)
        watcher.start()
        try:
            con.execute(sql)
        finally:
            done.set()
            watcher.join()
        if t.rows > reported[0]:
            self.progress.advance(t.name, t.rows - reported[0], rows=t.rows - reported[0])
            self.progress.advance("export", t.rows - reported[0], rows=t.rows - reported[0])

    def create_indexes(self, con: duckdb.DuckDBPyConnection, t: HandoverTable) -> tuple[str, ...]:
        """The table's ART indexes that fit in memory. DuckDB builds (and later loads) an ART index whole in
        memory: at scale 0.3, empresas' 17 M keys did not fit in 768MB. A table too big for half of memory_limit
        keeps its zone maps, which prune a lookup of the sorted key to one row group."""
        made = []
        budget = memory_bytes(self.config.memory_limit) // 2
        for columns in INDEXES.get(t.name, ()):
            index = f"{t.name}_{'_'.join(columns)}_idx"
            need = t.rows * ART_BYTES_PER_KEY
            if need > budget:
                self.progress.message(
                    f"{t.name}: no index on {', '.join(columns)}: {t.rows:,} keys need about {need / 1e6:,.0f} MB "
                    f"of memory, over half of memory_limit ({self.config.memory_limit}); lookups use the sorted "
                    "table's zone maps",
                    level="warning",
                )
                continue
            try:
                con.execute(
                    f"CREATE INDEX {quote_ident(index)} ON {quote_ident(t.name)} "
                    f"({', '.join(quote_ident(c) for c in columns)})"
                )
            except duckdb.OutOfMemoryException:
                self.progress.message(
                    f"{t.name}: no index on {', '.join(columns)}: it did not fit in memory_limit "
                    f"({self.config.memory_limit}); lookups use the sorted table's zone maps",
                    level="warning",
                )
                continue
            made.append(index)
        return tuple(made)

    def comment(
        self, con: duckdb.DuckDBPyConnection, name: str, doc: str, columns: dict[str, str], kind: str = "TABLE"
    ) -> None:
        present = con.sql(f"SELECT * FROM {quote_ident(name)} LIMIT 0").columns
        statements = [f"COMMENT ON {kind} {quote_ident(name)} IS {quote_literal(doc)}"] if doc else []
        statements += [
            f"COMMENT ON COLUMN {quote_ident(name)}.{quote_ident(c)} IS {quote_literal(columns[c])}"
            for c in present
            if c in columns
        ]
        if statements:  # one transaction: one commit
            con.execute("BEGIN TRANSACTION;\n" + ";\n".join(statements) + ";\nCOMMIT;")

    def views(self, con: duckdb.DuckDBPyConnection, tables: set[str]) -> tuple[str, ...]:
        """The macros, then the views of sql/views/ whose tables are in the file (qualidade, which reads the
        audit, is not); a view that cannot be made is left out with a warning."""
        sql_dir = self.config.sql_dir
        create_macros(con, sql_dir)
        create_ibge_table(con, self.codes)  # a table of the file: the views join it, with or without codes
        tables = tables | {IBGE_TABLE}
        problems: list[str] = []
        made: list[str] = []
        for item, reads in ordered_views(con, sql_dir, problems):
            missing = sorted(r for r in reads if r not in tables and r not in made)
            if missing:
                continue
            try:
                con.execute(f"CREATE VIEW {quote_ident(item.name)} AS {item.sql}")
            except duckdb.Error as e:
                problems.append(f"{item.path}: {sql_message(e)}")
                continue
            doc, columns = describe_sql(item.sql)
            self.comment(con, item.name, doc, columns, kind="VIEW")
            made.append(item.name)
        for problem in problems:
            self.progress.message(f"view not exported: {problem}", level="warning")
        return tuple(made)

    def describe(self, con: duckdb.DuckDBPyConnection, run_id: int, handover: Handover) -> None:
        """The metadata row and the data dictionary (from the comments just made), with their own comments."""
        columns = ", ".join(f"{quote_ident(c)} {_METADATA_TYPES[c]}" for c in METADATA_COLUMNS)
        con.execute(f"CREATE TABLE {METADATA_TABLE} ({columns})")
        row = handover.metadata(run_id, "duckdb", datetime.now().replace(microsecond=0))
        con.execute(f"INSERT INTO {METADATA_TABLE} VALUES ({', '.join('?' for _ in row)})", list(row.values()))
        self.comment(con, METADATA_TABLE, "Where this file came from: one row.", METADATA_COLUMNS)
        con.execute(
            f"CREATE TABLE {DICTIONARY_TABLE} (table_name VARCHAR, column_name VARCHAR, data_type VARCHAR, "
            "description VARCHAR)"
        )
        self.comment(
            con,
            DICTIONARY_TABLE,
            "The data dictionary: one row per table or view of this file (column_name NULL), then one per column.",
            DICTIONARY_COLUMNS,
        )
        con.execute(
            f"INSERT INTO {DICTIONARY_TABLE} SELECT name, column_name, data_type, comment FROM ("
            "SELECT table_name AS name, NULL AS column_name, NULL AS data_type, comment, -1 AS position "
            "FROM duckdb_tables() WHERE database_name = current_database() "
            "UNION ALL SELECT view_name, NULL, NULL, comment, -1 FROM duckdb_views() "
            "WHERE NOT internal AND database_name = current_database() "
            "UNION ALL SELECT table_name, column_name, data_type, comment, column_index FROM duckdb_columns() "
            "WHERE database_name = current_database()) ORDER BY name, position"
        )
