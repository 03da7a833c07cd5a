"""tables.py against the SQL: the views' lookup joins and fixed code domains, and the checks' lookups, domains and
keys, are the ones cnpj_duck/tables.py names. The real transforms, views and checks run on a few crafted rows
whose every lookup description names its lookup table."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from cnpj_duck.catalog import create_ibge_table
from cnpj_duck.ibge import IbgeCodes
from cnpj_duck.layout import FAMILIES
from cnpj_duck.sqlfiles import SqlDir
from cnpj_duck.sqlproject import (
    QUALITY_VIEW,
    describe_sql,
    load_transforms,
    ordered_views,
    quote_ident,
    view_names,
    view_sql,
)
from cnpj_duck.tables import CODE_LOOKUPS, DOMAIN_COLUMNS, DOMAINS, KEYS, LIST_CODE_LOOKUPS, LOOKUP_TABLES
from cnpj_duck.transform import connect_engine, trim_padded

from .conftest import REPO_ROOT

SQL = SqlDir()  # the packaged SQL: in a checkout, its sql/ folder
# Each lookup has codes of its own (so a join to the wrong lookup finds none), its first one twice.
CODES = {lookup: (f"{lookup}-1", f"{lookup}-2") for lookup in LOOKUP_TABLES}
ORPHAN = "99"  # in no lookup
OUTSIDE = "X"  # in no domain
ROWS = max(len(d) for d in DOMAINS.values()) + 1  # enough rows for every domain code and one value outside
# View columns that hold the items of a list code column: (view, column) -> (table, list column).
RENAMED = {("cnaes_secundarias", "cnae"): ("estabelecimentos", "cnae_fiscal_secundaria")}


def _raw_rows(table: str) -> list[dict[str, str]]:
    """Raw text rows of one family: every code column cycles through its lookup codes (row 0: an orphan) or
    through its domain and one value outside it."""
    if table in LOOKUP_TABLES:
        first, second = CODES[table]
        return [
            {"codigo": first, "descricao": "a"},
            {"codigo": second, "descricao": "c"},
            {"codigo": first, "descricao": "b"},
        ]
    rows = []
    for i in range(ROWS):
        row = {c: "" for c in FAMILIES[table].columns}
        row |= {"cnpj_basico": f"{i:08d}", "cnpj_ordem": "0001", "cnpj_dv": "00", "nome_socio_razao_social": f"S{i}"}
        for column, lookup in CODE_LOOKUPS.get(table, {}).items():
            row[column] = ORPHAN if i == 0 else CODES[lookup][i % 2]
        for column, lookup in LIST_CODE_LOOKUPS.get(table, {}).items():
            row[column] = f"{CODES[lookup][1]},{ORPHAN}" if i == 0 else CODES[lookup][i % 2]
        for column in DOMAIN_COLUMNS.get(table, ()):
            values = [*DOMAINS[column], OUTSIDE]
            row[column] = values[i % len(values)]
        rows.append({k: v for k, v in row.items() if k in FAMILIES[table].columns})
    return rows


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    """Every family's transform run on its crafted rows, the audit tables, and every view of the project."""
    con = connect_engine(1, "1GB", tmp_path_factory.mktemp("tables"), SQL)
    for name, transform in load_transforms(SQL, con).items():
        if transform.family is None:
            continue
        rows = _raw_rows(name)
        columns = transform.family.columns
        # as the build hands rows to the SQL: empty values as NULL (the parser's), padded values trimmed
        raw = pa.table({c: pa.array([r[c] or None for r in rows], pa.string()) for c in columns})
        con.register(transform.raw_name, trim_padded(raw))
        con.execute(f"CREATE TABLE {quote_ident(name)} AS {transform.sql}")
        con.unregister(transform.raw_name)
    con.execute(resources.files("cnpj_duck").joinpath("audit.sql").read_text(encoding="utf-8"))
    create_ibge_table(con, IbgeCodes())  # every catalog has it (empty without the config key ibge)
    for view, _ in ordered_views(con, SQL, None):
        con.execute(f"CREATE VIEW {quote_ident(view.name)} AS {view.sql}")
    yield con
    con.close()


def _all(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql).fetchall()


def _code_columns() -> list[tuple[str, dict[str, str]]]:
    """(table, {code column: lookup}) for plain and list code columns."""
    return [*CODE_LOOKUPS.items(), *LIST_CODE_LOOKUPS.items()]


def _lookup_of(view: str, column: str) -> str | None:
    """The lookup that describes a view's column: a code column's, or a list column's for its items (RENAMED)."""
    if (view, column) in RENAMED:
        table, source = RENAMED[(view, column)]
        return LIST_CODE_LOOKUPS[table][source]
    found = {lookups[column] for lookups in CODE_LOOKUPS.values() if column in lookups}
    assert len(found) <= 1, (column, found)  # a column name means one lookup in every table that has it
    return found.pop() if found else None


def test_every_description_of_the_views_comes_from_the_lookup_or_domain_of_tables_py(project) -> None:
    described = 0
    for view in view_names(SQL):
        if view == QUALITY_VIEW:
            continue
        columns = project.sql(f"SELECT * FROM {quote_ident(view)} LIMIT 0").columns
        for column in columns:
            lookup, domain = _lookup_of(view, column), DOMAINS.get(column)
            if lookup is None and domain is None:
                assert f"{column}_descricao" not in columns or column.endswith("_descricao"), (view, column)
                continue
            # Every code column with a lookup or a domain is described, by exactly that lookup or domain.
            assert f"{column}_descricao" in columns, (view, column)
            got = dict(
                _all(
                    project,
                    f"SELECT DISTINCT {quote_ident(column)}, {quote_ident(column + '_descricao')} "
                    f"FROM {quote_ident(view)}",
                )
            )
            if lookup is not None:
                first, second = CODES[lookup]
                assert got == {first: "a | b", second: "c", ORPHAN: None}, (view, column)
            else:
                assert got == {**domain, OUTSIDE: None}, (view, column)
            described += 1
        assert all(c[: -len("_descricao")] in columns for c in columns if c.endswith("_descricao")), view
    assert described >= 15  # the three enriched views' codes


def test_the_checks_know_the_lookups_domains_and_keys_of_tables_py(project) -> None:
    got = {
        (t, c, k): (problems, examples, detail)
        for t, c, k, problems, examples, detail in _all(
            project, f"SELECT table_name, column_name, check_name, problems, examples, detail FROM {QUALITY_VIEW}"
        )
    }
    orphans = {(t, c): v for (t, c, k), v in got.items() if k == "orphan_code"}
    lookups = {(t, c): lookup for t, found in _code_columns() for c, lookup in found.items()}
    domains = {(t, c) for t, found in DOMAIN_COLUMNS.items() for c in found}
    assert set(orphans) == set(lookups) | domains
    for (table, column), lookup in lookups.items():
        problems, examples, detail = orphans[(table, column)]
        assert (problems, examples) == (1, [ORPHAN]) and f"not in {lookup}" in detail, (table, column)
    for table, column in domains:
        outside = sum(r[column] == OUTSIDE for r in _raw_rows(table))
        assert orphans[(table, column)][:2] == (outside, [OUTSIDE]) and outside > 0, (table, column)
    keys = {(t, c): v for (t, c, k), v in got.items() if k == "duplicate_key"}
    assert set(keys) == {(t, ", ".join(key)) for t, key in KEYS.items()}
    assert all(keys[(t, "codigo")][:2] == (2, [CODES[t][0]]) for t in LOOKUP_TABLES)  # there twice


def test_the_qualidade_view_is_the_checks_with_their_data_dictionary() -> None:
    sql = view_sql(SQL, QUALITY_VIEW)
    assert sql is not None and not (REPO_ROOT / "sql" / "views" / f"{QUALITY_VIEW}.sql").exists()
    doc, columns = describe_sql(sql)
    assert doc.startswith("data quality of the release") and "sql/checks" in doc
    assert list(columns) == [
        "release",
        "table_name",
        "column_name",
        "check_name",
        "rows_checked",
        "problems",
        "distinct_values",
        "examples",
        "detail",
    ]
    checks = sorted(p.stem for p in (REPO_ROOT / "sql" / "checks").glob("*.sql") if not p.name.startswith("_"))
    assert checks == ["duplicate_key", "invalid_check_digits", "nulled_by_cast", "orphan_code"]


def test_a_new_check_is_a_new_file(project, tmp_path: Path) -> None:
    """A check file that selects offending rows shows in qualidade; one that lacks a column says which."""
    sql = tmp_path / "sql"
    shutil.copytree(REPO_ROOT / "sql", sql)
    (sql / "checks" / "empty_name.sql").write_text(
        "-- empty_name: companies with no name\n"
        "SELECT 'empresas' AS table_name, 'razao_social' AS column_name, NULL AS value, 0 AS problems,\n"
        "       count(*) AS rows_checked, 'rows with no razao_social' AS detail FROM empresas\n"
        "UNION ALL SELECT 'empresas', 'razao_social', cnpj_basico, 1, NULL, NULL FROM empresas\n"
        "WHERE razao_social IS NULL  -- a trailing comment is fine\n",
        encoding="utf-8",
    )
    rows = _all(
        project,
        f"SELECT check_name, rows_checked, problems, distinct_values, examples[1], detail FROM "
        f"({view_sql(SqlDir(sql), QUALITY_VIEW)}) WHERE check_name = 'empty_name'",
    )
    assert rows == [("empty_name", ROWS, ROWS, ROWS, "00000000", "rows with no razao_social")]
    (sql / "checks" / "empty_name.sql").write_text("SELECT 'empresas' AS table_name FROM empresas\n", encoding="utf-8")
    with pytest.raises(duckdb.Error, match="column_name"):
        project.execute(view_sql(SqlDir(sql), QUALITY_VIEW))


def test_the_catalog_sees_the_lookups_a_view_reads_through_lookup_descriptions(project) -> None:
    """lookup_descriptions('cnaes') reads cnaes: a view over a lookup that is not built is skipped, not broken."""
    reads = {view.name: tables for view, tables in ordered_views(project, SQL, None)}
    wanted = {*CODE_LOOKUPS["estabelecimentos"].values(), *CODE_LOOKUPS["empresas"].values()}
    assert wanted <= reads["estabelecimentos_completos"]
    assert {*CODE_LOOKUPS["socios"].values()} <= reads["socios_completos"]
    assert "cnaes" in reads["cnaes_secundarias"]
