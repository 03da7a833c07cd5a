"""`export sqlite FILE`: one SQLite file of a release, typed as well as SQLite allows, indexed for lookups.

Types (SQLite has five storage classes): text stays TEXT; dates are ISO text ('2021-03-04', what SQLite's date
functions read); booleans are INTEGER 0/1; lists (cnae_fiscal_secundaria) are JSON text ('["6201501"]', for
SQLite's json_each); capital_social is REAL: it sorts, sums and compares as a number in SQL and in the tools that
open the file (DB Browser, Excel, R), and a double holds every DECIMAL(18,2) value below 10^13 (ten trillion
reais, 15 significant digits) exactly to the cent when read back rounded to two decimals. Names (razao_social,
nome_fantasia, nome_socio_razao_social) are TEXT COLLATE NOCASE, so that both `=` and `LIKE 'BANCO DO%'` use
their index (SQLite's LIKE ignores ASCII case and takes an index only of that collation).

Loaded in bulk: DuckDB reads and converts each part file into Arrow batches (in a thread, a few batches ahead)
and the ADBC SQLite driver inserts them, binding the Arrow arrays to one prepared INSERT in C: no Python object
per value (binding with the stdlib's executemany cost ~8 us a 31-column row, 6 of them binding, which bounded the
export at ~100k rows per CPU second). One transaction per table, journal_mode=OFF and synchronous=OFF (the file
is written aside: a crash leaves only the aside file, which is removed). Each table's indexes come after its rows,
built over the stdlib's sqlite3 connection, which Ctrl-C interrupts (the ADBC driver cannot cancel a statement,
and a CREATE INDEX of the full release runs for minutes); then ANALYZE. The two connections take turns on the
file, never open at once. DuckDB's sqlite extension would do the load too, but is downloaded on first use, which
an offline machine cannot do.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import adbc_driver_manager
import adbc_driver_manager._lib as adbc_lib
import adbc_driver_sqlite
import duckdb
import pyarrow as pa

from . import ibge, interrupts
from .audit import RunScope
from .catalog import sql_message
from .config import Config
from .errors import CnpjDuckError
from .export_sources import prepare_privacy, privacy_note, read_sql, table_doc
from .export_stream import audited
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
from .progress import NullProgress, Progress
from .sqlproject import quote_ident
from .store import Store, open_engine
from .tables import INDEXED, NAME_COLUMNS
from .threads import prefetch

DEFAULT_BATCH_ROWS = 16_384
PAGE_SIZE = 65_536  # fewer, larger b-tree pages: a faster bulk load and smaller index builds than the 4096 default
READ_AHEAD = 3  # batches converted ahead in a thread (0: in the main thread)
SORT_THREADS = 0  # PRAGMA threads: helper threads of SQLite's sorter in CREATE INDEX
CACHE_KIB = 16_384  # SQLite's page cache (16 MiB): measured faster than 256 MiB on this machine, and 230 MB less RSS


def write_sqlite(
    store: Store,
    release: str | None,
    path: Path,
    *,
    config: Config | None = None,
    progress: Progress | None = None,
    command: str = "export sqlite",
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> HandoverSummary:
    """Write a release ('latest' or None: the latest built) as one indexed SQLite file at `path`."""
    config = handover_config(store, config)
    progress = progress or NullProgress()
    codes = ibge.load_configured(config.ibge_path)  # a bad file is named before the run starts

    def write(run: RunScope, handover: Handover, tmp: Path) -> tuple[tuple[TableWritten, ...], tuple[str, ...]]:
        return _SqliteWriter(config, store, progress, batch_rows, codes).write(run, handover, tmp)

    return run_handover(config, Path(path), release, "sqlite", write, progress, command)


def sqlite_column(name: str, duck_type: str) -> tuple[str, str]:
    """A column's SQLite declaration, and the DuckDB expression that reads it in that form."""
    q = quote_ident(name)
    if duck_type.endswith("[]") or duck_type.startswith(("STRUCT", "MAP")):
        return "TEXT", f"to_json({q})::VARCHAR"
    if duck_type == "VARCHAR":
        return ("TEXT COLLATE NOCASE" if name in NAME_COLUMNS else "TEXT"), q
    if duck_type == "BOOLEAN":
        return "INTEGER", f"{q}::INTEGER"
    if duck_type in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"):
        return "INTEGER", q
    if duck_type in ("HUGEINT", "UBIGINT", "UHUGEINT"):  # counts (sum() of integers): bigint is what they hold
        return "INTEGER", f"{q}::BIGINT"
    if duck_type.startswith("DECIMAL") or duck_type in ("DOUBLE", "FLOAT"):
        return "REAL", f"{q}::DOUBLE"
    return "TEXT", f"{q}::VARCHAR"  # DATE -> '2021-03-04', TIMESTAMP -> '2021-03-04 10:00:00', anything else


PRAGMAS = (
    "journal_mode = OFF",
    "synchronous = OFF",
    "locking_mode = EXCLUSIVE",  # no lock taken and dropped per transaction
    f"cache_size = -{CACHE_KIB}",
)


class _Interruptible:
    """A stdlib connection as interrupts.register holds it (sqlite3.Connection takes no weak reference)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def interrupt(self) -> None:
        self.db.interrupt()  # the one call that may come from another thread (the Ctrl-C watcher)

    def close(self) -> None:
        self.db.close()


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """The stdlib connection to the file (indexes, counts, the dictionary), stopped by Ctrl-C mid-statement."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:  # transactions are ours
        for pragma in (*PRAGMAS, f"threads = {SORT_THREADS}"):
            db.execute(f"PRAGMA {pragma}")
        handle = interrupts.register(_Interruptible(db))
        try:
            yield db
        except sqlite3.Error as e:
            if interrupts.is_interrupt(e):
                raise KeyboardInterrupt from None
            raise CnpjDuckError(f"{path}: SQLite: {e}") from None
        finally:
            del handle


class Loader:
    """The ADBC SQLite connection that loads the rows: Arrow batches bound to a prepared INSERT in C."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.database = adbc_driver_sqlite.connect(str(path))
        self.connection = adbc_driver_manager.AdbcConnection(self.database)

    def __enter__(self) -> Loader:
        self.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # takes effect on the file's first table
        for pragma in PRAGMAS:
            self.execute(f"PRAGMA {pragma}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.close()
        self.database.close()

    def execute(self, sql: str) -> None:
        """Run one statement."""
        with closing(adbc_driver_manager.AdbcStatement(self.connection)) as statement:
            statement.set_sql_query(sql)
            try:
                statement.execute_update()
            except adbc_driver_manager.Error as e:
                raise CnpjDuckError(f"{self.path}: SQLite: {_driver_message(e)}") from None

    def ingest(self, table: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch], where: str) -> int:
        """Append the batches to `table` (whose columns they name); returns their rows."""
        counted = {"rows": 0}
        failure: list[BaseException] = []

        def stream() -> Generator[pa.RecordBatch, None, None]:
            try:  # the driver asks for the next batch once this one is inserted
                for batch in batches:
                    counted["rows"] += batch.num_rows
                    yield batch
            except GeneratorExit:
                raise
            except BaseException as e:  # the driver would only say that the stream failed: keep the real error
                failure.append(e)
                raise

        feed = stream()
        try:
            with closing(adbc_driver_manager.AdbcStatement(self.connection)) as statement:
                statement.set_options(
                    **{
                        adbc_lib.INGEST_OPTION_TARGET_TABLE: table,
                        adbc_lib.INGEST_OPTION_MODE: adbc_lib.INGEST_OPTION_MODE_APPEND,
                    }
                )
                statement.bind_stream(pa.RecordBatchReader.from_batches(schema, feed))
                statement.execute_update()
        except adbc_driver_manager.Error as e:
            if failure:
                if interrupts.is_interrupt(failure[0]):  # Ctrl-C in the stream, or the DuckDB read it interrupted
                    raise KeyboardInterrupt from None
                raise failure[0] from None
            raise CnpjDuckError(f"{where} of {table}: SQLite: {_driver_message(e)}") from None
        finally:
            feed.close()
            close = getattr(batches, "close", None)
            if close is not None:
                close()
        return counted["rows"]


def _driver_message(e: BaseException) -> str:
    """The driver's first line, without its status prefix ('IO: ...')."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text.split(": ", 1)[1] if text.split(": ", 1)[0].isupper() and ": " in text else text


class _SqliteWriter:
    def __init__(
        self, config: Config, store: Store, progress: Progress, batch_rows: int, codes: ibge.IbgeCodes
    ) -> None:
        self.config = config
        self.codes = codes
        self.store = store
        self.progress = progress
        self.batch_rows = batch_rows
        self.private = False  # the privacy rules, from the Handover being written

    def write(self, run: RunScope, handover: Handover, tmp: Path) -> tuple[tuple[TableWritten, ...], tuple[str, ...]]:
        # Row order does not matter to the reading side: each part file is read in order anyway.
        engine = open_engine(self.config.threads, self.config.memory_limit, self.store.tmp_dir)
        self.private = handover.privacy
        try:
            if handover.privacy:
                prepare_privacy(engine, self.store, handover.release)
            types: dict[str, list[tuple[str, str]]] = {}
            tables = tuple(self.table(engine, tmp, run, handover.release, t, types) for t in handover.tables)
            with connect(tmp) as db:
                db.execute("BEGIN")
                self.describe(db, run.id, handover, types)
                db.execute("COMMIT")
                db.execute("ANALYZE")
        finally:
            engine.close()
        return tables, ()

    def table(
        self,
        engine: duckdb.DuckDBPyConnection,
        tmp: Path,
        run: RunScope,
        release: str,
        t: HandoverTable,
        types: dict[str, list[tuple[str, str]]],
    ) -> TableWritten:
        """Create one table, stream its part files in (each checked against its manifest), then index it."""
        with run.table(t.name, release) as scope:
            scope.set(output_path=t.name)
            relation = engine.read_parquet([str(p) for p in t.files], hive_partitioning=False)
            columns = [(c, *sqlite_column(c, str(k))) for c, k in zip(relation.columns, relation.types, strict=True)]
            types[t.name] = [(c, decl.split()[0]) for c, decl, _ in columns]
            # Named as the table's columns: the driver's INSERT names the Arrow fields.
            select = ", ".join(f"{expr} AS {quote_ident(c)}" for c, _, expr in columns)
            self.progress.start(t.name, total=t.rows, table=t.name)
            started = time.monotonic()
            with Loader(tmp) as load:
                load.execute(
                    f"CREATE TABLE {quote_ident(t.name)} "
                    f"({', '.join(f'{quote_ident(c)} {decl}' for c, decl, _ in columns)})"
                )
                load.execute("BEGIN")
                for part in t.files:
                    with scope.file(part.name, release=release, zip_path=str(part), zip_size=part.stat().st_size) as f:
                        f.set(output_path=t.name)
                        schema, batches = self.batches(engine, part, select, t.name)
                        rows = load.ingest(t.name, schema, audited(f, batches, t.name, self.progress), part.name)
                        check_parts(t, part, rows)
                load.execute("COMMIT")
            seconds = time.monotonic() - started
            with connect(tmp) as db:
                check_total(t, db.execute(f"SELECT count(*) FROM {quote_ident(t.name)}").fetchone()[0], t.name)
                started = time.monotonic()
                made = self.create_indexes(db, t.name, [c for c, _, _ in columns])
                index_seconds = time.monotonic() - started
            scope.note = "; ".join(filter(None, [f"{len(made)} index(es)", privacy_note(t.name, self.private)]))
            self.progress.finish(t.name, rows=t.rows)
        return TableWritten(t.name, t.rows, seconds, index_seconds, made)

    def batches(
        self, engine: duckdb.DuckDBPyConnection, part: Path, select: str, name: str
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """A part file's rows in SQLite's forms (ISO dates, JSON lists, ...), converted by DuckDB in a thread a few
        batches ahead: DuckDB's work runs while the driver inserts the previous batch."""
        try:
            relation = engine.sql(read_sql(engine, name, [part], self.private)).project(select)
            reader = relation.to_arrow_reader(batch_size=self.batch_rows)
        except duckdb.Error as e:
            raise CnpjDuckError(f"{part}: cannot read it for the export of {name}: {sql_message(e)}") from None

        def read() -> Iterator[pa.RecordBatch]:
            try:
                ahead = prefetch(iter(reader), depth=READ_AHEAD, name="cnpj-duck-export-read") if READ_AHEAD else reader
                for batch in ahead:
                    if batch.num_rows:
                        yield batch
            finally:
                reader.close()

        return reader.schema, read()

    def create_indexes(self, db: sqlite3.Connection, name: str, columns: list[str]) -> tuple[str, ...]:
        """The usual lookups (tables.INDEXED) on the table's columns that have them."""
        made = []
        for cols in INDEXED:
            if all(c in columns for c in cols):
                index = f"{name}_{'_'.join(cols)}_idx"
                db.execute(
                    f"CREATE INDEX {quote_ident(index)} ON {quote_ident(name)} "
                    f"({', '.join(quote_ident(c) for c in cols)})"
                )
                made.append(index)
        return tuple(made)

    def describe(
        self, db: sqlite3.Connection, run_id: int, handover: Handover, types: dict[str, list[tuple[str, str]]]
    ) -> None:
        """The metadata row and the data dictionary (SQLite has no comments: the dictionary is all there is)."""
        row = handover.metadata(run_id, "sqlite", datetime.now().replace(microsecond=0))
        kinds = {"run_id": "INTEGER", "privacy": "INTEGER"}
        db.execute(
            f"CREATE TABLE {METADATA_TABLE} "
            f"({', '.join(quote_ident(c) + ' ' + kinds.get(c, 'TEXT') for c in METADATA_COLUMNS)})"
        )
        values: list[Any] = [
            v.isoformat(sep=" ") if isinstance(v, datetime) else v.isoformat() if hasattr(v, "isoformat") else v
            for v in row.values()
        ]
        db.execute(f"INSERT INTO {METADATA_TABLE} VALUES ({', '.join('?' for _ in values)})", values)
        db.execute(
            f"CREATE TABLE {DICTIONARY_TABLE} ({', '.join(f'{quote_ident(c)} TEXT' for c in DICTIONARY_COLUMNS)})"
        )
        described: list[tuple[str, str | None, str | None, str | None]] = []
        for t in handover.tables:
            described.append((t.name, None, None, table_doc(t.doc, t.name, handover.release, handover.privacy)))
            described += [(t.name, c, kind, t.columns.get(c)) for c, kind in types[t.name]]
        # The IBGE codes of the config key ibge, as in the catalog and `export duckdb` files (empty without a
        # file): SQLite has no views, so this table is how a user of the file reaches IBGE codes.
        db.execute(f"CREATE TABLE {ibge.TABLE} (codigo TEXT, codigo_ibge INTEGER)")
        db.executemany(f"INSERT INTO {ibge.TABLE} VALUES (?, ?)", self.codes.by_siafi.items())
        described.append((ibge.TABLE, None, None, ibge.TABLE_DOC))
        described += [
            (ibge.TABLE, c, kind, ibge.COLUMN_DOCS[c]) for c, kind in (("codigo", "TEXT"), ("codigo_ibge", "INTEGER"))
        ]
        described.append((METADATA_TABLE, None, None, "Where this file came from: one row."))
        described += [(METADATA_TABLE, c, kinds.get(c, "TEXT"), doc) for c, doc in METADATA_COLUMNS.items()]
        described.append(
            (
                DICTIONARY_TABLE,
                None,
                None,
                "The data dictionary: one row per table (column_name NULL), then one per column.",
            )
        )
        described += [(DICTIONARY_TABLE, c, "TEXT", doc) for c, doc in DICTIONARY_COLUMNS.items()]
        db.executemany(f"INSERT INTO {DICTIONARY_TABLE} VALUES (?, ?, ?, ?)", described)
