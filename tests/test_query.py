"""The catalog views, `query` in every format, `describe`, history across releases and `local_releases`."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cnpj_duck.build import build
from cnpj_duck.catalog import create_views, local_releases, refresh_catalog
from cnpj_duck.cli import cli
from cnpj_duck.config import load_config
from cnpj_duck.errors import SqlError, UsageError
from cnpj_duck.query import BATCH_ROWS, connect, run_query, write_result
from cnpj_duck.sample import generate_release
from cnpj_duck.sqlfiles import SqlDir
from cnpj_duck.sqlproject import describe_sql
from cnpj_duck.store import Store

from .conftest import REPO_ROOT, catalog, cli_run, copy_table

SQL = SqlDir()  # the packaged SQL: in a checkout, its sql/ folder
TABLES = [
    "cnaes",
    "empresas",
    "estabelecimentos",
    "motivos",
    "municipios",
    "naturezas",
    "paises",
    "qualificacoes",
    "simples",
    "socios",
]
ENRICHED = ["cnaes_secundarias", "estabelecimentos_completos", "socios_completos"]


def manifest_rows(data_dir: Path, table: str, release: str) -> int:
    manifest = Store(data_dir).manifest(table, release)
    assert manifest is not None
    return sum(p["rows"] for p in manifest["parts"].values())


@pytest.fixture(scope="module")
def releases(sample_build, tmp_path_factory) -> Path:
    """A copy of the sample build plus release 2026-09 (other data) and 2026-08 with only motivos built."""
    _, data_dir, _ = sample_build
    root = tmp_path_factory.mktemp("releases")
    data = root / "data"
    shutil.copytree(data_dir, data)
    config = load_config(None, overrides={"data_dir": str(data), "batch_mb": 1}, env={})
    older = generate_release(root / "raw", release="2026-09", scale=0.0001, seed=11, workers=1)
    assert build(config, source=older.folder).status == "succeeded"
    oldest = generate_release(root / "raw", release="2026-08", scale=0.0001, seed=12, workers=1, families=["motivos"])
    assert build(config, source=oldest.folder, tables=["motivos"]).status == "succeeded"
    return data


def test_a_build_leaves_views_any_duckdb_client_can_query(sample_build):
    _, data_dir, _ = sample_build
    con = catalog(data_dir)  # a plain read-only DuckDB connection: no cnpj-duck code involved
    try:
        for table in TABLES:
            assert con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0] == manifest_rows(
                data_dir, table, "2026-10"
            )
            history = con.sql(f"SELECT release, count(*) FROM {table}_history GROUP BY release").fetchall()
            assert history == [("2026-10", manifest_rows(data_dir, table, "2026-10"))]
        # the latest-release view has exactly the table's columns (no hive column); history adds release first
        assert "release" not in con.sql("SELECT * FROM empresas LIMIT 0").columns
        assert con.sql("SELECT * FROM empresas_history LIMIT 0").columns[0] == "release"
        for view in ENRICHED:
            assert con.sql(f"SELECT count(*) FROM {view}").fetchall()[0][0] > 0
        # the macros live in the catalog too, so views that use them work in any client
        assert con.sql("SELECT rfb_text('  x  '), rfb_date('20230230')").fetchall() == [("x", None)]
        assert con.sql("SELECT count(*) FROM audit_runs").fetchall()[0][0] >= 1
        sql = con.sql("SELECT sql FROM duckdb_views() WHERE view_name = 'estabelecimentos'").fetchall()[0][0]
        # relative to the data dir, so a moved data dir keeps working (issue 11)
        assert "'parquet/estabelecimentos/release=2026-10/part-0.parquet'" in sql and str(data_dir.resolve()) not in sql
    finally:
        con.close()


def test_enriched_views_keep_every_row_once_and_show_orphan_codes(sample_build):
    _, data_dir, _ = sample_build
    con = catalog(data_dir)
    try:

        def one(sql: str) -> int:
            return con.sql(sql).fetchall()[0][0]

        # The sample repeats company keys (duplicate_row, duplicate_key), and some have establishments: a plain
        # join would repeat them.
        assert one("SELECT count(*) - count(DISTINCT cnpj_basico) FROM empresas") >= 2
        assert one("SELECT count(*) FROM estabelecimentos LEFT JOIN empresas USING (cnpj_basico)") > one(
            "SELECT count(*) FROM estabelecimentos"
        )
        assert one("SELECT count(*) FROM estabelecimentos_completos") == one("SELECT count(*) FROM estabelecimentos")
        assert one("SELECT count(*) FROM socios_completos") == one("SELECT count(*) FROM socios")
        assert one("SELECT count(*) FROM cnaes_secundarias") == one(
            "SELECT sum(len(cnae_fiscal_secundaria)) FROM estabelecimentos"
        )
        # the same rows, not just as many: every establishment once per time it is in estabelecimentos
        assert (
            one(
                "SELECT count(*) FROM (SELECT cnpj, count(*) FROM estabelecimentos GROUP BY ALL EXCEPT "
                "SELECT cnpj, count(*) FROM estabelecimentos_completos GROUP BY ALL)"
            )
            == 0
        )
        # motivo 32 is missing from motivos: its rows stay, with the code and no description
        orphans = con.sql(
            "SELECT count(*), count(motivo_situacao_cadastral_descricao) FROM "
            "estabelecimentos_completos WHERE motivo_situacao_cadastral = '32'"
        ).fetchall()[0]
        assert orphans == (one("SELECT count(*) FROM estabelecimentos WHERE motivo_situacao_cadastral = '32'"), 0)
        assert orphans[0] > 0
        assert (
            one(
                "SELECT count(*) FROM estabelecimentos_completos WHERE motivo_situacao_cadastral = '01' AND "
                "motivo_situacao_cadastral_descricao IS NULL"
            )
            == 0
        )
        # descriptions come from the right lookup, and fixed domains are spelled out
        row = con.sql(
            "SELECT e.municipio_descricao, m.descricao, e.situacao_cadastral, e.situacao_cadastral_descricao,"
            " e.razao_social, emp.razao_social FROM estabelecimentos_completos e JOIN municipios m ON "
            "m.codigo = e.municipio JOIN empresas emp USING (cnpj_basico) WHERE e.situacao_cadastral = '02' "
            "LIMIT 1"
        ).fetchall()[0]
        assert row[0] == row[1] and row[3] == "ATIVA" and row[4] == row[5]
        item = con.sql("SELECT cnpj, posicao, cnae FROM cnaes_secundarias WHERE posicao = 2 LIMIT 1").fetchall()[0]
        assert one(f"SELECT cnae_fiscal_secundaria[2] = '{item[2]}' FROM estabelecimentos WHERE cnpj = '{item[0]}'")
    finally:
        con.close()


def test_repeated_lookup_codes_do_not_repeat_rows(sample_build, tmp_path):
    _, data_dir, _ = sample_build
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    con = catalog(data)
    cnae, qualificacao = con.sql(
        "SELECT (SELECT cnae_fiscal_principal FROM estabelecimentos LIMIT 1), "
        "(SELECT qualificacao_socio FROM socios LIMIT 1)"
    ).fetchall()[0]
    before = {v: con.sql(f"SELECT count(*) FROM {v}").fetchall()[0][0] for v in ENRICHED}
    first = con.sql(f"SELECT descricao FROM cnaes WHERE codigo = '{cnae}'").fetchall()[0][0]
    con.close()
    for table, code in (("cnaes", cnae), ("qualificacoes", qualificacao)):  # the same code again, other text
        extra = pa.table({"codigo": [code, code], "descricao": ["ZZ OUTRA DESCRICAO", "ZZ OUTRA DESCRICAO"]})
        partition = data / "parquet" / table / "release=2026-10"
        pq.write_table(extra, partition / "part-9.parquet")
        listed = Store(data).manifest_path(table, "2026-10")
        manifest = json.loads(listed.read_text())  # published, as a build would
        manifest["parts"]["part-9.parquet"] = {"zip_name": "planted", "sha256": "", "rows": 2, "run_id": 0}
        listed.write_text(json.dumps(manifest))
    assert refresh_catalog(data, SQL).problems == ()
    con = catalog(data)
    try:
        assert {v: con.sql(f"SELECT count(*) FROM {v}").fetchall()[0][0] for v in ENRICHED} == before
        described = con.sql(
            "SELECT DISTINCT cnae_fiscal_principal_descricao FROM estabelecimentos_completos "
            f"WHERE cnae_fiscal_principal = '{cnae}'"
        ).fetchall()
        assert described == [(f"{first} | ZZ OUTRA DESCRICAO",)]
    finally:
        con.close()


@pytest.mark.slow
def test_history_holds_every_release_and_views_show_the_latest(releases):
    con = catalog(releases)
    try:
        for table in ("estabelecimentos", "socios", "motivos"):
            counts = dict(con.sql(f"SELECT release, count(*) FROM {table}_history GROUP BY ALL").fetchall())
            built = ["2026-08", "2026-09", "2026-10"] if table == "motivos" else ["2026-09", "2026-10"]
            assert counts == {r: manifest_rows(releases, table, r) for r in built}
            assert con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0] == counts["2026-10"]
        assert manifest_rows(releases, "estabelecimentos", "2026-09") != manifest_rows(
            releases, "estabelecimentos", "2026-10"
        )
        # filters on release reach the partitions: only that release's rows
        assert con.sql("SELECT count(*) FROM empresas_history WHERE release = '2026-09'").fetchall()[0][
            0
        ] == manifest_rows(releases, "empresas", "2026-09")
    finally:
        con.close()


@pytest.mark.slow
def test_query_release_shows_that_release_and_nothing_else(releases, capsys):
    code, out, _ = cli_run(
        capsys,
        "--data-dir",
        str(releases),
        "query",
        "--release",
        "2026-09",
        "--format",
        "csv",
        "SELECT (SELECT count(*) FROM estabelecimentos) AS e, (SELECT count(*) FROM "
        "estabelecimentos_completos) AS c, (SELECT count(*) FROM audit_runs) AS runs",
    )
    assert code == 0
    e, c, runs = next(csv.DictReader(io.StringIO(out))).values()
    assert int(e) == int(c) == manifest_rows(releases, "estabelecimentos", "2026-09")
    assert int(runs) == 3  # the audit tables of the catalog are there too
    # 2026-08 has only motivos: estabelecimentos is absent rather than showing another month
    code, out, err = cli_run(
        capsys, "--data-dir", str(releases), "query", "--release", "2026-08", "SELECT count(*) FROM estabelecimentos"
    )
    assert code == 1 and out == ""
    assert err.startswith("error: Catalog Error: Table with name estabelecimentos does not exist")
    assert "release 2026-08 has: motivos" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli_run(capsys, "--data-dir", str(releases), "query", "--release", "2026-01", "SELECT 1")
    assert code == 2 and "release 2026-01: nothing built" in err and "2026-08, 2026-09, 2026-10" in err
    con = connect(releases, SQL, "2026-08")
    try:
        assert con.sql("SELECT count(*) FROM motivos").fetchall()[0][0] == manifest_rows(releases, "motivos", "2026-08")
        names = {
            r[0]
            for r in con.sql(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal AND database_name = 'memory'"
            ).fetchall()
        }
        assert "estabelecimentos_completos" not in names and "motivos_history" in names
    finally:
        con.close()


@pytest.mark.slow
def test_temporary_views_shadow_the_catalog_in_a_read_only_connection(releases):
    con = catalog(releases)
    try:
        made = create_views(con, releases, SQL, release="2026-09", temporary=True)
        assert "estabelecimentos_completos" in made and "motivos" in made
        assert con.sql("SELECT count(*) FROM estabelecimentos_completos").fetchall()[0][0] == manifest_rows(
            releases, "estabelecimentos", "2026-09"
        )
        # the temporary macros (a read-only catalog takes no others) work
        assert con.sql("SELECT rfb_flag('S')").fetchall() == [(True,)]
    finally:
        con.close()
    con = catalog(releases)
    try:  # nothing persisted
        assert con.sql("SELECT count(*) FROM estabelecimentos").fetchall()[0][0] == manifest_rows(
            releases, "estabelecimentos", "2026-10"
        )
    finally:
        con.close()


@pytest.mark.slow
def test_parquet_layout_reads_with_pyarrow_dataset_and_hive_partitioning(releases):
    dataset = ds.dataset(releases / "parquet" / "estabelecimentos", format="parquet", partitioning="hive")
    assert "release" in dataset.schema.names
    assert dataset.count_rows() == sum(manifest_rows(releases, "estabelecimentos", r) for r in ("2026-09", "2026-10"))
    older = dataset.to_table(filter=ds.field("release") == "2026-09", columns=["cnpj", "cnae_fiscal_secundaria"])
    assert older.num_rows == manifest_rows(releases, "estabelecimentos", "2026-09")
    assert pa.types.is_list(older.schema.field("cnae_fiscal_secundaria").type)
    empresas = ds.dataset(releases / "parquet" / "empresas", format="parquet", partitioning="hive")
    assert pa.types.is_decimal(empresas.schema.field("capital_social").type)
    assert pa.types.is_date(
        ds.dataset(releases / "parquet" / "simples", format="parquet", partitioning="hive")
        .schema.field("data_opcao_simples")
        .type
    )


@pytest.mark.slow
def test_local_releases_reports_what_is_built(releases):
    found = local_releases(releases)
    assert [r.release for r in found] == ["2026-08", "2026-09", "2026-10"]
    assert [t.name for t in found[0].tables] == ["motivos"]
    newest = found[-1]
    assert {t.name for t in newest.tables} == set(TABLES)
    for t in newest.tables:
        folder = releases / "parquet" / t.name / "release=2026-10"
        assert t.rows == manifest_rows(releases, t.name, "2026-10")
        assert t.bytes == sum(p.stat().st_size for p in folder.iterdir()) and t.bytes > 0
        assert t.files == len(list(folder.glob("*.parquet"))) and not t.partial
        assert isinstance(t.built_at, datetime) and t.run_id == 1
    assert newest.rows == sum(t.rows or 0 for t in newest.tables)
    assert found[1].built_at is not None and found[1].built_at >= newest.built_at  # 2026-09 was built later
    assert {t.run_id for t in found[1].tables} == {2}


@pytest.mark.slow
def test_data_dictionary_is_in_the_catalog_and_describe(sample_build, capsys):
    _, data_dir, _ = sample_build
    con = catalog(data_dir)
    try:
        columns = con.sql(
            "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE database_name = 'cnpj'"
        ).fetchall()
        views = dict(con.sql("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall())
    finally:
        con.close()
    _, estab_docs = describe_sql((REPO_ROOT / "sql" / "estabelecimentos.sql").read_text(encoding="utf-8"))
    comments = {(t, c): doc for t, c, doc in columns}
    for name, doc in estab_docs.items():
        assert comments[("estabelecimentos", name)] == doc
        assert comments[("estabelecimentos_history", name)] == doc
    assert comments[("estabelecimentos_history", "release")].startswith("the release month")
    # every column of every output table, history and enriched view has its one-line description
    ours = [*TABLES, *(f"{t}_history" for t in TABLES), *ENRICHED]
    undocumented = [(t, c) for (t, c), doc in comments.items() if t in ours and not doc]
    assert undocumented == []
    assert all(views[v] for v in ours)
    assert "Release 2026-10" in views["socios"]
    assert comments[("audit_files", "values_nulled")].startswith("JSON")
    code, out, _ = cli_run(capsys, "--data-dir", str(data_dir), "describe", "--format", "json")
    listed = {o["name"]: o for o in json.loads(out)}
    assert code == 0 and set(ours) | {"audit_runs", "rejects"} <= set(listed)
    assert listed["estabelecimentos_completos"]["kind"] == "view" and listed["audit_runs"]["kind"] == "audit"
    assert listed["socios_history"]["kind"] == "history" and listed["socios"]["kind"] == "table"
    code, out, _ = cli_run(capsys, "--data-dir", str(data_dir), "describe", "cnaes_secundarias", "--format", "json")
    one = json.loads(out)
    assert [(c["name"], c["type"]) for c in one["columns"]] == [
        ("cnpj", "VARCHAR"),
        ("cnpj_basico", "VARCHAR"),
        ("posicao", "BIGINT"),
        ("cnae", "VARCHAR"),
        ("cnae_descricao", "VARCHAR"),
    ]
    assert all(c["description"] for c in one["columns"])
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "describe", "estabelecimentos_completos"])
    assert result.exit_code == 0 and "municipio_descricao" in result.output and "SIAFI" in result.output
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "describe"])
    assert result.exit_code == 0 and "socios_completos" in result.output and "audit" in result.output
    code, _, err = cli_run(capsys, "--data-dir", str(data_dir), "describe", "nope")
    assert code == 2 and "no table or view 'nope'" in err


# A result with every kind of value the formats must carry: NULL vs '', line breaks, quotes, separators,
# unicode, decimals, dates, timestamps, booleans, lists, NaN, and a column name that repeats.
EDGE_SQL = """
SELECT * FROM (VALUES
    (1, 'plain', 1061004829.23::DECIMAL(18, 2), DATE '2026-02-28', TIMESTAMP '2026-11-22 07:53:01',
     true, ['6201501', '6202300'], 1.5::DOUBLE),
    (2, '', -0.50::DECIMAL(18, 2), NULL, NULL, false, [], 'nan'::DOUBLE),
    (3, NULL, NULL, DATE '1900-01-01', NULL, NULL, NULL, NULL),
    (4, E'linha 1\\nlinha 2; "aspas" | pipe, vírgula ção', 999999999999.00::DECIMAL(18, 2), NULL, NULL, NULL,
     ['x'], 'inf'::DOUBLE)
) t(n, texto, capital, dia, quando, flag, codigos, razao)
ORDER BY n
"""


def edge_rows() -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.sql(EDGE_SQL).fetchall()
    finally:
        con.close()


def run_format(fmt: str, sql: str = EDGE_SQL, **kwargs) -> str:
    con = duckdb.connect()
    try:
        stream = io.StringIO()
        write_result(con.sql(sql), fmt, stream, **kwargs)
        return stream.getvalue()
    finally:
        con.close()


def test_csv_carries_every_value(tmp_path):
    parsed = list(csv.reader(io.StringIO(run_format("csv"), newline="")))
    assert parsed[0] == ["n", "texto", "capital", "dia", "quando", "flag", "codigos", "razao"]
    assert parsed[1] == [
        "1",
        "plain",
        "1061004829.23",
        "2026-02-28",
        "2026-11-22 07:53:01",
        "true",
        '["6201501","6202300"]',
        "1.5",
    ]
    assert parsed[2][:7] == ["2", "", "-0.50", "", "", "false", "[]"]
    assert parsed[4][1] == 'linha 1\nlinha 2; "aspas" | pipe, vírgula ção'
    assert parsed[4][2] == "999999999999.00"
    raw = run_format("csv")
    assert "\n3,,,1900-01-01,,,,\n" in raw and '\n2,"",' in raw  # NULL is empty, '' is quoted


def test_json_and_jsonl_carry_every_value():
    expected = edge_rows()
    docs = json.loads(run_format("json"), parse_float=Decimal)
    lines = [json.loads(line, parse_float=Decimal) for line in run_format("jsonl").splitlines()]
    assert docs == lines and len(docs) == len(expected)
    for doc, row in zip(docs, expected, strict=True):
        assert list(doc) == ["n", "texto", "capital", "dia", "quando", "flag", "codigos", "razao"]
        assert doc["n"] == row[0] and doc["texto"] == row[1] and doc["capital"] == row[2]  # decimals exactly
        assert doc["dia"] == (row[3].isoformat() if row[3] else None)
        assert doc["flag"] == row[5] and doc["codigos"] == row[6]
    assert docs[0]["quando"] == "2026-11-22 07:53:01"
    assert [d["razao"] for d in docs] == [Decimal("1.5"), None, None, None]  # NaN and inf have no JSON form
    assert run_format("json", "SELECT 1 AS a WHERE false") == "[]\n"
    assert run_format("jsonl", "SELECT 1 AS a WHERE false") == ""
    assert json.loads(run_format("json", "SELECT 1 AS a, 2 AS a")) == [{"a": 1, "a_1": 2}]


def test_table_and_markdown_show_values_and_say_what_they_left_out():
    table = run_format("table").splitlines()
    assert table[0].split("|")[0].strip() == "n" and [c.strip() for c in table[0].split("|")][-1] == "razao"
    assert set(table[1]) <= {"-", "+"}
    assert "linha 1\\nlinha 2" in table[5] and "NULL" in table[4] and "[6201501, 6202300]" in table[2]
    assert table[-1] == "(4 rows)"
    md = run_format("markdown").splitlines()
    assert md[0] == "| n | texto | capital | dia | quando | flag | codigos | razao |"
    assert md[1] == "|---:|---|---:|---|---|---|---|---:|"
    assert "\\| pipe" in md[5] and md[-1] == "_(4 rows)_"
    assert md[2].split(" | ")[2] == "1061004829.23"
    capped = run_format("table", "SELECT i FROM range(25000) t(i)", max_rows=3).splitlines()
    assert capped[2:5] == [" 0", " 1", " 2"] and capped[-1].startswith("(25,000 rows, 3 shown;")
    assert run_format("table", "SELECT 1 AS a, 2 AS a").splitlines()[2] == " 1 | 2"
    nested = "SELECT MAP {'cep': 2, 'uf': NULL} AS m, {'a': 1, 'b': 'x'} AS s"  # what diff hands over
    assert run_format("table", nested).splitlines()[2] == ' {cep: 2, uf: NULL} | {"a": 1, "b": "x"}'
    assert list(csv.reader(io.StringIO(run_format("csv", nested))))[1] == ['{"cep":2,"uf":null}', '{"a":1,"b":"x"}']
    assert json.loads(run_format("json", nested)) == [{"m": {"cep": 2, "uf": None}, "s": {"a": 1, "b": "x"}}]


def test_large_results_stream_in_batches(tmp_path):
    n = 3 * BATCH_ROWS + 7
    sql = f"SELECT i, 'row ' || i AS label, (i * 0.01)::DECIMAL(18, 2) AS amount FROM range({n}) t(i) ORDER BY i"
    parsed = list(csv.DictReader(io.StringIO(run_format("csv", sql))))
    assert len(parsed) == n
    assert parsed[-1] == {"i": str(n - 1), "label": f"row {n - 1}", "amount": f"{(n - 1) / 100:.2f}"}
    assert sum(1 for line in run_format("jsonl", sql).splitlines()) == n
    con = duckdb.connect()
    try:
        written = write_result(con.sql(sql), "parquet", io.StringIO(), output=tmp_path / "out" / "r.parquet")
        assert written.rows == n and written.output == tmp_path / "out" / "r.parquet"
        back = pq.read_table(tmp_path / "out" / "r.parquet")
        assert back.num_rows == n and back.column("amount").type == pa.decimal128(18, 2)
        assert back.column("label")[n - 1].as_py() == f"row {n - 1}"
        assert list(tmp_path.joinpath("out").iterdir()) == [tmp_path / "out" / "r.parquet"]  # no side file left
        # a record batch reader (what diff hands over) is read once, batch by batch
        reader = con.sql(sql).to_arrow_reader(batch_size=1000)
        stream = io.BytesIO()
        written = write_result(reader, "csv", stream)
        assert written.rows == n and stream.getvalue().count(b"\n") == n + 1
        reader = con.sql(sql).to_arrow_reader(batch_size=1000)
        text = io.StringIO()
        assert write_result(reader, "table", text, max_rows=5).rows == n
        assert text.getvalue().splitlines()[-1].startswith(f"({n:,} rows, 5 shown")
    finally:
        con.close()


def test_a_reader_is_converted_on_an_engine_bounded_by_the_config(config):
    # The private engine comes from store.open_engine: the config's threads and memory, spilling under the store.
    con = duckdb.connect()
    try:
        reader = con.sql("SELECT i, i * 2 AS twice FROM range(2500) t(i) ORDER BY i").to_arrow_reader(batch_size=1000)
        stream = io.BytesIO()
        written = write_result(reader, "csv", stream, config=config)
    finally:
        con.close()
    lines = stream.getvalue().decode().splitlines()
    assert written.rows == 2500 and lines[0] == '"i","twice"' and lines[-1] == "2499,4998"
    assert (config.data_dir / ".tmp").is_dir()


@pytest.mark.slow
def test_query_command_formats_on_the_catalog(sample_build, capsys, tmp_path, monkeypatch):
    _, data_dir, _ = sample_build
    sql = (
        "SELECT cnpj, razao_social, capital_social, data_inicio_atividade, cnae_fiscal_secundaria, opcao_mei, "
        "complemento FROM estabelecimentos_completos ORDER BY cnpj, razao_social"
    )
    con = catalog(data_dir)
    try:
        expected = con.sql(sql).fetchall()
    finally:
        con.close()
    assert len(expected) > BATCH_ROWS  # the sample's 13k establishments take more than one batch
    d = ["--data-dir", str(data_dir), "query"]
    code, out, _ = cli_run(capsys, *d, sql, "--format", "jsonl")
    docs = [json.loads(line, parse_float=Decimal) for line in out.splitlines()]
    assert code == 0 and len(docs) == len(expected)
    for doc, row in zip(docs, expected, strict=True):
        assert tuple(doc.values()) == (
            row[0],
            row[1],
            row[2],
            row[3].isoformat() if row[3] else None,
            row[4],
            row[5],
            row[6],
        )
    code, out, _ = cli_run(capsys, *d, sql, "--format", "csv")
    parsed = list(csv.reader(io.StringIO(out, newline="")))[1:]
    assert code == 0 and [r[0] for r in parsed] == [r[0] for r in expected]
    assert [r[6] for r in parsed] == [r[6] or "" for r in expected]  # line breaks and ';' survive
    assert any("\n" in (r[6] or "") for r in expected)
    code, _, err = cli_run(capsys, *d, sql, "--format", "parquet", "--output", str(tmp_path / "e.parquet"))
    back = pq.read_table(tmp_path / "e.parquet")
    assert code == 0 and f"wrote {len(expected):,} rows" in err
    assert [tuple(r.values()) for r in back.to_pylist()] == expected
    code, out, _ = cli_run(capsys, *d, sql, "--format", "markdown", "--max-rows", "2")
    assert code == 0 and len(out.splitlines()) == 2 + 2 + 2 and f"_({len(expected):,} rows, 2 shown" in out
    # the SQL from a file, from stdin with "-", and from a pipe
    (tmp_path / "q.sql").write_text("SELECT count(*) AS n FROM motivos", encoding="utf-8")
    code, out, _ = cli_run(capsys, *d, "--file", str(tmp_path / "q.sql"), "--format", "csv")
    assert (code, out) == (0, f'"n"\n{manifest_rows(data_dir, "motivos", "2026-10")}\n')  # pyarrow quotes text
    monkeypatch.setattr(sys, "stdin", io.StringIO("SELECT 41 + 1 AS answer"))
    assert cli_run(capsys, *d, "-", "--format", "csv")[1] == '"answer"\n42\n'
    monkeypatch.setattr(sys, "stdin", io.StringIO("SELECT 'piped' AS how"))
    assert cli_run(capsys, *d, "--format", "jsonl")[1] == '{"how":"piped"}\n'


@pytest.mark.slow
def test_a_sql_error_is_one_line_and_exit_1(sample_build, capsys):
    _, data_dir, _ = sample_build
    d = ["--data-dir", str(data_dir), "query"]
    for sql, start in (
        ("SELECT * FROM nope", "error: Catalog Error: Table with name nope does not exist!"),
        ("SELEC 1", 'error: Parser Error: syntax error at or near "SELEC"'),
        ("SELECT cnpjj FROM estabelecimentos", 'error: Binder Error: Referenced column "cnpjj"'),
        ("SELECT error('boom')", "error: Invalid Input Error: boom"),
        ("CREATE TABLE t AS SELECT 1", "error: "),
    ):  # the catalog is opened read-only
        code, out, err = cli_run(capsys, *d, sql, "--format", "csv")
        assert code == 1, sql
        assert err.startswith(start) and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err and out == ""
    code, _, err = cli_run(capsys, *d, "SELECT 1", "--format", "parquet")
    assert code == 2 and "--output" in err
    code, _, err = cli_run(capsys, *d, "   ")
    assert code == 2 and "the query is empty" in err
    with pytest.raises(SqlError, match="Table with name nope"):
        con = connect(data_dir, SQL)
        try:
            run_query(con, "SELECT * FROM nope")
        finally:
            con.close()
    with pytest.raises(UsageError, match="parquet writes a file"):
        write_result(duckdb.sql("SELECT 1"), "parquet", io.StringIO())


def test_query_into_a_closed_pipe_stops_quietly(sample_build):
    _, data_dir, _ = sample_build
    done = subprocess.run(
        f"{sys.executable} -m cnpj_duck.cli --data-dir {data_dir} query --format csv "
        "'SELECT * FROM range(2000000)' | head -2",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert done.stdout == '"range"\n0\n'
    assert done.stderr == ""


@pytest.mark.slow
def test_a_view_that_fails_is_a_warning_and_the_build_stands(sample_build, tmp_path):
    manifest, data_dir, _ = sample_build
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    sql = tmp_path / "sql"
    shutil.copytree(REPO_ROOT / "sql", sql)
    (sql / "views" / "quebrada.sql").write_text(
        "-- quebrada: reads a column that is not there\nSELECT nao_existe AS x -- nothing\nFROM empresas\n",
        encoding="utf-8",
    )
    config = load_config(None, overrides={"data_dir": str(data), "sql_dir": str(sql)}, env={})
    summary = build(config, source=manifest.folder, tables=["motivos"])  # any build refreshes every view
    assert summary.status == "succeeded"
    assert [w for w in summary.warnings if "quebrada" in w] == [
        w for w in summary.warnings if w.startswith("catalog view not created: ")
    ]
    assert any("quebrada.sql: Binder Error" in w for w in summary.warnings)
    con = catalog(data)
    try:
        names = {r[0] for r in con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    finally:
        con.close()
    assert set(ENRICHED) <= names and "quebrada" not in names
    # a damaged Parquet file costs its table's views (with a warning), not the others nor the build
    # (the file must be one the manifest lists: a stray file in a partition is not part of the data)
    paises = data / "parquet" / "paises" / "release=2026-10"
    path = Store(data).manifest_path("paises", "2026-10")
    listed = json.loads(path.read_text())
    listed["parts"]["part-7.parquet"] = listed["parts"]["part-0.parquet"]
    path.write_text(json.dumps(listed))
    (paises / "part-7.parquet").write_bytes(b"not parquet at all")
    summary = build(config, source=manifest.folder, tables=["motivos"])
    assert summary.status == "succeeded"
    damaged = [w for w in summary.warnings if "quebrada" not in w]
    # (the history view reads every footer to create itself; the others read it when queried)
    assert len(damaged) == 1 and damaged[0].startswith("catalog view not created: paises_history: ")
    assert "part-7.parquet" in damaged[0]
    con = catalog(data)
    try:
        names = {r[0] for r in con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        assert "paises_history" not in names and {"motivos", "motivos_history", "paises"} <= names
        with pytest.raises(duckdb.Error, match="part-7.parquet"):
            con.sql("SELECT count(*) FROM paises").fetchall()
    finally:
        con.close()
    # a table whose output is gone loses its views at the next refresh
    shutil.rmtree(data / "parquet" / "socios")
    assert "socios_completos" not in refresh_catalog(data, config.sql_dir).views
    con = catalog(data)
    try:
        names = {r[0] for r in con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    finally:
        con.close()
    assert not names & {"socios", "socios_history", "socios_completos"} and "empresas" in names


def test_dates_in_json_are_iso_and_timestamps_keep_their_time():
    docs = json.loads(run_format("json", "SELECT DATE '2026-01-02' AS d, TIMESTAMP '2026-01-02 03:04:05.5' AS t"))
    assert docs == [{"d": date(2026, 1, 2).isoformat(), "t": "2026-01-02 03:04:05.5"}]


def test_releases_local_lists_the_built_release_in_both_formats(sample_build):
    manifest, data_dir, summary = sample_build
    runner = CliRunner()
    result = runner.invoke(cli, ["--data-dir", str(data_dir), "releases", "--local", "--format", "json"])
    assert result.exit_code == 0, result.output
    (found,) = json.loads(result.output)
    assert found["release"] == "2026-10"
    by_table = {t["table"]: t for t in found["tables"]}
    for table in summary.tables:
        assert by_table[table.name]["rows"] == table.rows_in_output
        assert by_table[table.name]["run_id"] == summary.run_id and by_table[table.name]["partial"] is False
    assert found["rows"] == sum(t.rows_in_output for t in summary.tables)
    assert found["bytes"] == sum(p.stat().st_size for p in (data_dir / "parquet").rglob("release=2026-10/*"))
    result = runner.invoke(cli, ["--data-dir", str(data_dir), "releases", "--local"])
    assert result.exit_code == 0 and "1 release built under" in result.output
    assert f"{found['rows']:,}" in result.output and "estabelecimentos" in result.output


# --- errors while rows stream, --output written aside, repeated names, mixed releases -----------------------

LATE_SQL = "SELECT CASE WHEN range = 25000 THEN error('late') END AS x FROM range(30000)"  # past the first batch


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json", "jsonl", "parquet"])
def test_an_error_while_rows_stream_is_a_sql_error(fmt, tmp_path):
    # pyarrow's reader hands DuckDB's error on as OSError; it must come out as DuckDB's message, in every
    # format, from a relation and from a record batch reader (what `diff --records` and export pass).
    output = tmp_path / f"out.{fmt}" if fmt == "parquet" else None
    con = duckdb.connect()
    try:
        for as_reader in (False, True):
            result = con.sql(LATE_SQL)
            with pytest.raises(SqlError) as e:
                write_result(
                    result.to_arrow_reader(batch_size=BATCH_ROWS) if as_reader else result, fmt, io.StringIO(), output
                )
            assert str(e.value) == "Invalid Input Error: late"
    finally:
        con.close()
    assert list(tmp_path.iterdir()) == []  # no half-written parquet, no side file


def test_a_late_sql_error_from_the_cli_is_one_line(sample_build, capsys):
    _, data_dir, _ = sample_build
    code, _, err = cli_run(capsys, "--data-dir", str(data_dir), "query", LATE_SQL, "--format", "csv")
    assert (code, err) == (1, "error: Invalid Input Error: late\n")


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "table", "markdown", "parquet"])
def test_a_failed_query_keeps_the_previous_output_file(fmt, tmp_path):
    target = tmp_path / f"result.{fmt}"
    target.write_bytes(b"previous\n")
    con = duckdb.connect()
    try:
        with pytest.raises(SqlError, match="late"):
            write_result(con.sql(LATE_SQL), fmt, io.StringIO(), target)
        assert target.read_bytes() == b"previous\n"
        assert [p.name for p in tmp_path.iterdir()] == [target.name]  # the side file is gone
        written = write_result(con.sql("SELECT 7 AS n"), fmt, io.StringIO(), target, max_rows=0)
    finally:
        con.close()
    assert written.rows == 1 and written.output == target
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    if fmt == "parquet":
        assert pq.read_table(target).to_pylist() == [{"n": 7}]
    else:
        assert b"7" in target.read_bytes() and b"previous" not in target.read_bytes()


@pytest.mark.slow  # commands in subprocesses, seconds
def test_output_folders_links_pipes_and_write_errors(sample_build, capsys, tmp_path):
    import errno
    import os
    import threading

    from cnpj_duck.errors import CnpjDuckError

    _, data_dir, _ = sample_build
    d = ["--data-dir", str(data_dir), "query", "SELECT 42 AS answer", "--format"]
    # A missing folder is made; a folder that cannot be made is a one-line usage error.
    code, _, err = cli_run(capsys, *d, "json", "--output", str(tmp_path / "new" / "deep" / "a.json"))
    assert code == 0, err
    assert json.loads((tmp_path / "new" / "deep" / "a.json").read_text()) == [{"answer": 42}]
    (tmp_path / "plain").write_text("a file, not a folder")
    for fmt in ("csv", "parquet"):
        code, _, err = cli_run(capsys, *d, fmt, "--output", str(tmp_path / "plain" / "a.out"))
        assert (
            code == 2
            and err.startswith(f"error: --output {tmp_path / 'plain' / 'a.out'}: cannot create its folder")
            and len(err.strip().splitlines()) == 1
        ), err
    # A symlink: the file it points to is replaced, the link stays.
    (tmp_path / "real.csv").write_text("old\n")
    (tmp_path / "link.csv").symlink_to("real.csv")
    assert cli_run(capsys, *d, "csv", "--output", str(tmp_path / "link.csv"))[0] == 0
    assert (tmp_path / "link.csv").is_symlink() and (tmp_path / "real.csv").read_text() == '"answer"\n42\n'
    # A pipe (as /dev/stdout or /dev/null would be) is written in place, never renamed over.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert cli_run(capsys, *d, "jsonl", "--output", str(fifo))[0] == 0
    reader.join(10)
    assert got == [b'{"answer":42}\n'] and fifo.is_fifo()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]

    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(CnpjDuckError, match=r"^cannot write the result \(No space left on device\)$") as e:
        write_result(duckdb.sql("SELECT 1 AS x"), "csv", Full())
    assert not isinstance(e.value, SqlError)


def test_parquet_output_gets_distinct_column_names(tmp_path, sample_build, capsys):
    target = tmp_path / "twice.parquet"
    con = duckdb.connect()
    try:
        write_result(con.sql("SELECT 1 AS a, 2 AS a, 3 AS a_1"), "parquet", io.StringIO(), target)
    finally:
        con.close()
    table = pq.read_table(target)
    assert len(set(table.column_names)) == 3 and table.column_names[:2] == ["a", "a_1"]
    assert sorted(table.to_pylist()[0].values()) == [1, 2, 3]
    _, data_dir, _ = sample_build
    code, _, err = cli_run(
        capsys, "--data-dir", str(data_dir), "query", "SELECT 1 a, 1 a", "--format", "parquet", "--output", str(target)
    )
    assert code == 0, err
    assert pq.read_table(target).to_pylist() == [{"a": 1, "a_1": 1}]


@pytest.mark.slow  # a build, seconds
def test_refresh_warns_when_a_newer_release_is_built_in_part(sample_build, tmp_path):
    # Issue 11: one "latest built release" for every table (the newest complete month), not each table's own.
    _, data_dir, _ = sample_build
    assert refresh_catalog(data_dir, SQL).mixed is None  # one release: nothing to say
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    # A month built in part: only motivos has 2026-12.
    month = data / "parquet" / "motivos" / "release=2026-12"
    copy_table(data, data, "motivos", "2026-10", "2026-12")
    duckdb.sql(f"COPY (SELECT * FROM read_parquet('{month}/part-0.parquet') LIMIT 5) TO '{month}/five.parquet'")
    (month / "five.parquet").replace(month / "part-0.parquet")  # 5 rows, to tell the months apart
    refreshed = refresh_catalog(data, SQL)
    assert refreshed.problems == () and refreshed.mixed is not None
    assert "built only in part (2026-12: motivos); the views show 2026-10" in refreshed.mixed
    assert "--release YYYY-MM" in refreshed.mixed
    con = catalog(data)
    try:  # every table view shows 2026-10, motivos too; its history has both months
        assert (
            con.sql("SELECT count(*) FROM motivos").fetchall()
            == con.sql("SELECT count(*) FROM motivos_history WHERE release = '2026-10'").fetchall()
        )
        assert con.sql("SELECT count(*) FROM motivos_history WHERE release = '2026-12'").fetchall() == [(5,)]
    finally:
        con.close()
    con = connect(data, SQL, "2026-12")
    try:
        assert con.sql("SELECT count(*) FROM motivos").fetchall() == [(5,)]
    finally:
        con.close()
