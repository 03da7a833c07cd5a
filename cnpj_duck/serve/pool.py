"""The serving database opened read-only, its bounded pool of cursors, and the threads that run the queries.

DuckDB calls block, so no request runs one on the event loop: `Runner.run` hands the work to a fixed pool of
threads, one cursor each at a time, and waits for it without blocking. A request that takes longer than the
timeout is interrupted (`cursor.interrupt()`) and answered 503; the thread gives its cursor back when DuckDB
stops. Each `Database` counts the requests using it, so that the release follower can retire it (a newer
release is served) and close it only after the last of them has finished.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from .documents import read_layout

T = TypeVar("T")


@dataclass(frozen=True)
class Descriptions:
    """The small lookup tables of a release as dicts (code -> description), read once when it is opened."""

    tables: dict[str, dict[str, str]] = field(default_factory=dict)

    def of(self, table: str, code: str | None) -> str | None:
        """The description of a code; None for no code or a code the table lacks (an orphan)."""
        return self.tables.get(table, {}).get(code) if code is not None else None


class Database:
    """One serving database file (one release), opened read-only, with `size` cursors to lend."""

    def __init__(
        self,
        path: Path,
        release: str,
        fingerprint: str,
        size: int,
        threads: int,
        memory_limit: str,
        lookup_tables: tuple[str, ...],
    ) -> None:
        self.path = path
        self.release = release
        self.fingerprint = fingerprint
        self.remove_on_close = False  # set when a newer release replaces it: its file goes when it closes
        self.con = duckdb.connect(str(path), read_only=True, config={"threads": threads, "memory_limit": memory_limit})
        self._cursors: queue.Queue[duckdb.DuckDBPyConnection] = queue.Queue()
        try:
            for _ in range(size):
                cursor = self.con.cursor()
                cursor.execute("SET enable_progress_bar = false")
                self._cursors.put(cursor)
            self.descriptions = _read_descriptions(self.con, lookup_tables)
            self.layout = read_layout(self.con)
            self.extracted = _extraction_date(self.con)
        except BaseException:
            self.con.close()
            raise
        self._lock = threading.Lock()
        self._users = 0
        self._retired = False
        self.closed = False

    def enter(self) -> None:
        """Count one more request using this database."""
        with self._lock:
            self._users += 1

    def leave(self) -> None:
        """The request has finished; the last one out of a retired database closes it."""
        with self._lock:
            self._users -= 1
            close = self._retired and self._users == 0
        if close:
            self._close()

    def retire(self) -> None:
        """Serve no new request; close once the requests in flight have finished."""
        with self._lock:
            self._retired = True
            close = self._users == 0
        if close:
            self._close()

    def take(self) -> duckdb.DuckDBPyConnection:
        """A cursor of the pool (the Runner's thread count bounds the takers, so one is free)."""
        return self._cursors.get(timeout=60)

    def give(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self._cursors.put(cursor)

    def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        while not self._cursors.empty():
            self._cursors.get_nowait().close()
        self.con.close()
        if self.remove_on_close:
            self.path.unlink(missing_ok=True)


def _read_descriptions(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> Descriptions:
    """Every lookup table as a dict; a code listed twice keeps its descriptions joined with ' | ' (as lookup does)."""
    have = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    out: dict[str, dict[str, str]] = {}
    for table in tables:
        if table not in have:  # not built: every code shows with no description
            out[table] = {}
            continue
        rows = con.execute(
            f"SELECT codigo, string_agg(DISTINCT descricao, ' | ' ORDER BY descricao) FROM \"{table}\" GROUP BY codigo"
        ).fetchall()
        out[table] = {code: text for code, text in rows if code is not None}
    return Descriptions(out)


def _extraction_date(con: duckdb.DuckDBPyConnection) -> str | None:
    """The Receita's extraction date that export duckdb recorded (cnpj_duck_metadata), ISO; None when unknown."""
    from ..handover import METADATA_TABLE

    try:
        found = con.execute(f"SELECT extracted_on FROM {METADATA_TABLE} LIMIT 1").fetchone()
    except duckdb.Error:
        return None
    return found[0].isoformat() if found and found[0] is not None else None


class QueryTimeoutError(Exception):
    """A request's queries ran longer than the configured time and were interrupted."""


class Runner:
    """A fixed pool of threads running request work on a cursor of a Database, with a time limit each."""

    def __init__(self, threads: int, timeout: float) -> None:
        self.timeout = timeout
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cnpj-duck-serve")

    async def run(self, database: Database, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """`work(cursor)` on a worker thread; QueryTimeoutError after the timeout (the query is interrupted).

        The database was entered by the caller (Follower.acquire); this leaves it when the work is over.
        """
        running: dict[str, Any] = {}
        lock = threading.Lock()  # an interrupt must not reach the cursor once it is lent to the next request

        def job() -> T:
            cursor = database.take()
            with lock:
                running["cursor"] = cursor
            try:
                return work(cursor)
            finally:
                with lock:
                    running.pop("cursor", None)
                database.give(cursor)
                database.leave()

        future: Future[T] = self._executor.submit(job)
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self.timeout)
        except TimeoutError:
            if future.cancel():  # still queued: it never took a cursor
                database.leave()
            else:
                with lock:
                    if (cursor := running.get("cursor")) is not None:
                        cursor.interrupt()
            raise QueryTimeoutError(f"the query ran over {self.timeout:g} s") from None

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
