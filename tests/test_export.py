"""`export postgres` against a real PostgreSQL started by the tests (tests/pg.py): values, keys, audit, atomicity
and failures."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc_pg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cnpj_duck import export_staging, postgres
from cnpj_duck.audit import load_run
from cnpj_duck.cli import main
from cnpj_duck.config import load_config
from cnpj_duck.dsn import describe_server, scrub, with_connection_defaults
from cnpj_duck.errors import CnpjDuckError, NetworkError, ShrinkError, UsageError
from cnpj_duck.export import STAGING, export_postgres
from cnpj_duck.export_guard import Comparison, LiveTable
from cnpj_duck.progress import RecordingProgress
from cnpj_duck.store import Store

from .conftest import REPO_ROOT, catalog, copy_table
from .pg import free_port

pytestmark = pytest.mark.slow  # a real PostgreSQL cluster (initdb, pg_ctl) for the module: seconds to start

RELEASE = "2026-10"


def _config(data: Path):
    return load_config(None, overrides={"data_dir": str(data)}, env={})


def _pg_rows(pg, sql: str) -> list[tuple]:
    """Rows from Postgres through its own client library (ADBC), as Python values."""
    con = adbc_pg.connect(pg.dsn())
    try:
        cur = con.cursor()
        cur.execute(sql)
        rows = cur.fetchall()
        cur.close()
        return rows
    finally:
        con.close()


def _parquet_rows(data: Path, table: str, select: str = "*") -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.execute(
            f"SELECT {select} FROM read_parquet('{data}/parquet/{table}/release={RELEASE}/*.parquet',"
            " hive_partitioning = false)"
        ).fetchall()
    finally:
        con.close()


def _duck(sql: str) -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _hashable(row: tuple) -> tuple:
    return tuple(tuple(v) if isinstance(v, list) else v for v in row)


def _manifest_rows(data: Path, table: str) -> int:
    manifest = json.loads(Store(data).manifest_path(table, RELEASE).read_text())
    return sum(p["rows"] for p in manifest["parts"].values())


def _write_table(data: Path, name: str, table: pa.Table, parts: int = 1) -> None:
    """A hand-made output table: part files and the manifest a build would write."""
    folder = data / "parquet" / name / f"release={RELEASE}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    entries = {}
    step = -(-table.num_rows // parts) if table.num_rows else 0
    for n in range(parts):
        chunk = table.slice(n * step, step) if step else table
        pq.write_table(chunk, folder / f"part-{n}.parquet")
        entries[f"part-{n}.parquet"] = {"rows": chunk.num_rows, "run_id": 1, "sha256": "-", "zip_name": f"{name}.zip"}
    path = Store(data).manifest_path(name, RELEASE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"table": name, "release": RELEASE, "parts": entries}))


@pytest.fixture(scope="module")
def exported(sample_build, pg, tmp_path_factory):
    """The session's sample release exported whole (tables and views) into schema rt, once for this module."""
    _, built, _ = sample_build
    data = tmp_path_factory.mktemp("export") / "data"
    shutil.copytree(built, data)
    progress = RecordingProgress()
    summary = export_postgres(
        _config(data),
        pg.dsn(),
        schema="rt",
        progress=progress,
        command=f"export postgres --dsn {pg.dsn()}",
        quality=True,
    )
    return summary, progress, data


@pytest.mark.slow
def test_values_round_trip_exactly(exported, pg):
    summary, _, data = exported
    # Every row and value of the base tables, decimals compared as text so that the scale counts.
    for table, select in (
        ("estabelecimentos", "*"),
        ("socios", "*"),
        ("simples", "*"),
        ("cnaes", "*"),
        ("empresas", "* REPLACE (CAST(capital_social AS VARCHAR) AS capital_social)"),
    ):
        pg_select = (
            "*"
            if table != "empresas"
            else (
                "cnpj_basico, razao_social, natureza_juridica, "
                "qualificacao_responsavel, capital_social::text, porte_empresa, "
                "ente_federativo_responsavel"
            )
        )
        ours = Counter(_hashable(r) for r in _pg_rows(pg, f"SELECT {pg_select} FROM rt.{table}"))
        theirs = Counter(_hashable(r) for r in _parquet_rows(data, table, select))
        assert ours == theirs, table
    decimals = {r[0] for r in _pg_rows(pg, "SELECT capital_social::text FROM rt.empresas")}
    assert {"0.00", "999999999999.00", "-8048.00", "106.32"} <= decimals  # the scale is kept: 0.00, not 0
    # Accents, lists, NULLs, dates and booleans, read back with psql (another client, text output).
    assert pg.psql("SELECT count(*) FROM rt.empresas WHERE razao_social LIKE '%GONÇALVES%'") != "0"
    assert pg.psql("SELECT pg_typeof(cnae_fiscal_secundaria)::text FROM rt.estabelecimentos LIMIT 1") == "text[]"
    cnpj, cnaes = _pg_rows(
        pg,
        "SELECT cnpj, cnae_fiscal_secundaria FROM rt.estabelecimentos "
        "WHERE cardinality(cnae_fiscal_secundaria) > 2 ORDER BY cnpj LIMIT 1",
    )[0]
    assert [cnaes] == [
        r[0]
        for r in _duck(
            f"SELECT cnae_fiscal_secundaria FROM read_parquet('{data}/parquet/estabelecimentos/*/*.parquet') "
            f"WHERE cnpj = '{cnpj}'"
        )
    ]
    assert pg.psql(f"SELECT cnae_fiscal_secundaria[1] FROM rt.estabelecimentos WHERE cnpj = '{cnpj}'") == cnaes[0]
    nulls = pg.psql(
        "SELECT count(*) FILTER (WHERE cnae_fiscal_secundaria IS NULL), "
        "count(*) FILTER (WHERE data_situacao_especial IS NULL) FROM rt.estabelecimentos"
    )
    expected = _duck(
        f"SELECT count(*) FILTER (WHERE cnae_fiscal_secundaria IS NULL), "
        f"count(*) FILTER (WHERE data_situacao_especial IS NULL) "
        f"FROM read_parquet('{data}/parquet/estabelecimentos/*/*.parquet')"
    )[0]
    assert nulls == f"{expected[0]}|{expected[1]}" and expected[0] > 0
    types = pg.psql(
        "SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) "
        "FROM information_schema.columns WHERE table_schema = 'rt' AND table_name = 'simples'"
    )
    assert types == (
        "cnpj_basico:text,opcao_simples:boolean,data_opcao_simples:date,data_exclusao_simples:date,"
        "opcao_mei:boolean,data_opcao_mei:date,data_exclusao_mei:date"
    )
    assert (
        pg.psql(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'rt.empresas'::regclass AND attname = 'capital_social'"
        )
        == "numeric(18,2)"
    )
    flags = dict(_pg_rows(pg, "SELECT coalesce(opcao_simples::text, 'null'), count(*) FROM rt.simples GROUP BY 1"))
    assert set(flags) == {"true", "false", "null"}
    assert sum(flags.values()) == _manifest_rows(data, "simples")


def test_counts_match_the_parquet_and_views_are_tables(exported, pg):
    summary, _, data = exported
    by_name = {t.name: t for t in summary.tables}
    built = sorted(p.name for p in (data / "parquet").iterdir())
    assert set(built) <= set(by_name)
    for name in built:
        assert by_name[name].rows == _manifest_rows(data, name)
        assert int(pg.psql(f"SELECT count(*) FROM rt.{name}")) == _manifest_rows(data, name), name
    views = {t.name for t in summary.tables if t.source == "view"}
    assert {"estabelecimentos_completos", "socios_completos", "cnaes_secundarias", "qualidade"} <= views
    assert int(pg.psql("SELECT count(*) FROM rt.estabelecimentos_completos")) == _manifest_rows(
        data, "estabelecimentos"
    )
    items = _duck(
        f"SELECT sum(len(cnae_fiscal_secundaria)) FROM read_parquet('{data}/parquet/estabelecimentos/*/*.parquet')"
    )[0][0]
    assert int(pg.psql("SELECT count(*) FROM rt.cnaes_secundarias")) == items
    # An enriched view's value: the company name joined in DuckDB arrives as a column of the table.
    row = pg.psql(
        "SELECT e.razao_social = c.razao_social FROM rt.estabelecimentos_completos c "
        "JOIN rt.empresas e USING (cnpj_basico) WHERE c.cnpj_basico NOT IN "
        "(SELECT cnpj_basico FROM rt.empresas GROUP BY 1 HAVING count(*) > 1) LIMIT 1"
    )
    assert row == "t"
    assert pg.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'rt' AND tablename LIKE 'cnpj_duck_%'") == "0"


def test_primary_keys_where_the_data_allows_and_duplicates_counted(exported, pg):
    summary, progress, data = exported
    by_name = {t.name: t for t in summary.tables}
    for table, key in (
        ("estabelecimentos", "cnpj"),
        ("empresas", "cnpj_basico"),
        ("simples", "cnpj_basico"),
        ("cnaes", "codigo"),
        ("municipios", "codigo"),
    ):
        repeated, extra = _duck(
            f"SELECT count(*), coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM read_parquet("
            f"'{data}/parquet/{table}/*/*.parquet') GROUP BY {key} HAVING count(*) > 1)"
        )[0]
        result = by_name[table]
        assert (result.duplicate_keys, result.duplicate_rows) == (repeated, extra), table
        pk = pg.psql(
            f"SELECT string_agg(conname, ',') FROM pg_constraint WHERE conrelid = 'rt.{table}'::regclass "
            "AND contype = 'p'"
        )
        if repeated:
            assert result.primary_key == () and pk == "", table
            assert f"{table}_{key}_idx" in result.indexes  # the key still gets its lookup index
            assert any(
                table in d["text"] and f"{repeated} key value(s)" in d["text"]
                for level, d in progress.of("message")
                if level == "warning"
            )
        else:
            assert result.primary_key == (key,) and pk == f"{table}_pkey", table
    assert by_name["estabelecimentos"].duplicate_keys > 0  # the sample's deliberate repeated keys
    indexes = set(
        pg.psql(
            "SELECT string_agg(indexdef, E'\\n') FROM pg_indexes WHERE schemaname = 'rt' "
            "AND tablename = 'estabelecimentos'"
        ).splitlines()
    )
    assert {
        "CREATE INDEX estabelecimentos_cnpj_basico_idx ON rt.estabelecimentos USING btree (cnpj_basico)",
        "CREATE INDEX estabelecimentos_uf_municipio_idx ON rt.estabelecimentos USING btree (uf, municipio)",
        "CREATE INDEX estabelecimentos_nome_fantasia_idx ON rt.estabelecimentos USING btree "
        "(nome_fantasia text_pattern_ops)",
        "CREATE INDEX estabelecimentos_cnae_fiscal_principal_idx ON rt.estabelecimentos USING btree "
        "(cnae_fiscal_principal)",
    } <= indexes
    # ANALYZE ran: the planner has statistics for the new table.
    assert int(pg.psql("SELECT count(*) FROM pg_stats WHERE schemaname = 'rt' AND tablename = 'empresas'")) > 0
    comment = pg.psql("SELECT obj_description('rt.empresas'::regclass)")
    assert f"release {RELEASE}, run {summary.run_id}" in comment and "one row per company" in comment
    assert "DECIMAL(18,2)" in pg.psql("SELECT col_description('rt.empresas'::regclass, 5)")


def test_the_export_is_audited_and_reports_progress(exported, pg):
    summary, progress, data = exported
    con = catalog(data)
    try:
        run = load_run(con, summary.run_id)
    finally:
        con.close()
    assert run["status"] == "succeeded" and run["release"] == RELEASE
    assert pg.password not in run["command"] and pg.password not in run["config"] and "***" in run["command"]
    assert json.loads(run["config"])["export.dsn"] == "***"
    tables = {t["table_name"]: t for t in run["tables"]}
    estab = tables["estabelecimentos"]
    assert estab["status"] == "succeeded" and estab["rows_written"] == _manifest_rows(data, "estabelecimentos")
    assert sorted(f["zip_name"] for f in estab["files"]) == [f"part-{n}.parquet" for n in range(10)]
    for f in estab["files"]:
        assert f["status"] == "succeeded" and f["batches"]
        assert sum(b["rows_written"] for b in f["batches"]) == f["rows_written"] > 0
        assert f["batches"][0]["first_line"] == 1 and f["batches"][-1]["last_line"] == f["rows_written"]
        assert all(b["bytes_in"] > 0 and b["finished_at"] >= b["started_at"] for b in f["batches"])
    assert tables["qualidade"]["files"][0]["zip_name"] == "view qualidade"
    assert run["rows_written"] == sum(t.rows for t in summary.tables)
    starts = dict(progress.of("start"))
    assert starts["export"]["total"] == sum(t.rows for t in summary.tables)
    assert starts["export"]["run_id"] == run["run_id"]
    advanced = sum(d["amount"] for task, d in progress.of("advance") if task == "export")
    assert advanced == sum(t.rows for t in summary.tables)
    finished = dict(progress.of("finish"))
    assert finished["estabelecimentos"]["rows"] == _manifest_rows(data, "estabelecimentos")
    assert finished["export"]["status"] == "succeeded"


def test_nul_characters_are_removed_and_counted(pg, tmp_path):
    data = tmp_path / "data"
    _write_table(
        data,
        "notas",
        pa.table(
            {
                "codigo": pa.array(["a\0b", "c", None, "d\0\0"]),
                "lista": pa.array([["x\0", "y"], None, [], ["z"]], pa.list_(pa.string())),
                "valor": pa.array(
                    [Decimal("0.10"), None, Decimal("-5.00"), Decimal("12345678901234.56")], pa.decimal128(18, 2)
                ),
            }
        ),
        parts=2,
    )
    _write_table(data, "vazia", pa.table({"codigo": pa.array([], pa.string())}))
    progress = RecordingProgress()
    summary = export_postgres(_config(data), pg.dsn(), schema="nul", tables=["notas", "vazia"], progress=progress)
    notas = summary.tables[0]
    assert notas.nul_bytes == 4 and notas.rows == 4
    assert sorted(_pg_rows(pg, "SELECT codigo, lista, valor::text FROM nul.notas"), key=str) == sorted(
        [("ab", ["x", "y"], "0.10"), ("c", None, None), (None, [], "-5.00"), ("d", ["z"], "12345678901234.56")], key=str
    )
    assert pg.psql("SELECT count(*) FROM nul.vazia") == "0" and summary.tables[1].rows == 0
    assert any("removed 4 NUL" in d["text"] for _, d in progress.of("message"))


def _staging_tables(pg, schema: str) -> list[str]:
    out = pg.psql(
        f"SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = '{schema}' "
        f"AND tablename LIKE 'cnpj_duck%'"
    )
    return out.split(",") if out else []


def _old_then_big(sample_build, pg, tmp_path, schema: str):
    """A first export of cnaes and a small zz_big (the old tables), then a big zz_big to export next."""
    _, built, _ = sample_build
    data = tmp_path / "data"
    data.mkdir()
    copy_table(built, data, "cnaes")
    _write_table(
        data,
        "zz_big",
        pa.table({"id": pa.array(range(1000), pa.int64()), "texto": pa.array([f"old {i}" for i in range(1000)])}),
    )
    first = export_postgres(_config(data), pg.dsn(), schema=schema, tables=["cnaes", "zz_big"])
    ids = pa.array(range(3_000_000), pa.int64())  # a load of seconds: what we do to it lands in the middle
    _write_table(data, "zz_big", pa.table({"id": ids, "texto": ids.cast(pa.string())}), parts=6)
    return data, first


def _export_until_copying(pg, data: Path, schema: str) -> subprocess.Popen:
    """Start `export postgres` in a child process; return once it streams zz_big's rows into Postgres."""
    env = {**os.environ, "CNPJ_DUCK_PG_DSN": pg.dsn()}
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cnpj_duck.cli",
            "--data-dir",
            str(data),
            "export",
            "postgres",
            "--schema",
            schema,
            "--tables",
            "cnaes,zz_big",
            "--no-progress",
            "--batch-rows",
            "1000",
        ],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    copying = "0"
    while time.monotonic() < deadline and child.poll() is None:
        copying = pg.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cnpj-duck' "
            f"AND query LIKE 'COPY \"{schema}\"%zz_big%'"
        )
        if copying != "0":
            break
        time.sleep(0.05)
    if child.poll() is not None or copying == "0":
        child.kill()
        raise AssertionError(f"the export never started loading zz_big: {child.communicate()[1]}")
    time.sleep(0.2)
    return child


@pytest.mark.slow
def test_a_killed_export_leaves_the_old_tables_and_the_next_run_cleans_up(sample_build, pg, tmp_path):
    data, first = _old_then_big(sample_build, pg, tmp_path, "ks")
    child = _export_until_copying(pg, data, "ks")
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    # The live tables are the first export's, whole; the killed one left staging tables, nothing else.
    assert pg.psql("SELECT count(*), min(texto) FROM ks.zz_big") == "1000|old 0"
    assert f"run {first.run_id}," in pg.psql("SELECT obj_description('ks.zz_big'::regclass)")
    assert int(pg.psql("SELECT count(*) FROM ks.cnaes")) == _manifest_rows(data, "cnaes")
    assert f"{STAGING}zz_big" in _staging_tables(pg, "ks")

    progress = RecordingProgress()
    again = export_postgres(_config(data), pg.dsn(), schema="ks", tables=["cnaes"], progress=progress)
    assert f"{STAGING}zz_big" in again.dropped_leftovers
    assert any("left by an interrupted export" in d["text"] for _, d in progress.of("message"))
    assert _staging_tables(pg, "ks") == []
    assert pg.psql("SELECT count(*) FROM ks.zz_big") == "1000"  # not part of this export: untouched
    assert f"run {again.run_id}," in pg.psql("SELECT obj_description('ks.cnaes'::regclass)")
    assert (
        pg.psql("SELECT string_agg(indexname, ',') FROM pg_indexes WHERE schemaname = 'ks' AND tablename = 'cnaes'")
        == "cnaes_pkey"
    )  # the index names stay the same across exports
    con = catalog(data)
    try:
        statuses = dict(con.execute("SELECT run_id, status FROM audit_runs").fetchall())
    finally:
        con.close()
    assert statuses[first.run_id] == "succeeded" and statuses[again.run_id] == "succeeded"
    assert "abandoned" in statuses.values()  # the killed run, closed by the next one


@pytest.mark.slow
def test_a_dropped_connection_exits_3_and_keeps_the_old_tables(sample_build, pg, tmp_path):
    data, first = _old_then_big(sample_build, pg, tmp_path, "dc")
    child = _export_until_copying(pg, data, "dc")
    pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cnpj-duck'")
    _, err = child.communicate(timeout=60)
    assert child.returncode == 3, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: lost the connection to Postgres at 127.0.0.1:") and "loading part-" in line
    assert "the previous tables are unchanged" in line and pg.password not in err
    assert pg.psql("SELECT count(*), min(texto) FROM dc.zz_big") == "1000|old 0"
    assert f"run {first.run_id}," in pg.psql("SELECT obj_description('dc.cnaes'::regclass)")


def _cli(args: list[str], env: dict[str, str], capsys, monkeypatch) -> tuple[int, str, str]:
    for key in ("CNPJ_DUCK_PG_DSN",):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as e:
        main(args)
    out = capsys.readouterr()
    return int(e.value.code), out.out, out.err


def test_connection_refused_exits_3_with_one_clear_line(sample_build, pg, tmp_path, capsys, monkeypatch):
    _, built, _ = sample_build
    data = tmp_path / "data"
    shutil.copytree(built, data)
    port = free_port()  # nothing listens there
    dsn = pg.dsn(port=port)
    code, out, err = _cli(
        ["--data-dir", str(data), "export", "postgres", "--tables", "cnaes", "--no-progress"],
        {"CNPJ_DUCK_PG_DSN": dsn},
        capsys,
        monkeypatch,
    )
    assert code == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot connect to Postgres at 127.0.0.1:")
    assert "Connection refused" in lines[0] and "check that the server is running" in lines[0]
    assert pg.password not in err + out and "s3cr3t" not in err + out
    con = catalog(data)
    try:
        status, error, command = con.execute(
            "SELECT status, error, command FROM audit_runs ORDER BY run_id DESC LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    assert status == "failed" and "Connection refused" in error and "s3cr3t" not in error + command


def test_wrong_password_is_refused_without_showing_it(sample_build, pg, tmp_path, capsys, monkeypatch):
    _, built, _ = sample_build
    data = tmp_path / "data"
    shutil.copytree(built, data)
    wrong = "n0t-The-Secret!"
    log = tmp_path / "export.log"
    code, out, err = _cli(
        [
            "--data-dir",
            str(data),
            "--log-file",
            str(log),
            "-v",
            "export",
            "postgres",
            "--dsn",
            pg.dsn(password=wrong),
            "--tables",
            "cnaes",
        ],
        {},
        capsys,
        monkeypatch,
    )
    assert code == 3
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: cannot connect to Postgres at 127.0.0.1:")
    assert "password authentication failed" in line
    assert "check the user and password" in line
    everything = err + out + log.read_text()
    assert wrong not in everything and "n0t-The" not in everything
    con = catalog(data)
    try:
        rows = con.execute("SELECT command || coalesce(error, '') || config FROM audit_runs ORDER BY run_id").fetchall()
    finally:
        con.close()
    assert rows and all(wrong not in r[0] for r in rows)
    assert "--dsn '***'" in rows[-1][0]  # the command line as typed, with the DSN hidden


def test_a_missing_dsn_is_a_usage_error(sample_build, tmp_path, capsys, monkeypatch):
    _, built, _ = sample_build
    code, _, err = _cli(["--data-dir", str(built), "export", "postgres"], {}, capsys, monkeypatch)
    assert code == 2 and "CNPJ_DUCK_PG_DSN" in err and "--dsn" in err


def test_two_exports_into_one_schema_do_not_run_at_once(pg, tmp_path, monkeypatch):
    data = tmp_path / "data"
    _write_table(data, "conta", pa.table({"codigo": pa.array(["1"])}))
    monkeypatch.setattr(export_staging, "LOCK_WAIT", 0.5)
    holder = adbc_pg.connect(pg.dsn())  # another export's session, holding the schema's lock
    try:
        cur = holder.cursor()
        cur.execute("SELECT pg_advisory_lock(hashtext('cnpj-duck export busy'))")
        cur.fetchall()
        with pytest.raises(CnpjDuckError, match="another cnpj-duck export into schema busy .* is running"):
            export_postgres(_config(data), pg.dsn(), schema="busy")
        cur.close()
    finally:
        holder.close()
    assert export_postgres(_config(data), pg.dsn(), schema="busy").tables[0].rows == 1  # free again


def test_an_error_in_the_data_keeps_the_previous_tables(pg, tmp_path):
    """A row count that does not match its manifest fails the export before the swap."""
    data = tmp_path / "data"
    _write_table(data, "conta", pa.table({"codigo": pa.array(["1", "2", "3"])}))
    first = export_postgres(_config(data), pg.dsn(), schema="err", tables=["conta"])
    manifest_path = Store(data).manifest_path("conta", RELEASE)
    manifest = json.loads(manifest_path.read_text())
    pq.write_table(
        pa.table({"codigo": pa.array(["9", "8"])}), data / "parquet" / "conta" / f"release={RELEASE}" / "part-0.parquet"
    )
    manifest_path.write_text(json.dumps(manifest))  # still says 3 rows
    with pytest.raises(CnpjDuckError) as e:
        export_postgres(_config(data), pg.dsn(), schema="err", tables=["conta"])
    assert "part-0.parquet: 2 rows, its manifest says 3" in str(e.value)
    assert not isinstance(e.value, NetworkError)
    assert pg.psql("SELECT string_agg(codigo, ',' ORDER BY codigo) FROM err.conta") == "1,2,3"
    assert f"run {first.run_id}," in pg.psql("SELECT obj_description('err.conta'::regclass)")
    assert _staging_tables(pg, "err") == []  # the failed run dropped its own staging table


def test_dsn_options_with_spaces_reach_the_server_intact(pg, tmp_path):
    data = tmp_path / "data"
    _write_table(data, "conta", pa.table({"codigo": ["1", "2"]}))
    dsn = pg.dsn() + ("&" if "?" in pg.dsn() else "?") + "options=-c%20statement_timeout%3D123456"
    summary = export_postgres(_config(data), dsn, schema="opts", tables=["conta", "conta"])  # named twice: once
    assert [t.name for t in summary.tables] == ["conta"]
    assert _pg_rows(pg, "SELECT count(*) FROM opts.conta") == [(2,)]
    # The query is kept as typed (libpq reads %20 as a space and "+" as a "+"); the defaults are appended.
    assert with_connection_defaults(dsn) == dsn + "&connect_timeout=15&application_name=cnpj-duck"
    typed = "postgresql://u@h/db?options=-c+x%3D1&application_name=a%2Bb#f"
    assert with_connection_defaults(typed) == (
        "postgresql://u@h/db?options=-c+x%3D1&application_name=a%2Bb&connect_timeout=15#f"
    )
    con = postgres.connect(dsn)  # the session really has the setting
    try:
        cur = con.cursor()
        cur.execute("SELECT current_setting('statement_timeout'), current_setting('application_name')")
        assert cur.fetchall() == [("123456ms", "cnpj-duck")]
        cur.close()
    finally:
        con.close()


@pytest.mark.parametrize("options", ["-c%20statement_timeoutx%3D5", "-c+statement_timeout%3D5"])
def test_a_server_error_naming_a_timeout_gets_no_timeout_hint(pg, options):
    with pytest.raises(NetworkError) as e:
        postgres.connect(f"{pg.dsn()}?options={options}")
    message = str(e.value)
    assert "unrecognized configuration parameter" in message and "statement_timeout" in message
    assert "no answer within" not in message and "check the DSN" in message


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u:Top@Secret@127.0.0.1:5432/db",
        "postgresql://u:pw@[::1/db",
        "postgresql://u:Top/Secret@127.0.0.1/db",
        "postgresql://u:pw@127.0.0.1:99999/db",
        "postgresql://u:Top%zzSecret@127.0.0.1/db",  # not a percent-encoded byte
        "postgresql://u:Top%00Secret@127.0.0.1/db",  # libpq refuses %00, echoing the whole password
        "postgresql://u:Top%ffSecret@127.0.0.1/db",  # not UTF-8
        "postgresql://u:TopSecret@[not-ipv6]:5432/db",  # Python's urlsplit raises ValueError
        "postgresql://u:pw@127.0.0.1/db?application_name=Top%00Secret",
    ],
)
def test_a_malformed_dsn_exits_2_without_repeating_it(sample_build, dsn, capsys, monkeypatch):
    _, built, _ = sample_build
    for where in ("--dsn", "env"):
        args = ["--data-dir", str(built), "export", "postgres", "--tables", "cnaes"]
        code, out, err = _cli(
            args + (["--dsn", dsn] if where == "--dsn" else []),
            {"CNPJ_DUCK_PG_DSN": dsn} if where == "env" else {},
            capsys,
            monkeypatch,
        )
        assert code == 2 and "expected a URL like postgresql://" in err, (where, err)
        assert len(err.strip().splitlines()) == 1 and "internal error" not in err
        assert "Secret" not in err + out and "Top" not in err + out and "not-ipv6" not in err + out
    with pytest.raises(UsageError):  # the library refuses it as well
        export_postgres(_config(built), dsn, tables=["cnaes"])


def test_a_release_that_is_not_a_month_is_a_usage_error(sample_build, pg, tmp_path, capsys, monkeypatch):
    _, built, _ = sample_build
    with pytest.raises(UsageError, match=r"--release '2026-1\*': expected a month as YYYY-MM"):
        export_postgres(_config(built), pg.dsn(), schema="rel", release="2026-1*")
    for release in ("2026-1*", "*", "2026-13", "../2026-10"):
        code, _, err = _cli(
            ["--data-dir", str(built), "export", "postgres", "--dsn", pg.dsn(), "--release", release],
            {},
            capsys,
            monkeypatch,
        )
        assert code == 2 and "expected a month as YYYY-MM" in err, release
    assert pg.psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'cnpj'") == "0"  # never got as far


def test_a_table_named_twice_on_the_command_line_is_exported_once(sample_build, pg, tmp_path, capsys, monkeypatch):
    _, built, _ = sample_build
    data = tmp_path / "data"
    shutil.copytree(built, data)
    code, out, err = _cli(
        [
            "--data-dir",
            str(data),
            "export",
            "postgres",
            "--dsn",
            pg.dsn(),
            "--schema",
            "twice",
            "--tables",
            "cnaes,cnaes, cnaes",
            "--no-progress",
        ],
        {},
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert int(pg.psql("SELECT count(*) FROM twice.cnaes")) == _manifest_rows(data, "cnaes")


def test_scrub_removes_every_piece_a_parser_might_echo():
    dsn = "postgresql://u:Top@Secret/x@127.0.0.1:5432/db"
    message = 'could not translate host name "Secret/x@127.0.0.1"; invalid integer value "Top"; Top@Secret/x'
    assert not any(piece in scrub(message, dsn) for piece in ("Top", "Secret"))
    # An unencoded "?" or "#" or ",": everything up to the last "@" is hidden, in each piece and decoded.
    for dsn, pieces in (
        ("postgresql://u:Pass?Word@h/db", ("Pass", "Word")),
        ("postgresql://u:Pass#Word@h/db", ("Pass", "Word")),
        ("postgresql://u:Top,Sec/ret@h/db", ("Top", "Sec", "ret")),
        ("postgresql://u:Pa%2Fss%3Fw@h/db", ("Pa/ss?w", "Pa%2Fss%3Fw")),
        ("postgresql://u@h/db?password=QuerySecret", ("QuerySecret",)),
    ):
        text = scrub(" | ".join(f'value "{p}"' for p in pieces), dsn)
        assert not any(p in text for p in pieces), (dsn, text)
        assert not any(p in describe_server(dsn) for p in pieces), dsn
    # Short pieces go where they stand alone, not out of the message's own words.
    assert (
        scrub('password "ab" for user ab; table abc', "postgresql://u:ab@h/db")
        == 'password "***" for user ***; table abc'
    )


def test_the_server_is_named_without_any_part_of_the_password():
    assert describe_server("postgresql://u:Top/Secret@127.0.0.1:5433/db") == "127.0.0.1:5433/db"
    assert describe_server("postgresql://u:a?b@h/db?x=1") == "h:5432/db"
    assert describe_server("postgresql://u:pw@h/db?application_name=me@home") == "h:5432/db"
    assert describe_server("postgresql://u:pw@h1:5432,h2:5433/db") == "h1:5432,h2:5433/db"
    assert describe_server("postgresql://u:pw@[::1]/db") == "[::1]:5432/db"
    assert describe_server("postgresql:///db?host=/run/pg&port=6000") == "/run/pg:6000/db"


def test_a_password_libpq_splits_differently_is_not_echoed_by_connect(pg):
    """Bypassing the DSN checks: libpq reads "u:Top,Sec" as hosts and "Top" as a port; none of it may show."""
    with pytest.raises(NetworkError) as e:
        postgres.connect(f"postgresql://u:Top,Sec/ret@127.0.0.1:{pg.port}/db")
    message = str(e.value)
    assert "cannot connect to Postgres at 127.0.0.1:" in message and "invalid integer value" in message
    assert not any(p in message for p in ("Top", "Sec", "ret"))


def test_qualidade_counts_arrive_as_bigint(exported, pg):
    types = dict(
        _pg_rows(
            pg,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'rt' AND table_name = 'qualidade'",
        )
    )
    assert types["problems"] == "bigint" and types["rows_checked"] == "bigint"
    numerics = pg.psql(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'rt' "
        "AND numeric_precision = 38 AND numeric_scale = 0"
    )
    assert numerics == "0"  # no view's sum() arrives as numeric(38,0)


def test_hugeint_columns_of_a_view_arrive_as_bigint(pg, tmp_path):
    """A view's sum() (HUGEINT in DuckDB) becomes bigint in Postgres; a value beyond bigint stops the export."""
    data = tmp_path / "data"
    _write_table(data, "conta", pa.table({"codigo": ["1", "1", "2"], "n": pa.array([5, 7, -3], pa.int64())}))
    sql = tmp_path / "sql"
    shutil.copytree(REPO_ROOT / "sql", sql)
    (sql / "views" / "zz_somas.sql").write_text(
        "-- zz_somas: sums per code.\nSELECT codigo, sum(n) AS total, sum(n)::UHUGEINT AS positivo, "
        "count(*) AS linhas FROM conta WHERE n > 0 GROUP BY codigo\n"
    )
    (sql / "views" / "zz_grande.sql").write_text(
        "-- zz_grande: too big for bigint.\nSELECT codigo, sum(n) + 9223372036854775807 AS total FROM conta "
        "GROUP BY codigo\n"
    )
    config = load_config(None, overrides={"data_dir": str(data), "sql_dir": str(sql)}, env={})
    export_postgres(config, pg.dsn(), schema="huge", tables=["zz_somas"])
    assert (
        pg.psql(
            "SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) FROM "
            "information_schema.columns WHERE table_schema = 'huge' AND table_name = 'zz_somas'"
        )
        == "codigo:text,total:bigint,positivo:bigint,linhas:bigint"
    )
    assert sorted(_pg_rows(pg, "SELECT * FROM huge.zz_somas")) == [("1", 12, 12, 2)]
    with pytest.raises(CnpjDuckError, match="out of range"):
        export_postgres(config, pg.dsn(), schema="huge", tables=["zz_grande"])
    assert pg.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'huge'") == "1"  # zz_somas only


def test_qualidade_is_exported_only_when_asked(sample_build, pg, tmp_path):
    # Issue 12 (6): qualidade scans every table (seconds at scale, for a few dozen rows): opt-in.
    _, built, _ = sample_build
    data = tmp_path / "data"
    shutil.copytree(built, data)
    summary = export_postgres(_config(data), pg.dsn(), schema="noq")
    names = {t.name for t in summary.tables}
    assert "qualidade" not in names and {"estabelecimentos", "estabelecimentos_completos"} <= names
    assert (
        pg.psql(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'noq' AND table_name = 'qualidade'"
        )
        == "0"
    )
    summary = export_postgres(_config(data), pg.dsn(), schema="noq", tables=["motivos", "qualidade"])
    assert [t.name for t in summary.tables] == ["motivos", "qualidade"]


def test_the_server_named_is_the_one_libpq_reaches_with_pg_variables(monkeypatch):
    # Issue 12 (6): `--dsn postgresql://` with PGHOST/PGPORT sent the rows there but named localhost:5432.
    assert describe_server("postgresql://") == "localhost:5432/"
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", "45429")
    monkeypatch.setenv("PGDATABASE", "cnpj")
    assert describe_server("postgresql://") == "127.0.0.1:45429/cnpj"
    assert describe_server("postgresql://u:pw@db.example:6000/other") == "db.example:6000/other"
    assert describe_server("postgresql:///x?host=/var/run/postgresql") == "/var/run/postgresql:45429/x"


# -- the guard before the swap (issue 14): a truncated release does not replace a complete one -------------------


def _truncate(data: Path, table: str, keep: float) -> int:
    """Rewrite a built table with its first `keep` share of rows, as a month published with files missing."""
    full = pq.read_table([str(p) for p in Store(data).part_files(table, RELEASE)])
    _write_table(data, table, full.slice(0, int(full.num_rows * keep)))
    return int(full.num_rows * keep)


def test_a_release_with_a_table_30_percent_smaller_stops_and_the_old_tables_stay(
    sample_build, pg, tmp_path, capsys, monkeypatch
):
    _, built, _ = sample_build
    data = tmp_path / "data"
    for table in ("socios", "cnaes"):
        copy_table(built, data, table)
    live, cnaes = _manifest_rows(data, "socios"), _manifest_rows(data, "cnaes")
    first = export_postgres(_config(data), pg.dsn(), schema="guard")
    kept = _truncate(data, "socios", 0.7)
    args = ["--data-dir", str(data), "export", "postgres", "--dsn", pg.dsn(), "--schema", "guard", "--no-progress"]
    code, out, err = _cli(args, {}, capsys, monkeypatch)
    assert code == 4 and out == ""
    lines = [  # views not built; the pre-export check's progress lines
        line for line in err.strip().splitlines() if not line.startswith(("warning: view ", "info: checking "))
    ]
    assert lines[0].startswith("error: export stopped: 1 table(s) of release 2026-10 would shrink by more than ")
    assert "export.max_shrink (10%)" in lines[0] and "--allow-shrink" in lines[0]
    assert lines[1:] == [
        f"  socios: {kept:,} rows in release 2026-10, {live:,} rows live in guard.socios (release 2026-10), -30.0%"
    ]
    # the old tables, whole and untouched; nothing left behind
    assert int(pg.psql("SELECT count(*) FROM guard.socios")) == live
    assert int(pg.psql("SELECT count(*) FROM guard.cnaes")) == cnaes
    assert f"run {first.run_id}," in pg.psql("SELECT obj_description('guard.socios'::regclass)")
    assert _staging_tables(pg, "guard") == []
    # the numbers are in the audit: the run failed, socios failed with its line, cnaes was not exported
    con = catalog(data)
    try:
        run_id, status, error = con.execute(
            "SELECT run_id, status, error FROM audit_runs ORDER BY run_id DESC LIMIT 1"
        ).fetchone()
        rows = con.execute(
            "SELECT table_name, status, rows_replaced, error, note FROM audit_tables WHERE run_id = ? "
            "ORDER BY table_name",
            [run_id],
        ).fetchall()
    finally:
        con.close()
    assert status == "failed" and error.startswith("export stopped: 1 table(s)")
    assert rows == [
        ("cnaes", "skipped", cnaes, None, "not exported: the shrink guard stopped the export"),
        ("socios", "failed", live, lines[1].strip(), None),
    ]
    # --allow-shrink: it goes through, with the numbers in the summary and a warning
    code, out, err = _cli([*args, "--allow-shrink"], {}, capsys, monkeypatch)
    assert code == 0, err
    assert int(pg.psql("SELECT count(*) FROM guard.socios")) == kept
    assert f"{live:,} (-30.0%)" in out and f"{cnaes:,} (+0.0%)" in out
    assert f"warning: socios: {kept:,} rows in release 2026-10, {live:,} rows live" in err


def test_a_live_table_the_release_lacks_stops_a_whole_export_but_not_a_chosen_one(pg, tmp_path):
    data = tmp_path / "data"
    _write_table(data, "zz_a", pa.table({"id": pa.array(range(100), pa.int64())}))
    _write_table(data, "zz_b", pa.table({"id": pa.array(range(50), pa.int64())}))
    export_postgres(_config(data), pg.dsn(), schema="gone")
    pg.psql("CREATE TABLE gone.mine (x integer)")  # the user's own table: not ours to compare
    shutil.rmtree(data / "parquet" / "zz_b")
    Store(data).manifest_path("zz_b", RELEASE).unlink()
    with pytest.raises(ShrinkError) as e:
        export_postgres(_config(data), pg.dsn(), schema="gone")
    assert str(e.value).splitlines()[1:] == [
        "  zz_b: not in release 2026-10; 50 rows live in gone.zz_b (release 2026-10)"
    ]
    assert int(pg.psql("SELECT count(*) FROM gone.zz_b")) == 50
    # --tables compares only the tables named; 5% fewer is within the default 10%
    _write_table(data, "zz_a", pa.table({"id": pa.array(range(95), pa.int64())}))
    summary = export_postgres(_config(data), pg.dsn(), schema="gone", tables=["zz_a"])
    assert [(t.name, t.rows, t.rows_replaced) for t in summary.tables] == [("zz_a", 95, 100)]
    # export.max_shrink from the configuration
    _write_table(data, "zz_a", pa.table({"id": pa.array(range(90), pa.int64())}))
    strict = load_config(None, overrides={"data_dir": str(data), "export.max_shrink": "0.05"}, env={})
    with pytest.raises(ShrinkError, match=r"zz_a: 90 rows in release 2026-10, 95 rows live in gone.zz_a .*-5.3%"):
        export_postgres(strict, pg.dsn(), schema="gone", tables=["zz_a"])
    assert int(pg.psql("SELECT count(*) FROM gone.zz_a")) == 95
    assert export_postgres(strict, pg.dsn(), schema="gone", tables=["zz_a"], allow_shrink=True).tables[0].rows == 90


def test_the_guards_threshold_is_a_drop_beyond_max_shrink():
    live = LiveTable("t", 1000, "2026-09")
    assert not Comparison("t", 900, live).blocked(0.10)  # exactly 10% fewer: allowed
    assert Comparison("t", 899, live).blocked(0.10)
    assert not Comparison("t", 5000, live).blocked(0.0)  # growth never stops it
    assert Comparison("t", None, live).blocked(1.0)  # missing: always
    assert not Comparison("t", 0, LiveTable("t", 0, None)).blocked(0.0)  # an empty live table: nothing to lose
