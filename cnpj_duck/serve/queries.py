"""The queries `serve` runs on a serving database: one lookup, one search page.

A lookup is one statement: the establishment's document (documents.py), read by its integer key, holds its row
and its company's rows (empresa, Simples option, partners). A search finds its page's CNPJs in the release's
estabelecimentos table, then reads their documents. Every value is a bound parameter; only placeholders and fixed
column names are put into the SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from . import documents
from .documents import Layout
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
    """One page of a search: its establishments (one row per CNPJ, in CNPJ order), their companies' rows (none
    when compact) and the next page's cursor."""

    rows: tuple[Row, ...]
    cursor: str | None
    related: Related = field(default_factory=lambda: Related({}, {}, {}))


def read_documents(cursor: duckdb.DuckDBPyConnection, layout: Layout, cnpjs: list[str]) -> tuple[list[Row], Related]:
    """The row of each CNPJ found (in the order given; the first of its rows when the release repeats one) and
    the rows of their companies."""
    if not cnpjs:
        return [], Related({}, {}, {})
    sql, params = documents.read_sql(sorted({documents.key(c) for c in cnpjs}), layout)
    wanted = set(cnpjs)
    first: dict[str, Row] = {}
    related = Related({}, {}, {})
    for (text,) in cursor.execute(sql, params).fetchall():
        row, company = documents.decode(text, layout)
        cnpj = row["cnpj"]
        if cnpj not in wanted or cnpj in first:  # the same 12 characters, other check digits; or a repeat
            continue
        first[cnpj] = row
        for table, rows in company.items():
            getattr(related, table).setdefault(row["cnpj_basico"], rows)
    return [first[c] for c in cnpjs if c in first], related


def lookup(cursor: duckdb.DuckDBPyConnection, layout: Layout, cnpj: str) -> tuple[Row | None, Related]:
    """The establishment of a canonical CNPJ (None when absent) and its company's rows."""
    rows, related = read_documents(cursor, layout, [cnpj])
    return (rows[0] if rows else None), related


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


def search(cursor: duckdb.DuckDBPyConnection, layout: Layout, query: SearchQuery) -> Page:
    """One page of a search (rows of `cnpj` only when compact); a CNPJ the release repeats counts once.

    The CNPJs are found first, reading only the filtered columns and cnpj: the table is sorted by cnpj, so the
    top-N's dynamic filter on cnpj skips every row group after the first matches. The page's rows are then read
    from their documents: read with the search, all 31 columns of those row groups cost 4x as much.
    """
    sql, params = search_sql(query)
    fetched = [row[0] for row in cursor.execute(sql, params).fetchall()]
    cnpjs = [c for n, c in enumerate(fetched) if n == 0 or fetched[n - 1] != c]  # a repeated key counts once
    page = cnpjs[: query.limit]
    # More rows than the page holds (possibly repeats of its last CNPJ): a next page may follow its last CNPJ.
    after = page[-1] if len(fetched) > query.limit else None
    if query.compact:
        return Page(tuple({"cnpj": c} for c in page), after)
    rows, related = read_documents(cursor, layout, page)
    return Page(tuple(rows), after, related)
