"""The export's hot path: Arrow batches conformed to their Postgres columns, read ahead in a thread, and
streamed into a staging table by adbc_ingest (COPY BINARY), with an audit batch per AUDIT_ROWS rows."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Protocol, TypeVar

import adbc_driver_manager
import pyarrow as pa
import pyarrow.compute as pc

from . import interrupts
from .audit import BatchScope, FileScope
from .errors import CnpjDuckError
from .postgres import Session
from .progress import Progress
from .threads import prefetch

AUDIT_ROWS = 262_144  # rows per audit batch (at least)


def _has_nul(arr: pa.Array) -> bool:
    """Whether the characters of a string array contain a NUL byte (a quick look at its data buffer)."""
    _, offsets_buffer, data = arr.buffers()
    if data is None or len(arr) == 0:
        return False
    offsets = pa.Array.from_buffers(pa.int32(), len(arr) + 1, [None, offsets_buffer], offset=arr.offset)
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    if end <= start:
        return False
    view = data.slice(start, end - start)
    return bool(pc.min(pa.Array.from_buffers(pa.uint8(), view.size, [None, view])).as_py() == 0)  # pyarrow is untyped


def _strip_nul(arr: pa.Array) -> tuple[pa.Array, int]:
    """Remove NUL characters from a string or list-of-string array; returns the array and how many went."""
    if pa.types.is_list(arr.type) and pa.types.is_string(arr.type.value_type):
        values, removed = _strip_nul(arr.values)
        if not removed:
            return arr, 0
        return pa.ListArray.from_arrays(arr.offsets, values, type=arr.type, mask=arr.is_null()), removed
    if not pa.types.is_string(arr.type) or not _has_nul(arr):
        return arr, 0
    removed = pc.sum(pc.count_substring(arr, "\0")).as_py() or 0
    return (pc.replace_substring(arr, "\0", "") if removed else arr), removed


def conform(batch: pa.RecordBatch, target: pa.Schema) -> tuple[pa.RecordBatch, int]:
    """Cast a batch to the exact Arrow types of its Postgres columns and strip NUL characters from text."""
    if batch.schema != target:
        batch = batch.select(target.names).cast(target)
    columns, removed = [], 0
    for column in batch.columns:
        clean, n = _strip_nul(column)
        columns.append(clean)
        removed += n
    return (pa.RecordBatch.from_arrays(columns, schema=target) if removed else batch), removed


def _conformed(
    open_batches: Callable[[], Iterator[pa.RecordBatch]], target: pa.Schema
) -> Iterator[tuple[pa.RecordBatch, int]]:
    """The batches, opened only when the reading thread starts, each conformed (and its NULs counted)."""
    for batch in open_batches():
        if batch.num_rows:
            yield conform(batch, target)


def ingest(
    pg: Session,
    f: FileScope,
    schema: str,
    staging: str,
    name: str,
    target: pa.Schema,
    open_batches: Callable[[], Iterator[pa.RecordBatch]],
    progress: Progress,
) -> tuple[int, int]:
    """Stream one file's (or view's) batches into the staging table with adbc_ingest; returns rows and NULs.

    A thread reads and converts the next batches while the driver sends the current one (a queue of a few
    batches keeps memory bounded). An audit batch covers at least AUDIT_ROWS rows: each audit row costs a
    commit of the catalog, which would slow the stream if written for every small batch.
    """
    # Parquet decoding and the COPY encoding run at the same time: a few batches read ahead, in a thread.
    feed = prefetch(_conformed(open_batches, target), depth=4, name="cnpj-duck-export-read")
    counts = {"rows": 0, "nul": 0}
    failure: list[BaseException] = []

    def counted() -> Iterator[pa.RecordBatch]:
        for batch, removed in feed:
            counts["rows"] += batch.num_rows
            counts["nul"] += removed
            yield batch

    def batches() -> Generator[pa.RecordBatch, None, None]:
        try:  # the driver asks for the next batch once this one is in the COPY stream
            yield from audited(f, counted(), name, progress, stopped="not loaded: the COPY of this file stopped")
        except GeneratorExit:  # the driver stopped reading: the file's error says why
            raise
        except BaseException as e:  # the driver would only see "Python error": keep the real one
            failure.append(e)
            raise

    stream = batches()
    try:
        reader = pa.RecordBatchReader.from_batches(target, stream)
        pg.cur.adbc_ingest(staging, reader, mode="append", db_schema_name=schema)
    except adbc_driver_manager.Error as e:
        if failure:
            pg.rollback()
            cause = failure[0]
            if interrupts.is_interrupt(cause):  # Ctrl-C in the stream, or the DuckDB read it interrupted
                raise KeyboardInterrupt from None
            if isinstance(cause, CnpjDuckError):
                raise cause from None
            raise CnpjDuckError(
                f"{f.columns['zip_name']} of {name}: cannot read it: "
                f"{str(cause).splitlines()[0] if str(cause) else type(cause).__name__}"
            ) from None
        error = pg.error(e, f"loading {f.columns['zip_name']} into {schema}.{name}")
        if isinstance(error, KeyboardInterrupt):
            f.discard_batches("interrupted by the user", status="interrupted")
        else:
            f.discard_batches(str(error))  # the COPY failed as a whole: none of its rows are in the table
        raise error from None
    finally:
        stream.close()
        feed.close()
    return counts["rows"], counts["nul"]


class Batch(Protocol):
    """What the audit counts of a batch: an Arrow record batch, or rows converted from one."""

    @property
    def num_rows(self) -> int: ...

    @property
    def nbytes(self) -> int: ...


B = TypeVar("B", bound=Batch)


def audited(
    f: FileScope,
    batches: Iterable[B],
    name: str,
    progress: Progress,
    stopped: str = "not loaded: the load of this file stopped",
) -> Generator[B, None, None]:
    """The batches of one file (or view), each counted in an audit batch of at least AUDIT_ROWS rows (an audit
    row costs a commit of the catalog) and in the progress of `name` and 'export' once the consumer took it.

    A batch's first_line/last_line are the rows of the file it covers. A consumer that stops early (closes the
    generator) leaves the open audit batch failed with `stopped`; an error from `batches` fails it with that error.
    """
    audit: tuple[AbstractContextManager[BatchScope], BatchScope] | None = None
    done_rows = 0
    try:
        for batch in batches:
            if interrupts.requested():  # a COPY or load runs on to the end of its stream: it stops with the stream
                raise KeyboardInterrupt
            if audit is None:
                manager = f.batch(done_rows + 1)
                audit = (manager, manager.__enter__())
            audit[1].add(rows_read=batch.num_rows, rows_written=batch.num_rows, bytes_in=batch.nbytes)
            yield batch  # counted once the consumer asks for the next one
            done_rows += batch.num_rows
            progress.advance(name, batch.num_rows, rows=batch.num_rows)
            progress.advance("export", batch.num_rows, rows=batch.num_rows)
            if audit[1].counts["rows_written"] >= AUDIT_ROWS:
                done, scope = audit
                scope.set(last_line=done_rows)
                audit = None  # before closing it, so that an error there does not close it twice
                done.__exit__(None, None, None)
        if audit is not None:
            done, scope = audit
            scope.set(last_line=done_rows)
            audit = None
            done.__exit__(None, None, None)
    except GeneratorExit:
        if audit is not None:
            audit[1].fail(stopped)
            audit[0].__exit__(None, None, None)
        raise
    except BaseException as e:
        if audit is not None:
            audit[0].__exit__(type(e), e, e.__traceback__)
        raise
