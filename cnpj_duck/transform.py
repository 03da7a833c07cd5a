"""Running the SQL-file transforms: `sql/<table>.sql` is one plain SELECT; the runner streams input through it
into Parquet.

A transform named after a release family (empresas, cnaes, ...) reads `raw_<family>`, the member's rows as
text, with leading and trailing spaces trimmed and empty values as NULL (so the SQL need not test every value;
_macros.sql says so too). Any other file is a derived table over the output tables, built after the tables it
names. Reading and ordering the files is sqlproject's work; this module is the engine side.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import SqlError
from .passthrough import SplitResult, plan_passthrough, select_node
from .sorter import KeySorter, sortable
from .sqlfiles import SqlDir
from .sqlproject import MACROS_FILE, Transform, macros_sql, quote_ident
from .store import open_engine
from .tables import KEYS
from .threads import prefetch

# Raw values that mean "no value" before any cast (besides NULL, which is what an empty value is by then);
# anything else that ends up NULL after a cast was nulled.
_BLANK = pa.array(["", "0", "00000000"])
_EMPTY = pa.array([""])
# What DuckDB's trim() takes off both ends, within latin-1 (checked over its 255 characters): space and NBSP.
_TRIMMED = " \u00a0"
_NULL = pa.scalar(None, pa.string())
# Bytes of a value's UTF-8 (made from latin-1) that can start a whitespace character: 0x09-0x0D, 0x1C-0x20, and
# 0xC2 (U+0085, U+00A0). A column whose bytes all lie strictly between 0x20 and 0xC2 has no whitespace at all.
_SPACE, _C2 = 0x20, 0xC2
_OFFSET = struct.Struct("<i")


def _value_bytes(column: pa.ChunkedArray) -> Iterator[pa.Array]:
    """The bytes of a text column's values, chunk by chunk, as uint8 arrays over its buffers (nothing copied)."""
    for chunk in column.chunks:
        if len(chunk) == 0:
            continue
        _, offsets, data = chunk.buffers()
        start = _OFFSET.unpack_from(offsets, 4 * chunk.offset)[0]
        end = _OFFSET.unpack_from(offsets, 4 * (chunk.offset + len(chunk)))[0]
        if data is not None and end > start:
            yield pa.Array.from_buffers(pa.uint8(), end - start, [None, data], offset=start)


def _byte_range(column: pa.ChunkedArray) -> tuple[int, int]:
    """The smallest and largest byte in a text column's values ((0, 255) if it is not plain text; (256, -1)
    for no bytes). An aggregate over the bytes is 3-10x cheaper than a test per value (issue 13)."""
    if column.type != pa.string():
        return 0, 255
    low, high = 256, -1
    for values in _value_bytes(column):
        found = pc.min_max(values)
        low, high = min(low, found["min"].as_py()), max(high, found["max"].as_py())
    return low, high


def trim_padded(table: pa.Table) -> pa.Table:
    """The table with values that start or end with a space trimmed as the SQL's trim() does ('' becomes NULL).

    Vectorised in pyarrow and only where a batch has such values: about a third of what testing every value in
    the SQL cost (issue 13). Values without a space at an end are left as they are, as rfb_text leaves them.
    """
    columns = []
    for column in table.columns:
        if _byte_range(column)[0] > _SPACE:  # no byte as low as a space (a column of codes): none to trim
            columns.append(column)
            continue
        padded = pc.or_(pc.starts_with(column, " "), pc.ends_with(column, " "))
        if pc.any(padded).as_py():
            trimmed = pc.utf8_trim(column, _TRIMMED)
            column = pc.if_else(padded, pc.if_else(pc.equal(trimmed, ""), _NULL, trimmed), column)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=table.schema)


def connect_engine(threads: int, memory_limit: str, temp_dir: Path, sql_dir: SqlDir) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for transforms (store.open_engine: bounded, spilling to temp_dir), with the macros."""
    # Rows come out of a transform run without its ORDER BY in input order (measured: at no cost), so the sorter's
    # stable sort puts ties in input order: the same input gives the same file.
    con = open_engine(threads, memory_limit, temp_dir, preserve_insertion_order=True)
    macros = macros_sql(sql_dir)
    if macros is not None:
        try:
            con.execute(macros)
        except duckdb.Error as e:
            con.close()
            raise SqlError(f"{sql_dir.file(MACROS_FILE)}: {_first_line(e)}") from None
    return con


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


@dataclass(frozen=True)
class Written:
    """What a transform wrote: rows, bytes, and values that did not cast, per column."""

    rows: int
    bytes: int
    nulled: dict[str, int]


def statistics_columns(table: str, columns: Iterable[str]) -> list[str] | None:
    """The columns whose Parquet statistics let a reader skip row groups; None (all) for a table of unknown key.

    Rows are sorted by the table's key, so only its statistics (and those of cnpj_basico, the leading part of
    estabelecimentos' cnpj, which a company lookup filters on) prune; elsewhere every row group spans nearly the
    whole range. Leaving the others out cut the writer's CPU by about 17% (issue 13).
    """
    if table not in KEYS:
        return None
    present = set(columns)
    return [c for c in dict.fromkeys((KEYS[table][0], "cnpj_basico")) if c in present]


_ORDER_BY_RE = re.compile(r"\bORDER\s+BY\s*$", re.IGNORECASE)
_ASCENDING_RE = re.compile(r"(?:\s+ASC\b)?(?:\s+NULLS\s+LAST\b)?", re.IGNORECASE)


def split_order(con: duckdb.DuckDBPyConnection, sql: str, output: dict[str, str]) -> tuple[str, str] | None:
    """The SQL without its ORDER BY, and the output column it orders by; None unless the ORDER BY is exactly one
    output column, ascending with NULLs last, of a type the sorter orders as DuckDB does (then DuckDB sorts).

    The text cut out is checked: what is left parses to the same query with no ORDER BY.
    """
    node = select_node(con, sql)
    if node is None or [m["type"] for m in node["modifiers"]] != ["ORDER_MODIFIER"]:
        return None
    orders = node["modifiers"][0]["orders"]
    defaults = con.execute("SELECT current_setting('default_order'), current_setting('default_null_order')").fetchall()
    default_order, default_nulls = (str(v).upper().replace(" ", "_") for v in defaults[0])
    if len(orders) != 1:
        return None
    order, expression = orders[0], orders[0]["expression"]
    direction = default_order if order["type"] == "ORDER_DEFAULT" else order["type"]
    nulls = default_nulls if order["null_order"] == "ORDER_DEFAULT" else order["null_order"].replace(" ", "_")
    if direction != "ASCENDING" or nulls != "NULLS_LAST" or expression["class"] != "COLUMN_REF":
        return None
    names = expression["column_names"]
    if len(names) != 1 or names[0] not in output or not sortable(output[names[0]]):
        return None
    start = expression["query_location"]
    cut = _ORDER_BY_RE.search(sql, 0, start)
    if cut is None or cut.end() != start:
        return None
    end = start + expression["query_location_length"]
    end = _ASCENDING_RE.match(sql, end).end()  # type: ignore[union-attr]  # (it matches the empty text too)
    unordered = sql[: cut.start()] + sql[end:]
    left = select_node(con, unordered)
    if left is None or left["modifiers"] or {**left, "modifiers": None} != {**node, "modifiers": None}:
        return None
    return unordered, names[0]


class FamilyWriter:
    """Runs a base transform over a stream of raw record batches into one Parquet file."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, transform: Transform, compression: str, row_group_size: int
    ) -> None:
        self.con = con
        self.transform = transform
        self.compression = compression
        self.row_group_size = row_group_size
        assert transform.family is not None
        self.schema = pa.schema([(c, pa.string()) for c in transform.family.columns])
        self.output = self._output_types()
        # Typed output columns fed by the raw column of the same name: where casts can turn values into NULL.
        self.typed = {
            name: kind
            for name, kind in self.output.items()
            if name in transform.family.columns and kind != "VARCHAR" and not kind.endswith("[]")
        }
        self.raw_values = dict.fromkeys(self.typed, 0)
        self.rows_in = 0
        # An ORDER BY of one key column is the sorter's (bounded memory, streamed): DuckDB only computes.
        self.unordered = split_order(con, transform.sql, self.output)
        # Raw columns that the SQL passes as they are go around DuckDB (passthrough.py); None: it runs whole.
        runs = transform.sql if self.unordered is None else self.unordered[0]
        self.split = plan_passthrough(con, runs, transform.raw_name, transform.family.columns, self.output)

    def _output_types(self) -> dict[str, str]:
        """Bind the SQL to an empty input: checks it before any data is read, and gives the output types."""
        self.con.register(self.transform.raw_name, self.schema.empty_table())
        try:
            rel = self.con.sql(self.transform.sql)
            return {name: str(kind) for name, kind in zip(rel.columns, rel.types, strict=True)}
        except duckdb.Error as e:
            raise SqlError(f"{self.transform.path}: {_first_line(e)}") from None
        finally:
            self.con.unregister(self.transform.raw_name)

    def prepare(self, table: pa.Table) -> tuple[pa.Table, tuple[int, dict[str, int]]]:
        """A parsed batch (empty values as NULL) trimmed for the SQL, and what it brings in: rows, and non-blank
        values of typed columns (to tell values nulled by casts).

        Thread-safe (it changes nothing): the reading thread prepares, `count` adds what the writer is given.
        """
        table = trim_padded(table)
        values = {}
        for name, kind in self.typed.items():
            column = table.column(name)
            blank = _BLANK if kind == "DATE" else _EMPTY
            low, high = _byte_range(column)
            if low <= _SPACE or high >= _C2:
                blanks = pc.sum(pc.is_in(pc.utf8_trim_whitespace(column), value_set=blank)).as_py() or 0
            else:  # no whitespace, nothing to trim: a compare per blank value is cheaper than is_in's hashing
                blanks = sum(pc.sum(pc.equal(column, value)).as_py() or 0 for value in blank)  # None for no rows
            values[name] = table.num_rows - column.null_count - blanks
        return table, (table.num_rows, values)

    def count(self, measured: tuple[int, dict[str, int]]) -> None:
        """Count a measured batch as going in (only the batches the writer is given: --limit-rows stops early)."""
        self.rows_in += measured[0]
        for name, value in measured[1].items():
            self.raw_values[name] += value

    def write(self, batches: Iterable[pa.RecordBatch], out_path: Path, sort_bytes: int, spill_dir: Path) -> Written:
        """Stream the batches through the transform into out_path, ordered by the sorter (holding up to
        `sort_bytes` of rows, spilling to `spill_dir`) or by DuckDB."""
        written = (
            list(self.typed),
            self.transform.describe(),
            statistics_columns(self.transform.name, self.output),
        )
        result = self._run(batches)
        try:
            if self.unordered is None:
                tables = (pa.Table.from_batches([batch]) for batch in result)
                rows, nulls = _write_tables(
                    tables, result.schema, out_path, self.compression, self.row_group_size, *written
                )
            else:
                sorter = KeySorter(self.unordered[1], result.schema, sort_bytes, spill_dir, self.row_group_size)
                try:
                    for batch in result:
                        sorter.add(batch)
                    result.close()  # an unfinished result would block the connection's next statement
                    # The next row group is gathered (or merged from the runs) in a thread while the writer
                    # encodes this one: both release the GIL, and a file built alone (Simples.zip, the last
                    # file of a table) otherwise left a core idle for its whole write (issue 13).
                    ordered = prefetch(sorter.ordered(), depth=1, name="cnpj-duck-gather")
                    try:
                        rows, nulls = _write_tables(
                            ordered, result.schema, out_path, self.compression, self.row_group_size, *written
                        )
                    finally:
                        ordered.close()
                finally:
                    sorter.close()
        finally:
            result.close()
        if rows != self.rows_in:
            raise SqlError(
                f"{self.transform.path}: wrote {rows} rows from {self.rows_in} input rows; a table "
                "built from a release file must keep every row (filter in a derived table instead)"
            )
        nulled = {name: self.raw_values[name] - (rows - nulls[name]) for name in self.typed}
        return Written(rows, out_path.stat().st_size, {k: v for k, v in nulled.items() if v > 0})

    def _run(self, batches: Iterable[pa.RecordBatch]) -> SplitResult | _Result:
        """The transform's output batches, without the ORDER BY that the sorter applies."""
        if self.split is not None:
            return SplitResult(self.con, self.split, self.transform.raw_name, batches, self.schema, self.row_group_size)
        sql = self.transform.sql if self.unordered is None else self.unordered[0]
        return _Result(
            self.con,
            self.transform.raw_name,
            pa.RecordBatchReader.from_batches(self.schema, iter(batches)),
            sql,
            self.row_group_size,
        )


class _Result:
    """A transform run whole in DuckDB over the raw batches: its output batches; close() frees the connection."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, raw_name: str, raw: pa.RecordBatchReader, sql: str, batch_size: int
    ) -> None:
        self.con = con
        self.raw_name = raw_name
        con.register(raw_name, raw)
        try:
            self.reader: pa.RecordBatchReader | None = con.sql(sql).to_arrow_reader(batch_size=batch_size)
        except BaseException:
            con.unregister(raw_name)
            raise
        self.schema = self.reader.schema

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        assert self.reader is not None
        return iter(self.reader)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None
            self.con.unregister(self.raw_name)


def write_parquet(
    rel: duckdb.DuckDBPyRelation,
    out_path: Path,
    compression: str,
    row_group_size: int,
    count_nulls: list[str] | None = None,
    described: tuple[str, dict[str, str]] | None = None,
    statistics: list[str] | None = None,
) -> tuple[int, dict[str, int]]:
    """Stream a relation's result into a Parquet file; returns rows and NULLs per asked column.

    `described` (the table's and each column's description) goes into the schema's metadata under
    `description`, so the data dictionary travels with the files. `statistics` names the columns that get
    min/max statistics (None: every column).

    DuckDB computes and sorts; pyarrow's writer encodes. Measured on estabelecimentos-like data, it spends
    about 15% less CPU than DuckDB's own Parquet writer for the same file.
    """
    reader = rel.to_arrow_reader(batch_size=row_group_size)
    try:
        tables = (pa.Table.from_batches([batch]) for batch in reader)
        return _write_tables(
            tables, reader.schema, out_path, compression, row_group_size, count_nulls, described, statistics
        )
    finally:
        reader.close()  # an unfinished result would block the connection's next statement


def _described(schema: pa.Schema, described: tuple[str, dict[str, str]] | None) -> pa.Schema:
    """The schema with the data dictionary in its metadata (b'description' on the schema and on each field)."""
    if described is None:
        return schema
    table_doc, columns = described
    fields = [f.with_metadata({b"description": columns[f.name].encode()}) if f.name in columns else f for f in schema]
    return pa.schema(fields, metadata={b"description": table_doc.encode()} if table_doc else None)


def _write_tables(
    tables: Iterable[pa.Table],
    schema: pa.Schema,
    out_path: Path,
    compression: str,
    row_group_size: int,
    count_nulls: list[str] | None,
    described: tuple[str, dict[str, str]] | None = None,
    statistics: list[str] | None = None,
) -> tuple[int, dict[str, int]]:
    nulls = dict.fromkeys(count_nulls or [], 0)
    rows = 0
    pending: list[pa.Table] = []
    pending_rows = 0
    codec = "none" if compression == "uncompressed" else compression
    schema = _described(schema, described)
    with pq.ParquetWriter(
        out_path, schema, compression=codec, write_statistics=True if statistics is None else statistics
    ) as writer:
        for table in tables:
            rows += table.num_rows
            for name in nulls:
                nulls[name] += table.column(name).null_count
            pending.append(table)
            pending_rows += table.num_rows
            if pending_rows >= row_group_size:  # DuckDB hands out small batches; write whole row groups
                writer.write_table(pa.concat_tables(pending), row_group_size=row_group_size)
                pending, pending_rows = [], 0
        if pending:
            writer.write_table(pa.concat_tables(pending), row_group_size=row_group_size)
    return rows, nulls


def write_derived(
    con: duckdb.DuckDBPyConnection,
    transform: Transform,
    inputs: dict[str, list[Path]],
    out_path: Path,
    compression: str,
    row_group_size: int,
) -> Written:
    """Build a derived table from the Parquet files of the tables it reads."""
    for name, files in inputs.items():
        con.read_parquet([str(f) for f in files]).create_view(name, replace=True)
    try:
        rows, _ = write_parquet(
            con.sql(transform.sql), out_path, compression, row_group_size, described=transform.describe()
        )
    except (duckdb.Error, pa.ArrowException) as e:
        raise SqlError(f"{transform.path}: {_first_line(e)}") from None
    finally:
        for name in inputs:
            con.execute(f"DROP VIEW IF EXISTS {quote_ident(name)}")
    return Written(rows, out_path.stat().st_size, {})
