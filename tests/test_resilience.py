"""Idempotent reruns, --force, kill -9 at several points, and Ctrl-C: outputs end identical to a clean build."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from cnpj_duck.build import build
from cnpj_duck.config import load_config
from cnpj_duck.layout import FAMILIES
from cnpj_duck.sample import generate_release
from cnpj_duck.store import Store

from .conftest import catalog

pytestmark = pytest.mark.slow  # kill -9, Ctrl-C and rebuilds of whole releases: seconds each


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("release")
    return generate_release(root, release="2026-10", scale=0.001, seed=3, workers=2).folder


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, release: Path) -> Path:
    """A build that nothing interrupted, to compare with."""
    data = tmp_path_factory.mktemp("clean") / "data"
    summary = build(_config(data), source=release)
    assert summary.status == "succeeded"
    return data


def _config(data: Path, **overrides):
    return load_config(None, overrides={"data_dir": str(data), "batch_mb": 1, **overrides}, env={})


def assert_same_outputs(a: Path, b: Path) -> None:
    """Same tables, same rows, same values (order-insensitive, duplicates counted)."""
    con = duckdb.connect()
    for table in FAMILIES:
        left = f"read_parquet('{a}/parquet/{table}/*/*.parquet', hive_partitioning = true)"
        right = f"read_parquet('{b}/parquet/{table}/*/*.parquet', hive_partitioning = true)"
        diff = con.sql(
            f"SELECT count(*) FROM ((SELECT * FROM {left} EXCEPT ALL SELECT * FROM {right}) UNION ALL "
            f"(SELECT * FROM {right} EXCEPT ALL SELECT * FROM {left}))"
        ).fetchall()[0][0]
        assert diff == 0, table
        n_left = con.sql(f"SELECT count(*) FROM {left}").fetchall()[0][0]
        assert n_left > 0 and n_left == con.sql(f"SELECT count(*) FROM {right}").fetchall()[0][0], table


def assert_nothing_partial(data: Path) -> None:
    """Every visible partition is complete: its manifest lists exactly its files, with their row counts."""
    import pyarrow.parquet as pq

    for partition in (data / "parquet").glob("*/release=*"):
        manifest = json.loads(Store(data).manifest_path(partition.parent.name, partition.name[8:]).read_text())
        files = sorted(p.name for p in partition.iterdir())  # Parquet parts only: the manifest lives apart
        assert files == sorted(manifest["parts"]), partition
        for name, part in manifest["parts"].items():
            assert pq.read_metadata(partition / name).num_rows == part["rows"]
    assert not list(data.glob(".staging/*"))


def test_rerun_skips_everything_and_force_rebuilds(tmp_path, release, clean):
    data = tmp_path / "data"
    shutil.copytree(clean, data)
    mtimes = {p: p.stat().st_mtime_ns for p in (data / "parquet").rglob("*.parquet")}
    summary = build(_config(data), source=release)
    assert summary.status == "succeeded"
    assert {t.status for t in summary.tables} == {"skipped"}
    assert all(t.rows_written == 0 and t.rows_in_output > 0 for t in summary.tables)
    assert {p: p.stat().st_mtime_ns for p in (data / "parquet").rglob("*.parquet")} == mtimes
    con = catalog(data)
    notes = con.execute("SELECT DISTINCT status, note FROM audit_files WHERE run_id = ?", [summary.run_id]).fetchall()
    assert len(notes) == 1 and notes[0][0] == "skipped" and "unchanged since run 1" in notes[0][1]
    con.close()

    forced = build(_config(data), source=release, force=True)
    assert {t.status for t in forced.tables} == {"succeeded"}
    assert sum(t.rows_written for t in forced.tables) == sum(t.rows_in_output for t in forced.tables)
    assert_same_outputs(clean, data)


def test_changing_the_parquet_settings_rebuilds(tmp_path, release, clean):
    import pyarrow.parquet as pq

    data = tmp_path / "data"
    shutil.copytree(clean, data)
    summary = build(_config(data, **{"parquet.compression": "snappy"}), source=release, tables=["cnaes"])
    assert [t.status for t in summary.tables] == ["succeeded"]
    part = next((data / "parquet" / "cnaes").glob("*/part-0.parquet"))
    assert pq.ParquetFile(part).metadata.row_group(0).column(0).compression == "SNAPPY"
    again = build(_config(data, **{"parquet.compression": "snappy"}), source=release, tables=["cnaes"])
    assert [t.status for t in again.tables] == ["skipped"]


def test_a_changed_file_rebuilds_only_that_file(tmp_path, release, clean):
    data = tmp_path / "data"
    shutil.copytree(clean, data)
    source = tmp_path / "2026-10"
    shutil.copytree(release, source)
    generate_release(tmp_path / "other", release="2026-10", scale=0.001, seed=4, families=["socios"])
    shutil.copy(tmp_path / "other" / "2026-10" / "Socios3.zip", source / "Socios3.zip")
    summary = build(_config(data), source=source)
    status = {t.name: t.status for t in summary.tables}
    assert status["socios"] == "succeeded" and status["empresas"] == "skipped"
    con = catalog(data)
    files = dict(
        con.execute(
            "SELECT zip_name, status FROM audit_files WHERE run_id = ? AND zip_name LIKE 'Socios%'", [summary.run_id]
        ).fetchall()
    )
    assert files.pop("Socios3.zip") == "succeeded" and set(files.values()) == {"skipped"}
    con.close()
    assert_nothing_partial(data)


def _start_build(data: Path, release: Path, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "CNPJ_DUCK_BATCH_MB": "1"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cnpj_duck.cli",
            "--data-dir",
            str(data),
            "build",
            "--source",
            str(release),
            "--no-progress",
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_lines(proc: subprocess.Popen[str], count: int) -> None:
    assert proc.stderr is not None
    seen = 0
    while seen < count:
        line = proc.stderr.readline()
        assert line, "the build ended before the kill point"
        seen += line.startswith("succeeded ")


@pytest.mark.parametrize("files_done", [0, 3, 14, 30])
def test_kill_9_then_rerun_gives_the_clean_result(tmp_path, release, clean, files_done):
    data = tmp_path / "data"
    proc = _start_build(data, release, tmp_path)
    _wait_for_lines(proc, files_done)
    if files_done == 0:
        assert proc.stderr is not None and proc.stderr.readline().startswith("start build")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    summary = build(_config(data), source=release)
    assert summary.status == "succeeded", summary.errors
    con = catalog(data)
    assert con.execute("SELECT status FROM audit_runs ORDER BY run_id").fetchall() == [("abandoned",), ("succeeded",)]
    for table in ("audit_runs", "audit_tables", "audit_files", "audit_batches"):
        assert con.execute(f"SELECT count(*) FROM {table} WHERE status = 'running'").fetchone() == (0,)
    con.close()
    assert_nothing_partial(data)
    assert_same_outputs(clean, data)


def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(tmp_path, release, clean):
    data = tmp_path / "data"
    proc = _start_build(data, release, tmp_path)
    _wait_for_lines(proc, 12)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "interrupted"
    assert err.strip().splitlines()[-2] == "to resume, run the same command again: the files that finished are kept"
    con = catalog(data)
    (run_status,) = con.execute("SELECT status FROM audit_runs").fetchone()
    assert run_status == "interrupted"
    interrupted = con.execute("SELECT count(*) FROM audit_files WHERE status = 'interrupted'").fetchone()[0]
    interrupted += con.execute("SELECT count(*) FROM audit_tables WHERE status = 'interrupted'").fetchone()[0]
    assert interrupted >= 1
    for table in ("audit_runs", "audit_tables", "audit_files", "audit_batches"):
        assert con.execute(f"SELECT count(*) FROM {table} WHERE status = 'running'").fetchone() == (0,)
    con.close()
    assert_nothing_partial(data)
    summary = build(_config(data), source=release)
    assert summary.status == "succeeded"
    assert_same_outputs(clean, data)


def test_a_swap_caught_half_way_is_undone(tmp_path, release, clean):
    # A crash between the two renames of a publish leaves the old partition in .trash and none in place.
    data = tmp_path / "data"
    shutil.copytree(clean, data)
    final = data / "parquet" / "empresas" / "release=2026-10"
    (data / ".trash" / "empresas").mkdir(parents=True)
    final.rename(data / ".trash" / "empresas" / "release=2026-10")
    (data / ".staging" / "run-9" / "empresas").mkdir(parents=True)
    Store(data).recover()
    assert final.is_dir() and not (data / ".trash").exists() and not (data / ".staging").exists()
    assert_same_outputs(clean, data)


def test_a_rerun_after_ctrl_c_reuses_the_files_that_finished(tmp_path, release, clean):
    # Issue 12 (5): finished parts are kept per file, so a rerun does not build them again.
    data = tmp_path / "data"
    proc = _start_build(data, release, tmp_path)
    _wait_for_lines(proc, 14)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    con = catalog(data)
    finished = {
        r[0]
        for r in con.execute(
            "SELECT f.zip_name FROM audit_files f JOIN audit_tables t USING (table_run_id) WHERE f.run_id = 1 AND "
            "f.status = 'succeeded' AND t.status <> 'succeeded'"
        ).fetchall()
    }
    con.close()
    summary = build(_config(data), source=release)
    assert summary.status == "succeeded", summary.errors
    con = catalog(data)
    reused = {
        r[0]
        for r in con.execute(
            "SELECT zip_name FROM audit_files WHERE run_id = 2 AND status = 'skipped' "
            "AND note LIKE 'built by run 1, which stopped before publishing%'"
        ).fetchall()
    }
    con.close()
    assert finished and reused == finished
    assert_same_outputs(clean, data)
    assert_nothing_partial(data)
    assert not (data / ".parts").exists() or not any((data / ".parts").rglob("*.parquet"))
