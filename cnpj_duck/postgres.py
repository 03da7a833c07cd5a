"""Postgres for the export: a connection whose failures are one-line errors without the password, and the
types and names the exported tables get."""

from __future__ import annotations

import logging
import re
import zlib
from typing import Any

import adbc_driver_manager
import adbc_driver_manager.dbapi as adbc_dbapi
import adbc_driver_postgresql.dbapi as adbc_pg
import duckdb
import pyarrow as pa

from . import interrupts
from .dsn import CONNECT_TIMEOUT, describe_server, scrub, with_connection_defaults
from .errors import CnpjDuckError, NetworkError
from .sqlproject import quote_ident

log = logging.getLogger(__name__)

_driver_call = adbc_dbapi._blocking_call


def _blocking_call(func: Any, args: Any, kwargs: Any, cancel: Any) -> Any:
    """The driver's wrapper of its blocking calls, without its own SIGINT handler when interrupts.py has ours.

    The driver swaps in a handler of its own around each call from the main thread: a Ctrl-C that lands as a call
    ends is lost (its cancel finds nothing to cancel), and it hides the signal from our watcher, which cancels the
    statement the same way (Session registers it) and interrupts the DuckDB reads that feed a COPY.
    """
    if interrupts.installed():
        return func(*args, **kwargs)
    return _driver_call(func, args, kwargs, cancel)


adbc_dbapi._blocking_call = _blocking_call


# -- connecting, and the server's errors in one line ------------------------------------------------------------


def server_message(e: BaseException) -> str:
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
    """The SQLSTATE of an ADBC error, when it carries one."""
    state = getattr(e, "sqlstate", None)
    if state:
        return str(state)
    m = re.search(r"SQLSTATE: ([0-9A-Z]{5})", str(e))
    return m.group(1) if m else None


_LOST = (
    "server closed the connection",
    "no connection to the server",
    "terminating connection",
    "could not receive data",
    "could not send data",
    "connection to server",
    "Broken pipe",
)


def is_connection_lost(e: BaseException) -> bool:
    """Whether an error means the connection is gone (the server restarted, the network dropped)."""
    state = sqlstate(e) or ""
    return state.startswith("08") or state in ("57P01", "57P02", "57P03") or any(s in str(e) for s in _LOST)


def connect(dsn: str) -> Any:
    """Open an ADBC connection; a server that cannot be reached or refuses us is a NetworkError (exit 3)."""
    where = describe_server(dsn)
    try:
        return adbc_pg.connect(with_connection_defaults(dsn))
    except adbc_driver_manager.Error as e:
        reason = scrub(server_message(e), dsn)
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


class Session:
    """One Postgres connection (opened by `open`): statements whose failures become one-line errors."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.where = describe_server(dsn)
        self.con: Any = None
        self.cur: Any = None
        self.forget_cancel: Any = None

    def open(self) -> None:
        self.con = connect(self.dsn)
        self.cur = self.con.cursor()
        self.forget_cancel = interrupts.on_cancel(self.cur.adbc_cancel)  # Ctrl-C cancels the statement in flight

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
            interrupts.trip()  # Ctrl-C cancelled the statement (ours, or the driver's handler): stop the rest too
            return KeyboardInterrupt()
        reason = scrub(server_message(e), self.dsn)
        if is_connection_lost(e):
            return NetworkError(
                f"lost the connection to Postgres at {self.where} while {doing}: {reason}; "
                "the previous tables are unchanged"
            )
        return CnpjDuckError(f"{doing}: {reason}")

    def rollback(self) -> None:
        try:
            self.con.rollback()
        except adbc_driver_manager.Error:
            pass  # the connection is gone: the server rolls back by itself

    def close(self) -> None:
        if self.forget_cancel is not None:
            self.forget_cancel()
        for thing in (self.cur, self.con):
            try:
                if thing is not None:
                    thing.close()
            except Exception:  # closing what a lost connection left: nothing more to do
                log.debug("closing %s failed", type(thing).__name__, exc_info=True)


# -- the types and names of the tables --------------------------------------------------------------------------


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
    return relation.project(
        ", ".join(
            f"CAST({quote_ident(c)} AS BIGINT) AS {quote_ident(c)}" if t in _HUGE else quote_ident(c)
            for c, t in zip(relation.columns, types, strict=True)
        )
    )


def qualified(schema: str, name: str) -> str:
    """schema.name, each quoted."""
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def index_name(table: str, columns: tuple[str, ...]) -> str:
    """The name of a table's index on these columns, cut to Postgres's 63 characters without collisions."""
    name = f"{table}_{'_'.join(columns)}_idx"
    return name if len(name) <= 63 else f"{table[:40]}_{zlib.crc32(name.encode()):08x}_idx"  # Postgres cuts at 63
