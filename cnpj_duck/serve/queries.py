"""The queries `serve` runs on a serving database: one lookup, one search page, the related rows of a page.

The serving database holds the release's tables (named as in the Parquet) with indexes on cnpj and cnpj_basico,
so `cnpj = ?` and `cnpj_basico IN (?, ...)` are index scans, not scans. A lookup is two such statements (the
establishment; its company, Simples option and partners as one UNION ALL): measured, that costs half the CPU
of one statement with four scalar subqueries, and an ORDER BY rowid doubles the cost of each, so a key that
the release repeats shows the first of its rows that the index returns.
Every value is a bound parameter; only placeholders and fixed column names are put into the SQL text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb

from .params import SearchQuery

Row = dict[str, Any]


@dataclass(frozen=True)
class Related:
    """The company rows of one or more roots (cnpj_basico), grouped by root."""

    empresas: dict[str, list[Row]]
    simples: dict[str, list[Row]]
    socios: dict[str, list[Row]]


@dataclass(frozen=True)
class Page:
    """One page of a search: its establishments (one row per CNPJ, in CNPJ order) and the next page's cursor."""

    rows: tuple[Row, ...]
    cursor: str | None


_COMPANY_TABLES = ("empresas", "simples", "socios")


def _rows(cursor: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[Row]:
    result = cursor.execute(sql, params)
    names = [d[0] for d in result.description]
    return [dict(zip(names, values, strict=True)) for values in result.fetchall()]


def _by_root(rows: list[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row["cnpj_basico"], []).append(row)
    return grouped


def lookup(cursor: duckdb.DuckDBPyConnection, cnpj: str) -> tuple[Row | None, Related]:
    """The establishment of a canonical CNPJ (None when absent) and its company's rows."""
    found = _rows(cursor, "SELECT * FROM estabelecimentos WHERE cnpj = ?", [cnpj])
    if not found:
        return None, Related({}, {}, {})
    return found[0], related(cursor, [cnpj[:8]])


def related(cursor: duckdb.DuckDBPyConnection, roots: list[str]) -> Related:
    """The company rows of one or more roots (a lookup's, a search page's), in one statement.

    The three tables' rows come back as JSON text (one column whatever the table; dates ISO, capital a number):
    measured, one such statement costs about 20% less CPU than three of their own.
    """
    if not roots:
        return Related({}, {}, {})
    keys = ", ".join(f"${n}" for n in range(1, len(roots) + 1))
    sql = " UNION ALL ".join(
        f"SELECT {n} AS t, to_json(x)::VARCHAR AS j FROM {table} x WHERE cnpj_basico IN ({keys})"
        for n, table in enumerate(_COMPANY_TABLES)
    )
    found: tuple[list[Row], ...] = ([], [], [])
    for table, text in cursor.execute(sql, roots).fetchall():
        found[table].append(json.loads(text))
    return Related(*(_by_root(rows) for rows in found))


def _in(column: str, values: tuple[str, ...], params: list[Any]) -> str:
    params.extend(values)
    return f"{column} IN ({', '.join('?' for _ in values)})"


def search_sql(query: SearchQuery) -> tuple[str, list[Any]]:
    """The statement of a search page and its parameters: matching establishments after the cursor, in CNPJ order,
    one more row than the page holds (so that the last page is known)."""
    params: list[Any] = []
    where = []
    if query.uf:
        where.append(_in("e.uf", query.uf, params))
    if query.municipio:
        where.append(_in("e.municipio", query.municipio, params))
    if query.cnae_fiscal:
        where.append(_in("e.cnae_fiscal_principal", query.cnae_fiscal, params))
    if query.cnae:
        main = _in("e.cnae_fiscal_principal", query.cnae, params)
        params.extend(query.cnae)
        listed = ", ".join("?" for _ in query.cnae)
        where.append(f"({main} OR list_has_any(e.cnae_fiscal_secundaria, [{listed}]::VARCHAR[]))")
    if query.natureza_juridica:
        inner = _in("natureza_juridica", query.natureza_juridica, params)
        where.append(f"e.cnpj_basico IN (SELECT cnpj_basico FROM empresas WHERE {inner})")
    if query.cnpf:
        inner = _in("cnpj_cpf_socio", query.cnpf, params)
        where.append(f"e.cnpj_basico IN (SELECT cnpj_basico FROM socios WHERE {inner})")
    if query.cursor:
        where.append("e.cnpj > ?")
        params.append(query.cursor)
    sql = f"SELECT e.cnpj FROM estabelecimentos e WHERE {' AND '.join(where) or 'true'} ORDER BY e.cnpj LIMIT ?"
    params.append(query.limit + 1)
    return sql, params


def search(cursor: duckdb.DuckDBPyConnection, query: SearchQuery) -> Page:
    """One page of a search (rows of `cnpj` only when compact); a CNPJ the release repeats counts once.

    The CNPJs are found first, reading only the filtered columns and cnpj: the table is sorted by cnpj, so the
    top-N's dynamic filter on cnpj skips every row group after the first matches. The page's rows are then read
    through the cnpj index: read with the search, all 31 columns of those row groups cost 4x as much.
    """
    sql, params = search_sql(query)
    fetched = [row[0] for row in cursor.execute(sql, params).fetchall()]
    cnpjs = [c for n, c in enumerate(fetched) if n == 0 or fetched[n - 1] != c]  # a repeated key counts once
    page = cnpjs[: query.limit]
    # More rows than the page holds (possibly repeats of its last CNPJ): a next page may follow its last CNPJ.
    after = page[-1] if len(fetched) > query.limit else None
    if query.compact:
        return Page(tuple({"cnpj": c} for c in page), after)
    return Page(tuple(establishments(cursor, page)), after)


def establishments(cursor: duckdb.DuckDBPyConnection, cnpjs: list[str]) -> list[Row]:
    """The row of each CNPJ (the first the index returns when the release repeats one), in the order given."""
    if not cnpjs:
        return []
    first: dict[str, Row] = {}
    for row in _rows(cursor, f"SELECT * FROM estabelecimentos WHERE cnpj IN ({', '.join('?' for _ in cnpjs)})", cnpjs):
        first.setdefault(row["cnpj"], row)
    return [first[c] for c in cnpjs if c in first]
