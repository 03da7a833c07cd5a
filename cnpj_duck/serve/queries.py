"""The queries `serve` runs on a serving database: one lookup, one search page, the related rows of a page.

The serving database holds the release's tables (named as in the Parquet) with indexes on cnpj and cnpj_basico,
so `cnpj = ?` and `cnpj_basico IN (?, ...)` are index scans, not scans. A lookup is one statement whose scalar
subqueries read the establishment, its company, Simples option and partners, each with its own index. Rows come
back in table order (rowid) so that a key the release repeats always shows its first row.
Every value is a bound parameter; only placeholders and fixed column names are put into the SQL text.
"""

from __future__ import annotations

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


def _by_root(rows: list[Row] | None) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = {}
    for row in rows or ():
        grouped.setdefault(row["cnpj_basico"], []).append(row)
    return grouped


def lookup(cursor: duckdb.DuckDBPyConnection, cnpj: str) -> tuple[Row | None, Related]:
    """The establishment of a canonical CNPJ (None when absent) and its company's rows, in one statement."""
    company = ", ".join(
        f"(SELECT list(t ORDER BY rowid) FROM {table} t WHERE cnpj_basico = $2)" for table in _COMPANY_TABLES
    )
    found = cursor.execute(
        f"SELECT (SELECT list(t ORDER BY rowid) FROM estabelecimentos t WHERE cnpj = $1), {company}", [cnpj, cnpj[:8]]
    ).fetchone()
    assert found is not None  # one row: scalar subqueries
    estabelecimentos, empresas, simples, socios = found
    row = estabelecimentos[0] if estabelecimentos else None
    return row, Related(_by_root(empresas), _by_root(simples), _by_root(socios))


def related(cursor: duckdb.DuckDBPyConnection, roots: list[str]) -> Related:
    """The company rows of several roots (a search page's), in one statement."""
    if not roots:
        return Related({}, {}, {})
    placeholders = ", ".join(f"${n}" for n in range(1, len(roots) + 1))
    company = ", ".join(
        f"(SELECT list(t ORDER BY rowid) FROM {table} t WHERE cnpj_basico IN ({placeholders}))"
        for table in _COMPANY_TABLES
    )
    found = cursor.execute(f"SELECT {company}", roots).fetchone()
    assert found is not None
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
    columns = "e.cnpj" if query.compact else "e.*"
    sql = (
        f"SELECT {columns} FROM estabelecimentos e WHERE {' AND '.join(where) or 'true'} "
        "ORDER BY e.cnpj, e.rowid LIMIT ?"
    )
    params.append(query.limit + 1)
    return sql, params


def search(cursor: duckdb.DuckDBPyConnection, query: SearchQuery) -> Page:
    """One page of a search; a CNPJ the release repeats counts once (its first row)."""
    sql, params = search_sql(query)
    result = cursor.execute(sql, params)
    names = [d[0] for d in result.description]
    fetched = result.fetchall()
    rows: list[Row] = []
    for values in fetched:
        if rows and rows[-1]["cnpj"] == values[0]:
            continue  # a repeated key: the next rows of one CNPJ
        rows.append(dict(zip(names, values, strict=True)))
    if len(fetched) <= query.limit:  # fewer rows than asked for: nothing after them
        return Page(tuple(rows), None)
    # More rows than the page holds (possibly repeats of its last CNPJ): the page ends at `limit` CNPJs.
    page = rows[: query.limit]
    return Page(tuple(page), page[-1]["cnpj"])
