"""The serving file's lookup table: each establishment with its company's rows, as one JSON text behind an integer key.

A lookup is one point read of `serve_documents` (k BIGINT, doc VARCHAR), sorted by k. Measured on a scale-0.3
release (2 cores, DuckDB 2.0): `SELECT *` of one establishment by its VARCHAR cnpj reads its row group of each of
the 31 columns (10-14 CPU ms), and its company, Simples and partners cost as much again; the same row read as one
text column by an integer key costs about 1.5 ms, whatever the release's size (the zone maps of the sorted key
leave one row group; the key column of a row group is cheap to scan, one text column cheap to fetch). An ART
index would make it faster still, but DuckDB keeps an ART whole in memory: 32 B per BIGINT key (53 B per
VARCHAR), 630 MB for the 19.8 M establishments of scale 0.3, past the server's memory budget.

- k is the CNPJ's first 12 characters read in base 36 (`0-9A-Z`, alphanumeric CNPJs included: 36^12 < 2^63): in
  the same order as the text, so sorting by cnpj sorts by k. The check digits are not in k; a lookup keeps the
  rows whose cnpj is the one asked for.
- doc is `[establishment, [empresa, ...], [simples, ...], [socio, ...]]`, each row a JSON array of its table's
  columns in the table's order (names are read from the file when it is opened: `Layout`), values as DuckDB's
  to_json writes them (dates ISO text, capital a number). Arrays, not objects: the names would double its size.
  Related rows keep their table's order, and a CNPJ the release repeats keeps its rows in the table's order: the
  first is answered, as before.
- A read of many documents (a search page) is one statement with a part per row group its keys fall in (`read_sql`):
  `k IN (...)` with 100 keys is a filter above a scan of the whole table (37 CPU ms for a page whose keys are in one
  row group, 2.4 s for keys spread over the table, scale 0.3), while a part per row group lets each part's range
  pick its row group from the zone maps (4 ms; about 60 ms for 100 keys in 100 row groups). Where the row groups
  start is read when the file is opened (`Layout.starts`).
- It is written in ranges of establishments (`CHUNK_ROWS`), each joined to its own range of the company tables
  (sorted by cnpj_basico: the zone maps read only that range), so the memory the build needs does not grow with
  the release.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from typing import Any

import duckdb

from ..progress import NullProgress, Progress
from ..sqlproject import quote_ident

TABLE = "serve_documents"
COMPANY_TABLES = ("empresas", "simples", "socios")
CHUNK_ROWS = 250_000  # establishments per statement: about 110 MB of documents to sort
ROW_GROUP_ROWS = 122_880  # DuckDB's row group size: the reads group their keys by it


def key(cnpj: str) -> int:
    """The integer key of a canonical CNPJ (its first 12 characters in base 36)."""
    return int(cnpj[:12], 36)


def key_sql(column: str) -> str:
    """The same key computed in SQL from a text column (NULL for NULL)."""
    digits = []
    for i in range(12):
        char = f"substr({column}, {i + 1}, 1)"
        value = f"(CASE WHEN {char} <= '9' THEN ascii({char}) - 48 ELSE ascii({char}) - 55 END)::BIGINT"
        digits.append(f"{value} * {36 ** (11 - i)}")
    return " + ".join(digits)


@dataclass(frozen=True)
class Layout:
    """The column names of the four tables, in the order a document lists their values; and the first key of every
    ROW_GROUP_ROWS rows of serve_documents, in order (where its row groups start)."""

    estabelecimentos: tuple[str, ...]
    empresas: tuple[str, ...]
    simples: tuple[str, ...]
    socios: tuple[str, ...]
    starts: tuple[int, ...] = ()


def read_layout(con: duckdb.DuckDBPyConnection) -> Layout:
    """The layout of the file open on `con` (the tables' own columns: what its documents were written from)."""
    found: dict[str, list[str]] = {t: [] for t in ("estabelecimentos", *COMPANY_TABLES)}
    rows = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'main' ORDER BY table_name, column_index"
    ).fetchall()
    for table, column in rows:
        if table in found:
            found[table].append(column)
    starts = con.execute(f"SELECT k FROM {TABLE} WHERE rowid % ? = 0 ORDER BY k", [ROW_GROUP_ROWS]).fetchall()
    return Layout(**{t: tuple(c) for t, c in found.items()}, starts=tuple(k for (k,) in starts))


def read_sql(keys: list[int], layout: Layout) -> tuple[str, list[Any]]:
    """The statement reading the documents of sorted `keys`, and its parameters: a part per row group they fall in
    (a range the zone maps find, then the keys in it), so that no part scans the whole table."""
    groups: dict[int, list[int]] = {}
    for k in keys:
        groups.setdefault(bisect.bisect_right(layout.starts, k), []).append(k)
    parts: list[str] = []
    params: list[Any] = []
    for group in groups.values():
        if len(group) == 1:
            parts.append(f"SELECT doc FROM {TABLE} WHERE k = ?")
            params.append(group[0])
        else:
            parts.append(f"SELECT doc FROM {TABLE} WHERE k BETWEEN ? AND ? AND k = ANY(?::BIGINT[])")
            params.extend([group[0], group[-1], group])
    return " UNION ALL ".join(parts), params


def decode(text: str, layout: Layout) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """A document: its establishment row, and its company's rows by table (empresas, simples, socios)."""
    values, *company = json.loads(text)
    row = dict(zip(layout.estabelecimentos, values, strict=True))
    related = {
        table: [dict(zip(getattr(layout, table), v, strict=True)) for v in rows or ()]
        for table, rows in zip(COMPANY_TABLES, company, strict=True)
    }
    return row, related


def _array(con: duckdb.DuckDBPyConnection, table: str, alias: str) -> str:
    columns = [r[0] for r in con.execute(f"SELECT * FROM {quote_ident(table)} LIMIT 0").description]
    return f"json_array({', '.join(f'{alias}.{quote_ident(c)}' for c in columns)})"


def write_documents(con: duckdb.DuckDBPyConnection, progress: Progress | None = None) -> int:
    """Create `serve_documents` from the file's four tables (written before it); the rows it holds."""
    progress = progress or NullProgress()
    total = con.execute("SELECT count(*) FROM estabelecimentos").fetchall()[0][0]
    # Range starts: the root of every CHUNK_ROWS-th establishment (the table is sorted by cnpj, so by root). A row
    # without a root has no CNPJ a request could name: it has no document.
    starts = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT cnpj_basico FROM estabelecimentos WHERE rowid % ? = 0 AND cnpj_basico IS NOT NULL "
            "ORDER BY 1",
            [CHUNK_ROWS],
        ).fetchall()
    ]
    con.execute(f"CREATE TABLE {TABLE} (k BIGINT, doc VARCHAR)")
    progress.start(TABLE, total=total, table=TABLE)
    estab = _array(con, "estabelecimentos", "e")
    company = {t: _array(con, t, "x") for t in COMPANY_TABLES}
    for n, low in enumerate(starts):
        high = starts[n + 1] if n + 1 < len(starts) else None
        params = [low] if high is None else [low, high]
        bound = "" if high is None else " AND {a}.cnpj_basico < $2"

        def within(alias: str, bound: str = bound) -> str:
            return f"{alias}.cnpj_basico >= $1" + bound.format(a=alias)

        joins = "".join(
            f" LEFT JOIN (SELECT x.cnpj_basico, list({company[t]} ORDER BY x.rowid) AS j FROM {t} x "
            f"WHERE {within('x')} GROUP BY x.cnpj_basico) {t} ON {t}.cnpj_basico = e.cnpj_basico"
            for t in COMPANY_TABLES
        )
        documents = ", ".join(f"{t}.j" for t in COMPANY_TABLES)
        inserted = con.execute(
            f"INSERT INTO {TABLE} SELECT {key_sql('e.cnpj')} AS k, json_array({estab}, {documents})::VARCHAR "
            f"FROM estabelecimentos e{joins} WHERE {within('e')} ORDER BY k, e.rowid",
            params,
        ).fetchall()[0][0]
        progress.advance(TABLE, inserted, rows=inserted)
    written = con.execute(f"SELECT count(*) FROM {TABLE}").fetchall()[0][0]
    progress.finish(TABLE, rows=written)
    return int(written)
