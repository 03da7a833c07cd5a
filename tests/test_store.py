"""The store (issue 11): a moved data dir, two writers in one data dir, readers during a build, one latest release."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from cnpj_duck.build import build
from cnpj_duck.catalogdb import STORAGE_VERSION, storage_version
from cnpj_duck.config import load_config
from cnpj_duck.layout import FAMILIES
from cnpj_duck.sample import generate_release
from cnpj_duck.store import Store

from .conftest import catalog, cli_run, copy_table

cli = cli_run


def _config(data: Path, **overrides: object):
    return load_config(None, overrides={"data_dir": str(data), **overrides}, env={})


def _some_cnpj(data: Path) -> str:
    con = duckdb.connect()
    try:
        files = [str(f) for f in Store(data).part_files("estabelecimentos", "2026-10")]
        return con.sql("SELECT cnpj FROM read_parquet(?) ORDER BY cnpj LIMIT 1", params=[files]).fetchall()[0][0]
    finally:
        con.close()


def test_a_moved_data_dir_answers_query_and_lookup_unchanged(sample_build, tmp_path, capsys, monkeypatch):
    _, data_dir, _ = sample_build
    sql = "SELECT count(*) AS n, min(cnpj_basico) AS first FROM empresas"
    cnpj = _some_cnpj(data_dir)
    before = [
        cli(capsys, "--data-dir", str(data_dir), "query", sql, "--format", "csv"),
        cli(capsys, "--data-dir", str(data_dir), "lookup", cnpj, "--format", "json"),
    ]
    assert [b[0] for b in before] == [0, 0], before
    moved = tmp_path / "elsewhere" / "deeper" / "data"
    shutil.copytree(data_dir, tmp_path / "copy")
    moved.parent.mkdir(parents=True)
    (tmp_path / "copy").rename(moved)  # the copy is gone from where its catalog was written
    after = [
        cli(capsys, "--data-dir", str(moved), "query", sql, "--format", "csv"),
        cli(capsys, "--data-dir", str(moved), "lookup", cnpj, "--format", "json"),
    ]
    assert after == before
    # A plain DuckDB client opened in the moved data dir finds the Parquet too (paths relative to it).
    monkeypatch.chdir(moved)
    con = duckdb.connect("cnpj.duckdb", read_only=True)
    try:
        assert con.sql("SELECT count(*) FROM empresas").fetchall()[0][0] == int(
            before[0][1].splitlines()[1].split(",")[0]
        )
    finally:
        con.close()


def test_the_catalog_file_opens_in_duckdb_1x_storage(sample_build):
    _, data_dir, _ = sample_build
    assert storage_version(data_dir / "cnpj.duckdb") == 68 and STORAGE_VERSION == "v1.5.0"


@pytest.mark.slow  # a build and a rewrite, seconds
def test_an_older_catalog_is_rewritten_in_the_1x_storage_keeping_its_audit(sample_build, tmp_path):
    manifest, data_dir, _ = sample_build
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    old = data / "cnpj.duckdb"
    con = duckdb.connect()  # what an earlier cnpj-duck left: DuckDB 2's own storage
    con.execute(
        f"ATTACH '{old}' AS a (READ_ONLY); ATTACH '{tmp_path / 'v2.duckdb'}' AS b; "
        "COPY FROM DATABASE a TO b; DETACH a; DETACH b"
    )
    con.close()
    (tmp_path / "v2.duckdb").replace(old)
    assert storage_version(old) > 68
    runs = duckdb.connect(str(old), read_only=True).execute("SELECT count(*) FROM audit_runs").fetchall()[0][0]
    assert build(_config(data), source=manifest.folder, tables=["motivos"]).status == "succeeded"
    assert storage_version(old) == 68
    con = catalog(data)
    try:
        assert con.execute("SELECT count(*) FROM audit_runs").fetchall()[0][0] == runs + 1
    finally:
        con.close()


def test_deleting_an_old_partition_by_hand_breaks_no_query(sample_build, tmp_path, capsys):
    _, data_dir, _ = sample_build
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    older = data / "parquet" / "motivos" / "release=2026-09"
    copy_table(data, data, "motivos", "2026-10", "2026-09")
    code, out, err = cli(
        capsys,
        "--data-dir",
        str(data),
        "query",
        "SELECT count(DISTINCT release) FROM motivos_history",
        "--format",
        "csv",
    )
    assert (code, out) == (0, '"count(DISTINCT ""release"")"\n2\n'), err
    shutil.rmtree(older)  # by hand: no build has refreshed the catalog since
    for sql in ("SELECT count(DISTINCT release) FROM motivos_history", "SELECT count(*) FROM motivos"):
        code, out, err = cli(capsys, "--data-dir", str(data), "query", sql, "--format", "csv")
        assert code == 0, err
    assert out.splitlines()[1] == str(Store(data).manifest("motivos", "2026-10")["parts"]["part-0.parquet"]["rows"])


# -- two writers, and readers during a build --------------------------------------------------------------------


@pytest.fixture(scope="module")
def bigger(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A release large enough that a one-thread build takes a few seconds, and a clean build of it."""
    root = tmp_path_factory.mktemp("bigger")
    folder = generate_release(root / "raw", release="2026-10", scale=0.002, seed=5, workers=2).folder
    clean = root / "clean"
    assert build(_config(clean), source=folder).status == "succeeded"
    return folder, clean


def _start(args: list[str], cwd: Path, **env: str) -> subprocess.Popen[str]:
    full = {**{k: v for k, v in os.environ.items() if not k.startswith("CNPJ_DUCK_")}, **env}
    return subprocess.Popen(
        [sys.executable, "-m", "cnpj_duck.cli", *args],
        cwd=cwd,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(proc: subprocess.Popen[str], prefix: str) -> None:
    assert proc.stderr is not None
    while True:
        line = proc.stderr.readline()
        assert line, f"the command ended before printing {prefix!r}"
        if line.startswith(prefix):
            return


@pytest.mark.slow
def test_a_second_build_is_refused_and_readers_answer_during_a_build(bigger, tmp_path, capsys):
    folder, clean = bigger
    data = tmp_path / "data"
    shutil.copytree(clean, data)
    expected_rows = {t: Store(clean).manifest(t, "2026-10") for t in FAMILIES}
    proc = _start(
        ["--data-dir", str(data), "build", "--source", str(folder), "--force", "--no-progress"],
        tmp_path,
        CNPJ_DUCK_THREADS="1",
        CNPJ_DUCK_PARALLEL_FILES="1",
        CNPJ_DUCK_BATCH_MB="1",
    )
    try:
        _wait_for(proc, "succeeded ")  # a first file is done: the build is well under way
        code, out, err = cli(capsys, "--data-dir", str(data), "build", "--source", str(folder), "--force")
        assert code == 1 and out == ""
        assert err.strip().count("\n") == 0, err
        assert f"pid {proc.pid}" in err and "is running in this data directory" in err
        # readers: the previous outputs, and the running run in the audit
        code, out, err = cli(capsys, "--data-dir", str(data), "query", "SELECT count(*) FROM socios", "--format", "csv")
        assert code == 0, err
        assert int(out.splitlines()[1]) == sum(p["rows"] for p in expected_rows["socios"]["parts"].values())
        code, out, err = cli(capsys, "--data-dir", str(data), "status", "--format", "json")
        assert code == 0, err
        assert json.loads(out)["status"] == "running"
        code, out, err = cli(capsys, "--data-dir", str(data), "lookup", _some_cnpj(clean))
        assert code == 0, err
        assert proc.poll() is None, "the build ended before the readers ran: make the release bigger"
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    from .test_resilience import assert_same_outputs

    assert_same_outputs(clean, data)
    con = catalog(data)
    try:
        statuses = con.execute("SELECT status FROM audit_runs ORDER BY run_id").fetchall()
    finally:
        con.close()
    assert statuses[-1] == ("succeeded",) and ("running",) not in statuses
    assert not (data / ".staging").exists() or not any((data / ".staging").iterdir())


@pytest.mark.slow  # a build, seconds
def test_a_lock_left_by_a_dead_process_does_not_stop_the_next_build(sample_build, tmp_path):
    manifest, data_dir, _ = sample_build
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | "
            "os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'build (pid 1)'); os._exit(9)",
            str(data / ".lock"),
        ],
        check=False,
    )
    assert proc.returncode == 9 and (data / ".lock").read_text() == "build (pid 1)"
    (data / ".staging" / "999999999-4").mkdir(parents=True)  # a dead owner's staging
    assert build(_config(data), source=manifest.folder, tables=["motivos"]).status == "succeeded"
    assert not (data / ".staging").exists()


# -- one latest built release -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_months(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2026-09 and 2026-10 built whole; 2026-11 built without socios (a month that arrived incomplete)."""
    root = tmp_path_factory.mktemp("months")
    data = root / "data"
    for month in ("2026-09", "2026-10", "2026-11"):
        folder = generate_release(root / "raw", release=month, scale=0.0002, seed=int(month[-2:]), workers=2).folder
        if month == "2026-11":
            for z in folder.glob("Socios*.zip"):
                z.unlink()
        assert build(_config(data), source=folder).status == "succeeded"
    return data


@pytest.mark.slow
def test_every_command_agrees_on_the_latest_built_release(three_months, tmp_path, capsys, pg):
    data = tmp_path / "data"
    shutil.copytree(three_months, data)  # the export below writes to its audit: the fixture stays as built
    store = Store(data)
    assert store.releases() == ["2026-09", "2026-10", "2026-11"]
    assert store.latest_release() == "2026-10"  # 2026-11 has no socios
    assert store.incomplete_newer() == {"2026-11": [t for t in sorted(FAMILIES) if t != "socios"]}
    d = ["--data-dir", str(data)]
    code, out, err = cli(
        capsys,
        *d,
        "query",
        "SELECT DISTINCT release FROM estabelecimentos_history WHERE cnpj IN "
        "(SELECT cnpj FROM estabelecimentos) AND release = '2026-10'",
        "--format",
        "csv",
    )
    assert (code, out) == (0, '"release"\n"2026-10"\n'), err
    code, out, err = cli(capsys, *d, "query", "SELECT count(*) FROM estabelecimentos", "--format", "csv")
    assert int(out.splitlines()[1]) == sum(
        p["rows"] for p in store.manifest("estabelecimentos", "2026-10")["parts"].values()
    )
    con = duckdb.connect()
    cnpj = con.sql(
        "SELECT cnpj FROM read_parquet(?) LIMIT 1",
        params=[[str(f) for f in store.part_files("estabelecimentos", "2026-10")]],
    ).fetchall()[0][0]
    code, out, err = cli(capsys, *d, "lookup", cnpj, "--format", "json")
    assert code == 0, err
    (doc,) = json.loads(out)
    assert doc["release"] == "2026-10"
    code, out, err = cli(capsys, *d, "diff", "--format", "csv")
    assert code == 0, err
    assert {(r.split(",")[0], r.split(",")[1]) for r in out.splitlines()[1:]} == {('"2026-09"', '"2026-10"')}
    code, out, err = cli(
        capsys,
        *d,
        "export",
        "postgres",
        "--dsn",
        pg.dsn(),
        "--schema",
        "months",
        "--tables",
        "motivos",
        "--no-progress",
    )
    assert code == 0, err
    con = catalog(data)
    try:
        exported = con.execute("SELECT release FROM audit_runs WHERE command LIKE '%export postgres%'").fetchall()
    finally:
        con.close()
    assert exported == [("2026-10",)]


@pytest.mark.slow  # builds, seconds
def test_after_a_first_build_in_part_queries_show_what_is_published(sample_build, tmp_path, capsys):
    # Issue 12 (5): the tables a stopped first build published answer; a missing one is one line saying what to do.
    manifest, _, _ = sample_build
    data = tmp_path / "data"
    assert build(_config(data), source=manifest.folder, tables=["empresas", "motivos"]).status == "succeeded"
    code, out, err = cli(capsys, "--data-dir", str(data), "query", "SELECT count(*) FROM empresas", "--format", "csv")
    assert code == 0 and int(out.splitlines()[1]) > 0, err
    code, out, err = cli(capsys, "--data-dir", str(data), "query", "SELECT count(*) FROM estabelecimentos")
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert "Table with name estabelecimentos does not exist" in err
    assert "the latest built release, 2026-10, has: empresas, motivos" in err
    assert "`cnpj-duck build --release 2026-10` makes the others" in err


@pytest.mark.slow
def test_readers_answer_during_an_export(bigger, tmp_path, capsys, pg):
    folder, clean = bigger
    data = tmp_path / "data"
    shutil.copytree(clean, data)
    proc = _start(
        ["--data-dir", str(data), "export", "postgres", "--dsn", pg.dsn(), "--schema", "during", "--no-progress"],
        tmp_path,
        CNPJ_DUCK_THREADS="1",
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # the export's run appears in the audit within about a second
            code, out, err = cli(capsys, "--data-dir", str(data), "status", "--format", "json")
            assert code == 0, err
            if "export postgres" in json.loads(out)["command"] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert json.loads(out)["status"] == "running"
        code, out, err = cli(
            capsys, "--data-dir", str(data), "query", "SELECT count(*) FROM empresas", "--format", "csv"
        )
        assert code == 0, err
        assert int(out.splitlines()[1]) == sum(
            p["rows"] for p in Store(data).manifest("empresas", "2026-10")["parts"].values()
        )
        code, _, err = cli(capsys, "--data-dir", str(data), "build", "--source", str(folder))
        assert code == 1 and "export postgres" in err and f"pid {proc.pid}" in err  # one writer at a time
        assert proc.poll() is None, "the export ended before the readers ran"
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_table_folder_is_parquet_only_for_polars_pyarrow_and_duckdb(sample_build, tmp_path):
    # Issue 12 (7): the manifest sat among the part files and polars refused the folder.
    import polars as pl
    import pyarrow.dataset as ds

    _, data_dir, _ = sample_build
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    copy_table(data, data, "empresas", "2026-10", "2026-09")
    folder = data / "parquet" / "empresas"
    rows = sum(p["rows"] for p in Store(data).manifest("empresas", "2026-10")["parts"].values())
    assert {p.suffix for p in folder.rglob("*") if p.is_file()} == {".parquet"}
    assert pl.scan_parquet(folder).select(pl.len()).collect().item() == 2 * rows
    hive = pl.scan_parquet(folder, hive_partitioning=True).group_by("release").len().collect()
    assert sorted(hive.rows()) == [("2026-09", rows), ("2026-10", rows)]
    assert pl.scan_parquet(folder / "release=2026-10").select(pl.len()).collect().item() == rows
    assert ds.dataset(folder, format="parquet").count_rows() == 2 * rows
    assert ds.dataset(folder, format="parquet", partitioning="hive").to_table(columns=["release"]).num_rows == 2 * rows
    con = duckdb.connect()
    assert con.sql(f"SELECT count(*) FROM read_parquet('{folder}/*/*.parquet')").fetchall()[0][0] == 2 * rows
    assert (
        con.sql(
            f"SELECT count(DISTINCT release) FROM read_parquet('{folder}/*/*.parquet', hive_partitioning = true)"
        ).fetchall()[0][0]
        == 2
    )
    con.close()


def test_a_publish_caught_between_partition_and_manifest_is_finished(sample_build, tmp_path):
    _, data_dir, _ = sample_build
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    store = Store(data)
    before = store.manifest("motivos", "2026-10")
    assert before is not None
    # A killed publish: the staged partition was moved in, its manifest still waits beside the old one.
    pending = store.manifest_path("motivos", "2026-10").with_name("release=2026-10.json.new")
    pending.write_text(json.dumps({**before, "run_id": 99, "staged_from": str(data / ".staging" / "1-99" / "x")}))
    store.recover()
    assert not pending.exists() and store.manifest("motivos", "2026-10")["run_id"] == 99
    # ... and one killed before the partition moved: the staged folder is still there, the old manifest stands.
    staged = data / ".staging" / "999999999-98" / "motivos" / "release=2026-10"
    staged.mkdir(parents=True)
    pending.write_text(json.dumps({**before, "run_id": 98, "staged_from": str(staged)}))
    store.recover()
    assert not pending.exists() and store.manifest("motivos", "2026-10")["run_id"] == 99


@pytest.mark.slow  # builds and queries, seconds
def test_a_data_dir_of_the_old_layout_keeps_working(sample_build, tmp_path, capsys):
    manifest, data_dir, _ = sample_build
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    store = Store(data)
    for path in sorted((data / "manifests").glob("*/*.json")):  # as cnpj-duck 0.1 wrote them: inside
        path.replace(data / "parquet" / path.parent.name / path.stem / "_manifest.json")
    assert store.latest_release() == "2026-10" and store.manifest("empresas", "2026-10") is not None
    code, out, err = cli(capsys, "--data-dir", str(data), "query", "SELECT count(*) FROM motivos", "--format", "csv")
    assert code == 0, err
    assert build(_config(data), source=manifest.folder, tables=["motivos"]).status == "succeeded"
    assert not list((data / "parquet").rglob("_manifest.json"))
    assert {p.parent.name for p in (data / "manifests").glob("*/*.json")} == set(FAMILIES)


def test_the_data_dictionary_travels_in_the_parquet_schema(sample_build):
    # Issue 12 (7): the column descriptions go with the files, for any Parquet reader.
    import pyarrow.parquet as pq

    from cnpj_duck.sqlproject import describe_sql

    from .conftest import REPO_ROOT

    _, data_dir, _ = sample_build
    for table in ("estabelecimentos", "cnaes"):
        table_doc, columns = describe_sql((REPO_ROOT / "sql" / f"{table}.sql").read_text(encoding="utf-8"))
        schema = pq.read_schema(Store(data_dir).part_files(table, "2026-10")[0])
        assert schema.metadata[b"description"].decode() == table_doc
        for field in schema:
            assert field.metadata[b"description"].decode() == columns[field.name], (table, field.name)


@pytest.mark.slow
def test_prune_keeps_the_newest_releases_and_what_postgres_holds(three_months, tmp_path, capsys, pg):
    from cnpj_duck.prune import prune

    data = tmp_path / "data"
    shutil.copytree(three_months, data)
    store = Store(data)
    code, _, err = cli(
        capsys,
        "--data-dir",
        str(data),
        "export",
        "postgres",
        "--dsn",
        pg.dsn(),
        "--schema",
        "pr",
        "--release",
        "2026-09",
        "--tables",
        "motivos",
        "--no-progress",
    )
    assert code == 0, err
    dry = prune(_config(data), keep=1, dry_run=True)
    assert dry.removed == ("2026-10",) and dry.freed_bytes > 0 and store.releases() == ["2026-09", "2026-10", "2026-11"]
    assert list(dry.protected) == ["2026-09"] and "schema pr" in dry.protected["2026-09"]
    runs = store.catalog_path.stat().st_size
    done = prune(_config(data), keep=1)
    assert done.removed == ("2026-10",) and store.releases() == ["2026-09", "2026-11"]
    assert not (data / "parquet" / "estabelecimentos" / "release=2026-10").exists()
    assert store.catalog_path.stat().st_size >= runs  # the audit stays
    code, out, err = cli(
        capsys,
        "--data-dir",
        str(data),
        "query",
        "SELECT DISTINCT release FROM estabelecimentos_history ORDER BY 1",
        "--format",
        "csv",
    )
    assert (code, out) == (0, '"release"\n"2026-09"\n"2026-11"\n'), err
    con = catalog(data)
    try:
        assert con.sql("SELECT count(DISTINCT release) FROM motivos_history").fetchall() == [(2,)]
    finally:
        con.close()
