"""export sqlite: one SQLite file, opened from a copy in another folder with the sqlite3 module, against the
Parquet value by value."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from cnpj_duck.audit import load_run
from cnpj_duck.config import load_config
from cnpj_duck.errors import CnpjDuckError
from cnpj_duck.export_sqlite import sqlite_column, write_sqlite
from cnpj_duck.store import RELEASE_TABLES, Store

from .conftest import catalog, cli_run, export_once

pytestmark = pytest.mark.slow  # the sample build and an export of it: seconds

RELEASE = "2026-10"


def _config(data: Path):
    return load_config(None, overrides={"data_dir": str(data)}, env={})


@pytest.fixture(scope="module")
def exported(sample_build, tmp_path_factory):
    """The sample release written once as a SQLite file, and a copy of it in another folder."""
    return export_once(sample_build, tmp_path_factory, write_sqlite, "cnpj.db", batch_rows=1000)


def _open_copy(path: Path, monkeypatch: pytest.MonkeyPatch) -> sqlite3.Connection:
    monkeypatch.chdir(path.parent)
    return sqlite3.connect(f"file:{path.name}?mode=ro", uri=True)


def _parquet(data: Path, table: str) -> tuple[list[str], list[str], list[tuple]]:
    files = Store(data).part_files(table, RELEASE)
    con = duckdb.connect()
    try:
        rel = con.read_parquet([str(f) for f in files], hive_partitioning=False)
        return rel.columns, [str(t) for t in rel.types], rel.fetchall()
    finally:
        con.close()


def _as_parquet(value: object, kind: str) -> object:
    """A SQLite value read back as the Parquet's Python value (ISO text -> date, JSON -> list, REAL -> Decimal)."""
    if value is None:
        return None
    if kind == "DATE":
        return date.fromisoformat(str(value))
    if kind.endswith("[]"):
        return json.loads(str(value))
    if kind == "BOOLEAN":
        return bool(value)
    if kind.startswith("DECIMAL"):
        return Decimal(repr(value)).quantize(Decimal("0.01"))  # repr: the shortest text that reads back the same
    return value


def _key(row: tuple) -> tuple:
    return tuple((v is None, str(v)) for v in row)


def test_every_table_matches_the_parquet_value_by_value(exported, monkeypatch):
    _, _, data, copy = exported
    con = _open_copy(copy, monkeypatch)
    try:
        for table in RELEASE_TABLES:
            names, kinds, want = _parquet(data, table)
            cursor = con.execute(f'SELECT * FROM "{table}"')
            assert [d[0] for d in cursor.description] == names
            got = [tuple(_as_parquet(v, k) for v, k in zip(row, kinds, strict=True)) for row in cursor.fetchall()]
            assert len(got) == len(want) > 0, table
            assert sorted(got, key=_key) == sorted(want, key=_key), table
            declared = {r[1]: r[2] for r in con.execute(f'PRAGMA table_info("{table}")').fetchall()}
            assert declared == {n: sqlite_column(n, k)[0].split()[0] for n, k in zip(names, kinds, strict=True)}
        ddl = con.execute("SELECT sql FROM sqlite_master WHERE name = 'empresas'").fetchone()[0]
        assert '"razao_social" TEXT COLLATE NOCASE' in ddl
    finally:
        con.close()


def test_types_are_what_sqlite_users_expect(exported, monkeypatch):
    _, _, _, copy = exported
    con = _open_copy(copy, monkeypatch)
    try:
        kinds = dict(con.execute("SELECT typeof(data_inicio_atividade), count(*) FROM estabelecimentos GROUP BY 1"))
        assert set(kinds) <= {"text", "null"} and kinds["text"] > 0
        assert con.execute(
            "SELECT count(*) FROM estabelecimentos WHERE data_inicio_atividade IS NOT NULL AND "
            "date(data_inicio_atividade) IS NOT data_inicio_atividade"
        ).fetchone() == (0,)
        assert {r[0] for r in con.execute("SELECT DISTINCT typeof(capital_social) FROM empresas")} <= {"real", "null"}
        listed = con.execute("SELECT count(*) FROM estabelecimentos, json_each(cnae_fiscal_secundaria)").fetchone()[0]
        assert listed > 0
        assert {r[0] for r in con.execute("SELECT DISTINCT opcao_simples FROM simples")} <= {0, 1, None}
    finally:
        con.close()


def test_lookups_use_the_indexes(exported, monkeypatch):
    summary, _, _, copy = exported
    con = _open_copy(copy, monkeypatch)
    try:
        indexed = {
            (r[0], r[1]) for r in con.execute("SELECT tbl_name, sql FROM sqlite_master WHERE type = 'index'").fetchall()
        }
        assert len(indexed) == sum(len(t.indexes) for t in summary.tables)
        for sql, index in (
            ("SELECT * FROM estabelecimentos WHERE cnpj = '00000000000191'", "estabelecimentos_cnpj_idx"),
            ("SELECT * FROM estabelecimentos WHERE cnpj_basico = '00000000'", "estabelecimentos_cnpj_basico_idx"),
            ("SELECT * FROM empresas WHERE razao_social LIKE 'BANCO DO%'", "empresas_razao_social_idx"),
            ("SELECT * FROM estabelecimentos WHERE nome_fantasia = 'x'", "estabelecimentos_nome_fantasia_idx"),
            ("SELECT * FROM socios WHERE cnpj_cpf_socio = '***123456**'", "socios_cnpj_cpf_socio_idx"),
            ("SELECT * FROM socios WHERE nome_socio_razao_social LIKE 'MARIA%'", "socios_nome_socio_razao_social_idx"),
            (
                "SELECT * FROM estabelecimentos WHERE uf = 'SP' AND municipio = '7107'",
                "estabelecimentos_uf_municipio_idx",
            ),
            (
                "SELECT * FROM estabelecimentos WHERE cnae_fiscal_principal = '6201501'",
                "estabelecimentos_cnae_fiscal_principal_idx",
            ),
        ):
            plan = " ".join(str(r[-1]) for r in con.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall())
            assert f"INDEX {index}" in plan, (sql, plan)
        assert con.execute("SELECT count(*) FROM sqlite_stat1").fetchone()[0] > 0  # ANALYZE ran
    finally:
        con.close()


def test_metadata_and_dictionary(exported, monkeypatch):
    summary, _, _, copy = exported
    con = _open_copy(copy, monkeypatch)
    try:
        assert con.execute("SELECT release, extracted_on, run_id, format FROM cnpj_duck_metadata").fetchall() == [
            (RELEASE, "2026-10-11", summary.run_id, "sqlite")
        ]
        doc = con.execute(
            "SELECT description FROM cnpj_duck_dictionary WHERE table_name = 'estabelecimentos' "
            "AND column_name = 'cnpj'"
        ).fetchone()[0]
        assert doc and "14" in doc
        assert con.execute(
            "SELECT data_type FROM cnpj_duck_dictionary WHERE table_name = 'empresas' AND "
            "column_name = 'capital_social'"
        ).fetchone() == ("REAL",)
    finally:
        con.close()


def test_the_export_is_audited_and_reports_progress(exported):
    summary, progress, data, _ = exported
    con = catalog(data)
    try:
        run = load_run(con, summary.run_id)
    finally:
        con.close()
    assert run["status"] == "succeeded" and run["command"] == "export sqlite"
    tables = {t["table_name"]: t for t in run["tables"]}
    assert set(tables) == set(RELEASE_TABLES)
    estab = tables["estabelecimentos"]
    assert sorted(f["zip_name"] for f in estab["files"]) == [f"part-{n}.parquet" for n in range(10)]
    for f in estab["files"]:
        assert f["status"] == "succeeded" and f["batches"]
        assert sum(b["rows_written"] for b in f["batches"]) == f["rows_written"] > 0
        assert f["batches"][0]["first_line"] == 1 and f["batches"][-1]["last_line"] == f["rows_written"]
    assert run["rows_written"] == summary.rows
    assert sum(d["amount"] for task, d in progress.of("advance") if task == "export") == summary.rows
    assert dict(progress.of("finish"))["export"]["status"] == "succeeded"


def test_a_failed_export_keeps_the_previous_file(exported, tmp_path):
    _, _, data, copy = exported
    target = tmp_path / "cnpj.db"
    shutil.copy2(copy, target)
    before = target.read_bytes()
    broken = tmp_path / "data"
    shutil.copytree(data, broken)
    path = Store(broken).manifest_path("empresas", RELEASE)
    manifest = json.loads(path.read_text())
    manifest["parts"]["part-0.parquet"]["rows"] -= 1
    path.write_text(json.dumps(manifest))
    with pytest.raises(CnpjDuckError, match="part-0.parquet: .* its manifest says"):
        write_sqlite(Store(broken), RELEASE, target, config=_config(broken))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["cnpj.db"]
    con = catalog(broken)
    try:
        run = load_run(con)
    finally:
        con.close()
    assert run["status"] == "failed"
    assert {t["table_name"]: t["status"] for t in run["tables"]}["empresas"] == "failed"


def test_the_command_writes_the_file_and_exits_with_the_documented_codes(exported, tmp_path, capsys, monkeypatch):
    _, _, data, _ = exported
    leftover = tmp_path / ".c.db.999999999.tmp"  # an aside file of a killed export (no such process)
    leftover.write_bytes(b"half a file")
    code, out, err = cli_run(capsys, "--data-dir", str(data), "export", "sqlite", str(tmp_path / "c.db"), "--quiet")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.db"]
    assert "estabelecimentos" in out and "(sqlite," in out
    con = sqlite3.connect(tmp_path / "c.db")
    try:
        assert con.execute("SELECT count(*) FROM socios").fetchone()[0] == len(_parquet(data, "socios")[2])
    finally:
        con.close()
    code, _, err = cli_run(capsys, "--data-dir", str(data), "export", "sqlite", str(tmp_path / "no" / "c.db"))
    assert code == 2 and err.startswith("error: FILE") and "no such folder" in err
    code, _, err = cli_run(
        capsys, "--data-dir", str(data), "export", "sqlite", str(tmp_path / "d.db"), "--release", "2026-13"
    )
    assert code == 2 and "expected a month" in err


# The README's queries of a copied file (section "Export to one SQLite file"), with what DuckDB answers from the
# Parquet for the same question.
README_QUERIES = (
    (
        "SELECT e.cnpj, emp.razao_social, e.uf, m.descricao AS municipio, emp.capital_social "
        "FROM estabelecimentos e JOIN empresas emp USING (cnpj_basico) "
        "LEFT JOIN municipios m ON m.codigo = e.municipio "
        "WHERE emp.razao_social LIKE 'SANTANA%' ORDER BY e.cnpj LIMIT 3",
        "SELECT e.cnpj, emp.razao_social, e.uf, m.descricao AS municipio, emp.capital_social::DOUBLE "
        "FROM estabelecimentos e JOIN empresas emp USING (cnpj_basico) "
        "LEFT JOIN municipios m ON m.codigo = e.municipio "
        "WHERE emp.razao_social LIKE 'SANTANA%' ORDER BY e.cnpj LIMIT 3",
    ),
    (
        "SELECT c.value AS cnae, count(*) AS estabelecimentos "
        "FROM estabelecimentos, json_each(cnae_fiscal_secundaria) c GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3",
        "SELECT cnae, count(*) FROM (SELECT unnest(cnae_fiscal_secundaria) AS cnae FROM estabelecimentos) "
        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3",
    ),
)


def test_the_readme_queries_answer_from_the_copy_as_from_the_parquet(exported, monkeypatch):
    from cnpj_duck.catalog import connect_reader

    _, _, data, copy = exported
    reader = connect_reader(data, _config(data).sql_dir)
    try:
        expected = [reader.execute(duck).fetchall() for _, duck in README_QUERIES]
    finally:
        reader.close()
    con = _open_copy(copy, monkeypatch)
    try:
        for (query, _), want in zip(README_QUERIES, expected, strict=True):
            got = con.execute(query).fetchall()
            assert got == want and len(got) == 3, query
        lower = con.execute(README_QUERIES[0][0].replace("'SANTANA%'", "'santana%'")).fetchall()
        assert lower == expected[0]  # LIKE ignores case in SQLite, and still uses the NOCASE index
    finally:
        con.close()


def test_a_ctrl_c_stops_a_statement_on_the_index_connection(tmp_path):
    """The index builds' connection is interrupted by Ctrl-C mid-statement (a CREATE INDEX of a full release runs
    for minutes; the ADBC driver that loads the rows cannot cancel one)."""
    import threading

    from cnpj_duck import interrupts
    from cnpj_duck.export_sqlite import connect

    # Bounded (20 million rows: tens of seconds): a statement that was not interrupted returns its count.
    long_statement = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 20000000) SELECT count(*) FROM c"
    )
    assert interrupts.install()
    try:
        # What the watcher thread does on Ctrl-C (trip), without the signal: only the statement's own
        # interruption can raise here.
        with pytest.raises(KeyboardInterrupt), connect(tmp_path / "x.db") as db:
            threading.Timer(0.3, interrupts.trip).start()
            db.execute(long_statement).fetchone()
        assert interrupts.requested()
    finally:
        interrupts.uninstall()
