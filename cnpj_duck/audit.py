"""The one audit hierarchy (run > table > file > batch, plus rejects), kept in the DuckDB catalog (audit.sql).

Each level is a context manager: entering writes a `running` row, leaving writes the outcome. An exception
marks the level `failed` (or `interrupted` for Ctrl-C) and propagates; a parent that saw a failed child ends
`failed` too. Counts roll up from child to parent when the child closes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb

from . import interrupts
from .store import process_alive

if TYPE_CHECKING:
    from .catalogdb import Journal

log = logging.getLogger(__name__)
RAW_TEXT_LIMIT = 64 * 1024
METRICS = ("rows_read", "rows_written", "rows_rejected", "bytes_in", "bytes_out")


def _now() -> datetime:
    return datetime.now()


@dataclass(frozen=True)
class Reject:
    """A record that could not be parsed."""

    line: int | None
    reason: str
    raw: str


class Scope:
    """One row of one audit level, with its running counts."""

    sql_table = ""
    id_column = ""

    def __init__(self, audit: Audit, parent: Scope | None, **columns: Any) -> None:
        self.audit = audit
        self.parent = parent
        self.id = audit.next_id(self.sql_table)
        self.status = "running"
        self.error: str | None = None
        self.failed_children = 0
        self.interrupted_children = 0
        self.outcome: str | None = None  # set by the body to end as 'skipped' etc. instead of 'succeeded'
        self.note: str | None = None  # why it was skipped, written with the outcome where the level has a note
        self.counts = dict.fromkeys(METRICS, 0)
        self.extra: dict[str, Any] = {}
        self.columns = columns
        row = {self.id_column: self.id, **columns, "status": "running", "started_at": _now()}
        audit.insert(self.sql_table, row)

    def add(self, **metrics: int) -> None:
        """Add to this level's counts (rows_read, rows_written, rows_rejected, bytes_in, bytes_out)."""
        for key, value in metrics.items():
            self.counts[key] += value

    def set(self, **columns: Any) -> None:
        """Columns written with the outcome (output_path, sha256, ...)."""
        self.extra.update(columns)

    def fail(self, message: str) -> None:
        """Mark this level failed without raising (a failure handled here, recorded here)."""
        self.outcome = "failed"
        self.error = self.error or message

    def _close(self, status: str, error: str | None) -> None:
        if status == "succeeded" and self.failed_children:
            status = "failed"
        if status == "succeeded" and self.interrupted_children:
            status = "interrupted"
        self.status = status
        self.error = error or self.error
        self.audit.update(
            self.sql_table,
            self.id_column,
            self.id,
            {
                "status": status,
                "finished_at": _now(),
                "error": self.error,
                **self.counts,
                **self.extra,
                **({"note": self.note} if self.note else {}),
            },
        )
        self._log(status)
        if self.parent is not None:
            with self.audit.lock:  # siblings may close at the same time in other threads
                self.parent.add(**self.counts)
                if status == "failed":
                    self.parent.failed_children += 1
                    self.parent.error = self.parent.error or self.error
                elif status == "interrupted":
                    self.parent.interrupted_children += 1

    def _context(self) -> dict[str, Any]:
        """Run, table, file and batch of this level, for log records."""
        context: dict[str, Any] = {}
        scope: Scope | None = self
        while scope is not None:
            if isinstance(scope, RunScope):
                context["run_id"] = scope.id
            elif isinstance(scope, TableScope):
                context["table"] = scope.columns.get("table_name")
            elif isinstance(scope, FileScope):
                context["file"] = scope.columns.get("zip_name")
            elif isinstance(scope, BatchScope):
                context["batch"] = scope.columns.get("seq")
            scope = scope.parent
        return context

    def _log(self, status: str) -> None:
        level = self.sql_table.removeprefix("audit_").removesuffix("s")
        if level == "batche":
            level = "batch"
        severity = logging.INFO if status in ("succeeded", "skipped") else logging.WARNING
        if level == "batch" and severity == logging.INFO:
            severity = logging.DEBUG  # one line per batch only with -vv
        message = f"{level} {status}" + (f": {self.error}" if self.error and status != "succeeded" else "")
        log.log(
            severity,
            message,
            extra={**self._context(), "event": f"{level}_{status}", "status": status, "metrics": dict(self.counts)},
        )

    @contextmanager
    def _child(self, scope: Scope) -> Iterator[Any]:
        try:
            yield scope
        except BaseException as e:
            if interrupts.is_interrupt(e):  # Ctrl-C, or the error of the work it stopped (a query's, a driver's)
                scope._close("interrupted", "interrupted by the user")
            else:
                scope._close("failed", str(e) or type(e).__name__)
            raise
        else:
            scope._close(scope.outcome or "succeeded", None)


class RunScope(Scope):
    sql_table = "audit_runs"
    id_column = "run_id"

    @contextmanager
    def table(self, name: str, release: str | None) -> Iterator[TableScope]:
        with self._child(TableScope(self.audit, self, run_id=self.id, table_name=name, release=release)) as t:
            yield t


class TableScope(Scope):
    sql_table = "audit_tables"
    id_column = "table_run_id"

    @property
    def run_id(self) -> int:
        assert self.parent is not None
        return self.parent.id

    @contextmanager
    def file(self, zip_name: str, **columns: Any) -> Iterator[FileScope]:
        scope = FileScope(self.audit, self, table_run_id=self.id, run_id=self.run_id, zip_name=zip_name, **columns)
        with self._child(scope) as f:
            yield f


class FileScope(Scope):
    sql_table = "audit_files"
    id_column = "file_id"

    def __init__(self, audit: Audit, parent: Scope | None, **columns: Any) -> None:
        super().__init__(audit, parent, **columns)
        self.batch_seq = 0

    @contextmanager
    def batch(self, first_line: int) -> Iterator[BatchScope]:
        scope = BatchScope(self.audit, self, file_id=self.id, seq=self.batch_seq, first_line=first_line)
        self.batch_seq += 1
        with self._child(scope) as b:
            yield b

    def record_rejects(self, batch: BatchScope | None, rejects: Sequence[Reject]) -> None:
        """Store rejected records with their file, member and line."""
        if not rejects:
            return
        table = self.parent
        rows = [
            (
                self.audit.next_id("rejects"),
                table.parent.id if table and table.parent else None,
                self.id,
                batch.id if batch else None,
                self.columns.get("release"),
                table.columns.get("table_name") if table else None,
                self.columns.get("zip_name"),
                self.columns.get("member_name") or self.extra.get("member_name"),
                r.line,
                r.reason,
                r.raw if len(r.raw) <= RAW_TEXT_LIMIT else r.raw[:RAW_TEXT_LIMIT] + " [cut]",
            )
            for r in rejects
        ]
        with self.audit.lock:
            self.audit.con.executemany(
                "INSERT INTO rejects (reject_id, run_id, file_id, batch_id, release, table_name, zip_name,"
                " member_name, line, reason, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def discard_batches(self, error: str, status: str = "failed") -> None:
        """The file stopped after its batches were parsed: none of their rows reached the output."""
        with self.audit.lock:
            self.audit.con.execute(
                "UPDATE audit_batches SET status = ?, rows_written = 0, error = ? "
                "WHERE file_id = ? AND status = 'succeeded'",
                [status, error, self.id],
            )
        self.counts["rows_written"] = 0


class BatchScope(Scope):
    sql_table = "audit_batches"
    id_column = "batch_id"


class Audit:
    """Writes the audit hierarchy into the catalog, through a journal of short transactions (catalogdb.Journal)."""

    def __init__(self, con: Journal) -> None:
        self.con = con
        # Files are built in parallel threads and batches recorded from DuckDB's scan threads.
        self.lock = threading.RLock()

    def next_id(self, table: str) -> int:
        return self.con.next_id(table)

    def insert(self, table: str, row: dict[str, Any]) -> None:
        names = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.lock:
            self.con.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(row.values()))

    def update(self, table: str, id_column: str, row_id: int, values: dict[str, Any]) -> None:
        sets = ", ".join(f"{name} = ?" for name in values)
        with self.lock:
            self.con.execute(f"UPDATE {table} SET {sets} WHERE {id_column} = ?", [*values.values(), row_id])

    @contextmanager
    def run(
        self, command: str, release: str | None, config: dict[str, Any], version: str, partial: bool = False
    ) -> Iterator[RunScope]:
        """Open a run: the root of one command's audit records."""
        scope = RunScope(
            self,
            None,
            command=command,
            release=release,
            config=json.dumps(config, default=str),
            version=version,
            partial=partial,
            pid=os.getpid(),
        )
        try:
            # The run is in the catalog before any work: a killed run is found and marked abandoned. Inside the
            # try: a Ctrl-C during this write still settles the run (else its queued row is written `running`).
            self.con.flush()
            with scope._child(scope) as r:
                yield r
        except BaseException as e:
            # A Ctrl-C can land between a level's INSERT and its context manager: close whatever is still open.
            unclosed = "interrupted" if interrupts.is_interrupt(e) else "failed"
            self.settle(scope.id, scope.status if scope.status != "running" else unclosed)
            raise

    def settle(self, run_id: int, status: str, message: str | None = None) -> None:
        """Give every level of a run that is still `running` the run's final status."""
        if message is None:
            message = "interrupted by the user" if status == "interrupted" else "the run stopped before this finished"
        parents = {
            "audit_tables": "run_id = ?",
            "audit_files": "run_id = ?",
            "audit_batches": "file_id IN (SELECT file_id FROM audit_files WHERE run_id = ?)",
            "audit_runs": "run_id = ?",
        }
        with self.lock:
            for table, where in parents.items():
                self.con.execute(
                    f"UPDATE {table} SET status = ?, finished_at = coalesce(finished_at, now()), "
                    f"error = coalesce(error, ?) WHERE status = 'running' AND {where}",
                    [status, message, run_id],
                )

    def abandon_leftovers(self) -> int:
        """Mark the runs left `running` by a process that is gone as `abandoned`; returns how many runs.

        A run whose process is still alive (a download, which does not hold the catalog) is left alone.
        """
        with self.lock:
            running = self.con.fetchall("SELECT run_id, pid FROM audit_runs WHERE status = 'running'")
            dead = [run_id for run_id, pid in running if not process_alive(pid)]
            for run_id in dead:
                self.settle(run_id, "abandoned", "the process ended before this finished")
        return len(dead)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def load_run(con: duckdb.DuckDBPyConnection, run_id: int | None = None) -> dict[str, Any] | None:
    """One run (the last one by default) with its tables, files and batches nested, as plain values."""
    where = "run_id = ?" if run_id is not None else "run_id = (SELECT max(run_id) FROM audit_runs)"
    runs = _rows(con, f"SELECT * FROM audit_runs WHERE {where}", [run_id] if run_id is not None else [])
    if not runs:
        return None
    run = runs[0]
    tables = _rows(con, "SELECT * FROM audit_tables WHERE run_id = ? ORDER BY table_run_id", [run["run_id"]])
    files = _rows(con, "SELECT * FROM audit_files WHERE run_id = ? ORDER BY file_id", [run["run_id"]])
    batches = _rows(
        con,
        "SELECT b.* FROM audit_batches b JOIN audit_files f USING (file_id) WHERE f.run_id = ? ORDER BY b.batch_id",
        [run["run_id"]],
    )
    for f in files:
        f["batches"] = [b for b in batches if b["file_id"] == f["file_id"]]
    for t in tables:
        t["files"] = [f for f in files if f["table_run_id"] == t["table_run_id"]]
    run["tables"] = tables
    return run


def load_rejects(
    con: duckdb.DuckDBPyConnection, run_id: int | None = None, table: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Rejected records, newest run first unless `run_id` is given, in file and line order."""
    where = ["run_id = coalesce(?, (SELECT max(run_id) FROM rejects))"]
    params: list[Any] = [run_id]
    if table is not None:
        where.append("table_name = ?")
        params.append(table)
    params.append(limit)
    return _rows(
        con,
        "SELECT run_id, release, table_name, zip_name, member_name, line, reason, raw FROM rejects "
        f"WHERE {' AND '.join(where)} ORDER BY zip_name, line LIMIT ?",
        params,
    )


def list_runs(con: duckdb.DuckDBPyConnection, limit: int | None = None) -> list[dict[str, Any]]:
    """The runs, newest first: id, command, release, status, rows written/rejected, start and duration (s)."""
    rel = con.execute(
        "SELECT run_id, command, release, status, rows_written, rows_rejected, started_at, "
        "date_diff('millisecond', started_at, finished_at) / 1000.0 AS duration_s "
        "FROM audit_runs ORDER BY run_id DESC LIMIT ?",
        [limit if limit else 2**62],
    )
    names = [d[0] for d in rel.description]
    return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]
