"""Rows ordered by one key column in bounded memory, for the Parquet writer (issue 13).

DuckDB's ORDER BY held a whole file of wide rows, doubled it while sorting and let the writer start only at its
end; at scale 1 one file (Estabelecimentos0, about 17.8 M rows) is several GB. Here rows are held up to a budget
and ordered by sorting the key alone (Arrow's sort_indices, which is stable) and gathering the rows a row group at
a time. Past the budget the rows held are written, ordered, to a run file (Arrow IPC, uncompressed: cheaper than
compressing what is read back once) and the runs are merged at the end. Ties keep their input order, in memory
and across runs: the same input gives the same file.

The merge reads each run a block at a time. Each round takes the block of some run whose last key is smallest
(`bound`; the earlier run on a tie) and hands on, from every run, the rows up to that bound in (key, run) order,
sorted: every row still to come is after them. That run's block is then used up, so every round makes progress.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

# Key types whose order in Arrow is DuckDB's (text by bytes, numbers, dates; NULLs last): others sort in DuckDB.
SORTABLE = ("VARCHAR", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")
SORTABLE_PREFIXES = ("DATE", "DECIMAL")
# Batches are packed into one of about this many bytes as they come (see KeySorter.add).
_PACK_BYTES = 8 << 20
# A run file is read back a block at a time, every run's block in memory at once during the merge: blocks of
# 1/32 of the budget keep 32 runs (a file 32 times the budget) in it.
_BLOCKS_PER_BUDGET = 32


def sortable(kind: str) -> bool:
    """Whether a column of this DuckDB type sorts here as DuckDB sorts it."""
    return kind in SORTABLE or kind.startswith(SORTABLE_PREFIXES)


def sort_order(keys: pa.ChunkedArray) -> pa.Array:
    """The stable ascending order of `keys`, NULLs last, as DuckDB orders them.

    Text keys that are all digits of one length (every packaged key: CNPJ, cnpj_basico, codes) order as their
    numbers, and Arrow sorts 64-bit integers in about 40% of the time it takes for the text (issue 13; the
    check and cast cost a tenth of the sort). Anything else, or more than 18 digits, sorts as it is."""
    if pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type):
        lengths = pc.min_max(pc.utf8_length(keys))
        shortest, longest = lengths["min"].as_py(), lengths["max"].as_py()
        if (
            shortest is not None
            and shortest == longest
            and 0 < longest <= 18
            and pc.all(pc.ascii_is_decimal(keys)).as_py()
        ):
            keys = pc.cast(keys, pa.int64())
    return pc.sort_indices(keys)  # NULLs at the end, by default


class KeySorter:
    """Takes record batches in any order and gives them back ordered by `key`, `out_rows` rows at a time."""

    def __init__(self, key: str, schema: pa.Schema, budget: int, spill_dir: Path, out_rows: int) -> None:
        self.key = key
        self.schema = schema
        self.budget = budget
        self.spill_root = spill_dir
        self.out_rows = out_rows
        self.held: list[pa.RecordBatch] = []
        self.held_bytes = 0
        self.loose: list[pa.RecordBatch] = []  # batches as they came, not packed yet
        self.loose_bytes = 0
        self.runs: list[Path] = []
        self.folder: Path | None = None  # made at the first spill, removed by close()

    def add(self, batch: pa.RecordBatch) -> None:
        """Hold a batch; past the budget, what is held goes to a run file."""
        if batch.num_rows == 0:
            return
        self.loose.append(batch)
        self.loose_bytes += batch.nbytes
        if self.loose_bytes >= _PACK_BYTES:
            self._pack()
        if self.held_bytes + self.loose_bytes >= self.budget:
            self._spill()

    def _pack(self) -> None:
        """The loose batches copied into one, in Arrow's pool, and let go.

        DuckDB hands its result out in batches of a few thousand rows, in many small buffers of its own allocator,
        that took 1.3-1.6 times their bytes of malloc's heap when held, and left it fragmented once freed (issue 13).
        Copied as they come, they are freed at once and their memory serves the next ones; what is held is then
        the bytes counted, and the sort gathers from fewer chunks. The copy costs about what the gather saves.
        """
        if self.loose:
            packed = pa.concat_batches(self.loose)
            self.held.append(packed)
            self.held_bytes += packed.nbytes
            self.loose, self.loose_bytes = [], 0

    def ordered(self) -> Iterator[pa.Table]:
        """Every row added, ordered by the key (ties in the order they came), in tables of `out_rows` rows."""
        self._pack()
        if not self.runs:
            table, order = self._take_held()
            for start in range(0, len(order), self.out_rows):
                yield table.take(order.slice(start, self.out_rows))
            return
        if self.held:
            self._spill()
        yield from self._merge()

    def close(self) -> None:
        """Drop what is held and remove the run files."""
        self.held, self.held_bytes = [], 0
        self.loose, self.loose_bytes = [], 0
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        self.runs = []

    def _take_held(self) -> tuple[pa.Table, pa.Array]:
        """The rows held as one table and the order of its rows by the key (stable); nothing is held after."""
        table = pa.Table.from_batches(self.held, self.schema)
        self.held, self.held_bytes = [], 0
        return table, sort_order(table.column(self.key))

    def _spill(self) -> None:
        self._pack()
        rows = sum(b.num_rows for b in self.held)
        block = max(64, rows * self.budget // max(self.held_bytes, 1) // _BLOCKS_PER_BUDGET)
        table, order = self._take_held()
        if self.folder is None:
            self.spill_root.mkdir(parents=True, exist_ok=True)
            self.folder = Path(tempfile.mkdtemp(prefix="sort-", dir=self.spill_root))
        path = self.folder / f"run-{len(self.runs)}.arrow"
        self.runs.append(path)
        with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, self.schema) as writer:
            for start in range(0, len(order), block):
                writer.write_table(table.take(order.slice(start, block)), max_chunksize=block)

    def _merge(self) -> Iterator[pa.Table]:
        runs = [_Run(i, path, self.key) for i, path in enumerate(self.runs)]
        try:
            pending: list[pa.Table] = []
            pending_rows = 0
            live = [r for r in runs if r.block is not None]
            while live:
                first = min(live, key=_Run.order)
                bound = first.last()
                parts = [part for r in live for part in r.take_until(bound, r.index <= first.index)]
                merged = pa.Table.from_batches(parts, self.schema)
                merged = merged.take(sort_order(merged.column(self.key)))
                pending.append(merged)
                pending_rows += merged.num_rows
                while pending_rows >= self.out_rows:
                    table = pa.concat_tables(pending)
                    yield table.slice(0, self.out_rows)
                    rest = table.slice(self.out_rows)
                    pending, pending_rows = [rest], rest.num_rows
                live = [r for r in live if r.block is not None]
            if pending_rows:
                yield pa.concat_tables(pending)
        finally:
            for r in runs:
                r.close()


class _Run:
    """One run file being merged: the block in hand and where in it the next row is."""

    def __init__(self, index: int, path: Path, key: str) -> None:
        self.index = index
        self.key = key
        self.file = pa.OSFile(str(path), "rb")
        self.reader = ipc.open_file(self.file)
        self.next_block = 0
        self.block: pa.RecordBatch | None = None
        self.keys: pa.Array = pa.array([])
        self.offset = 0
        self._load()

    def _load(self) -> None:
        self.block = None
        while self.block is None and self.next_block < self.reader.num_record_batches:
            block = self.reader.get_batch(self.next_block)
            self.next_block += 1
            if block.num_rows:
                self.block, self.keys, self.offset = block, block.column(self.key), 0

    def last(self) -> Any:
        """The last key of the block in hand (None for NULL)."""
        return self.keys[len(self.keys) - 1].as_py()

    def order(self) -> tuple[bool, Any, int]:
        """Where this run's block ends, in the merge's order: by last key (NULLs last), then by run."""
        value = self.last()
        return (True, 0, self.index) if value is None else (False, value, self.index)

    def take_until(self, bound: Any, inclusive: bool) -> Iterator[pa.RecordBatch]:
        """The rows before `bound` (None: after every value), and those equal to it when `inclusive`."""
        while self.block is not None:
            end = self._end(bound, inclusive)
            if end > self.offset:
                yield self.block.slice(self.offset, end - self.offset)
            if end < len(self.keys):
                self.offset = end
                return
            self._load()

    def _end(self, bound: Any, inclusive: bool) -> int:
        """Where the rows of the block that come before the bound end (keys are sorted, NULLs last)."""
        lo, hi = self.offset, len(self.keys)
        while lo < hi:
            mid = (lo + hi) // 2
            value = self.keys[mid].as_py()
            if bound is None:
                before = inclusive or value is not None
            else:
                before = value is not None and (value < bound or (inclusive and value == bound))
            if before:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def close(self) -> None:
        self.file.close()
