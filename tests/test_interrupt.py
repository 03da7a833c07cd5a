"""Ctrl-C at any moment of every long-running command (issue 16): it stops promptly with exit 130 and one
`interrupted` line, never an internal error or a traceback, and leaves the outputs and the audit consistent (a
rerun gives what a clean run gives).

Each command runs in a fresh process group, as a shell runs a foreground job, and gets SIGINT (what Ctrl-C sends
to the group) at fixed fractions of the time a clean run of it took: deterministic moments, from 0.1 s to about
its end. A moment after the end finds the command finished, with exit 0 and the clean output. The child starts
with SIGINT blocked until cnpj-duck's handler is in place (see _block_sigint).

Another command joins by adding a `Case` to CASES (a reader: nothing to check but its output) or a test of its
own built on `interrupt_at` and `check_stopped` (a writer: what it wrote is checked, as for build, export and
download below, and the hand-over exports: the whole file or none). `serve` belongs here too (not yet).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from cnpj_duck import interrupts
from cnpj_duck.build import build
from cnpj_duck.config import load_config
from cnpj_duck.sample import generate_release
from cnpj_duck.store import Store

from .conftest import catalog, copy_table
from .fakeshare import FakeShare
from .test_resilience import assert_nothing_partial, assert_same_outputs

RELEASE, NEXT = "2026-10", "2026-11"
STOP_WITHIN = 2.0  # seconds from the signal to the exit (issue 16)
FIRST = 0.1  # seconds after the start: the first moment
# The audit after a Ctrl-C: no run yet (it came during the start), the run interrupted, or the run succeeded (it
# came after the work, while the command printed its summary); what it wrote is checked in each case.
AFTER_CTRL_C = ([], ["interrupted"], ["succeeded"])
LONG_QUERY = "select sum(i) from range(100000000000000) t(i)"  # hours of work: every moment is mid-query


@dataclass(frozen=True)
class Stopped:
    """How one interrupted command ended."""

    code: int
    out: str
    err: str
    at: float  # seconds after the start the signal was due
    sent: bool  # False: the command had ended before the moment came
    seconds: float  # from the signal (or the moment) to the exit


def moments(seconds: float, count: int) -> list[float]:
    """`count` moments from FIRST to about the end of a run that took `seconds`, evenly spread."""
    end = max(seconds, FIRST * 2)
    if count == 1:
        return [FIRST]
    return [round(FIRST + (end - FIRST) * i / (count - 1), 3) for i in range(count)]


def command(data: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "cnpj_duck.cli", "--data-dir", str(data), *args]


def run_clean(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    """A run nothing interrupts: its result and how long it took."""
    started = time.monotonic()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done, time.monotonic() - started


def _block_sigint() -> None:
    """In the child, until cnpj-duck's handler unblocks it: a Ctrl-C in the interpreter's own start-up (the first
    50-150 ms, before any code of ours runs) is Python's, a traceback and exit 1, whatever cnpj-duck does."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def interrupt_at(args: list[str], at: float, cwd: Path, env: dict[str, str], again: float | None = None) -> Stopped:
    """Start the command in a process group of its own and send the group SIGINT `at` seconds later (and once
    more `again` seconds after that: a second Ctrl-C while it cleans up)."""
    out_path, err_path = cwd / "interrupted.out", cwd / "interrupted.err"
    with out_path.open("w") as out, err_path.open("w") as err:  # files, not pipes: a full pipe would block it
        started = time.monotonic()
        proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=out, stderr=err, process_group=0, preexec_fn=_block_sigint
        )
        try:
            proc.wait(timeout=max(0.0, started + at - time.monotonic()))
            sent, signalled = False, time.monotonic()
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGINT)
            sent, signalled = True, time.monotonic()
            if again is not None:
                try:
                    proc.wait(timeout=again)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return Stopped(proc.returncode, out_path.read_text(), err_path.read_text(), at, sent, time.monotonic() - signalled)


def check_stopped(stopped: Stopped, clean_out: str | None = None) -> bool:
    """Exit 130 promptly with `interrupted` (or 0, finished, with the clean output); True when it was interrupted.

    What it printed on stdout is the start of what the clean run printed (a title before its table, say), never
    anything else; files are all or nothing (see the long query's test).
    """
    where = f"SIGINT at {stopped.at:.2f}s: exit {stopped.code}, stderr:\n{stopped.err}"
    assert "internal error" not in stopped.err and "Traceback" not in stopped.err, where
    if stopped.code == 0:
        if clean_out is not None:
            assert stopped.out == clean_out, where
        return False
    assert stopped.sent and stopped.code == 130, where
    assert stopped.seconds < STOP_WITHIN, f"{where}\nstopped {stopped.seconds:.2f}s after the signal"
    lines = stopped.err.strip().splitlines()
    assert lines and lines[-1] == "interrupted" and lines.count("interrupted") == 1, where
    assert not any(line.startswith("error:") for line in lines), where
    if clean_out is not None:
        assert clean_out.startswith(stopped.out), where
    return True


def _config(data: Path):
    return load_config(None, overrides={"data_dir": str(data), "batch_mb": 1}, env={})


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CNPJ_DUCK_", "PG"))}
    return {**env, "CNPJ_DUCK_BATCH_MB": "1", **extra}


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("release")
    return generate_release(root, release=RELEASE, scale=0.0005, seed=5, workers=2).folder


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, release: Path) -> Path:
    """The release built with nothing interrupting it, and a copy of it as the next month (for diff)."""
    data = tmp_path_factory.mktemp("clean") / "data"
    summary = build(_config(data), source=release)
    assert summary.status == "succeeded", summary.errors
    return data


def _runs(data: Path) -> list[tuple[str, str]]:
    """(command, status) of every run in the audit, oldest first; none is left `running`."""
    con = catalog(data)
    try:
        for table in ("audit_runs", "audit_tables", "audit_files", "audit_batches"):
            assert con.execute(f"SELECT count(*) FROM {table} WHERE status = 'running'").fetchone() == (0,), table
        return [(c, s) for c, s in con.execute("SELECT command, status FROM audit_runs ORDER BY run_id").fetchall()]
    finally:
        con.close()


# -- the mechanism, in this process -------------------------------------------------------------------------------


@pytest.fixture
def handler():
    """interrupts.py's SIGINT handling in this process for one test; pytest's own comes back after it."""
    assert interrupts.install()
    try:
        yield
    finally:
        interrupts.uninstall()


def _ctrl_c_in(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def test_a_ctrl_c_stops_a_query_and_refuses_later_connections(handler):
    con = interrupts.register(duckdb.connect())
    _ctrl_c_in(0.3)
    with pytest.raises(BaseException) as stopped:  # hours of work: only the Ctrl-C ends it
        con.sql(LONG_QUERY).fetchall()
    assert interrupts.is_interrupt(stopped.value) and interrupts.requested()
    with pytest.raises(KeyboardInterrupt):  # no query starts after it: no window in which the signal is lost
        interrupts.register(duckdb.connect())
    con.close()


def test_a_ctrl_c_in_a_deferred_block_waits_for_its_end(handler, tmp_path):
    done = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            _ctrl_c_in(0).join()
            time.sleep(0.2)  # the handler runs in here, and holds the Ctrl-C
            (tmp_path / "a").touch()
            (tmp_path / "a").rename(tmp_path / "b")
            done.append("renamed")
    assert done == ["renamed"] and (tmp_path / "b").exists()


def test_without_the_handler_nothing_is_recorded():
    assert not interrupts.installed()
    interrupts.trip()  # what the Postgres code calls on a cancelled statement: nothing without install
    assert not interrupts.requested()
    interrupts.register(duckdb.connect()).close()


def test_a_ctrl_c_cutting_an_exec_of_a_string_still_exits_130(tmp_path):
    # CPython (3.11, Py_RunMain) takes a KeyboardInterrupt of the exact class that leaves exec() of a string as
    # unhandled, even when caught: a `python -m` process then kills itself with SIGINT at exit, status -2 after its
    # `interrupted` line. Dataclass and namedtuple creation exec strings at import, which the commands do lazily:
    # diff stopped that way now and then. interrupts.py raises a subclass, which CPython does not mark.
    (tmp_path / "cut_exec.py").write_text(
        "import os, signal, sys, time\n"
        "from cnpj_duck import interrupts\n"
        "interrupts.install()\n"
        "try:\n"
        "    exec('os.kill(os.getpid(), signal.SIGINT)\\ntime.sleep(30)')\n"
        "except KeyboardInterrupt:\n"
        "    sys.exit(130)\n"
    )
    done = subprocess.run([sys.executable, "-m", "cut_exec"], cwd=tmp_path, env=_env(), timeout=60)
    assert done.returncode == 130


# -- readers: query, lookup, search, diff, describe, status -------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A command that only reads: interrupted `points` times, its output never more than the clean run's start."""

    name: str
    args: tuple[str, ...]
    points: int
    data: str = "clean"  # the data dir it reads: 'clean', or 'two' (two releases, for diff)


def _some(clean: Path, sql: str) -> str:
    con = duckdb.connect()
    try:
        return str(con.sql(sql.format(p=f"'{clean}/parquet/estabelecimentos/*/*.parquet'")).fetchall()[0][0])
    finally:
        con.close()


CASES = [
    Case("query qualidade", ("query", "SELECT * FROM qualidade"), 5),
    Case("describe", ("describe",), 5),
    Case("status", ("status",), 5),
    Case("lookup", ("lookup", "{cnpj}"), 5),
    Case("search", ("search", "{name}"), 5),
    Case("diff", ("diff", "--from", RELEASE, "--to", NEXT), 7, data="two"),
]


@pytest.fixture(scope="module")
def readable(clean: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The data dirs the readers read, and the values their arguments name."""
    two = tmp_path_factory.mktemp("two") / "data"
    shutil.copytree(clean, two)
    for table in Store(clean).built():
        copy_table(clean, two, table, RELEASE, NEXT)
    return {
        "clean": clean,
        "two": two,
        "cnpj": _some(clean, "SELECT min(cnpj) FROM read_parquet({p})"),
        "name": _some(
            clean,
            "SELECT min(left(nome_fantasia, 6)) FROM read_parquet({p}) "
            "WHERE length(nome_fantasia) >= 6 AND nome_fantasia SIMILAR TO '[A-Z ]+'",
        ),
    }


@pytest.mark.slow  # commands started and interrupted, seconds each
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_reader_stops_at_any_moment_and_prints_only_what_it_would(case: Case, readable, tmp_path):
    data = readable[case.data]
    assert isinstance(data, Path)
    args = command(data, *(a.format(**readable) for a in case.args))
    env = _env()
    done, seconds = run_clean(args, tmp_path, env)
    assert done.stdout
    interrupted = [
        check_stopped(interrupt_at(args, at, tmp_path, env), done.stdout) for at in moments(seconds, case.points)
    ]
    assert all(interrupted[: case.points // 2 or 1]), interrupted  # the early moments find it running
    assert run_clean(args, tmp_path, env)[0].stdout == done.stdout  # the data dir is as it was


@pytest.mark.slow  # commands started and interrupted, seconds each
def test_a_long_query_stops_at_any_moment_and_leaves_no_output_file(clean, tmp_path):
    # Issue 16: at 0.4 s it stopped, at 1.0 s the signal was lost (it ran on), at 2 s an internal error.
    target = tmp_path / "sum.csv"
    args = command(clean, "query", LONG_QUERY, "--format", "csv", "--output", str(target))
    for at in (FIRST, 0.4, 1.0, 2.0):
        assert check_stopped(interrupt_at(args, at, tmp_path, _env()))
        assert not target.exists() and not list(tmp_path.glob(".sum.csv*"))  # nor its side file


# -- writers: build, export postgres, download --------------------------------------------------------------------


@pytest.mark.slow  # commands started and interrupted, seconds each
def test_build_stops_at_any_moment_and_a_rerun_gives_the_clean_result(release, clean, tmp_path):
    env = _env()
    _, seconds = run_clean(
        command(tmp_path / "timing", "build", "--source", str(release), "--no-progress"), tmp_path, env
    )
    interrupted = []
    for i, at in enumerate(moments(seconds, 5)):
        data = tmp_path / f"data{i}"
        args = command(data, "build", "--source", str(release), "--no-progress")
        twice = i % 2 == 1  # then a second Ctrl-C 50 ms after the first, while it cleans up
        stopped = interrupt_at(args, at, tmp_path, env, again=0.05 if twice else None)
        interrupted.append(check_stopped(stopped))
        if interrupted[-1]:
            runs = _runs(data) if (data / "cnpj.duckdb").exists() else []
            assert [s for _, s in runs] in AFTER_CTRL_C, runs
            if runs:  # it had begun: it says how to go on
                assert "to resume, run the same command again" in stopped.err
            if (data / "parquet").exists() and not twice:  # (a second Ctrl-C may leave .staging to the next run)
                assert_nothing_partial(data)
            run_clean(args, tmp_path, env)
        assert_nothing_partial(data)
        assert_same_outputs(clean, data)
    assert all(interrupted[:2]), interrupted  # the early moments find it running


def _pg_counts(pg, schema: str, tables: list[str]) -> dict[str, int]:
    """Rows of each table of the schema in Postgres, and the schema's table names (staging tables would show)."""
    names = pg.psql(
        f"SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = '{schema}'"
    ).split(",")
    assert sorted(names) == sorted(tables), names
    union = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {schema}.{t}" for t in tables)
    return {line.split("|")[0]: int(line.split("|")[1]) for line in pg.psql(union).splitlines()}


@pytest.mark.slow  # commands started and interrupted, seconds each
def test_export_stops_at_any_moment_and_leaves_postgres_as_it_was(clean, pg, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(clean, data)
    env = _env(CNPJ_DUCK_PG_DSN=pg.dsn())
    args = command(data, "export", "postgres", "--schema", "intr", "--no-progress")
    _, seconds = run_clean(args, tmp_path, env)
    tables = pg.psql("SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'intr'").split(",")
    exported = _pg_counts(pg, "intr", tables)
    interrupted = []
    for at in moments(seconds, 5):
        before = len(_runs(data))
        stopped = interrupt_at(args, at, tmp_path, env)
        interrupted.append(check_stopped(stopped))
        new = [s for _, s in _runs(data)[before:]]
        assert new in (AFTER_CTRL_C if interrupted[-1] else (["succeeded"],)), stopped.err
        if new == ["interrupted"]:
            assert "the tables in Postgres are as they were, or all new" in stopped.err
        assert _pg_counts(pg, "intr", tables) == exported  # the live tables are whole: the old ones or the new
    assert all(interrupted[:2]), interrupted  # the early moments find it running
    run_clean(args, tmp_path, env)
    assert _pg_counts(pg, "intr", tables) == exported


@pytest.mark.slow  # commands started and interrupted, seconds each
def test_download_stops_at_any_moment_and_a_rerun_completes_it(release, tmp_path):
    zips = {p.name: p.read_bytes() for p in release.glob("*.zip")}
    with FakeShare() as share:
        for name, data in zips.items():
            share.add(RELEASE, name, data)
        env = _env(CNPJ_DUCK_DOWNLOAD_BASE_URL=share.url, CNPJ_DUCK_DOWNLOAD_TOKEN=share.token)
        _, seconds = run_clean(command(tmp_path / "timing", "download", "--no-progress"), tmp_path, env)
        interrupted = []
        for i, at in enumerate(moments(seconds, 5)):
            data = tmp_path / f"data{i}"
            args = command(data, "download", "--no-progress")
            stopped = interrupt_at(args, at, tmp_path, env)
            interrupted.append(check_stopped(stopped))
            if interrupted[-1]:
                raw = data / "raw" / RELEASE
                for path in raw.glob("*.zip") if raw.is_dir() else []:
                    assert path.read_bytes() == zips[path.name], path  # a zip is whole, or still a .part
                runs = _runs(data) if (data / "cnpj.duckdb").exists() else []
                assert [s for _, s in runs] in AFTER_CTRL_C, runs
                if runs:  # it had begun: it says how to go on
                    assert "to resume, run the same command again" in stopped.err
                run_clean(args, tmp_path, env)
            folder = data / "raw" / RELEASE
            assert {p.name: p.read_bytes() for p in folder.glob("*.zip")} == zips
            assert not list(folder.glob("*.part"))
            assert _runs(data)[-1][1] == "succeeded"
        assert all(interrupted[:2]), interrupted  # the early moments find it running


def _handover_counts(path: Path, kind: str) -> dict[str, int]:
    """Rows of each table of an export duckdb / export sqlite file, read by its own client library."""
    if kind == "sqlite":
        import sqlite3

        con = sqlite3.connect(path)
        try:
            names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
        finally:
            con.close()
    with duckdb.connect(str(path), read_only=True) as con:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


@pytest.mark.slow  # commands started and interrupted, seconds each
@pytest.mark.parametrize("kind", ["duckdb", "sqlite"])
def test_a_hand_over_export_stops_at_any_moment_and_leaves_the_whole_file_or_none(clean, tmp_path, kind):
    data = tmp_path / "data"
    shutil.copytree(clean, data)
    env = _env()
    first = tmp_path / "clean" / f"cnpj.{kind}"
    first.parent.mkdir()
    _, seconds = run_clean(command(data, "export", kind, str(first), "--no-progress"), tmp_path, env)
    whole = _handover_counts(first, kind)
    interrupted = []
    for i, at in enumerate(moments(seconds, 5)):
        target = tmp_path / f"out{i}" / f"cnpj.{kind}"
        target.parent.mkdir()
        before = len(_runs(data))
        stopped = interrupt_at(command(data, "export", kind, str(target), "--no-progress"), at, tmp_path, env)
        interrupted.append(check_stopped(stopped))
        new = [s for _, s in _runs(data)[before:]]
        assert new in (AFTER_CTRL_C if interrupted[-1] else (["succeeded"],)), stopped.err
        if new == ["interrupted"]:
            assert "the file is renamed into place only when complete" in stopped.err
            assert "Postgres" not in stopped.err
        # Written aside and renamed: the folder holds the whole file (its run succeeded) or nothing at all.
        left = sorted(p.name for p in target.parent.iterdir())
        if new == ["succeeded"]:
            assert left == [target.name] and _handover_counts(target, kind) == whole, left
        else:
            assert left == [], left
            run_clean(command(data, "export", kind, str(target), "--no-progress"), tmp_path, env)  # the rerun
            assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
            assert _handover_counts(target, kind) == whole
    assert all(interrupted[:2]), interrupted  # the early moments find it running


# -- serve: while it writes its serving file, and while it serves ---------------------------------------------------


def _serving_files(data: Path) -> list[str]:
    """What the serve folder holds; every serving file in it is whole (its documents are every establishment's)."""
    folder = data / "serve"
    names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    for name in names:
        assert not name.startswith(".") and name.startswith(f"{RELEASE}.") and name.endswith(".duckdb"), names
        with duckdb.connect(str(folder / name), read_only=True) as con:
            counts = con.execute(
                "SELECT (SELECT count(*) FROM serve_documents), (SELECT count(*) FROM estabelecimentos)"
            ).fetchone()
        assert counts is not None and counts[0] == counts[1] > 0, (name, counts)
    return names


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until_it_answers(port: int, proc: subprocess.Popen[bytes], within: float = 120) -> None:
    import http.client

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"serve exited {proc.returncode}"
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"serve did not answer in {within} s")


def _interrupt_serving(data: Path, cwd: Path, env: dict[str, str]) -> Stopped:
    """Start serve in a process group of its own, wait until it answers (a lookup too), then SIGINT the group."""
    import http.client

    port = _free_port()
    err_path = cwd / "serving.err"
    with err_path.open("w") as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            command(data, "serve", "--port", str(port)),
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            process_group=0,
            preexec_fn=_block_sigint,
        )
        try:
            _until_it_answers(port, proc)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)  # left open: a keep-alive client
            conn.request("GET", "/00000000000191")
            assert conn.getresponse().status in (200, 404)
            at = time.monotonic() - started
            os.killpg(proc.pid, signal.SIGINT)
            signalled = time.monotonic()
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return Stopped(proc.returncode, "", err_path.read_text(), at, True, time.monotonic() - signalled)


@pytest.mark.slow  # servers started and interrupted, seconds each
def test_serve_stops_at_any_moment_and_leaves_no_partial_serving_file(clean, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(clean, data)
    env = _env()
    port = _free_port()
    started = time.monotonic()  # how long a start takes, writing the serving file: the moments span it
    proc = subprocess.Popen(
        command(data, "serve", "--port", str(port)), cwd=tmp_path, env=env, stderr=subprocess.DEVNULL
    )
    try:
        _until_it_answers(port, proc)
        ready = time.monotonic() - started
    finally:
        proc.kill()
        proc.wait()
    (whole,) = _serving_files(data)
    interrupted = []
    for at in moments(ready, 5):  # while it starts: writing its serving file, then opening it and listening
        shutil.rmtree(data / "serve", ignore_errors=True)  # so that this start writes it again
        before = len(_runs(data))
        stopped = interrupt_at(command(data, "serve", "--port", str(_free_port())), at, tmp_path, env)
        interrupted.append(check_stopped(stopped))
        new = [s for _, s in _runs(data)[before:]]  # the serving file's export: none, interrupted, or succeeded
        assert new in AFTER_CTRL_C, (at, new, stopped.err)
        assert _serving_files(data) == ([whole] if new == ["succeeded"] else []), (at, new, stopped.err)
    assert all(interrupted), interrupted  # it never ends by itself
    for _ in range(2):  # while it serves: the file written before, or the one it writes first
        stopped = _interrupt_serving(data, tmp_path, env)
        assert check_stopped(stopped) and "serving release" in stopped.err, stopped.err
        assert _serving_files(data) == [whole]
