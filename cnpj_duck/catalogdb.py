"""Who holds the catalog file (`<data_dir>/cnpj.duckdb`), and for how long.

DuckDB lets one process write a database file and no other process read it meanwhile. So nobody holds the
catalog for a whole command:
- writers (build, export, download) keep their audit rows in a journal that a background thread writes in one
  short transaction about once a second, and at the end of the run; ids come from the catalog's sequences in
  blocks. A catalog held by someone else (a DuckDB client, another writer's flush) only delays the journal.
- readers (query, lookup, status, describe, ...) copy the audit tables into an in-memory database and let go at
  once (`snapshot`); the views over the Parquet they define themselves from the store.

The file is written in a storage version that DuckDB 1.x clients can open (v1.5.0, storage 68).
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from . import interrupts
from .errors import CatalogLockedError, UsageError
from .sqlproject import quote_literal
from .store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")

STORAGE_VERSION = "v1.5.0"  # DuckDB 1.x reads storage versions 64-68; this is 68
_NEWEST_STORAGE = 68
AUDIT_TABLES = ("audit_runs", "audit_tables", "audit_files", "audit_batches", "rejects")
# One catalog connection at a time in this process: DuckDB refuses a second handle on the same file from
# another thread ("Unique file handle conflict").
_PROCESS_LOCK = threading.RLock()
_SCHEMA_DONE: set[Path] = set()  # catalogs this process has given the audit schema (once: it costs a commit)
_ID_BLOCKS = {"audit_runs": 1, "audit_tables": 16, "audit_files": 64, "audit_batches": 256, "rejects": 1024}


def audit_ddl() -> str:
    """The audit schema (audit.sql)."""
    return resources.files("cnpj_duck").joinpath("audit.sql").read_text(encoding="utf-8")


@contextmanager
def open_catalog(store: Store, read_only: bool = False, wait: float = 10.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """The catalog, opened for one short piece of work; waits up to `wait` seconds for another holder to let go.

    A writer's open creates the file (in the 1.x storage version) and the audit schema when missing.
    """
    path = store.catalog_path
    if read_only and not path.is_file():
        raise UsageError(f"{path}: no catalog yet; run `cnpj-duck build` first (or pass --data-dir)")
    with _PROCESS_LOCK:
        con = _while_locked(path, wait, lambda: _connect(store, read_only))
        try:
            yield con
        finally:
            con.close()


def _while_locked(path: Path, wait: float, attempt: Callable[[], T]) -> T:
    """Try to open (or attach) the catalog, again while another process holds its lock, for up to `wait` s."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return attempt()
        except duckdb.IOException as e:
            if "lock" not in str(e).lower():
                raise CatalogLockedError(f"{path}: cannot open the catalog ({str(e).splitlines()[0]})") from None
            if time.monotonic() >= deadline:
                raise CatalogLockedError(
                    f"{path}: the catalog is held by another process (a DuckDB client opened it for writing?); "
                    "close it and retry (open it read-only: duckdb -readonly)"
                ) from None
            time.sleep(0.05)


def _connect(store: Store, read_only: bool) -> duckdb.DuckDBPyConnection:
    path = store.catalog_path
    if read_only:  # a reader's: Ctrl-C interrupts it (a writer's short transaction is let finish: the audit's end)
        return interrupts.register(duckdb.connect(str(path), read_only=True))
    store.root.mkdir(parents=True, exist_ok=True)
    fresh = not path.exists()
    if not fresh and storage_version(path) > _NEWEST_STORAGE:
        _downgrade(path)
    con = duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_VERSION})
    if fresh or path.resolve() not in _SCHEMA_DONE:
        try:
            with interrupts.deferred():  # a few ms: a Ctrl-C waits for the whole schema, never leaves half of it
                con.execute(audit_ddl())
        except BaseException:
            con.close()
            raise
        _SCHEMA_DONE.add(path.resolve())
    return con


def storage_version(path: Path) -> int:
    """The storage version in a DuckDB file's header (0 when it cannot be read)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(20)
    except OSError:
        return 0
    return struct.unpack("<Q", head[12:20])[0] if len(head) == 20 and head[8:12] == b"DUCK" else 0


def _downgrade(path: Path) -> None:
    """Rewrite a catalog made by an earlier cnpj-duck in DuckDB 2's storage into the 1.x version, once."""
    side = path.with_name(path.name + ".v1")
    side.unlink(missing_ok=True)
    con = duckdb.connect()  # not store.open_engine: it only copies the audit tables, a small database, once
    try:
        con.execute(f"ATTACH {quote_literal(str(path))} AS old")
        con.execute(f"ATTACH {quote_literal(str(side))} AS new (STORAGE_VERSION '{STORAGE_VERSION}')")
        con.execute("COPY FROM DATABASE old TO new")
        con.execute("DETACH old")
        con.execute("DETACH new")
    finally:
        con.close()
    side.replace(path)
    log.info("%s: rewritten in storage version %s for DuckDB 1.x clients", path, STORAGE_VERSION)


def snapshot(store: Store, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory database (or `con`) holding a copy of the catalog's audit tables, taken in one short read."""
    # Readers that query the data pass their store.open_engine; the default serves those that read only the audit
    # tables and the views' schemas (describe), which is small work.
    con = con if con is not None else interrupts.register(duckdb.connect())
    try:
        if store.catalog_path.is_file():
            with _PROCESS_LOCK:
                _copy_audit(store, con)
        else:
            con.execute(audit_ddl())
    except BaseException:
        con.close()
        raise
    return con


def _copy_audit(store: Store, con: duckdb.DuckDBPyConnection, wait: float = 10.0) -> None:
    attach = f"ATTACH {quote_literal(str(store.catalog_path))} AS cnpj_catalog (READ_ONLY)"
    _while_locked(store.catalog_path, wait, lambda: con.execute(attach))
    try:
        have = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'cnpj_catalog' AND schema_name = 'main'"
            ).fetchall()
        }
        con.execute(audit_ddl())  # the schema as this version knows it, then the rows by name
        for table in AUDIT_TABLES:
            if table in have:
                con.execute(f"INSERT INTO main.{table} BY NAME SELECT * FROM cnpj_catalog.main.{table}")
    finally:
        con.execute("DETACH cnpj_catalog")


class Journal:
    """The audit's writes, kept in memory and written to the catalog in short transactions.

    `execute` and `executemany` queue a statement; a background thread writes the queue about every
    `interval` seconds; `flush` writes it now. Enough of a DuckDB connection for `Audit`.
    """

    def __init__(
        self,
        store: Store,
        interval: float = 1.0,
        final_wait: float = 600.0,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.interval = interval
        self.final_wait = final_wait
        self.notify = notify
        self._pending: list[tuple[str, list[Any], bool]] = []
        self._lock = threading.Lock()  # the queue
        self._flush_lock = threading.Lock()  # one writer of the queue at a time, in order
        self._ids: dict[str, list[int]] = {}
        self._stop = threading.Event()
        with open_catalog(store, wait=60.0):  # create it now, and fail now if it cannot be opened at all
            pass
        self._thread = threading.Thread(target=self._run, name="cnpj-duck-journal", daemon=True)
        self._thread.start()

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        with self._lock:
            self._pending.append((sql, list(params or []), False))

    def executemany(self, sql: str, rows: list[Any]) -> None:
        with self._lock:
            self._pending.append((sql, list(rows), True))

    def fetchall(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Write the queue, then read from the catalog (a short read-write open, to see the queue's rows)."""
        self.flush()
        with self._flush_lock, open_catalog(self.store, wait=self.final_wait) as con:
            return con.execute(sql, params or []).fetchall()

    def next_id(self, table: str) -> int:
        """A fresh id for a row of an audit table, from its sequence (taken in blocks: one open per block)."""
        with self._lock:
            pool = self._ids.setdefault(table, [])
            if pool:
                return pool.pop(0)
        count = _ID_BLOCKS.get(table, 16)
        with self._flush_lock, open_catalog(self.store, wait=self.final_wait) as con:
            ids = [r[0] for r in con.execute(f"SELECT nextval('{table}_seq') FROM range({count})").fetchall()]
        with self._lock:
            pool = self._ids.setdefault(table, [])
            pool.extend(sorted(ids))
            return pool.pop(0)

    def flush(self, wait: float | None = None) -> bool:
        """Write every queued statement in one transaction; False when the catalog stayed busy for `wait` s."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return True
            committed = False
            try:
                with open_catalog(self.store, wait=self.final_wait if wait is None else wait) as con:
                    con.execute("BEGIN TRANSACTION")
                    try:
                        for sql, params, many in batch:
                            if many:
                                con.executemany(sql, params)
                            else:
                                con.execute(sql, params)
                        con.execute("COMMIT")
                        committed = True
                    except BaseException:
                        if not committed:
                            con.execute("ROLLBACK")
                        raise
            except BaseException:
                if not committed:  # (a Ctrl-C just after the COMMIT: written, and not to be written twice)
                    with self._lock:  # keep them for the next try, in order
                        self._pending = batch + self._pending
                raise
            return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush(wait=0.5)
            except CatalogLockedError:
                continue  # busy: the rows wait for the next round
            except Exception as e:  # noqa: BLE001 - the final flush reports it; the run goes on meanwhile
                log.warning("audit journal: %s", e)

    def close(self) -> None:
        """Stop the background writer and write what is left (waiting up to `final_wait` for the catalog)."""
        with interrupts.deferred():  # a second Ctrl-C waits for the run's last rows (its `interrupted` among them)
            self._stop.set()
            self._thread.join()
            try:
                try:
                    self.flush(wait=2.0)
                except CatalogLockedError:
                    if self.notify is not None:
                        self.notify(
                            f"{self.store.catalog_path}: waiting for the catalog to write this run's audit rows "
                            "(another process holds it)"
                        )
                    self.flush()
            except KeyboardInterrupt:  # without interrupts.install (a library caller): write them, then stop
                self.flush()
                raise
