"""Shared fixtures: isolation from the caller's environment and folder, real sample folders, a config in a temp
data dir, and a zip writer for hand-made cases."""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from cnpj_duck.build import BuildSummary, build
from cnpj_duck.config import Config, load_config
from cnpj_duck.progress import RecordingProgress
from cnpj_duck.sample import SampleManifest, generate_release
from cnpj_duck.store import Store

REPO_ROOT = Path(__file__).resolve().parent.parent  # the checkout the tests run from
# Copies of the shared real samples, kept in the repo so that a bare clone runs its own tests.
REAL_SAMPLES = Path(__file__).resolve().parent / "data" / "real-samples"


def _leaky(name: str) -> bool:
    """An environment variable that changes what the code under test does: ours, or libpq's (PGHOST, ...)."""
    return name.startswith("CNPJ_DUCK_") or name.startswith("PG")


def _isolate(mp: pytest.MonkeyPatch, cwd: Path) -> None:
    for name in [n for n in os.environ if _leaky(n)]:
        mp.delenv(name)
    # config.py reads ./config.yaml when present: the repo's own (or a developer's) must not reach a test.
    mp.chdir(cwd)


@pytest.fixture(scope="session", autouse=True)
def _isolated_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The same isolation for session fixtures (sample_build, pg), which are set up before any test's own."""
    with pytest.MonkeyPatch.context() as mp:
        _isolate(mp, tmp_path_factory.mktemp("session-cwd"))
        yield


@pytest.fixture(autouse=True)
def _isolated_test(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no CNPJ_DUCK_* or PG* variable and in an empty folder of its own (not its tmp_path,
    which tests fill as they like); a test may set variables or chdir with monkeypatch as usual."""
    _isolate(monkeypatch, tmp_path_factory.mktemp("cwd"))


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Defaults, with the data dir in tmp_path; no config.yaml or environment leaks in."""
    return load_config(None, overrides={"data_dir": str(tmp_path / "data")}, env={})


def write_zip(folder: Path, zip_name: str, member: str, data: bytes, method: int = zipfile.ZIP_DEFLATED) -> Path:
    """Write a one-member zip (the member's bytes exactly as given)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / zip_name
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        zf.writestr(member, data)
    return path


def rows(data_dir: Path, table: str, where: str = "true", params: list | None = None) -> list[dict]:
    """Rows of an output table (all releases), as dicts."""
    con = duckdb.connect()
    rel = con.sql(
        f"SELECT * FROM read_parquet('{data_dir}/parquet/{table}/*/*.parquet', hive_partitioning = true) WHERE {where}",
        params=params,
    )
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def catalog(data_dir: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(data_dir / "cnpj.duckdb"), read_only=True)
    con.execute("SET file_search_path = ?", [str(data_dir.resolve())])  # its views name paths in the data dir
    return con


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[SampleManifest, Path, BuildSummary]:
    """A generated release (2026-10, seed 7, every quirk) built once for the whole session; treat as read-only.

    Tests that change the data dir copy it first (shutil.copytree: it is a few MB).
    """
    root = tmp_path_factory.mktemp("sample_build")
    manifest = generate_release(root / "raw", release="2026-10", scale=0.0002, seed=7, workers=2)
    config = load_config(None, overrides={"data_dir": str(root / "data"), "batch_mb": 1}, env={})
    summary = build(config, source=manifest.folder)
    assert summary.status == "succeeded", summary.errors
    return manifest, config.data_dir, summary


def export_once(
    sample_build: tuple[SampleManifest, Path, BuildSummary],
    factory: pytest.TempPathFactory,
    write: Callable[..., object],
    name: str,
    **options: object,
) -> tuple[object, RecordingProgress, Path, Path]:
    """The sample release written once by an export writer (write_duckdb, write_sqlite) into `name`, in a copy of
    the data dir (the export writes its audit into the catalog); and a copy of the file in another folder."""
    _, built, _ = sample_build
    root = factory.mktemp(f"export_{Path(name).suffix.lstrip('.')}")
    data = root / "data"
    shutil.copytree(built, data)
    progress = RecordingProgress()
    config = load_config(None, overrides={"data_dir": str(data)}, env={})
    summary = write(Store(data), "latest", root / name, config=config, progress=progress, **options)
    elsewhere = factory.mktemp("elsewhere")
    shutil.copy2(root / name, elsewhere / f"copy{Path(name).suffix}")
    return summary, progress, data, elsewhere / f"copy{Path(name).suffix}"


@pytest.fixture(scope="session")
def pg() -> object:
    """A throwaway PostgreSQL cluster on 127.0.0.1 for the session (a tests/pg.py PgServer). Without PostgreSQL
    installed the tests that need it are skipped, except under CI (CI=true), where that fails the run."""
    import os

    from .pg import find_bin_dir, start_server, stop_server

    if find_bin_dir() is None:
        message = (
            "PostgreSQL server binaries (initdb) not found on PATH or in /usr/lib/postgresql/*/bin; "
            "scripts/test installs Debian's postgresql package"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = start_server()
    try:
        yield server
    finally:
        stop_server(server)


def copy_table(
    source: Path, target: Path, table: str, release: str | None = None, to_release: str | None = None
) -> None:
    """Copy a table's published partitions (all, or one `release`, renamed `to_release`) from the data dir `source`
    to `target`, with their manifests: what a build would have left there."""
    from cnpj_duck.store import Store

    src, dst = Store(source), Store(target)
    for month in [release] if release else src.built().get(table, []):
        into = to_release or month
        shutil.copytree(src.partition(table, month), dst.partition(table, into))
        dst.manifest_path(table, into).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src.manifest_path(table, month), dst.manifest_path(table, into))


def cli_run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The real entry point (errors become one line and an exit code there): its exit code, stdout and stderr."""
    from cnpj_duck.cli import main

    with pytest.raises(SystemExit) as e:
        main(list(args))
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out, out.err
