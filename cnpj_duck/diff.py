"""`diff`: what changed between two built releases, per table and record, in DuckDB over the two partitions.

Records are matched by key (DIFF_KEYS). A key found once on each side is `changed` when any other column
differs (and then the columns that differ are listed) or unchanged; once on one side only, `new` or `removed`.
A key found more than once on either side cannot be matched row to row: it is reported as `duplicate` with
its row counts on each side, never resolved by picking one of the rows.

Each table takes two passes. The first groups both sides by key with a 64-bit hash of the other columns
(DuckDB spills the grouping to disk beyond memory_limit) and keeps only the keys that are not unchanged. The
second joins just the changed keys' rows to name the columns that differ. A changed row whose hash collides
with its old one would pass as unchanged: odds of 1 in 2^64 per row. The kept keys live in temporary tables,
so the summary and the record stream come from them without reading the partitions again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from .catalog import sql_message
from .config import Config
from .errors import CnpjDuckError, SqlError, UsageError
from .layout import is_valid_release
from .lookup import damaged_partition
from .sqlproject import quote_ident, quote_literal
from .store import Store, open_engine
from .tables import KEYS

# How records are matched across releases: by the key of each output table (tables.KEYS, which says why socios
# has the key it has). A partner whose name is corrected shows as one removed and one new record.
DIFF_KEYS: dict[str, tuple[str, ...]] = KEYS
STATUSES = ("new", "removed", "changed", "duplicate")


@dataclass(frozen=True)
class TableDiff:
    """One table's counts between the two releases."""

    table: str
    key: tuple[str, ...]
    rows_from: int
    rows_to: int
    new: int  # keys only in the `to` release
    removed: int  # keys only in the `from` release
    changed: int  # keys once on each side whose other columns differ
    unchanged: int
    duplicate_keys: int  # keys found more than once on either side (not matched, not counted above)
    changed_columns: dict[str, int] = field(default_factory=dict)  # column -> changed records where it differs
    notes: tuple[str, ...] = ()  # columns present on one side only, types that differ


class DiffResult:
    """The differences, held in a DuckDB connection: a summary per table and a stream of differing records."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        from_release: str,
        to_release: str,
        tables: Sequence[TableDiff],
        skipped: Sequence[str],
    ) -> None:
        self.con = con
        self.from_release = from_release
        self.to_release = to_release
        self.tables = tuple(tables)
        self.skipped = tuple(skipped)  # tables built in only one of the two releases

    def summary(self) -> tuple[TableDiff, ...]:
        return self.tables

    def summary_relation(self, for_people: bool = False) -> duckdb.DuckDBPyRelation:
        """The summary as rows, one per table, for the output formats of `query`.

        changed_columns is a MAP column -> changed records. `for_people` (tables and Markdown) makes it text like
        `cep: 2, logradouro: 2` and leaves out the two release columns.
        """
        kind = "VARCHAR" if for_people else "MAP(VARCHAR, BIGINT)"
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE diff_summary (from_release VARCHAR, to_release VARCHAR, "
            "table_name VARCHAR, key VARCHAR, rows_from BIGINT, rows_to BIGINT, new BIGINT, "
            "removed BIGINT, changed BIGINT, unchanged BIGINT, duplicate_keys BIGINT, "
            f"changed_columns {kind})"
        )
        rows = [
            (
                self.from_release,
                self.to_release,
                t.table,
                ", ".join(t.key),
                t.rows_from,
                t.rows_to,
                t.new,
                t.removed,
                t.changed,
                t.unchanged,
                t.duplicate_keys,
                ", ".join(f"{c}: {n}" for c, n in t.changed_columns.items()) if for_people else t.changed_columns,
            )
            for t in self.tables
        ]
        if rows:
            self.con.executemany("INSERT INTO diff_summary VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        rel = self.con.sql("SELECT * FROM diff_summary ORDER BY table_name")
        # People read which releases from the heading the CLI prints; programs get them on every row.
        return rel.project("* EXCLUDE (from_release, to_release)") if for_people else rel

    def lines(self) -> list[str]:
        """The summary in a few lines of text, for stderr next to a stream of records."""
        out = [
            f"{t.table}: {t.new:,} new, {t.removed:,} removed, {t.changed:,} changed, {t.unchanged:,} unchanged"
            + (
                f", {t.duplicate_keys:,} duplicate key{'' if t.duplicate_keys == 1 else 's'}"
                if t.duplicate_keys
                else ""
            )
            + "".join(f"; {note}" for note in t.notes)
            for t in self.tables
        ]
        if self.skipped:
            out.append(
                f"not compared (built for only one of {self.from_release} and {self.to_release}): "
                f"{', '.join(self.skipped)}"
            )
        return out

    def records(self, statuses: Sequence[str] | None = None) -> duckdb.DuckDBPyRelation:
        """One row per differing key: table_name, status, key (parts joined by ' | '), changed_columns, counts."""
        parts = []
        for t in self.tables:
            key = " || ' | ' || ".join(f"coalesce({quote_ident(k)}, '')" for k in t.key)
            parts.append(
                f"SELECT {quote_literal(t.table)} AS table_name, status, {key} AS key, changed_columns, "
                f"rows_from, rows_to FROM {quote_ident(_temp_name(t.table))}"
            )
        rel = self.con.sql(" UNION ALL ".join(parts))
        if statuses:
            rel = rel.filter(duckdb.ColumnExpression("status").isin(*map(duckdb.ConstantExpression, statuses)))
        return rel.order("table_name, key")

    def iter_records(self, statuses: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        """The records as dicts, fetched in batches (never all at once)."""
        try:
            reader = self.records(statuses).to_arrow_reader(batch_size=10_000)
        except duckdb.Error as e:
            raise SqlError(sql_message(e)) from None
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except (pa.ArrowException, OSError) as e:  # pyarrow hands DuckDB's errors on as OSError
                    raise SqlError(sql_message(e)) from None
                yield from batch.to_pylist()
        finally:
            reader.close()  # an unfinished result would hold the connection

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> DiffResult:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _temp_name(table: str) -> str:
    return f"diff_{table}"


def _check_release(flag: str, release: str) -> None:
    if not is_valid_release(release):
        raise UsageError(f"{flag} {release!r}: expected a month as YYYY-MM")


def _columns(con: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    rel = con.sql(f"SELECT * FROM {quote_ident(view)} LIMIT 0")
    return {name: str(kind) for name, kind in zip(rel.columns, rel.types, strict=True)}


def diff(
    config: Config, from_release: str | None = None, to_release: str | None = None, tables: Sequence[str] | None = None
) -> DiffResult:
    """Compare two built releases, per table (default: every table built in both); close the result when done.

    By default `to` is the latest built release and `from` the built release before it.
    """
    store = Store(config.data_dir)
    if to_release is None or to_release == "latest":
        to_release = store.resolve_release(None)
    if from_release is None:
        older = [r for r in store.releases() if r < to_release]
        if not older:
            raise UsageError(f"no built release before {to_release} to compare it with; pass --from YYYY-MM")
        from_release = older[-1]
    _check_release("--from", from_release)
    _check_release("--to", to_release)
    if from_release == to_release:
        raise UsageError(f"--from and --to are both {from_release}; pass two different releases")
    unknown = [t for t in tables or () if t not in DIFF_KEYS]
    if unknown:
        raise UsageError(f"--table {', '.join(unknown)}: no diff key known; known tables: {', '.join(DIFF_KEYS)}")
    wanted = list(tables) if tables else list(DIFF_KEYS)
    both, skipped = [], []
    for table in wanted:
        built = store.built().get(table, [])
        missing = [r for r in (from_release, to_release) if r not in built]
        if not missing:
            both.append(table)
        elif tables:
            raise UsageError(
                f"--table {table}: not built for {' and '.join(missing)} (built: "
                f"{', '.join(built) or 'none'}); run `cnpj-duck build --release {missing[0]}`"
            )
        elif len(missing) == 1:
            skipped.append(table)
    if not both:
        raise UsageError(
            f"no table is built for both {from_release} and {to_release} under {store.parquet_dir}; "
            "build both releases first"
        )
    con = open_engine(config.threads, config.memory_limit, store.tmp_dir, preserve_insertion_order=False)
    results: list[TableDiff] = []
    try:
        for table in both:
            try:
                results.append(_diff_table(con, table, store, from_release, to_release))
            except duckdb.Error as e:  # a damaged or unreadable part file, a full disk for the spill
                raise _failed(table, from_release, to_release, e) from None
    except BaseException:
        con.close()
        raise
    return DiffResult(con, from_release, to_release, results, skipped)


def _failed(table: str, from_release: str, to_release: str, e: duckdb.Error) -> CnpjDuckError:
    """A table's diff that DuckDB could not finish, on one line; a damaged part file is named with its release."""
    message = sql_message(e)
    named = damaged_partition(message)
    head = f"diff of {table} {from_release} -> {to_release}: {message}"
    if named is not None and named[1] in (from_release, to_release):
        return CnpjDuckError(
            f"{head}; release {named[1]} of {named[0]} has a damaged file: rebuild it with "
            f"`cnpj-duck build --release {named[1]} --force --tables {named[0]}`"
        )
    return CnpjDuckError(
        f"{head}; if a part file of {table} is damaged, rebuild its release with `cnpj-duck build "
        f"--release {from_release} --force --tables {table}` (or --release {to_release})"
    )


def _diff_table(
    con: duckdb.DuckDBPyConnection, table: str, store: Store, from_release: str, to_release: str
) -> TableDiff:
    """Classify one table's keys into a temporary table and count them."""
    sides = {}
    for side, release in (("a", from_release), ("b", to_release)):
        store.read_table(con, table, release).create_view(f"{side}_{table}", replace=True)
        sides[side] = _columns(con, f"{side}_{table}")
    key = DIFF_KEYS[table]
    absent = [k for k in key if k not in sides["a"] or k not in sides["b"]]
    if absent:
        raise UsageError(
            f"{table}: key column {', '.join(absent)} missing in one of the releases; rebuild both with the same sql/"
        )
    notes = []
    only_a = [c for c in sides["a"] if c not in sides["b"]]
    only_b = [c for c in sides["b"] if c not in sides["a"]]
    if only_a:
        notes.append(f"only in {from_release}: {', '.join(only_a)} (not compared)")
    if only_b:
        notes.append(f"only in {to_release}: {', '.join(only_b)} (not compared)")
    compared = [c for c in sides["a"] if c in sides["b"] and c not in key]
    retyped = {c for c in compared if sides["a"][c] != sides["b"][c]}
    if retyped:
        notes.append(f"type differs, compared as text: {', '.join(sorted(retyped))}")

    def value(alias: str, column: str) -> str:
        ref = f"{alias}.{quote_ident(column)}"
        return f"{ref}::VARCHAR" if column in retyped else ref

    a, b = quote_ident(f"a_{table}"), quote_ident(f"b_{table}")
    keys = ", ".join(quote_ident(k) for k in key)
    digest = f"hash({', '.join(value('t', c) for c in compared)})" if compared else "0::UBIGINT"
    temp = quote_ident(_temp_name(table))
    found = quote_ident(f"{_temp_name(table)}_keys")
    # Pass 1: every key with its row count and row hash on each side; keep what is not unchanged.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {found} AS
        SELECT {keys}, CASE WHEN rows_from > 1 OR rows_to > 1 THEN 'duplicate' WHEN rows_from = 0 THEN 'new'
                            WHEN rows_to = 0 THEN 'removed' ELSE 'changed' END AS status,
               rows_from, rows_to
        FROM (
            SELECT {keys}, count(*) FILTER (WHERE side = 0) AS rows_from, count(*) FILTER (WHERE side = 1) AS rows_to,
                   min(h) FILTER (WHERE side = 0) AS h_from, min(h) FILTER (WHERE side = 1) AS h_to
            FROM (SELECT {keys}, {digest} AS h, 0 AS side FROM {a} t
                  UNION ALL SELECT {keys}, {digest} AS h, 1 AS side FROM {b} t)
            GROUP BY ALL
        )
        WHERE NOT (rows_from = 1 AND rows_to = 1 AND h_from = h_to)
    """)

    # Pass 2: for the changed keys only, which columns differ (a join of just their rows; an UPDATE of the key
    # table in place was twice as slow).
    def same(x: str, y: str) -> str:
        return " AND ".join(f"{x}.{quote_ident(k)} IS NOT DISTINCT FROM {y}.{quote_ident(k)}" for k in key)

    changed = f"(SELECT {keys} FROM {found} WHERE status = 'changed')"
    checks = ", ".join(
        f"CASE WHEN {value('o', c)} IS DISTINCT FROM {value('n', c)} THEN {quote_literal(c)} END" for c in compared
    )
    differing = (
        f"""(
        SELECT {", ".join(f"o.{quote_ident(k)}" for k in key)},
               list_filter([{checks}], lambda x: x IS NOT NULL) AS changed_columns
        FROM (SELECT t.* FROM {a} t SEMI JOIN {changed} k ON {same("t", "k")}) o
        JOIN (SELECT t.* FROM {b} t SEMI JOIN {changed} k ON {same("t", "k")}) n ON {same("o", "n")}
    )"""
        if compared
        else f"(SELECT {keys}, NULL::VARCHAR[] AS changed_columns FROM {found} WHERE false)"
    )
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {temp} AS
        SELECT d.*, c.changed_columns FROM {found} d
        LEFT JOIN {differing} AS c ON d.status = 'changed' AND {same("d", "c")}
    """)
    con.execute(f"DROP TABLE {found}")
    counts = dict(con.execute(f"SELECT status, count(*) FROM {temp} GROUP BY status").fetchall())
    dup_from = con.execute(f"SELECT coalesce(sum(rows_from), 0) FROM {temp} WHERE status = 'duplicate'").fetchall()
    rows_from = con.execute(f"SELECT count(*) FROM {a}").fetchall()[0][0]
    rows_to = con.execute(f"SELECT count(*) FROM {b}").fetchall()[0][0]
    columns = dict(
        con.execute(
            f"SELECT c, count(*) FROM (SELECT unnest(changed_columns) AS c FROM {temp}) "
            "GROUP BY c ORDER BY count(*) DESC, c"
        ).fetchall()
    )
    new, removed, changed = (counts.get(s, 0) for s in ("new", "removed", "changed"))
    unchanged = rows_from - removed - changed - int(dup_from[0][0])
    return TableDiff(
        table,
        key,
        rows_from,
        rows_to,
        new,
        removed,
        changed,
        unchanged,
        counts.get("duplicate", 0),
        columns,
        tuple(notes),
    )
