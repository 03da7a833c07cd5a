"""`export postgres`: the built Parquet tables (and the enriched views) into Postgres, streamed, typed and atomic.

Each table is loaded into a staging table (`cnpj_duck_staging__<table>`) created first with exact types, then
given its primary key, indexes, statistics and comments, and counted against the Parquet. Only when every table
is staged are they all swapped in, in one transaction: readers see the previous tables, whole, until then. A
killed export leaves staging tables behind and nothing else; the next export drops them.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc_pg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import __version__, sqlproject
from .audit import Audit, FileScope, RunScope, TableScope
from .build import open_catalog, read_manifest
from .config import Config, check_dsn
from .errors import CnpjDuckError, NetworkError, UsageError
from .layout import is_valid_release
from .logs import redact
from .progress import NullProgress, Progress
from .sqlproject import describe_sql, quote_ident, quote_literal
from .tables import INDEXED, PRIMARY_KEYS
from .tables import NAME_COLUMNS as _NAME_COLUMNS

log = logging.getLogger(__name__)

STAGING = "cnpj_duck_staging__"  # staging tables; any left in the schema are dropped by the next export
OLD = "cnpj_duck_old__"  # live tables renamed away inside the swap transaction (never visible after it)
DEFAULT_BATCH_ROWS = 16_384  # rows per Arrow batch to the driver: measured as fast as 32k, faster than 64k+
AUDIT_ROWS = 262_144  # rows per audit batch (at least)
LOCK_WAIT = 10.0  # seconds to wait for another export's lock before giving up
CONNECT_TIMEOUT = 15  # seconds; libpq waits forever by default on a host that drops packets
# PRIMARY_KEYS, INDEXED and _NAME_COLUMNS come from tables.py. Names are searched by equality and prefix
# (LIKE 'BANCO DO%'): text_pattern_ops serves both in any collation.
_SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class TableExport:
    """How one table went to Postgres."""

    name: str
    source: str  # 'parquet' or 'view'
    rows: int
    seconds: float  # streaming the rows in
    index_seconds: float  # primary key, indexes, ANALYZE and comments
    primary_key: tuple[str, ...]  # empty when the data does not allow one
    duplicate_keys: int  # key values found more than once
    duplicate_rows: int  # rows beyond the first of each repeated key value (all kept)
    null_keys: int  # rows with a NULL in a key column (all kept)
    indexes: tuple[str, ...]
    nul_bytes: int  # NUL characters removed from text (Postgres rejects them)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class ExportSummary:
    """The outcome of an export: every table is live in `schema`, or the export raised and nothing changed."""

    run_id: int
    release: str
    schema: str
    tables: tuple[TableExport, ...]
    seconds: float
    swap_seconds: float
    dropped_leftovers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    """A table to export: a Parquet partition, or a view over the release in DuckDB."""

    name: str
    kind: str  # 'parquet' or 'view'
    files: tuple[Path, ...] = ()
    part_rows: dict[str, int] = field(default_factory=dict)  # manifest rows per part file
    partial: bool = False


def latest_release(data_dir: Path) -> str:
    """The newest release with a published partition of any table."""
    found = sorted({p.name.split("=", 1)[1] for p in (data_dir / "parquet").glob("*/release=*")
                    if read_manifest(p) is not None})
    if not found:
        raise UsageError(f"{data_dir / 'parquet'}: no built table; run `cnpj-duck build` first (or pass --data-dir)")
    return found[-1]


def find_sources(config: Config, release: str, tables: list[str] | None) -> list[Source]:
    """The release's built tables, then the enriched views when the catalog module can define them."""
    sources: list[Source] = []
    for folder in sorted((config.data_dir / "parquet").glob(f"*/release={release}")):
        manifest = read_manifest(folder)
        if manifest is None:
            continue
        parts = {name: int(entry["rows"]) for name, entry in sorted(manifest["parts"].items())}
        sources.append(Source(folder.parent.name, "parquet", tuple(folder / p for p in parts), parts,
                              bool(manifest.get("partial"))))
    if not sources:
        raise UsageError(f"release {release}: no built table under {config.data_dir / 'parquet'}; "
                         "run `cnpj-duck build` for it or pass another --release")
    sources += [Source(name, "view") for name in view_names(config.sql_dir) if name not in {s.name for s in sources}]
    if tables is None:
        return sources
    known = {s.name: s for s in sources}
    unknown = [t for t in tables if t not in known]
    if unknown:
        raise UsageError(f"--tables: {', '.join(unknown)} not built for release {release}; "
                         f"known: {', '.join(known)}")
    return [known[t] for t in tables]


def view_names(sql_dir: Path) -> list[str]:
    """The views of the SQL project (sql/views/ and qualidade), when cnpj_duck.catalog is there to define them."""
    try:
        from . import catalog  # noqa: F401
    except ImportError:
        return []
    return sqlproject.view_names(sql_dir)


def postgres_type(kind: pa.DataType, column: str) -> tuple[str, pa.DataType]:
    """The Postgres type for an Arrow type, and the Arrow type a batch must have to go into it exactly."""
    t = pa.types
    if t.is_dictionary(kind):  # categorical values arrive decoded
        return postgres_type(kind.value_type, column)
    if t.is_string(kind) or t.is_large_string(kind) or t.is_string_view(kind):
        return "text", pa.string()
    if t.is_date(kind):
        return "date", pa.date32()
    if t.is_decimal(kind):
        return f"numeric({kind.precision},{kind.scale})", kind
    if t.is_boolean(kind):
        return "boolean", kind
    if t.is_int8(kind) or t.is_int16(kind) or t.is_uint8(kind):
        return "smallint", pa.int16()
    if t.is_int32(kind) or t.is_uint16(kind):
        return "integer", pa.int32()
    if t.is_int64(kind) or t.is_uint32(kind):
        return "bigint", pa.int64()
    if t.is_float32(kind):
        return "real", kind
    if t.is_float64(kind):
        return "double precision", kind
    if t.is_timestamp(kind):
        return ("timestamptz" if kind.tz else "timestamp"), pa.timestamp("us", kind.tz)
    if t.is_list(kind) or t.is_large_list(kind):
        inner, arrow = postgres_type(kind.value_type, column)
        if inner.endswith("[]"):
            raise CnpjDuckError(f"column {column}: nested lists ({kind}) have no Postgres type; flatten them in sql/")
        return inner + "[]", pa.list_(arrow)
    raise CnpjDuckError(f"column {column}: no Postgres type for Arrow {kind}; cast it in its sql/ file")


_HUGE = frozenset({"HUGEINT", "UHUGEINT"})


def narrow_hugeints(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """HUGEINT and UHUGEINT columns (what DuckDB's sum() of integers returns) cast to BIGINT: counts and sums of
    counts, which Postgres should see as bigint, not as the numeric(38,0) Arrow would carry them as. A value
    beyond bigint stops the export with DuckDB's out-of-range error (cast such a column in its sql/ file)."""
    types = [str(t) for t in relation.types]
    if not _HUGE.intersection(types):
        return relation
    return relation.project(", ".join(
        f"CAST({quote_ident(c)} AS BIGINT) AS {quote_ident(c)}" if t in _HUGE else quote_ident(c)
        for c, t in zip(relation.columns, types, strict=True)))


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
    return pc.min(pa.Array.from_buffers(pa.uint8(), view.size, [None, view])).as_py() == 0


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


def _userinfo(dsn: str) -> str:
    """Everything between "://" and the LAST "@": what some parser (Python's, libpq's) could take for the user
    and password when the password holds an unencoded @ / ? # or :. It is never shown."""
    return dsn.split("://", 1)[-1].rpartition("@")[0]


def _server_part(dsn: str) -> str:
    """The DSN after its user and password: 'host:port/db?query'. Cut at the last "@" of the text before the
    query when there is one (an "@" in the query is a value's), else at the last "@" of all (a password with an
    unencoded "?"); the text before the cut is never shown."""
    body = dsn.split("://", 1)[-1]
    before_query = body.partition("?")[0]
    if "@" in before_query:
        return body[before_query.rindex("@") + 1:]
    return body.rpartition("@")[2]


def _query_params(dsn: str) -> list[tuple[str, str]]:
    """The query's key=value pairs as libpq reads them: "&"-separated, percent-decoded ("+" stays a "+")."""
    query = dsn.partition("?")[2].partition("#")[0]
    pairs = []
    for item in filter(None, query.split("&")):
        key, _, value = item.partition("=")
        pairs.append((unquote(key, errors="replace"), unquote(value, errors="replace")))
    return pairs


def check_url(dsn: str) -> None:
    """Raise UsageError (exit 2) for a DSN that libpq or Python would fail to parse, in one line that names no
    part of it. config.check_dsn catches most at config load; this adds what libpq rejects before connecting."""
    usage = ("the Postgres DSN (--dsn or CNPJ_DUCK_PG_DSN) is malformed: {}; expected a URL like "
             "postgresql://user:password@host:5432/db (percent-encode @ / ? # : in the password)")
    if (allowed := check_dsn(dsn)) is not None:
        raise UsageError(f"the Postgres DSN (--dsn or CNPJ_DUCK_PG_DSN) is malformed: expected {allowed}")
    try:
        urlsplit(dsn)  # e.g. a bracketed host that is not an IPv6 address
    except ValueError:
        raise UsageError(usage.format("a host in [ ] must be an IPv6 address")) from None
    if re.search(r"%(?![0-9A-Fa-f]{2})", dsn):
        raise UsageError(usage.format("a % must start a percent-encoded byte such as %40"))
    if "%00" in dsn:
        raise UsageError(usage.format("%00 (a NUL byte) is not allowed"))
    try:
        unquote_to_bytes(dsn).decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(usage.format("its percent-encoded bytes are not UTF-8")) from None


def with_connection_defaults(dsn: str) -> str:
    """The DSN with a connect timeout and an application name, unless it sets them itself. They are appended
    to the query as typed: re-encoding it would change what libpq reads (it decodes %20, not "+", as a space)."""
    present = {key for key, _ in _query_params(dsn)}
    extra = [f"{key}={quote(value, safe='')}" for key, value in
             (("connect_timeout", str(CONNECT_TIMEOUT)), ("application_name", "cnpj-duck")) if key not in present]
    if not extra:
        return dsn
    url, hash_, fragment = dsn.partition("#")
    joiner = "" if url.endswith(("?", "&")) else "&" if "?" in url else "?"
    return url + joiner + "&".join(extra) + hash_ + fragment


def describe_server(dsn: str) -> str:
    """'host:port/database' of a DSN: what messages name instead of the DSN (which may hold a password).

    Read from the text after the last "@" only, so no part of a password can show, however it is written."""
    hosts, slash, path = _server_part(dsn).partition("?")[0].partition("#")[0].partition("/")
    path = slash + path or "/"
    params = dict(_query_params(dsn))  # the last of a repeated key counts, as in libpq
    if not hosts:  # postgresql:///db?host=/var/run/postgresql
        hosts = params.get("host") or "localhost"
    if "," not in hosts and not re.search(r":[^\]/]*$", hosts):
        hosts += f":{params.get('port') or 5432}"
    return f"{unquote(hosts, errors='replace')}{unquote(path, errors='replace')}"


def _secret_pieces(dsn: str) -> set[str]:
    """Every string a parser might take for (part of) the password: the raw text after the user, up to the last
    "@", and its pieces split where libpq or Python split URLs, each as typed and percent-decoded; and a
    password given as a query parameter."""
    raw = _userinfo(dsn).partition(":")[2]
    pieces = {raw, *re.split(r"[@/?#:,&=\[\]]", raw)}
    try:
        pieces.add(urlsplit(dsn).password or "")
    except ValueError:
        pass
    pieces |= {v for k, v in _query_params(dsn) if k == "password"}
    return {form for piece in pieces for form in (piece, unquote(piece, errors="replace")) if form}


def scrub(text: str, dsn: str) -> str:
    """Remove the DSN's password from a message, however it appears: as typed, percent-decoded, or the pieces a
    parser that splits the URL differently (libpq) may echo. Pieces of one or two characters are removed
    only where they stand alone (quoted, or between separators), not from inside the message's words."""
    for secret in sorted(_secret_pieces(dsn), key=len, reverse=True):
        if len(secret) > 2:
            text = text.replace(secret, "***")
        else:
            text = re.sub(rf"(?<![\w]){re.escape(secret)}(?![\w])", "***", text)
    return redact(text)


def _server_message(e: BaseException) -> str:
    """The server's or libpq's own words from an ADBC error, without the driver's wrapping."""
    text = str(e)
    m = re.search(r"(?:ERROR|FATAL):\s+(.*)", text)
    if m:
        return m.group(1).strip()
    m = re.search(r"failed: (.*)", text)
    if m:
        return m.group(1).strip()
    text = re.sub(r"^[A-Z_]+: \[libpq\] ", "", text.strip())
    return text.splitlines()[0].strip() if text else type(e).__name__


def sqlstate(e: BaseException) -> str | None:
    state = getattr(e, "sqlstate", None)
    if state:
        return str(state)
    m = re.search(r"SQLSTATE: ([0-9A-Z]{5})", str(e))
    return m.group(1) if m else None


_LOST = ("server closed the connection", "no connection to the server", "terminating connection",
         "could not receive data", "could not send data", "connection to server", "Broken pipe")


def is_connection_lost(e: BaseException) -> bool:
    state = sqlstate(e) or ""
    return state.startswith("08") or state in ("57P01", "57P02", "57P03") or any(s in str(e) for s in _LOST)


def connect(dsn: str) -> Any:
    """Open an ADBC connection; a server that cannot be reached or refuses us is a NetworkError (exit 3)."""
    where = describe_server(dsn)
    try:
        return adbc_pg.connect(with_connection_defaults(dsn))
    except adbc_driver_manager.Error as e:
        reason = scrub(_server_message(e), dsn)
        lower = reason.lower()
        if "password" in lower or "authentication" in lower or "pg_hba" in lower:
            hint = "check the user and password in --dsn or CNPJ_DUCK_PG_DSN"
        elif "does not exist" in lower:
            hint = "check the database and user names in the DSN, or create them"
        elif "refused" in lower:
            hint = "check that the server is running and that the DSN's host and port are right"
        elif "translate host name" in lower:
            hint = "check the host name in the DSN"
        elif "timeout expired" in lower or "timed out" in lower:  # libpq's words, not a server error's
            hint = f"no answer within {CONNECT_TIMEOUT} s; check the host, port and any firewall"
        else:
            hint = "check the DSN (--dsn or CNPJ_DUCK_PG_DSN) and the server"
        raise NetworkError(f"cannot connect to Postgres at {where}: {reason}; {hint}") from None


def _qualified(schema: str, name: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def _index_name(table: str, columns: tuple[str, ...]) -> str:
    name = f"{table}_{'_'.join(columns)}_idx"
    return name if len(name) <= 63 else f"{table[:40]}_{zlib.crc32(name.encode()):08x}_idx"  # Postgres cuts at 63


@dataclass
class _Staged:
    """A table loaded into its staging table, waiting for the swap."""

    source: Source
    result: TableExport
    renames: list[tuple[str, str, str]]  # (kind 'index'|'constraint', staging name, final name)


class Exporter:
    """One export: the Postgres connection, the DuckDB engine for checks and views, the audit and progress."""

    def __init__(self, config: Config, dsn: str, schema: str, release: str, progress: Progress,
                 batch_rows: int) -> None:
        self.config = config
        self.dsn = dsn
        self.schema = schema
        self.release = release
        self.progress = progress
        self.batch_rows = batch_rows
        self.where = describe_server(dsn)
        self.con: Any = None
        self.cur: Any = None
        self.engine: duckdb.DuckDBPyConnection | None = None
        self.staging: list[str] = []  # staging tables created by this run, dropped if it fails
        self.run_id = 0

    # -- Postgres statements, with errors turned into one-line messages ---------------------------------------

    def sql(self, statement: str, params: tuple[Any, ...] | None = None, *, doing: str) -> list[tuple[Any, ...]]:
        """Run a statement; rows if it returns any. ADBC leaves a failed transaction open: roll it back."""
        try:
            self.cur.execute(statement, params)
            return self.cur.fetchall() if self.cur.description else []
        except adbc_driver_manager.Error as e:
            raise self.error(e, doing) from None

    def commit(self, doing: str) -> None:
        try:
            self.con.commit()
        except adbc_driver_manager.Error as e:
            raise self.error(e, doing) from None

    def error(self, e: BaseException, doing: str) -> BaseException:
        """The error to raise for a Postgres failure; the transaction is rolled back first."""
        self.rollback()
        if sqlstate(e) == "57014" and "user request" in str(e):
            return KeyboardInterrupt()  # Ctrl-C: the driver cancelled the statement and reports that instead
        reason = scrub(_server_message(e), self.dsn)
        if is_connection_lost(e):
            return NetworkError(f"lost the connection to Postgres at {self.where} while {doing}: {reason}; "
                                "the previous tables are unchanged")
        return CnpjDuckError(f"{doing}: {reason}")

    def rollback(self) -> None:
        try:
            self.con.rollback()
        except adbc_driver_manager.Error:
            pass  # the connection is gone: the server rolls back by itself

    # -- the export --------------------------------------------------------------------------------------------

    def run(self, catalog: duckdb.DuckDBPyConnection, run: RunScope, sources: list[Source]) -> ExportSummary:
        started = time.monotonic()
        self.run_id = run.id
        begun = False
        try:
            self.con = connect(self.dsn)
            self.cur = self.con.cursor()
            self.engine = self.open_engine(catalog)
            leftovers = self.prepare()
            sources = self.define_views(sources)
            checks = {s.name: self.check(s) for s in sources}
            self.progress.start("export", total=sum(c[0] for c in checks.values()), release=self.release,
                                run_id=run.id, schema=self.schema)
            begun = True
            staged: list[_Staged] = []
            with ExitStack() as scopes:  # each table's audit row stays open until the swap makes it live
                for source in sources:
                    scope = scopes.enter_context(run.table(source.name, self.release))
                    staged.append(self.stage(scope, source, checks[source.name]))
                swap_started = time.monotonic()
                self.swap(staged)
                swap_seconds = time.monotonic() - swap_started
            self.progress.finish("export", rows=sum(s.result.rows for s in staged))
            return ExportSummary(run.id, self.release, self.schema, tuple(s.result for s in staged),
                                 time.monotonic() - started, swap_seconds, tuple(leftovers))
        except BaseException as e:
            if begun:
                self.progress.finish("export", status="interrupted" if isinstance(e, KeyboardInterrupt) else "failed")
            self.drop_own_staging()
            raise
        finally:
            self.close()

    def open_engine(self, catalog: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        """A connection to the catalog's database for the checks and the views (qualidade reads the audit),
        bounded like a build: its temporary views are its own, the audit writes go through `catalog`."""
        engine = catalog.cursor()
        temp = self.config.data_dir / ".tmp"
        temp.mkdir(parents=True, exist_ok=True)
        engine.execute(f"SET threads = {int(self.config.threads)}")
        engine.execute("SET memory_limit = $1", [self.config.memory_limit])
        engine.execute("SET temp_directory = $1", [str(temp)])
        engine.execute("SET preserve_insertion_order = false")  # row order means nothing to a Postgres table
        return engine

    def define_views(self, sources: list[Source]) -> list[Source]:
        """Define the release's views in the engine; a view that cannot be made is left out with a warning."""
        views = [s for s in sources if s.kind == "view"]
        if not views:
            return sources
        from .catalog import create_views

        assert self.engine is not None
        problems: list[str] = []
        made = set(create_views(self.engine, self.config.data_dir, self.config.sql_dir, release=self.release,
                                temporary=True, problems=problems))
        for view in views:
            if view.name not in made:
                why = next((p for p in problems if f"/{view.name}.sql" in p), "a table it reads is not built")
                self.progress.message(f"view {view.name} not exported: {why}", level="warning")
        return [s for s in sources if s.kind != "view" or s.name in made]

    def close(self) -> None:
        for thing in (self.cur, self.con, self.engine):
            try:
                if thing is not None:
                    thing.close()
            except Exception:  # closing what a lost connection left: nothing more to do
                log.debug("closing %s failed", type(thing).__name__, exc_info=True)

    def prepare(self) -> list[str]:
        """Create the schema, take the schema's export lock, and drop what an interrupted export left."""
        schema = quote_ident(self.schema)
        self.sql(f"CREATE SCHEMA IF NOT EXISTS {schema}", doing=f"creating schema {self.schema}")
        self.commit(f"creating schema {self.schema}")
        # A session lock: two exports into one schema would drop each other's staging tables. A killed
        # export's session ends with its process, and the lock with it.
        deadline = time.monotonic() + LOCK_WAIT
        while True:  # a killed export's session may take a moment to end
            got = self.sql("SELECT pg_try_advisory_lock(hashtext($1))", (f"cnpj-duck export {self.schema}",),
                           doing="taking the export lock")[0][0]
            if got or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        if not got:
            raise CnpjDuckError(f"another cnpj-duck export into schema {self.schema} at {self.where} is running; "
                                "wait for it to finish and retry")
        # Index builds sort whole tables: give them room (this session only).
        self.sql("SET maintenance_work_mem = '256MB'", doing="setting maintenance_work_mem")
        rows = self.sql("SELECT tablename FROM pg_tables WHERE schemaname = $1 AND (starts_with(tablename, $2) "
                        "OR starts_with(tablename, $3)) ORDER BY tablename", (self.schema, STAGING, OLD),
                        doing="looking for leftover staging tables")
        leftovers = [r[0] for r in rows]
        for name in leftovers:
            self.sql(f"DROP TABLE IF EXISTS {_qualified(self.schema, name)}", doing=f"dropping leftover {name}")
        self.commit("dropping leftover staging tables")
        if leftovers:
            self.progress.message(f"dropped {len(leftovers)} staging table(s) left by an interrupted export: "
                                  f"{', '.join(leftovers)}", level="warning")
        return leftovers

    def relation(self, source: Source) -> duckdb.DuckDBPyRelation:
        """A source as a DuckDB relation: its view, or its part files."""
        assert self.engine is not None
        if source.kind == "view":
            relation = self.engine.sql(f"SELECT * FROM {quote_ident(source.name)}")
        else:
            relation = self.engine.read_parquet([str(f) for f in source.files], hive_partitioning=False)
        return narrow_hugeints(relation)

    def check(self, source: Source) -> tuple[int, int, int, int]:
        """Rows, and for the primary key: key values that repeat, rows beyond the first of each, rows with a
        NULL key. Done in DuckDB before the load, on the source itself, so nothing is dropped or guessed."""
        assert self.engine is not None
        key = self.primary_key(source)
        try:
            relation = self.relation(source)
            key = key if all(k in relation.columns for k in key) else ()
            if not key:
                row = relation.query("src", "SELECT count(*), 0, 0, 0 FROM src").fetchall()[0]
            else:
                keys = ", ".join(quote_ident(k) for k in key)
                null = " OR ".join(f"{quote_ident(k)} IS NULL" for k in key)
                row = relation.query(
                    "src", f"SELECT coalesce(sum(n), 0), count(*) FILTER (WHERE n > 1 AND NOT has_null), "
                    f"coalesce(sum(n - 1) FILTER (WHERE n > 1 AND NOT has_null), 0), "
                    f"coalesce(sum(n) FILTER (WHERE has_null), 0) "
                    f"FROM (SELECT {null} AS has_null, count(*) AS n FROM src GROUP BY {keys})"
                ).fetchall()[0]
        except duckdb.Error as e:
            raise CnpjDuckError(f"{source.name}: cannot read it for the export: {str(e).splitlines()[0]}") from None
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])

    @staticmethod
    def primary_key(source: Source) -> tuple[str, ...]:
        return PRIMARY_KEYS.get(source.name, ())

    def stage(self, scope: TableScope, source: Source, check: tuple[int, int, int, int]) -> _Staged:
        """Load one table into its staging table, verify and index it: everything but the swap."""
        expected, duplicate_keys, duplicate_rows, null_keys = check
        name, staging = source.name, STAGING + source.name
        if len(f"{staging}_pkey") > 63:  # Postgres would cut the names and mix tables up
            raise CnpjDuckError(f"{name}: a table name of at most {63 - len(STAGING) - 5} characters can be "
                                "exported; rename its sql/ file")
        scope.set(output_path=f"{self.schema}.{name}")
        if source.partial:
            self.progress.message(f"{name}: built by a partial (development) run; exporting what it holds",
                                  level="warning")
        schema = self.arrow_schema(source)
        columns, fields = [], []
        for f in schema:
            pg_type, arrow = postgres_type(f.type, f"{name}.{f.name}")
            columns.append(f"{quote_ident(f.name)} {pg_type}")
            fields.append(pa.field(f.name, arrow))
        self.staging.append(staging)
        self.sql(f"CREATE TABLE {_qualified(self.schema, staging)} ({', '.join(columns)})",
                 doing=f"creating the staging table of {name}")
        self.commit(f"creating the staging table of {name}")

        self.progress.start(name, total=expected, table=name)
        started = time.monotonic()
        rows, nul = self.load(scope, source, staging, pa.schema(fields))
        seconds = time.monotonic() - started
        self.progress.finish(name, rows=rows)
        if nul:
            self.progress.message(f"{name}: removed {nul:,} NUL character(s) from text (Postgres rejects them)",
                                  level="warning")
        in_postgres = self.sql(f"SELECT count(*) FROM {_qualified(self.schema, staging)}",
                               doing=f"counting the rows of {name}")[0][0]
        if in_postgres != expected or rows != expected:
            raise CnpjDuckError(f"{self.schema}.{name}: {in_postgres:,} rows in Postgres, {rows:,} streamed, "
                                f"{expected:,} in the source; nothing was swapped in, the previous tables are "
                                "unchanged")

        started = time.monotonic()
        key = self.primary_key(source)
        key = key if all(k in schema.names for k in key) else ()
        renames: list[tuple[str, str, str]] = []
        primary = key if key and not duplicate_rows and not null_keys else ()
        if primary:
            staged_pk = f"{STAGING}{name}_pkey"
            self.sql(f"ALTER TABLE {_qualified(self.schema, staging)} ADD CONSTRAINT {quote_ident(staged_pk)} "
                     f"PRIMARY KEY ({', '.join(quote_ident(k) for k in key)})",
                     doing=f"adding the primary key of {name}")
            renames.append(("constraint", staged_pk, f"{name}_pkey"))
        elif key:
            why = [f"{duplicate_keys:,} key value(s) occur more than once ({duplicate_rows:,} extra row(s))"
                   if duplicate_rows else "", f"{null_keys:,} row(s) have a NULL key" if null_keys else ""]
            self.progress.message(f"{name}: no primary key on ({', '.join(key)}): {' and '.join(filter(None, why))};"
                                  " every row is kept and the key gets a plain index", level="warning")
        indexes = self.create_indexes(name, staging, schema.names, key, primary, renames)
        self.sql(f"ANALYZE {_qualified(self.schema, staging)}", doing=f"analyzing {name}")
        self.comment(source, staging)
        self.commit(f"indexing {name}")

        pk_note = f"primary key ({', '.join(primary)})" if primary else (
            f"no primary key: {duplicate_keys:,} duplicate key(s), {duplicate_rows:,} extra row(s), "
            f"{null_keys:,} NULL key(s)" if key else "no primary key")
        scope.note = f"{pk_note}; {len(indexes)} index(es); {nul:,} NUL character(s) removed"
        result = TableExport(name, source.kind, rows, seconds, time.monotonic() - started, primary, duplicate_keys,
                             duplicate_rows, null_keys, tuple(indexes), nul)
        return _Staged(source, result, renames)

    def load(self, scope: TableScope, source: Source, staging: str, target: pa.Schema) -> tuple[int, int]:
        """Stream a source's rows into its staging table: each part file (or the view) is an audit file."""
        rows = nul = 0
        if source.kind == "view":
            with scope.file(f"view {source.name}", release=self.release) as f:
                f.set(output_path=f"{self.schema}.{source.name}")
                relation = self.relation(source)
                rows, nul = self.ingest(f, staging, source.name, target,
                                        lambda: relation.to_arrow_reader(batch_size=self.batch_rows))
        for path in source.files:
            with scope.file(path.name, release=self.release, zip_path=str(path), zip_size=path.stat().st_size) as f:
                f.set(output_path=f"{self.schema}.{source.name}")
                with pq.ParquetFile(path) as reader:
                    got, removed = self.ingest(f, staging, source.name, target,
                                               lambda r=reader: r.iter_batches(batch_size=self.batch_rows))
                if got != source.part_rows[path.name]:
                    raise CnpjDuckError(f"{path}: {got:,} rows, its manifest says {source.part_rows[path.name]:,}; "
                                        f"rebuild {source.name} (`cnpj-duck build --tables {source.name} --force`)")
                rows, nul = rows + got, nul + removed
        self.commit(f"loading {source.name}")
        return rows, nul

    def arrow_schema(self, source: Source) -> pa.Schema:
        if source.kind == "parquet":
            schemas = [pq.read_schema(f).remove_metadata() for f in source.files]
            if any(s != schemas[0] for s in schemas):
                raise CnpjDuckError(f"{source.name}: its part files have different columns; rebuild it with --force")
            return schemas[0]
        return self.relation(source).limit(0).to_arrow_table().schema

    def ingest(self, f: FileScope, staging: str, name: str, target: pa.Schema,
               open_batches: Callable[[], Iterator[pa.RecordBatch]]) -> tuple[int, int]:
        """Stream one file's (or view's) batches into the staging table with adbc_ingest; returns rows and NULs.

        A thread reads and converts the next batches while the driver sends the current one (a queue of a few
        batches keeps memory bounded). An audit batch covers at least AUDIT_ROWS rows: each audit row costs a
        commit of the catalog, which would slow the stream if written for every small batch.
        """
        feed = _Prefetch(open_batches, target)
        counts = {"rows": 0, "nul": 0}
        failure: list[BaseException] = []

        def batches() -> Iterator[pa.RecordBatch]:
            audit: Any = None  # the open audit batch: its context manager and scope
            try:
                for batch, removed in feed:
                    if audit is None:
                        manager = f.batch(counts["rows"] + 1)  # first_line/last_line: the rows of the file it covers
                        audit = (manager, manager.__enter__())
                    audit[1].add(rows_read=batch.num_rows, rows_written=batch.num_rows, bytes_in=batch.nbytes)
                    counts["rows"] += batch.num_rows
                    counts["nul"] += removed
                    yield batch  # the driver asks for the next batch once this one is in the COPY stream
                    self.progress.advance(name, batch.num_rows, rows=batch.num_rows)
                    self.progress.advance("export", batch.num_rows, rows=batch.num_rows)
                    if audit[1].counts["rows_written"] >= AUDIT_ROWS:
                        audit[1].set(last_line=counts["rows"])
                        audit, manager = None, audit[0]
                        manager.__exit__(None, None, None)
                if audit is not None:
                    audit[1].set(last_line=counts["rows"])
                    audit, manager = None, audit[0]
                    manager.__exit__(None, None, None)
            except GeneratorExit:  # the driver stopped reading: the file's error says why
                if audit is not None:
                    audit[1].fail("not loaded: the COPY of this file stopped")
                    audit[0].__exit__(None, None, None)
                raise
            except BaseException as e:  # the driver would only see "Python error": keep the real one
                failure.append(e)
                if audit is not None:
                    audit[0].__exit__(type(e), e, e.__traceback__)
                raise

        stream = batches()
        try:
            reader = pa.RecordBatchReader.from_batches(target, stream)
            self.cur.adbc_ingest(staging, reader, mode="append", db_schema_name=self.schema)
        except adbc_driver_manager.Error as e:
            if failure:
                self.rollback()
                cause = failure[0]
                if isinstance(cause, CnpjDuckError | KeyboardInterrupt):
                    raise cause from None
                raise CnpjDuckError(f"{f.columns['zip_name']} of {name}: cannot read it: "
                                    f"{str(cause).splitlines()[0] if str(cause) else type(cause).__name__}") from None
            error = self.error(e, f"loading {f.columns['zip_name']} into {self.schema}.{name}")
            if isinstance(error, KeyboardInterrupt):
                f.discard_batches("interrupted by the user", status="interrupted")
            else:
                f.discard_batches(str(error))  # the COPY failed as a whole: none of its rows are in the table
            raise error from None
        finally:
            stream.close()
            feed.close()
        return counts["rows"], counts["nul"]

    def create_indexes(self, name: str, staging: str, columns: list[str], key: tuple[str, ...],
                       primary: tuple[str, ...], renames: list[tuple[str, str, str]]) -> list[str]:
        """The usual lookups, on the staging table (readers never see the table without them)."""
        wanted = [c for c in INDEXED if all(k in columns for k in c)]
        if not primary and key and key not in wanted:
            wanted.insert(0, key)  # the key the data did not allow as primary still gets its lookup index
        indexed = [primary] if primary else []
        made: list[str] = []
        for n, cols in enumerate(wanted):
            if any(done[: len(cols)] == cols for done in indexed):
                continue  # an index that starts with these columns serves them
            indexed.append(cols)
            staged_name = f"{STAGING}{name}_{n}"
            spec = ", ".join(quote_ident(c) + (" text_pattern_ops" if c in _NAME_COLUMNS else "") for c in cols)
            self.sql(f"CREATE INDEX {quote_ident(staged_name)} ON {_qualified(self.schema, staging)} ({spec})",
                     doing=f"indexing {name} ({', '.join(cols)})")
            final = _index_name(name, cols)
            renames.append(("index", staged_name, final))
            made.append(final)
        return made

    def comment(self, source: Source, staging: str) -> None:
        """Table comment with the release and run; column comments from the data dictionary in sql/."""
        path = self.config.sql_dir / f"{source.name}.sql"
        sql = (path.read_text(encoding="utf-8") if path.is_file() else None) if source.kind == "parquet" \
            else sqlproject.view_sql(self.config.sql_dir, source.name)
        table_doc, columns = describe_sql(sql) if sql is not None else ("", {})
        stamp = datetime.now().isoformat(timespec="seconds")
        text = f"cnpj-duck {__version__}: release {self.release}, run {self.run_id}, exported {stamp}."
        if table_doc:
            text += " " + table_doc
        table = _qualified(self.schema, staging)
        self.sql(f"COMMENT ON TABLE {table} IS {quote_literal(text)}", doing=f"commenting {source.name}")
        present = {r[0] for r in self.sql(
            "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
            (f"{quote_ident(self.schema)}.{quote_ident(staging)}",), doing=f"reading the columns of {source.name}")}
        for column, doc in columns.items():
            if column in present:
                self.sql(f"COMMENT ON COLUMN {table}.{quote_ident(column)} IS {quote_literal(doc)}",
                         doing=f"commenting {source.name}.{column}")

    def swap(self, staged: list[_Staged]) -> None:
        """Every staging table becomes its live table in one transaction: rename the old away, the new in, drop
        the old. Readers see either all the previous tables or all the new ones."""
        doing = "swapping the new tables in"
        # Renaming waits for readers of the live tables; do not wait (and block new readers behind us) forever.
        self.sql("SET LOCAL lock_timeout = '60s'", doing=doing)
        for s in staged:
            name = s.source.name
            self.sql(f"ALTER TABLE IF EXISTS {_qualified(self.schema, name)} RENAME TO {quote_ident(OLD + name)}",
                     doing=doing)
            self.sql(f"ALTER TABLE {_qualified(self.schema, STAGING + name)} RENAME TO {quote_ident(name)}",
                     doing=doing)
        for s in staged:
            name = s.source.name
            try:
                self.cur.execute(f"DROP TABLE IF EXISTS {_qualified(self.schema, OLD + name)}")
            except adbc_driver_manager.Error as e:
                if sqlstate(e) == "2BP01":  # a view or foreign key of the user's reads the old table
                    self.rollback()
                    raise CnpjDuckError(f"{self.schema}.{name}: other objects (views, foreign keys) depend on it, "
                                        f"so it cannot be replaced ({scrub(_server_message(e), self.dsn)}); drop "
                                        "them, export, and create them again; the previous tables are "
                                        "unchanged") from None
                raise self.error(e, doing) from None
            for kind, old, new in s.renames:
                if kind == "constraint":
                    self.sql(f"ALTER TABLE {_qualified(self.schema, name)} RENAME CONSTRAINT {quote_ident(old)} "
                             f"TO {quote_ident(new)}", doing=doing)
                else:
                    self.sql(f"ALTER INDEX {_qualified(self.schema, old)} RENAME TO {quote_ident(new)}", doing=doing)
        self.commit(doing)
        self.staging.clear()

    def drop_own_staging(self) -> None:
        """After a failure: drop this run's staging tables if the connection still works (else the next run)."""
        if self.con is None or not self.staging:
            return
        self.rollback()
        try:
            for name in self.staging:
                self.cur.execute(f"DROP TABLE IF EXISTS {_qualified(self.schema, name)}")
            self.con.commit()
        except adbc_driver_manager.Error:
            self.rollback()
            log.info("could not drop the staging tables; the next export drops them")


class _Prefetch:
    """Reads and converts batches in a thread, a few ahead of the driver: Parquet decoding and the COPY encoding
    run at the same time. Iterating yields (batch, NUL characters removed); errors come out where they happen."""

    DEPTH = 4

    def __init__(self, open_batches: Callable[[], Iterator[pa.RecordBatch]], target: pa.Schema) -> None:
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=self.DEPTH)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(open_batches, target), name="cnpj-duck-export-read",
                                       daemon=True)
        self.thread.start()

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self, open_batches: Callable[[], Iterator[pa.RecordBatch]], target: pa.Schema) -> None:
        try:
            for batch in open_batches():
                if batch.num_rows and not self._put(conform(batch, target)):
                    return
            self._put(None)
        except BaseException as e:
            self._put(e)

    def __iter__(self) -> Iterator[tuple[pa.RecordBatch, int]]:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def export_postgres(config: Config, dsn: str | None = None, schema: str | None = None,
                    tables: list[str] | None = None, release: str | None = None, progress: Progress | None = None,
                    command: str = "export postgres", batch_rows: int = DEFAULT_BATCH_ROWS) -> ExportSummary:
    """Export a built release's tables (and enriched views) into Postgres; every table is swapped in, or none."""
    dsn = dsn or config.export_dsn
    if not dsn:
        raise UsageError("no Postgres DSN: pass --dsn postgresql://user:password@host:5432/db or set "
                         "CNPJ_DUCK_PG_DSN")
    check_url(dsn)  # the check of config load and libpq's own rules, for every caller
    if release is not None and release != "latest" and not is_valid_release(release):
        raise UsageError(f"--release {release!r}: expected a month as YYYY-MM, or latest")
    if tables is not None:
        tables = list(dict.fromkeys(tables))  # a table named twice is exported once
    schema = schema or config.export_schema
    if not _SCHEMA_RE.fullmatch(schema):
        raise UsageError(f"--schema {schema!r}: expected a lower-case Postgres identifier such as cnpj")
    if batch_rows < 1:
        raise UsageError(f"batch_rows = {batch_rows}: expected a whole number >= 1")
    wanted = release if release and release != "latest" else None
    if wanted is None and config.release != "latest":
        wanted = config.release
    rel = wanted or latest_release(config.data_dir)
    sources = find_sources(config, rel, tables)
    command = scrub(command.replace(dsn, "***"), dsn)  # the audit never holds the DSN
    exporter = Exporter(config, dsn, schema, rel, progress or NullProgress(), batch_rows)
    catalog = open_catalog(config.data_dir)
    try:
        audit = Audit(catalog)
        audit.abandon_leftovers()
        settings = {**config.redacted(), "export.dsn": "***", "export.schema": schema}  # what this export used
        with audit.run(command, rel, settings, __version__) as run:
            return exporter.run(catalog, run, sources)
    finally:
        catalog.close()
