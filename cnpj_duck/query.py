"""`query`: SQL over the catalog, its result streamed out as a table, CSV, JSON, JSON lines, Markdown or Parquet.

Formats, for programs that read them:
- csv: a header, then one line per row; text is always quoted, so NULL (an empty field) and an empty string
  (`""`) differ; dates `YYYY-MM-DD`; decimals with a point (`1500.00`); booleans `true`/`false`; timestamps
  `YYYY-MM-DD HH:MM:SS[.ffffff]`; lists and structs as JSON text (`["6201501","6202300"]`).
- json (an array of objects) and jsonl (one object per line): keys are the column names (a repeated name gets
  `_1`); dates are `"YYYY-MM-DD"` strings and timestamps `"YYYY-MM-DD HH:MM:SS[.ffffff]"`; decimals are JSON
  numbers written exactly as stored (`1500.00`, never rounded through a float); lists are arrays; NaN and
  infinities become null (JSON has no such numbers).
- table and markdown: for people; at most `max_rows` rows, then a line saying how many rows there were.
- parquet: to a file, with the result's own types (lists stay lists, decimals stay decimals).
Everything but table and markdown streams in record batches: memory does not grow with the result.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from .catalog import connect_reader, sql_message
from .config import Config
from .errors import CnpjDuckError, SqlError, UsageError
from .sqlfiles import SqlDir
from .sqlproject import quote_ident, select_over
from .store import Store, open_engine
from .transform import write_parquet

FORMATS = ("table", "csv", "json", "jsonl", "markdown", "parquet")
BATCH_ROWS = 10_000
PARQUET_ROW_GROUP = 122_880  # DuckDB's default: small enough to bound memory, large enough to compress
MAX_ROWS = 100  # rows a table or markdown result shows by default
_CELL_WIDTH = 60  # a longer value is cut in table and markdown output (the full value is in csv/json)
# Types pyarrow's CSV writer renders as we document; every other type is cast to text by DuckDB first.
_CSV_PLAIN = {
    "boolean",
    "tinyint",
    "smallint",
    "integer",
    "bigint",
    "utinyint",
    "usmallint",
    "uinteger",
    "ubigint",
    "float",
    "double",
    "decimal",
    "varchar",
    "date",
}
_NESTED = {"list", "struct", "map", "array", "union"}


@dataclass(frozen=True)
class QueryResult:
    """What `write_result` wrote: all the result's rows, how many were shown, and the file when there is one."""

    rows: int
    shown: int
    output: Path | None = None


def connect(
    data_dir: Path,
    sql_dir: SqlDir,
    release: str | None = None,
    engine: duckdb.DuckDBPyConnection | None = None,
    ibge_file: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """The catalog as readers see it (catalog.connect_reader): views over `release`, or the latest built one.

    For a release, every output table built for it gets its view: a table without it is simply absent, rather
    than showing another release.
    """
    return connect_reader(data_dir, sql_dir, release, engine=engine, ibge_file=ibge_file)


# Statements that would change the reader's database: `query` reads; results leave with --output or COPY ... TO.
_RESULTS = {"SELECT", "EXPLAIN"}
_WRITES = {"INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "MERGE_INTO", "CREATE_FUNC"}


def run_query(
    con: duckdb.DuckDBPyConnection, sql: str, release: str | None = None, data_dir: Path | None = None
) -> duckdb.DuckDBPyRelation:
    """Run SQL (SET, COPY ... TO and the like may precede one result-producing statement); errors become one line."""
    if not sql.strip():
        raise UsageError("the query is empty; pass SQL as an argument, with --file, or on stdin")
    try:
        statements = con.extract_statements(sql)
        for statement in statements:
            if statement.type.name in _WRITES:
                raise SqlError(
                    f"{statement.type.name} statements are not run: query reads the catalog; write "
                    "results with --output FILE or COPY (SELECT ...) TO 'file'"
                )
        # DuckDB returns only the last result, and one --format/--output takes one table: refuse rather than drop
        # the others silently (issue 12).
        producing = sum(statement.type.name in _RESULTS for statement in statements)
        if producing > 1:
            raise UsageError(
                f"{producing} statements return rows; query shows one result: run them one by one, or "
                "join them with UNION ALL"
            )
        return con.sql(sql)
    except duckdb.Error as e:
        message = sql_message(e)
        if data_dir is not None and "Table with name" in message and "does not exist" in message:
            store = Store(data_dir)
            shown = release or store.latest_release()
            if shown is None:
                message += " (nothing is built yet: run `cnpj-duck build`)"
            elif release is not None:
                message += f" (release {release} has: {', '.join(store.tables_of(release))})"
            else:
                message += (
                    f" (the latest built release, {shown}, has: {', '.join(store.tables_of(shown))}; "
                    f"`cnpj-duck build --release {shown}` makes the others)"
                )
        raise SqlError(message) from None


def write_result(
    result: duckdb.DuckDBPyRelation | pa.RecordBatchReader,
    fmt: str,
    stream: IO[Any],
    output: Path | None = None,
    max_rows: int = MAX_ROWS,
    config: Config | None = None,
) -> QueryResult:
    """Write a relation's (or record batch reader's) rows to `stream`, or to `output` when given.

    `parquet` needs `output`. For table and markdown, `max_rows` caps the rows shown (0: all of them). A record
    batch reader is read through a private engine, bounded like `config` says (threads, memory_limit, spill).
    """
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: not one of {', '.join(FORMATS)}")
    if fmt == "parquet" and output is None:
        raise UsageError("--format parquet writes a file: pass --output FILE")
    owned = None
    if isinstance(result, pa.RecordBatchReader):
        # A private engine to convert types (not the reader's own: a query there would end its stream); the reader
        # can be read only once. Without a config (a library caller's; the CLI hands relations), DuckDB's default.
        owned = (
            open_engine(config.threads, config.memory_limit, Store(config.data_dir).tmp_dir)
            if config is not None
            else duckdb.connect()
        )
        rel, replayable = owned.from_arrow(result), False
    else:
        rel, replayable = result, True
    try:
        if fmt == "parquet":
            assert output is not None
            return _write_parquet(rel, output)
        if output is not None:
            return _write_file(rel, fmt, output, max_rows, replayable)
        try:
            return _write_stream(rel, fmt, stream, max_rows, replayable)
        except BrokenPipeError:
            raise  # `query ... | head`: the CLI stops quietly
        except OSError as e:  # stdout on a full disk, say; the query's own errors came out as _StreamError
            raise CnpjDuckError(f"cannot write the result ({e.strerror or e})") from None
    except (duckdb.Error, _StreamError) as e:
        # Read through a private engine, the error comes wrapped: "...reading the Arrow source failed: IOError: X".
        raise SqlError(re.sub(r"^.*?reading the Arrow source failed: (?:\w+Error: )?", "", sql_message(e))) from None
    finally:
        if owned is not None:
            owned.close()


class _StreamError(Exception):
    """An error raised by the query while its rows stream (pyarrow hands DuckDB's errors on as OSError)."""


def _side_file(output: Path) -> tuple[Path, Path | None]:
    """Where `output` is written, and the file renamed onto it when complete (None: written in place).

    A regular file (or a new one) is written beside it and renamed: the user's previous file survives a failed
    query. A symlink is followed, so the file it points to is replaced, not the link. A device or a pipe
    (`-o /dev/null`), and anything under /dev or /proc (`-o /dev/stdout` names whatever stdout is, perhaps a
    file the shell opened), is written in place: renaming onto it would replace the device or detach the stream.
    """
    if str(output.absolute()).startswith(("/dev/", "/proc/")):
        return output, None
    target = Path(os.path.realpath(output)) if output.is_symlink() else output
    if target.exists() and not target.is_file():
        return target, None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--output {output}: cannot create its folder ({e.strerror or e})") from None
    return target.with_name(f".{target.name}.partial"), target


def _write_file(rel: duckdb.DuckDBPyRelation, fmt: str, output: Path, max_rows: int, replayable: bool) -> QueryResult:
    write_to, target = _side_file(output)
    try:
        with write_to.open("wb") as fh:
            written = _write_stream(rel, fmt, fh, max_rows, replayable)
        if target is not None:
            os.replace(write_to, target)
    except OSError as e:
        raise UsageError(f"--output {output}: cannot write it ({e.strerror or e})") from None
    finally:
        if target is not None:
            write_to.unlink(missing_ok=True)
    return QueryResult(written.rows, written.shown, output)


def _write_stream(
    rel: duckdb.DuckDBPyRelation, fmt: str, stream: IO[Any], max_rows: int, replayable: bool
) -> QueryResult:
    sink = _Sink(stream)
    try:
        if fmt == "csv":
            return _write_csv(rel, sink)
        if fmt in ("json", "jsonl"):
            return _write_json(rel, sink, fmt == "json")
        return _write_grid(rel, sink, fmt, max_rows, replayable)
    finally:
        sink.flush()


def _write_csv(rel: duckdb.DuckDBPyRelation, sink: _Sink) -> QueryResult:
    exprs = []
    for i, (name, kind) in enumerate(zip(rel.columns, rel.types, strict=True), start=1):
        if kind.id in _NESTED:
            value = f"to_json(#{i})::VARCHAR"
        elif kind.id in _CSV_PLAIN:
            value = f"#{i}"
        else:
            value = f"#{i}::VARCHAR"
        exprs.append(f"{value} AS {quote_ident(name)}")
    rows = 0
    header = True
    for batch in _batches(select_over(rel, "_result", f"SELECT {', '.join(exprs)} FROM _result")):
        sink.write_bytes(_csv_bytes(batch, header))
        header = False
        rows += batch.num_rows
    if header:  # no rows: still a header, so the file says what its columns are
        sink.write_bytes(
            _csv_bytes(pa.record_batch([pa.array([], pa.string()) for _ in rel.columns], names=list(rel.columns)), True)
        )
    return QueryResult(rows, rows)


def _csv_bytes(batch: pa.RecordBatch, header: bool) -> bytes:
    buffer = pa.BufferOutputStream()
    pacsv.write_csv(batch, buffer, pacsv.WriteOptions(include_header=header))
    data: bytes = buffer.getvalue().to_pybytes()  # pyarrow is untyped
    return data


def _write_json(rel: duckdb.DuckDBPyRelation, sink: _Sink, array: bool) -> QueryResult:
    # DuckDB writes each row's JSON: decimals exactly, dates as strings, lists as arrays, fast.
    exprs = []
    for i, (name, kind) in enumerate(zip(rel.columns, rel.types, strict=True), start=1):
        value = f"CASE WHEN isfinite(#{i}) THEN #{i} END" if kind.id in ("float", "double") else f"#{i}"
        exprs.append(f"{value} AS {quote_ident(name)}")
    json_rel = select_over(
        rel, "_result", f"SELECT to_json(_row)::VARCHAR AS j FROM (SELECT {', '.join(exprs)} FROM _result) AS _row"
    )
    rows = 0
    if array:
        sink.write_text("[")
    for batch in _batches(json_rel):
        lines = batch.column(0).to_pylist()
        if array:
            sink.write_text(("\n" if rows == 0 else ",\n") + ",\n".join(lines))
        else:
            sink.write_text("".join(line + "\n" for line in lines))
        rows += len(lines)
    if array:
        sink.write_text("\n]\n" if rows else "]\n")
    return QueryResult(rows, rows)


def _write_grid(rel: duckdb.DuckDBPyRelation, sink: _Sink, fmt: str, max_rows: int, replayable: bool) -> QueryResult:
    """Table (aligned like psql) or Markdown: the first rows, then how many there were in all."""
    shown: list[list[str]] = []
    right = [
        kind.id
        in (
            "tinyint",
            "smallint",
            "integer",
            "bigint",
            "hugeint",
            "utinyint",
            "usmallint",
            "uinteger",
            "ubigint",
            "float",
            "double",
            "decimal",
        )
        for kind in rel.types
    ]
    total = 0
    more = False
    reader = _Reader(rel)
    try:
        for batch in reader:
            take = batch.num_rows if not max_rows else min(batch.num_rows, max_rows - len(shown))
            # Column by column: names may repeat (SELECT a.x, b.x), which row dicts would merge.
            columns = [batch.column(i).slice(0, take).to_pylist() for i in range(batch.num_columns)]
            shown += [[_cell(v, fmt) for v in row] for row in zip(*columns, strict=True)]
            total += batch.num_rows
            if max_rows and total > max_rows:
                more = True
                break
        if more and not replayable:
            total += sum(b.num_rows for b in reader)
    finally:
        reader.close()  # an unfinished result would hold the connection
    if more and replayable:  # DuckDB counts without fetching the columns (from Parquet metadata when it can)
        total = select_over(rel, "_result", "SELECT count(*) FROM _result").fetchall()[0][0]
    headers = [str(c) for c in rel.columns]
    if fmt == "markdown":
        sink.write_text(_markdown(headers, shown, right))
    else:
        sink.write_text(_psql(headers, shown, right))
    if more:
        note = f"({total:,} rows, {len(shown):,} shown; add LIMIT, raise --max-rows, or use --format csv for all)"
    else:
        note = f"({total:,} row{'' if total == 1 else 's'})"
    sink.write_text(f"\n_{note}_\n" if fmt == "markdown" else f"{note}\n")
    return QueryResult(total, len(shown))


def _psql(headers: list[str], rows: list[list[str]], right: list[bool]) -> str:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "|".join(f" {c.rjust(w) if r else c.ljust(w)} " for c, w, r in zip(cells, widths, right, strict=True))

    out = [line(headers).rstrip(), "+".join("-" * (w + 2) for w in widths)]
    out += [line(r).rstrip() for r in rows]
    return "\n".join(out) + "\n"


def _markdown(headers: list[str], rows: list[list[str]], right: list[bool]) -> str:
    out = [
        "| " + " | ".join(_md_escape(h) for h in headers) + " |",
        "|" + "|".join("---:" if r else "---" for r in right) + "|",
    ]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _cell(value: Any, fmt: str) -> str:
    """A value as people read it: NULL spelled out, dates ISO, line breaks visible, long text cut."""
    text = "NULL" if value is None else _plain(value)
    text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    if len(text) > _CELL_WIDTH:
        text = text[: _CELL_WIDTH - 1] + "…"
    return _md_escape(text) if fmt == "markdown" else text


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, list) and value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return "{" + ", ".join(f"{_plain(k)}: {'NULL' if v is None else _plain(v)}" for k, v in value) + "}"  # MAP
    if isinstance(value, list):
        return "[" + ", ".join("NULL" if v is None else _plain(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, default=_plain, ensure_ascii=False)
    return str(value)


def _write_parquet(rel: duckdb.DuckDBPyRelation, output: Path) -> QueryResult:
    """Record batches into a side file renamed into place: never a half-written file at `output`.

    pyarrow's writer, fed batch by batch, keeps memory at about one row group; DuckDB's `to_parquet` kept the
    whole result of a large join in memory (measured: 1.5 GB for 2 M rows).
    """
    write_to, target = _side_file(output)
    # Parquet needs distinct column names: a subquery makes DuckDB rename repeats (a, a_1), as JSON gets them.
    rel = select_over(rel, "_result", "SELECT * FROM (SELECT * FROM _result) AS _q")
    try:
        rows, _ = write_parquet(rel, write_to, "zstd", PARQUET_ROW_GROUP)
        if target is not None:
            os.replace(write_to, target)
    except (pa.ArrowException, OSError) as e:
        if isinstance(e, OSError) and e.errno is not None:  # the file system, not the query
            raise UsageError(f"--output {output}: cannot write it ({e.strerror or e})") from None
        raise _StreamError(str(e)) from None
    finally:
        if target is not None:
            write_to.unlink(missing_ok=True)
    return QueryResult(rows, rows, output)


class _Reader:
    """A relation's record batches; an error of the query part way (error() on a late row, a damaged file) comes
    out as _StreamError, not as the OSError pyarrow turns it into."""

    def __init__(self, rel: duckdb.DuckDBPyRelation) -> None:
        self.reader = rel.to_arrow_reader(batch_size=BATCH_ROWS)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while True:
            try:
                batch = self.reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as e:
                raise _StreamError(str(e)) from None
            yield batch

    def close(self) -> None:
        self.reader.close()


def _batches(rel: duckdb.DuckDBPyRelation) -> Iterator[pa.RecordBatch]:
    reader = _Reader(rel)
    try:
        yield from reader
    finally:
        reader.close()


class _Sink:
    """Writes text and bytes to a text stream (via its buffer when it has one) or to a binary one."""

    def __init__(self, stream: IO[Any]) -> None:
        self.stream = stream
        self.text = isinstance(stream, io.TextIOBase) or hasattr(stream, "encoding")
        self.binary = getattr(stream, "buffer", None) if self.text else stream

    def write_text(self, text: str) -> None:
        if self.text:
            self.stream.write(text)
        else:
            self.stream.write(text.encode("utf-8"))

    def write_bytes(self, data: bytes) -> None:
        if not self.text:
            self.stream.write(data)
        elif self.binary is not None:
            self.stream.flush()  # keep what was written as text before these bytes
            self.binary.write(data)
        else:
            self.stream.write(data.decode("utf-8"))

    def flush(self) -> None:
        self.stream.flush()
        if self.text and self.binary is not None:
            self.binary.flush()
