"""`search`: establishments by name (a prefix, or words) in razão social or nome fantasia, with uf, municipio and
CNAE filters, over one built release.

A name matches when the text, upper-cased and without accents, starts the legal name or the trade name
(`MOURA LOG` finds `MOURA LOGISTICA LTDA`), or, with `words`, when every word appears in either. Only the
columns a search needs are read: the names of empresas, then the establishments of the companies found (or of
the filters' UF/municipio/CNAE), so a search scans two text columns rather than whole tables.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import duckdb

from .catalog import sql_message
from .config import Config
from .errors import SqlError, UsageError
from .store import Store, open_engine

MAX_LIMIT = 1000


@dataclass(frozen=True)
class SearchResult:
    """The establishments found (at most `limit`), in CNPJ order, and the release they come from."""

    release: str
    rows: tuple[dict[str, Any], ...]
    limit: int

    @property
    def more(self) -> bool:
        """Whether there may be more matches than the rows returned."""
        return len(self.rows) >= self.limit


def plain(text: str) -> str:
    """Upper case without accents or repeated spaces: how names are compared (the Receita writes upper case)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).upper().split())


_PLAIN_SQL = "upper(strip_accents({}))"


def search(
    config: Config,
    name: str | None = None,
    *,
    words: bool = False,
    uf: str | None = None,
    municipio: str | None = None,
    cnae: str | None = None,
    limit: int = 20,
    release: str | None = None,
) -> SearchResult:
    """Establishments matching a name and/or filters in one release (default: the latest built)."""
    text = plain(name or "")
    if not text and not (uf or municipio or cnae):
        raise UsageError("search: give a name, or at least one of --uf, --municipio, --cnae")
    if text and len(text.replace(" ", "")) < 3:
        raise UsageError(f"search {name!r}: give at least 3 letters of the name")
    if not 1 <= limit <= MAX_LIMIT:
        raise UsageError(f"--limit {limit}: expected 1 to {MAX_LIMIT}")
    store = Store(config.data_dir)
    rel = store.resolve_release(release, table="estabelecimentos")
    con = open_engine(config.threads, config.memory_limit, store.tmp_dir)
    try:
        store.read_table(con, "estabelecimentos", rel).create_view("estabelecimentos")
        if store.part_files("empresas", rel):
            store.read_table(con, "empresas", rel).create_view("empresas")
        else:
            con.execute(
                "CREATE VIEW empresas AS SELECT NULL::VARCHAR AS cnpj_basico, NULL::VARCHAR AS razao_social WHERE false"
            )
        return SearchResult(rel, tuple(_run(con, text, words, uf, municipio, cnae, limit)), limit)
    except duckdb.Error as e:
        raise SqlError(f"search in release {rel}: {sql_message(e)}") from None
    finally:
        con.close()


def _run(
    con: duckdb.DuckDBPyConnection,
    text: str,
    words: bool,
    uf: str | None,
    municipio: str | None,
    cnae: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    params: list[Any] = []
    filters = []
    for column, value in (("uf", uf), ("municipio", municipio), ("cnae_fiscal_principal", cnae)):
        if value:
            filters.append(f"e.{column} = ?")
            params.append(value.strip().upper())
    name_match = "true"
    if text:
        terms = text.split() if words else [text]
        legal = " AND ".join(
            f"contains({_PLAIN_SQL.format('razao_social')}, ?)"
            if words
            else f"starts_with({_PLAIN_SQL.format('razao_social')}, ?)"
            for _ in terms
        )
        trade = " AND ".join(
            f"contains({_PLAIN_SQL.format('e.nome_fantasia')}, ?)"
            if words
            else f"starts_with({_PLAIN_SQL.format('e.nome_fantasia')}, ?)"
            for _ in terms
        )
        name_match = f"(e.cnpj_basico IN (SELECT cnpj_basico FROM empresas WHERE {legal}) OR ({trade}))"
        params = [*terms, *terms, *params]
    where = " AND ".join([name_match, *filters])
    # The companies' names are joined to the establishments found only, not to the whole table.
    sql = (
        f"WITH found AS (SELECT e.cnpj, e.cnpj_basico, e.nome_fantasia, e.uf, e.municipio, "
        f"e.cnae_fiscal_principal, e.situacao_cadastral, e.identificador_matriz_filial FROM estabelecimentos e "
        f"WHERE {where} ORDER BY e.cnpj LIMIT ?), "
        "names AS (SELECT cnpj_basico, min(razao_social) AS razao_social FROM empresas "
        "WHERE cnpj_basico IN (SELECT cnpj_basico FROM found) GROUP BY cnpj_basico) "
        "SELECT f.cnpj, f.cnpj_basico, n.razao_social, f.* EXCLUDE (cnpj, cnpj_basico) "
        "FROM found f LEFT JOIN names n USING (cnpj_basico) ORDER BY f.cnpj"
    )
    cursor = con.execute(sql, [*params, limit])  # every value from the caller is a bound parameter
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
