"""`search`: establishments by name (a prefix, or words) in razão social or nome fantasia, with uf, municipio and
CNAE filters, over one built release.

A name matches when the text, upper-cased and without accents, starts the legal name or the trade name
(`MOURA LOG` finds `MOURA LOGISTICA LTDA`), or, with `words`, when every word appears in either.

A name search reads the release's name index (`index/release=YYYY-MM/nomes-<digest>.parquet`): one row per
establishment and name (each legal name of its company, its trade name) with the name upper-cased without
accents, the columns a search shows, and the rows sorted by the name. A prefix then reads only the row groups
whose names span it (Parquet min/max statistics); words scan one narrow column of plain names. The first name
search of a release makes the index (a join and a sort of every name, said on stderr), and again after the
release is rebuilt: its file name holds a digest of the manifests it was made from. A search by filters only
(uf, municipio, CNAE) reads the establishments' three small columns.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from .catalog import sql_message
from .config import Config
from .errors import SqlError, UsageError
from .sqlproject import quote_literal
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
    notify: Callable[[str], None] | None = None,
) -> SearchResult:
    """Establishments matching a name and/or filters in one release (default: the latest built); `notify` hears
    that the release's name index is being made (by the first name search of a release)."""
    text = plain(name or "")
    if not text and not (uf or municipio or cnae):
        raise UsageError("search: give a name, or at least one of --uf, --municipio, --cnae")
    if text and len(text.replace(" ", "")) < 3:
        raise UsageError(f"search {name!r}: give at least 3 letters of the name")
    if not 1 <= limit <= MAX_LIMIT:
        raise UsageError(f"--limit {limit}: expected 1 to {MAX_LIMIT}")
    store = Store(config.data_dir)
    rel = store.resolve_release(release, table="estabelecimentos")
    wanted = (("uf", uf), ("municipio", municipio), ("cnae_fiscal_principal", cnae))
    filters = [(column, value.strip().upper()) for column, value in wanted if value]
    con = open_engine(config.threads, config.memory_limit, store.tmp_dir)
    try:
        if text:
            index = name_index(store, rel, con, notify or (lambda _: None))
            rows = _by_name(con, index, text, words, filters, limit)
        else:
            rows = _by_filters(con, store, rel, filters, limit)
        return SearchResult(rel, tuple(rows), limit)
    except duckdb.Error as e:
        raise SqlError(f"search in release {rel}: {sql_message(e)}") from None
    finally:
        con.close()


# What a search shows, in this order; the name index holds these after its key.
SHOWN = (
    "cnpj",
    "cnpj_basico",
    "razao_social",
    "nome_fantasia",
    "uf",
    "municipio",
    "cnae_fiscal_principal",
    "situacao_cadastral",
    "identificador_matriz_filial",
)
_INDEX_LAYOUT = b"1"  # part of the digest: a change of the index's columns or order makes a new one
_ROW_GROUP = 16_384  # rows per row group of the index: the least a prefix search reads
_NO_COMPANIES = "(SELECT NULL::VARCHAR AS cnpj_basico, NULL::VARCHAR AS razao_social WHERE false)"


def name_index(store: Store, release: str, con: duckdb.DuckDBPyConnection, notify: Callable[[str], None]) -> str:
    """What a name search reads FROM: the release's name index, made now if it is missing or was made from an
    earlier build (see above); where the data dir cannot be written, the same rows computed on the fly."""
    digest = hashlib.sha256(_INDEX_LAYOUT)
    for table in ("estabelecimentos", "empresas"):
        source = store.manifest_path(table, release)
        digest.update(source.read_bytes() if source.is_file() else b"-")
    folder = store.index_dir(release)
    path = folder / f"nomes-{digest.hexdigest()[:16]}.parquet"
    if not path.is_file():
        notify(f"making the name index of release {release} (once per release: a sort of every name)")
        # Written aside and renamed: an interrupted search, or two at once, never leave a partial index.
        aside = folder / f".{path.name}.{os.getpid()}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            con.execute(
                f"COPY ({_index_sql(store, release)} ORDER BY chave, cnpj) TO {quote_literal(str(aside))} "
                f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {_ROW_GROUP})"
            )
            os.replace(aside, path)
        except (OSError, duckdb.IOException, duckdb.PermissionException) as e:
            notify(f"cannot write the name index under {folder} ({sql_message(e)}): reading the tables instead")
            return f"({_index_sql(store, release)})"
        finally:
            with contextlib.suppress(OSError):
                aside.unlink(missing_ok=True)
        for old in folder.glob("nomes-*.parquet"):  # made from an earlier build of the release
            if old != path:
                old.unlink(missing_ok=True)
    return f"read_parquet({quote_literal(str(path))})"


def _companies(store: Store, release: str) -> str:
    if not store.part_files("empresas", release):
        return _NO_COMPANIES
    return f"(SELECT cnpj_basico, razao_social FROM {store.scan_sql('empresas', release)})"


def _index_sql(store: Store, release: str) -> str:
    """Each legal name of an establishment's company and its trade name, a row each, sorted by the plain name."""
    shown = ", ".join(SHOWN)
    # A key repeated in empresas: every legal name matches, the first in order is shown.
    return (
        "WITH m AS (SELECT cnpj_basico, list(DISTINCT razao_social) FILTER (WHERE razao_social IS NOT NULL) AS "
        f"nomes, min(razao_social) AS razao_social FROM {_companies(store, release)} GROUP BY cnpj_basico), "
        "e AS (SELECT e.cnpj, e.cnpj_basico, m.razao_social, e.nome_fantasia, e.uf, e.municipio, "
        "e.cnae_fiscal_principal, e.situacao_cadastral, e.identificador_matriz_filial, m.nomes "
        f"FROM {store.scan_sql('estabelecimentos', release)} e LEFT JOIN m USING (cnpj_basico)) "
        f"SELECT {_PLAIN_SQL.format('unnest(nomes)')} AS chave, {shown} FROM e WHERE len(nomes) > 0 "
        f"UNION ALL SELECT {_PLAIN_SQL.format('nome_fantasia')} AS chave, {shown} FROM e "
        "WHERE nome_fantasia IS NOT NULL"
    )


def _by_name(
    con: duckdb.DuckDBPyConnection,
    index: str,
    text: str,
    words: bool,
    filters: list[tuple[str, str]],
    limit: int,
) -> list[dict[str, Any]]:
    if words:
        terms = text.split()
        match = " AND ".join("contains(chave, ?)" for _ in terms)
        params: list[Any] = list(terms)
    else:
        # The range lets the reader skip every row group whose names cannot start with the text.
        match = "chave >= ? AND chave <= ? AND starts_with(chave, ?)"
        params = [text, text + "\U0010ffff", text]
    where = " AND ".join([match, *(f"{column} = ?" for column, _ in filters)])
    params += [value for _, value in filters]
    # Both names of an establishment may match: its two rows are the same but for the key.
    sql = f"SELECT DISTINCT {', '.join(SHOWN)} FROM {index} WHERE {where} ORDER BY cnpj LIMIT ?"
    return _rows(con.execute(sql, [*params, limit]))  # every value from the caller is a bound parameter


def _by_filters(
    con: duckdb.DuckDBPyConnection, store: Store, release: str, filters: list[tuple[str, str]], limit: int
) -> list[dict[str, Any]]:
    where = " AND ".join(f"e.{column} = ?" for column, _ in filters)
    # The companies' names are joined to the establishments found only, not to the whole table.
    sql = (
        "WITH found AS (SELECT e.cnpj, e.cnpj_basico, e.nome_fantasia, e.uf, e.municipio, "
        "e.cnae_fiscal_principal, e.situacao_cadastral, e.identificador_matriz_filial "
        f"FROM {store.scan_sql('estabelecimentos', release)} e WHERE {where} ORDER BY e.cnpj LIMIT ?), "
        f"names AS (SELECT cnpj_basico, min(razao_social) AS razao_social FROM {_companies(store, release)} "
        "WHERE cnpj_basico IN (SELECT cnpj_basico FROM found) GROUP BY cnpj_basico) "
        f"SELECT {', '.join(SHOWN)} FROM found LEFT JOIN names USING (cnpj_basico) ORDER BY cnpj"
    )
    return _rows(con.execute(sql, [*(value for _, value in filters), limit]))


def _rows(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
