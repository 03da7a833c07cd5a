"""Raw columns that a transform passes through unchanged skip the trip into DuckDB and back (issue 13).

A family's SQL mostly selects raw columns as they are (`logradouro AS logradouro`); carrying those text values
into DuckDB and out again to Arrow was about 40% of the transforms' CPU. When the SQL is a plain projection of
its raw table (one row out per row in, nothing across rows: DuckDB's plan says so), the columns it passes as
they are come from the parsed batch directly, and DuckDB computes the rest from the same rows. The SQL file
keeps its meaning: what DuckDB runs is the file's own parse tree with those columns taken out (serialised back
by DuckDB), checked to bind to the same names and types, and each of its rows carries its input row's number,
so a row can never be paired with another row's columns.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .errors import SqlError
from .sqlproject import parse_tree

ROW = "__cnpj_duck_row"  # the input row's number, carried through the computed SQL
_NO_LOCATION = 2**64 - 1  # DuckDB's "no query location" in a serialised parse tree
# The physical operators of a projection of one table: nothing else keeps one row out per row in, in order.
_PLAN = {"PROJECTION", "PYTHON_ARROW_SCAN"}
_SCAN = "PYTHON_ARROW_SCAN"
_PLAIN_NODE: dict[str, Any] = {
    "type": "SELECT_NODE",
    "modifiers": [],
    "cte_map": {"map": []},
    "where_clause": None,
    "group_expressions": [],
    "group_sets": [],
    "aggregate_handling": "STANDARD_HANDLING",
    "having": None,
    "sample": None,
    "qualify": None,
}


def select_node(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any] | None:
    """The parse tree of a single SELECT (DuckDB's json_serialize_sql), or None for anything else."""
    tree = parse_tree(con, sql)
    if tree.get("error") or len(tree["statements"]) != 1:
        return None
    node: dict[str, Any] = tree["statements"][0]["node"]
    return node if node.get("type") == "SELECT_NODE" else None


@dataclass(frozen=True)
class Passthrough:
    """How a transform runs split: per output column, the raw column it passes (None: computed by `sql`)."""

    names: tuple[str, ...]
    sources: tuple[str | None, ...]
    sql: str | None  # the computed columns and ROW, in output order; None when every column passes through


def plan_passthrough(
    con: duckdb.DuckDBPyConnection, sql: str, raw_name: str, raw_columns: Iterable[str], output: dict[str, str]
) -> Passthrough | None:
    """The split of a transform's SQL (without ORDER BY) over `raw_name`, or None when it must run whole: it is
    not a plain projection of the raw table, passes no raw column as it is, or its rest does not bind alike."""
    node = select_node(con, sql)
    columns = {c.lower(): c for c in raw_columns}
    if node is None or any(node.get(k) != v for k, v in _PLAIN_NODE.items()) or len(node["select_list"]) != len(output):
        return None
    source = node["from_table"]
    if (
        source.get("type") != "BASE_TABLE"
        or source["table_name"].lower() != raw_name
        or source["schema_name"]
        or source["catalog_name"]
        or source["sample"] is not None
        or source.get("at_clause") is not None
        or source["column_name_alias"]
    ):
        return None
    qualifiers = {source["alias"].lower() or raw_name}  # an alias hides the table's name
    names = tuple(output)
    sources = tuple(
        _raw_column(item, columns, qualifiers) if output[name] == "VARCHAR" else None
        for item, name in zip(node["select_list"], names, strict=True)
    )
    if all(s is None for s in sources) or not _projection_only(con, sql, raw_name, list(columns.values())):
        return None
    computed = [item for item, s in zip(node["select_list"], sources, strict=True) if s is None]
    if not computed:
        return Passthrough(names, sources, None)
    row = {"class": "COLUMN_REF", "type": "COLUMN_REF", "alias": "", "query_location": _NO_LOCATION}
    node = {**node, "select_list": [*computed, {**row, "query_location_length": 0, "column_names": [ROW]}]}
    tree = {"error": False, "statements": [{"node": node, "named_param_map": []}]}
    try:
        rest = str(con.execute("SELECT json_deserialize_sql(?::JSON)", [json.dumps(tree)]).fetchall()[0][0])
        bound = _bind(con, rest, raw_name, [*columns.values(), ROW])
    except duckdb.Error:
        return None
    wanted = [(n, output[n]) for n, s in zip(names, sources, strict=True) if s is None] + [(ROW, "BIGINT")]
    return Passthrough(names, sources, rest) if bound == wanted else None


def _raw_column(item: dict[str, Any], columns: dict[str, str], qualifiers: set[str]) -> str | None:
    """The raw column a select item is, as it is (`col`, `raw.col`, `"Col"`); None for anything else."""
    if item.get("class") != "COLUMN_REF":
        return None
    parts = [p.lower() for p in item["column_names"]]
    if len(parts) == 2 and parts[0] in qualifiers:
        parts = parts[1:]
    return columns.get(parts[0]) if len(parts) == 1 else None


def _dummy(columns: list[str]) -> pa.Table:
    """One row of NULLs, to bind and plan against (an empty input could be planned away)."""
    return pa.table({c: pa.array([None], pa.int64() if c == ROW else pa.string()) for c in columns})


def _bind(con: duckdb.DuckDBPyConnection, sql: str, raw_name: str, columns: list[str]) -> list[tuple[str, str]]:
    con.register(raw_name, _dummy(columns))
    try:
        rel = con.sql(sql)
        return [(name, str(kind)) for name, kind in zip(rel.columns, rel.types, strict=True)]
    finally:
        con.unregister(raw_name)


def _projection_only(con: duckdb.DuckDBPyConnection, sql: str, raw_name: str, columns: list[str]) -> bool:
    """Whether DuckDB plans the SQL as projections of one scan of the raw table (macros expanded, so a window
    or a subquery anywhere shows)."""
    con.register(raw_name, _dummy(columns))
    try:
        plan = json.loads(con.execute(f"EXPLAIN (FORMAT JSON) {sql}").fetchall()[0][1])
    except duckdb.Error:
        return False
    finally:
        con.unregister(raw_name)
    names: list[str] = []
    todo = list(plan)
    while todo:
        op = todo.pop()
        names.append(op["name"])
        todo.extend(op["children"])
    return set(names) <= _PLAN and names.count(_SCAN) == 1


_numbers = pa.array(range(1 << 16), pa.int64())  # 0..n-1, grown on demand (a new array: safe across threads)


def _positions(start: int, count: int) -> pa.Array:
    """The row numbers start..start+count-1."""
    global _numbers
    numbers = _numbers
    if count > len(numbers):
        numbers = _numbers = pa.array(range(max(count, 2 * len(numbers))), pa.int64())
    return pc.add(numbers.slice(0, count), pa.scalar(start, pa.int64()))


class SplitResult:
    """A split transform's output batches: the passed columns from the input batches, the rest from DuckDB."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        plan: Passthrough,
        raw_name: str,
        batches: Iterable[pa.RecordBatch],
        raw_schema: pa.Schema,
        batch_size: int,
    ) -> None:
        self.con = con
        self.plan = plan
        self.raw_name = raw_name
        self.input = batches
        self.batch_size = batch_size
        self.index = {s: raw_schema.get_field_index(s) for s in plan.sources if s is not None}
        self.pending: deque[pa.RecordBatch] = deque()  # input batches whose rows are not all handed on, in order
        self.offset = 0  # rows of pending[0] handed on
        self.position = 0  # rows handed on
        self.reader: pa.RecordBatchReader | None = None
        computed: list[pa.Field] = []
        if plan.sql is not None:
            fed = pa.schema([*raw_schema, pa.field(ROW, pa.int64())])
            con.register(raw_name, pa.RecordBatchReader.from_batches(fed, self._fed(fed)))
            try:
                self.reader = con.sql(plan.sql).to_arrow_reader(batch_size=batch_size)
            except BaseException:
                con.unregister(raw_name)
                raise
            computed = list(self.reader.schema)[:-1]
        fields = iter(computed)
        # A passed column's field is what DuckDB makes of a VARCHAR: Arrow's string, nullable, no metadata.
        self.schema = pa.schema(
            [
                next(fields) if s is None else pa.field(n, pa.string())
                for n, s in zip(plan.names, plan.sources, strict=True)
            ]
        )

    def _fed(self, fed: pa.Schema) -> Iterator[pa.RecordBatch]:
        """The input batches with their rows' numbers, each kept until its rows are handed on (in DuckDB's thread)."""
        start = 0
        for batch in self.input:
            self.pending.append(batch)
            yield pa.RecordBatch.from_arrays([*batch.columns, _positions(start, batch.num_rows)], schema=fed)
            start += batch.num_rows

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        if self.reader is None:  # nothing to compute: the input, in batches of batch_size rows as DuckDB gives
            held = 0
            for batch in self.input:
                self.pending.append(batch)
                held += batch.num_rows
                while held >= self.batch_size:
                    yield self._assemble(self.batch_size, None)
                    held -= self.batch_size
            if held:
                yield self._assemble(held, None)
            return
        for computed in self.reader:
            rows = computed.num_rows
            if not computed.column(computed.num_columns - 1).equals(_positions(self.position, rows)):
                raise SqlError(
                    f"the transform of {self.raw_name}: DuckDB handed rows on out of input order (after row "
                    f"{self.position:,}), which a projection never does; please report it"
                )
            yield self._assemble(rows, computed)

    def _assemble(self, rows: int, computed: pa.RecordBatch | None) -> pa.RecordBatch:
        """The next `rows` input rows' passed columns beside their computed columns."""
        parts = []
        left = rows
        while left:
            head = self.pending[0]  # there: DuckDB hands on only rows it has read
            take = min(left, head.num_rows - self.offset)
            parts.append(head.slice(self.offset, take))
            left -= take
            self.offset += take
            if self.offset == head.num_rows:
                self.pending.popleft()
                self.offset = 0
        self.position += rows
        columns = iter(computed.columns if computed is not None else ())
        arrays = []
        for source in self.plan.sources:
            if source is None:
                arrays.append(next(columns))
                continue
            pieces = [p.column(self.index[source]) for p in parts]
            arrays.append(pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def close(self) -> None:
        """Stop DuckDB's result (an unfinished one blocks the connection's next statement); drop the input."""
        if self.reader is not None:
            self.reader.close()
            self.reader = None
            self.con.unregister(self.raw_name)
