"""`lookup`: everything about one establishment, read straight from the release's Parquet partitions.

Each table is queried with its key as a bound parameter. Estabelecimentos is sorted by cnpj and the other
tables by cnpj_basico, so DuckDB reads the footers, skips every row group whose min/max cannot hold the key
and decodes about one row group per part file: a lookup costs milliseconds, not a scan.
Lookups are LEFT-joined: a code missing from its lookup table (motivo 32, RFB_FORMAT.md §5) shows with no
description rather than hiding the row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import duckdb

from . import privacy
from .catalog import sql_message
from .cnpj import InvalidCnpjError, format_cnpj, normalize, parse
from .config import Config
from .errors import CnpjDuckError, UsageError
from .sqlproject import quote_ident
from .store import Store, open_engine
from .tables import CODE_LOOKUPS, DOMAIN_COLUMNS, DOMAINS, LOOKUP_TABLES


@dataclass(frozen=True)
class LookupResult:
    """Everything about one CNPJ in one release; rows carry `<code>_descricao` next to each code column."""

    cnpj: str  # canonical: 14 characters, no punctuation
    release: str
    estabelecimentos: tuple[dict[str, Any], ...]  # one row, or more when the release repeats the key
    empresas: tuple[dict[str, Any], ...]
    simples: tuple[dict[str, Any], ...]
    socios: tuple[dict[str, Any], ...]
    cnaes_secundarias: tuple[dict[str, Any], ...]  # {codigo, descricao} in the order the release lists them
    matriz_cnpj: tuple[str, ...]  # the company's head office (more than one only in inconsistent data)
    establishments_of_company: int
    missing_tables: tuple[str, ...]  # tables with no output for this release (not built)
    privacy: bool = False  # estabelecimentos rows shown with the privacy rules (privacy.py)

    def private(self) -> LookupResult:
        """The result with the privacy rules applied to its establishment rows, as the exports' --privacy does: the
        company is a person's when any of its empresas rows (legal nature) or simples rows (MEI) says so."""
        individual = any(privacy.is_individual(e.get("natureza_juridica")) for e in self.empresas) or any(
            privacy.is_individual(None, s.get("opcao_mei")) for s in self.simples
        )
        rows = tuple(privacy.blank(row, individual) for row in self.estabelecimentos)
        return replace(self, estabelecimentos=rows, privacy=True)

    @property
    def found(self) -> bool:
        return bool(self.estabelecimentos)

    @property
    def formatted(self) -> str:
        return format_cnpj(self.cnpj)

    def warnings(self) -> list[str]:
        """What a reader must know: duplicate keys in the release, tables not built."""
        out = [
            f"{table} has {len(rows)} rows for this key in release {self.release} (duplicate key in the "
            "source); all are shown"
            for table, rows in (
                ("estabelecimentos", self.estabelecimentos),
                ("empresas", self.empresas),
                ("simples", self.simples),
            )
            if len(rows) > 1
        ]
        if len(self.matriz_cnpj) > 1:
            out.append(f"the company has {len(self.matriz_cnpj)} establishments marked head office (matriz)")
        if self.missing_tables:
            out.append(f"not built for {self.release}: {', '.join(self.missing_tables)}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape of `lookup --format json` (see the README)."""
        duplicates = {
            t: list(rows[1:])
            for t, rows in (
                ("estabelecimentos", self.estabelecimentos),
                ("empresas", self.empresas),
                ("simples", self.simples),
            )
            if len(rows) > 1
        }
        return {
            "cnpj": self.cnpj,
            "cnpj_formatado": self.formatted,
            "release": self.release,
            "found": self.found,
            "estabelecimento": self.estabelecimentos[0] if self.estabelecimentos else None,
            "empresa": self.empresas[0] if self.empresas else None,
            "simples": self.simples[0] if self.simples else None,
            "socios": list(self.socios),
            "cnaes_secundarias": list(self.cnaes_secundarias),
            "matriz_cnpj": list(self.matriz_cnpj),
            "estabelecimentos_da_empresa": self.establishments_of_company,
            "duplicados": duplicates,
            "avisos": self.warnings(),
            "privacidade": self.privacy,
        }


_PART_PATH_RE = re.compile(r"[/\\]parquet[/\\]([a-z][a-z0-9_]*)[/\\]release=(\d{4}-\d{2})[/\\]")


def damaged_partition(message: str) -> tuple[str, str] | None:
    """The (table, release) of the part file a DuckDB error names (`.../parquet/<table>/release=<YYYY-MM>/...`)."""
    found = _PART_PATH_RE.search(message)
    return (found.group(1), found.group(2)) if found else None


_ROOT_RE = re.compile(r"^[0-9A-Z]{8}$")


def parse_all(cnpjs: Iterable[str]) -> list[str]:
    """Canonical CNPJs, or company roots (8 characters: the company and all its establishments); every invalid
    one is named in one InvalidCnpjError."""
    parsed, errors = [], []
    for text in cnpjs:
        if _ROOT_RE.match(normalize(text)):
            parsed.append(normalize(text))
            continue
        try:
            parsed.append(parse(text))
        except InvalidCnpjError as e:
            errors.append(str(e))
    if errors:
        raise InvalidCnpjError("; ".join(errors))
    return parsed


class Lookup:
    """One DuckDB connection with views over one release's partitions; `get` answers one CNPJ."""

    def __init__(self, config: Config, release: str | None = None) -> None:
        self.store = Store(config.data_dir)
        self.release = self.store.resolve_release(release, table="estabelecimentos")
        self.con = open_engine(config.threads, config.memory_limit, self.store.tmp_dir)
        self.missing: list[str] = []
        for table in ("estabelecimentos", "empresas", "simples", "socios", *LOOKUP_TABLES):
            if self.store.part_files(table, self.release):
                # file_row_number keeps rows in release order when a key repeats.
                try:
                    rel = self.store.read_table(self.con, table, self.release, filename=True, file_row_number=True)
                except duckdb.Error as e:  # the footer of one of these files: this table's
                    error = self._damaged(table, e, probe=False)
                    self.con.close()
                    raise error from None
                rel.create_view(table)
                continue
            self.missing.append(table)
            if table in LOOKUP_TABLES:  # an empty lookup: every code shows with no description
                self.con.execute(
                    f"CREATE VIEW {quote_ident(table)} AS SELECT NULL::VARCHAR AS codigo, "
                    "NULL::VARCHAR AS descricao WHERE false"
                )
        if "estabelecimentos" in self.missing:  # resolve_release saw it; a build may have swapped it since
            self.con.close()
            raise UsageError(f"estabelecimentos for {self.release}: no published partition now; retry after the build")
        # Keep each file's parsed footer between the lookups of one connection (set once Parquet is loaded).
        self.con.execute("SET parquet_metadata_cache = true")

    def close(self) -> None:
        self.con.close()

    def _damaged(self, table: str, e: duckdb.Error, probe: bool = True) -> CnpjDuckError:
        """A read that failed (a damaged part file), as one line naming the table and release to rebuild.

        The table is the one whose file DuckDB names; when it names none (and `probe`), the small lookup tables
        joined to `table` are read whole to find a damaged one, and otherwise it is `table` itself.
        """
        message = sql_message(e)
        named = damaged_partition(message)
        if named is not None:
            table = named[0]
        elif probe:
            table = next((t for t in self._joined(table) if t not in self.missing and not self._readable(t)), table)
        return CnpjDuckError(
            f"{table} of release {self.release}: {message}; rebuild it with "
            f"`cnpj-duck build --release {self.release} --force --tables {table}`"
        )

    @staticmethod
    def _joined(table: str) -> list[str]:
        """The lookup tables a read of `table` joins (cnaes also for the secondary CNAEs)."""
        return sorted({*CODE_LOOKUPS.get(table, {}).values(), *(("cnaes",) if table == "estabelecimentos" else ())})

    def _readable(self, table: str) -> bool:
        """Whether every row of a (small) lookup table's files decodes."""
        try:
            self.store.read_table(self.con, table, self.release).fetchall()
        except duckdb.Error:
            return False
        return True

    def __enter__(self) -> Lookup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(
        self,
        table: str,
        where: str,
        params: list[Any],
        prefix: str = "",
        source: str | None = None,
        extra: tuple[str, ...] = (),
    ) -> list[dict[str, Any]]:
        """Rows of `table` matching `where` (bound params), with descriptions next to their codes."""
        if table in self.missing:
            return []
        joins, described = [], []
        for n, (column, lookup) in enumerate(CODE_LOOKUPS.get(table, {}).items()):
            # A lookup that repeats a code would multiply rows: its descriptions are joined into one instead.
            joins.append(
                f"LEFT JOIN (SELECT codigo, string_agg(DISTINCT descricao, ' | ') AS descricao FROM "
                f"{quote_ident(lookup)} GROUP BY codigo) l{n} ON l{n}.codigo = t.{quote_ident(column)}"
            )
            described.append(f"l{n}.descricao AS {quote_ident(column + '_descricao')}")
        select = ", ".join(["t.* EXCLUDE (filename, file_row_number)", *described, *extra])
        sql = (
            f"{prefix} SELECT {select} FROM {source or quote_ident(table)} t {' '.join(joins)} WHERE {where} "
            "ORDER BY t.filename, t.file_row_number"
        )
        try:
            rel = self.con.execute(sql, params)
            names = [d[0] for d in rel.description]
            return [dict(zip(names, values, strict=True)) for values in rel.fetchall()]
        except duckdb.Error as e:  # a damaged part file
            raise self._damaged(table, e) from None

    def establishments_of(self, root: str) -> list[str]:
        """The CNPJs of a company root's establishments, head office first; UsageError when it has none."""
        rows = self._rows("estabelecimentos", "t.cnpj_basico = ?", [root])
        found = sorted({r["cnpj"] for r in rows}, key=lambda c: (c[8:12] != "0001", c))
        if not found:
            raise CnpjDuckError(
                f"company root {root}: no establishment in release {self.release}"
                f"{'' if self._rows('empresas', 't.cnpj_basico = ?', [root]) else ' (nor a company)'}"
            )
        return found

    def get(self, cnpj: str) -> LookupResult:
        """Everything about one canonical CNPJ."""
        basico = cnpj[:8]
        # One scan for the establishment and its company's other establishments: cnpj_basico prunes as well as
        # cnpj does (the file is sorted by cnpj, so by its prefix too), and the CTE is read once.
        estab = self._rows(
            "estabelecimentos",
            "t.cnpj = ?",
            [basico, cnpj],
            prefix="WITH company AS MATERIALIZED (SELECT * FROM estabelecimentos WHERE cnpj_basico = ?)",
            source="company",
            extra=(
                "(SELECT count(DISTINCT cnpj) FROM company) AS _count",
                "(SELECT list(DISTINCT cnpj ORDER BY cnpj) FROM company WHERE identificador_matriz_filial = '1') "
                "AS _matriz",
            ),
        )
        if estab:
            count, matriz = estab[0]["_count"], estab[0]["_matriz"]
            for row in estab:
                del row["_count"], row["_matriz"]
        else:  # not there: still say whether the company is
            try:
                count, matriz = self.con.execute(
                    "SELECT count(DISTINCT cnpj), list(DISTINCT cnpj ORDER BY cnpj) FILTER "
                    "(WHERE identificador_matriz_filial = '1') FROM estabelecimentos WHERE cnpj_basico = ?",
                    [basico],
                ).fetchall()[0]
            except duckdb.Error as e:
                raise self._damaged("estabelecimentos", e) from None
        secondary: tuple[dict[str, Any], ...] = ()
        codes = next((r["cnae_fiscal_secundaria"] for r in estab if r["cnae_fiscal_secundaria"]), None)
        if codes:
            try:
                known = dict(
                    self.con.execute(
                        "SELECT codigo, string_agg(DISTINCT descricao, ' | ') FROM cnaes WHERE codigo IN "
                        "(SELECT unnest(?::VARCHAR[])) GROUP BY codigo",
                        [codes],
                    ).fetchall()
                )
            except duckdb.Error as e:
                raise self._damaged("cnaes", e) from None
            secondary = tuple({"codigo": c, "descricao": known.get(c)} for c in codes)

        def company(table: str) -> tuple[dict[str, Any], ...]:
            rows = self._rows(table, "t.cnpj_basico = ?", [basico]) if estab else []
            return tuple(_ordered(r, table) for r in rows)

        return LookupResult(
            cnpj=cnpj,
            release=self.release,
            estabelecimentos=tuple(_ordered(r, "estabelecimentos") for r in estab),
            empresas=company("empresas"),
            simples=company("simples"),
            socios=company("socios"),
            cnaes_secundarias=secondary,
            matriz_cnpj=tuple(matriz or ()),
            establishments_of_company=count,
            missing_tables=tuple(t for t in self.missing if t != "estabelecimentos"),
        )


def _ordered(row: dict[str, Any], table: str) -> dict[str, Any]:
    """Each code column followed by its description (from the lookup table or the layout's fixed domain)."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name.endswith("_descricao"):
            continue
        out[name] = value
        if name + "_descricao" in row:
            out[name + "_descricao"] = row[name + "_descricao"]
        elif name in DOMAIN_COLUMNS.get(table, ()):
            out[name + "_descricao"] = DOMAINS[name].get(value) if value is not None else None
    return out


def lookup(
    config: Config, cnpjs: Iterable[str], release: str | None = None, private: bool = False
) -> list[LookupResult]:
    """Look up each CNPJ (any accepted spelling) in one release (default: the latest built); see LookupResult.
    With `private`, the establishments come with the privacy rules applied (LookupResult.private)."""
    parsed = parse_all(cnpjs)
    with Lookup(config, release) as finder:
        results = [
            result
            for key in parsed
            for result in (
                [finder.get(key)] if len(key) == 14 else [finder.get(c) for c in finder.establishments_of(key)]
            )
        ]
    return [r.private() for r in results] if private else results
