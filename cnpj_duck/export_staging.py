"""The staging protocol that makes an export atomic: a lock per schema, staging tables indexed under staging
names, and one transaction that swaps them all in (or a failure that drops them and changes nothing)."""

from __future__ import annotations

import logging
import time

import adbc_driver_manager

from .dsn import scrub
from .errors import CnpjDuckError
from .postgres import Session, index_name, qualified, server_message, sqlstate
from .sqlproject import quote_ident
from .tables import INDEXED, NAME_COLUMNS

log = logging.getLogger(__name__)

STAGING = "cnpj_duck_staging__"  # staging tables; any left in the schema are dropped by the next export
OLD = "cnpj_duck_old__"  # live tables renamed away inside the swap transaction (never visible after it)
LOCK_WAIT = 10.0  # seconds to wait for another export's lock before giving up
# INDEXED (the usual lookups, indexed in every table that has the columns) and NAME_COLUMNS (searched by equality
# and prefix, LIKE 'BANCO DO%': text_pattern_ops serves both in any collation) come from tables.py.


def prepare_schema(pg: Session, schema: str) -> list[str]:
    """Create the schema, take the schema's export lock, and drop what an interrupted export left (returned)."""
    pg.sql(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}", doing=f"creating schema {schema}")
    pg.commit(f"creating schema {schema}")
    # A session lock: two exports into one schema would drop each other's staging tables. A killed
    # export's session ends with its process, and the lock with it.
    deadline = time.monotonic() + LOCK_WAIT
    while True:  # a killed export's session may take a moment to end
        got = pg.sql(
            "SELECT pg_try_advisory_lock(hashtext($1))", (f"cnpj-duck export {schema}",), doing="taking the export lock"
        )[0][0]
        if got or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    if not got:
        raise CnpjDuckError(
            f"another cnpj-duck export into schema {schema} at {pg.where} is running; wait for it to finish and retry"
        )
    # Index builds sort whole tables: give them room (this session only).
    pg.sql("SET maintenance_work_mem = '256MB'", doing="setting maintenance_work_mem")
    rows = pg.sql(
        "SELECT tablename FROM pg_tables WHERE schemaname = $1 AND (starts_with(tablename, $2) "
        "OR starts_with(tablename, $3)) ORDER BY tablename",
        (schema, STAGING, OLD),
        doing="looking for leftover staging tables",
    )
    leftovers = [r[0] for r in rows]
    for name in leftovers:
        pg.sql(f"DROP TABLE IF EXISTS {qualified(schema, name)}", doing=f"dropping leftover {name}")
    pg.commit("dropping leftover staging tables")
    return leftovers


def create_indexes(
    pg: Session,
    schema: str,
    name: str,
    staging: str,
    columns: list[str],
    key: tuple[str, ...],
    primary: tuple[str, ...],
    renames: list[tuple[str, str, str]],
) -> list[str]:
    """The usual lookups, on the staging table (readers never see the table without them); their final names
    are returned, and the renames the swap does are added to `renames`."""
    wanted = [c for c in INDEXED if all(k in columns for k in c)]
    if not primary and key and key not in wanted:
        wanted.insert(0, key)  # the key the data did not allow as primary still gets its lookup index
    indexed = [primary] if primary else []
    made: list[str] = []
    for n, cols in enumerate(wanted):
        if any(done[: len(cols)] == cols for done in indexed):
            continue  # an index that starts with these columns serves them
        indexed.append(cols)
        staged_name = f"{staging}_{n}"  # STAGING + name: the swap renames it
        spec = ", ".join(quote_ident(c) + (" text_pattern_ops" if c in NAME_COLUMNS else "") for c in cols)
        pg.sql(
            f"CREATE INDEX {quote_ident(staged_name)} ON {qualified(schema, staging)} ({spec})",
            doing=f"indexing {name} ({', '.join(cols)})",
        )
        final = index_name(name, cols)
        renames.append(("index", staged_name, final))
        made.append(final)
    return made


def swap(pg: Session, schema: str, tables: list[tuple[str, list[tuple[str, str, str]]]]) -> None:
    """Every staging table becomes its live table in one transaction: rename the old away, the new in, drop
    the old. Readers see either all the previous tables or all the new ones."""
    doing = "swapping the new tables in"
    # Renaming waits for readers of the live tables; do not wait (and block new readers behind us) forever.
    pg.sql("SET LOCAL lock_timeout = '60s'", doing=doing)
    for name, _ in tables:
        pg.sql(f"ALTER TABLE IF EXISTS {qualified(schema, name)} RENAME TO {quote_ident(OLD + name)}", doing=doing)
        pg.sql(f"ALTER TABLE {qualified(schema, STAGING + name)} RENAME TO {quote_ident(name)}", doing=doing)
    for name, renames in tables:
        try:
            pg.cur.execute(f"DROP TABLE IF EXISTS {qualified(schema, OLD + name)}")
        except adbc_driver_manager.Error as e:
            if sqlstate(e) == "2BP01":  # a view or foreign key of the user's reads the old table
                pg.rollback()
                raise CnpjDuckError(
                    f"{schema}.{name}: other objects (views, foreign keys) depend on it, "
                    f"so it cannot be replaced ({scrub(server_message(e), pg.dsn)}); drop "
                    "them, export, and create them again; the previous tables are "
                    "unchanged"
                ) from None
            raise pg.error(e, doing) from None
        for kind, old, new in renames:
            if kind == "constraint":
                pg.sql(
                    f"ALTER TABLE {qualified(schema, name)} RENAME CONSTRAINT {quote_ident(old)} TO {quote_ident(new)}",
                    doing=doing,
                )
            else:
                pg.sql(f"ALTER INDEX {qualified(schema, old)} RENAME TO {quote_ident(new)}", doing=doing)
    pg.commit(doing)


def drop_staging(pg: Session, schema: str, tables: list[str]) -> None:
    """After a failure: drop this run's staging tables if the connection still works (else the next run)."""
    pg.rollback()
    try:
        for name in tables:
            pg.cur.execute(f"DROP TABLE IF EXISTS {qualified(schema, name)}")
        pg.con.commit()
    except adbc_driver_manager.Error:
        pg.rollback()
        log.info("could not drop the staging tables; the next export drops them")
