"""export duckdb: one self-contained DuckDB file, checked from a copy in another folder against the Parquet."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from cnpj_duck.audit import load_run
from cnpj_duck.catalogdb import storage_version
from cnpj_duck.config import load_config
from cnpj_duck.errors import CnpjDuckError, UsageError
from cnpj_duck.export_duckdb import INDEXES, write_duckdb
from cnpj_duck.progress import RecordingProgress
from cnpj_duck.store import RELEASE_TABLES, Store

from .conftest import catalog, cli_run, export_once

pytestmark = pytest.mark.slow  # the sample build and an export of it: seconds

RELEASE = "2026-10"


def _config(data: Path):
    return load_config(None, overrides={"data_dir": str(data)}, env={})


@pytest.fixture(scope="module")
def exported(sample_build, tmp_path_factory):
    """The sample release written once as a DuckDB file, and a copy of it in another folder."""
    return export_once(sample_build, tmp_path_factory, write_duckdb, "cnpj.duckdb")


def _open_copy(path: Path, monkeypatch: pytest.MonkeyPatch) -> duckdb.DuckDBPyConnection:
    monkeypatch.chdir(path.parent)  # a fresh connection from the copy's folder: no Parquet, no data dir there
    return duckdb.connect(str(path), read_only=True)


def _parquet(data: Path, table: str) -> list[tuple]:
    files = Store(data).part_files(table, RELEASE)
    con = duckdb.connect()
    try:
        return con.read_parquet([str(f) for f in files], hive_partitioning=False).fetchall()
    finally:
        con.close()


def _key(row: tuple) -> tuple:
    return tuple((v is None, str(v)) for v in row)


def test_every_table_matches_the_parquet_value_by_value(exported, monkeypatch):
    summary, _, data, copy = exported
    con = _open_copy(copy, monkeypatch)
    try:
        names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert set(RELEASE_TABLES) <= names
        for table in RELEASE_TABLES:
            got = con.execute(f'SELECT * FROM "{table}"').fetchall()
            want = _parquet(data, table)
            assert (
                len(got)
                == len(want)
                == sum(
                    Store(data).manifest(table, RELEASE)["parts"][p]["rows"]
                    for p in Store(data).manifest(table, RELEASE)["parts"]
                )
            )
            assert sorted(got, key=_key) == sorted(want, key=_key), table
            types = [
                r[0]
                for r in con.execute(
                    f"SELECT data_type FROM duckdb_columns() WHERE table_name = '{table}' ORDER BY column_index"
                ).fetchall()
            ]
            parquet_types = [
                str(t)
                for t in duckdb.connect().read_parquet([str(f) for f in Store(data).part_files(table, RELEASE)]).types
            ]
            assert types == parquet_types, table
    finally:
        con.close()
    assert {t.name: t.rows for t in summary.tables}["estabelecimentos"] == len(_parquet(data, "estabelecimentos"))


def test_tables_are_sorted_by_their_key_and_indexed(exported, monkeypatch):
    _, _, _, copy = exported
    con = _open_copy(copy, monkeypatch)
    try:
        for table, key in (("estabelecimentos", "cnpj"), ("empresas", "cnpj_basico"), ("socios", "cnpj_basico")):
            values = [r[0] for r in con.execute(f"SELECT {key} FROM {table} ORDER BY rowid").fetchall()]
            assert values == sorted(values) and len(values) > 1000, table
        indexes = {(r[0], r[1]) for r in con.execute("SELECT table_name, index_name FROM duckdb_indexes()").fetchall()}
        assert indexes == {(t, f"{t}_{'_'.join(c)}_idx") for t, cols in INDEXES.items() for c in cols}
        cnpj = con.execute("SELECT cnpj FROM estabelecimentos LIMIT 1 OFFSET 500").fetchall()[0][0]
        assert con.execute("SELECT count(*) FROM estabelecimentos WHERE cnpj = ?", [cnpj]).fetchall() == [(1,)]
    finally:
        con.close()


def test_views_macros_comments_and_metadata_travel_with_the_file(exported, monkeypatch):
    summary, _, data, copy = exported
    assert storage_version(copy) == 68  # DuckDB 1.x clients read 64-68
    con = _open_copy(copy, monkeypatch)
    try:
        assert set(summary.views) == {"cnaes_secundarias", "estabelecimentos_completos", "socios_completos"}
        completos = con.execute("SELECT count(*), count(razao_social) FROM estabelecimentos_completos").fetchall()
        assert completos[0][0] == len(_parquet(data, "estabelecimentos")) and completos[0][1] > 0
        assert con.execute("SELECT cnpj_is_valid('11222333000181'), cnpj_is_valid('11222333000182')").fetchall() == [
            (True, False)
        ]
        comment = con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'estabelecimentos'").fetchall()
        assert "Release 2026-10" in comment[0][0]
        column = con.execute(
            "SELECT comment FROM duckdb_columns() WHERE table_name = 'estabelecimentos' AND column_name = 'cnpj'"
        ).fetchall()[0][0]
        assert column and "14" in column
        meta = con.execute("SELECT release, extracted_on::VARCHAR, run_id, format FROM cnpj_duck_metadata").fetchall()
        assert meta == [(RELEASE, "2026-10-11", summary.run_id, "duckdb")]
        described = con.execute(
            "SELECT count(*) FROM cnpj_duck_dictionary WHERE table_name = 'empresas' AND "
            "column_name IS NOT NULL AND description IS NOT NULL"
        ).fetchall()[0][0]
        assert described == len(con.sql("SELECT * FROM empresas LIMIT 0").columns)
    finally:
        con.close()


def test_the_export_is_audited_and_reports_progress(exported):
    summary, progress, data, _ = exported
    con = catalog(data)
    try:
        run = load_run(con, summary.run_id)
    finally:
        con.close()
    assert run["status"] == "succeeded" and run["command"] == "export duckdb" and run["release"] == RELEASE
    assert json.loads(run["config"])["export.path"].endswith("cnpj.duckdb")
    tables = {t["table_name"]: t for t in run["tables"]}
    assert set(tables) == set(RELEASE_TABLES)
    estab = tables["estabelecimentos"]
    assert estab["rows_written"] == len(_parquet(data, "estabelecimentos"))
    assert sorted(f["zip_name"] for f in estab["files"]) == [f"part-{n}.parquet" for n in range(10)]
    for f in estab["files"]:
        assert f["status"] == "succeeded" and sum(b["rows_written"] for b in f["batches"]) == f["rows_written"] > 0
    assert run["rows_written"] == summary.rows
    assert sum(d["amount"] for task, d in progress.of("advance") if task == "export") == summary.rows
    assert dict(progress.of("finish"))["export"]["status"] == "succeeded"


def test_a_failed_export_keeps_the_previous_file(exported, tmp_path):
    summary, _, data, copy = exported
    target = tmp_path / "cnpj.duckdb"
    shutil.copy2(copy, target)
    before = target.read_bytes()
    broken = tmp_path / "data"
    shutil.copytree(data, broken)
    path = Store(broken).manifest_path("socios", RELEASE)
    manifest = json.loads(path.read_text())
    manifest["parts"]["part-3.parquet"]["rows"] += 1  # the Parquet no longer holds what its manifest says
    path.write_text(json.dumps(manifest))
    with pytest.raises(CnpjDuckError, match="part-3.parquet: .* its manifest says"):
        write_duckdb(Store(broken), RELEASE, target, config=_config(broken))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["cnpj.duckdb"]  # nothing left aside
    con = catalog(broken)
    try:
        run = load_run(con)
    finally:
        con.close()
    assert run["status"] == "failed" and {t["table_name"]: t["status"] for t in run["tables"]}["socios"] == "failed"


def test_bad_release_and_target_are_usage_errors(exported, tmp_path):
    _, _, data, _ = exported
    with pytest.raises(UsageError, match="expected a month"):
        write_duckdb(Store(data), "2026-13", tmp_path / "x.duckdb", config=_config(data))
    with pytest.raises(UsageError, match="no such folder"):
        write_duckdb(Store(data), None, tmp_path / "nope" / "x.duckdb", config=_config(data))
    with pytest.raises(UsageError, match="is a folder"):
        write_duckdb(Store(data), None, tmp_path, config=_config(data))


def test_the_command_writes_the_file_and_exits_with_the_documented_codes(exported, tmp_path, capsys):
    _, _, data, _ = exported
    code, out, err = cli_run(
        capsys,
        "--data-dir",
        str(data),
        "export",
        "duckdb",
        str(tmp_path / "c.duckdb"),
        "--release",
        "latest",
        "--no-indexes",
        "--quiet",
    )
    assert code == 0, err
    assert "estabelecimentos_completos" in out and "(duckdb," in out
    con = duckdb.connect(str(tmp_path / "c.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM duckdb_indexes()").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM socios").fetchone()[0] == len(_parquet(data, "socios"))
    finally:
        con.close()
    code, _, err = cli_run(capsys, "--data-dir", str(data), "export", "duckdb", str(tmp_path))
    assert code == 2 and "is a directory" in err  # click says it, in one error: line


# The README's queries of a copied file (section "Export to one DuckDB file"); answered as from the Parquet.
README_QUERIES = (
    "SELECT release, extracted_on, run_id FROM cnpj_duck_metadata",
    "SELECT e.cnpj, e.razao_social, s.nome_socio_razao_social AS socio, s.qualificacao_socio_descricao AS qualificacao "
    "FROM estabelecimentos_completos e JOIN socios_completos s USING (cnpj_basico) "
    "WHERE e.uf = 'PE' AND e.situacao_cadastral_descricao = 'ATIVA' ORDER BY e.cnpj, socio LIMIT 3",
    "SELECT cnae, cnae_descricao, count(*) AS n FROM cnaes_secundarias GROUP BY ALL ORDER BY n DESC, cnae LIMIT 3",
)


def test_the_readme_queries_answer_from_the_copy_as_from_the_parquet(exported, monkeypatch):
    from cnpj_duck.catalog import connect_reader

    summary, _, data, copy = exported
    config = _config(data)
    reader = connect_reader(data, config.sql_dir)
    try:
        expected = [reader.execute(q).fetchall() for q in README_QUERIES[1:]]
    finally:
        reader.close()
    con = _open_copy(copy, monkeypatch)
    try:
        assert con.execute(README_QUERIES[0]).fetchall()[0][0::2] == (RELEASE, summary.run_id)
        for query, want in zip(README_QUERIES[1:], expected, strict=True):
            got = con.execute(query).fetchall()
            assert got == want and len(got) == 3, query
    finally:
        con.close()


def test_an_index_that_does_not_fit_in_memory_is_left_out_with_a_warning(exported, tmp_path, monkeypatch):
    # At scale 0.3 the ART index of empresas' 17 M keys did not fit in 768MB (DuckDB builds it whole in memory)
    # and the export died; now a table too big for half of memory_limit keeps its zone maps and says so.
    from cnpj_duck import export_duckdb

    _, _, data, _ = exported
    monkeypatch.setattr(export_duckdb, "ART_BYTES_PER_KEY", 10**9)  # as if every key took a GB
    progress = RecordingProgress()
    summary = write_duckdb(Store(data), RELEASE, tmp_path / "x.duckdb", config=_config(data), progress=progress)
    assert {t.name: t.indexes for t in summary.tables if t.name in INDEXES} == {name: () for name in INDEXES}
    warned = [d["text"] for level, d in progress.of("message") if level == "warning"]
    rows = {t.name: t.rows for t in summary.tables}
    assert f"estabelecimentos: no index on cnpj: {rows['estabelecimentos']:,} keys need about" in " ".join(warned)
    assert len([w for w in warned if ": no index on " in w]) == sum(len(v) for v in INDEXES.values())
    con = duckdb.connect(str(tmp_path / "x.duckdb"), read_only=True)
    try:  # a lookup still answers, from the sorted table
        (cnpj,) = con.execute("SELECT min(cnpj) FROM estabelecimentos").fetchone() or ("",)
        assert con.execute("SELECT count(*) FROM estabelecimentos WHERE cnpj = ?", [cnpj]).fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM duckdb_indexes()").fetchone() == (0,)
    finally:
        con.close()
