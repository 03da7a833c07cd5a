"""`download` and `releases` against a fake share on 127.0.0.1 (tests/fakeshare.py): listing, resume, retries,
verification, audit, progress, and every fault ending in a correct zip or a clear failure, never a damaged zip."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnpj_duck.cli import main
from cnpj_duck.config import load_config
from cnpj_duck.download import STATE_NAME, download_release, find_release, list_releases, parse_multistatus
from cnpj_duck.errors import NetworkError, UsageError
from cnpj_duck.layout import FAMILIES
from cnpj_duck.progress import RecordingProgress

from .conftest import catalog, write_zip
from .fakeshare import FakeShare

RELEASE = "2026-10"
BIG = "Estabelecimentos0.zip"  # the file faults are injected into: large enough to be cut in the middle
NAMES = [f.zip_name(i) for f in FAMILIES.values() for i in range(f.file_count)]


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A real zip for each of the 37 release files (random member bytes: the zips do not compress them)."""
    import random

    folder = tmp_path_factory.mktemp("zips")
    out = {}
    for family in FAMILIES.values():
        for i in range(family.file_count):
            name = family.zip_name(i)
            size = 400_000 if name == BIG else 3_000 + 1_000 * i
            data = random.Random(name).randbytes(size)
            out[name] = write_zip(folder, name, family.member_name("D61011", i), data).read_bytes()
    return out


@pytest.fixture
def share(zips: dict[str, bytes]):
    """2026-10 complete, 2026-09 without Socios3.zip and Cnaes.zip."""
    with FakeShare(stall_seconds=2.0) as fake:
        for name, data in zips.items():
            fake.add(RELEASE, name, data)
            if name not in ("Socios3.zip", "Cnaes.zip"):
                fake.add("2026-09", name, data)
        yield fake


def _config(tmp_path: Path, share: FakeShare, **overrides):
    values = {
        "data_dir": str(tmp_path / "data"),
        "download.base_url": share.url,
        "download.token": share.token,
        "download.connect_timeout": 2,
        "download.stall_timeout": 0.3,
        "download.retries": 3,
        "download.backoff": 0.01,
        "download.concurrency": 3,
    }
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    return load_config(None, overrides=values, env={})


def _raw(tmp_path: Path, release: str = RELEASE) -> Path:
    return tmp_path / "data" / "raw" / release


def _zips_in(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}


def test_releases_lists_each_month_with_files_sizes_and_what_is_missing(tmp_path, share, zips):
    found = list_releases(_config(tmp_path, share))
    assert [r.release for r in found] == ["2026-09", RELEASE]
    september, october = found
    assert len(october.files) == 37 and october.size == sum(len(d) for d in zips.values())
    assert october.missing() == [] and september.missing() == ["Socios3.zip", "Cnaes.zip"]
    assert len(september.files) == 35
    big = next(f for f in october.files if f.name == BIG)
    assert (big.family, big.index, big.size) == ("estabelecimentos", 0, len(zips[BIG]))
    assert big.etag == share.file(RELEASE, BIG).etag and big.last_modified.endswith("GMT")
    assert big.url == f"{share.url}{RELEASE}/{BIG}"
    assert find_release(_config(tmp_path, share), "latest").release == RELEASE
    with pytest.raises(UsageError, match="release 2025-01 is not on the server.*cnpj-duck releases"):
        find_release(_config(tmp_path, share), "2025-01")


@pytest.mark.slow
def test_a_download_is_complete_verified_audited_and_shown_and_a_rerun_fetches_nothing(tmp_path, share, zips):
    config = _config(tmp_path, share)
    progress = RecordingProgress()
    summary = download_release(config, progress=progress)
    assert summary.status == "succeeded" and summary.release == RELEASE and summary.missing == ()
    assert _zips_in(_raw(tmp_path)) == zips  # every byte, and nothing else visible
    assert not list(_raw(tmp_path).glob("*.part"))
    assert {f.status for f in summary.files} == {"succeeded"} and summary.fetched == sum(map(len, zips.values()))
    assert share.most_active <= 3
    # the zip's mtime is the server's Last-Modified
    assert int((_raw(tmp_path) / BIG).stat().st_mtime) == int(share.file(RELEASE, BIG).modified)

    con = catalog(config.data_dir)
    run = con.execute("SELECT run_id, command, release, status, bytes_in FROM audit_runs").fetchall()
    assert run == [(summary.run_id, "download", RELEASE, "succeeded", summary.fetched)]
    tables = dict(con.execute("SELECT table_name, status FROM audit_tables").fetchall())
    assert tables == dict.fromkeys(FAMILIES, "succeeded")
    files = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT zip_name, status, zip_size, sha256, bytes_in, zip_path FROM audit_files"
        ).fetchall()
    }
    con.close()
    assert files[BIG] == (
        "succeeded",
        len(zips[BIG]),
        hashlib.sha256(zips[BIG]).hexdigest(),
        len(zips[BIG]),
        str(_raw(tmp_path) / BIG),
    )
    assert all(files[n][2] == hashlib.sha256(zips[n]).hexdigest() for n in NAMES)

    starts = dict(progress.of("start"))
    assert starts["download"]["total"] == summary.fetched and starts["download"]["unit"] == "bytes"
    advanced = {}
    for task, data in progress.of("advance"):
        advanced[task] = advanced.get(task, 0) + data["amount"]
    assert advanced["download"] == summary.fetched and advanced[BIG] == len(zips[BIG]) == starts[BIG]["total"]
    assert ("download", {"status": "succeeded"}) in progress.of("finish")

    before = len(share.requests)
    again = download_release(config, progress=RecordingProgress())
    assert again.status == "succeeded" and {f.status for f in again.files} == {"skipped"} and again.fetched == 0
    assert not [r for r in share.requests[before:] if r.method == "GET"]  # only the listing was asked for
    con = catalog(config.data_dir)
    notes = con.execute(
        "SELECT DISTINCT status, note, bytes_in FROM audit_files WHERE run_id = ?", [again.run_id]
    ).fetchall()
    sha = con.execute(
        "SELECT sha256 FROM audit_files WHERE run_id = ? AND zip_name = ?", [again.run_id, BIG]
    ).fetchone()[0]
    con.close()
    assert notes == [("skipped", "already complete: same size and etag as on the server", 0)]
    assert sha == hashlib.sha256(zips[BIG]).hexdigest()


# fault sequence on BIG -> what the GETs of BIG must look like (Range header of each; None = from the start)
RECOVERED = {
    "drop": (["drop"], ["none", "resume"]),
    "short": (["short"], ["none", "resume"]),
    "stall": (["stall"], ["none", "resume"]),
    "503": (["503"], ["none", "none"]),
    "429": (["429"], ["none", "none"]),
    "corrupt": (["corrupt"], ["none", "none"]),
    "416": (["416"], ["none", "none"]),
    "ignore-range": (["drop", "ignore-range"], ["none", "resume"]),  # the 200 to the Range is used from byte 0
    "many": (["503", "drop", "stall", "short", "416"], ["none", "none", "resume", "resume", "resume", "none"]),
}


@pytest.mark.parametrize("case", list(RECOVERED))
@pytest.mark.slow
def test_a_transient_fault_ends_in_the_servers_exact_bytes(tmp_path, share, zips, case):
    faults, shape = RECOVERED[case]
    share.file(RELEASE, BIG).faults[:] = faults
    progress = RecordingProgress()
    summary = download_release(_config(tmp_path, share), tables=["estabelecimentos"], progress=progress)
    assert summary.status == "succeeded", summary.errors
    assert (_raw(tmp_path) / BIG).read_bytes() == zips[BIG]
    assert sorted(_zips_in(_raw(tmp_path))) == [f"Estabelecimentos{i}.zip" for i in range(10)]
    gets = share.gets(BIG)
    assert ["none" if g.range is None else "resume" for g in gets] == shape
    result = next(f for f in summary.files if f.name == BIG)
    assert result.attempts == len(gets)
    warnings = [d["text"] for level, d in progress.of("message") if level == "warning"]
    assert warnings and all(w.startswith(BIG) for w in warnings)
    if case in ("drop", "short", "stall"):  # resumed where the cut happened: no byte fetched twice
        offset = int(gets[1].range.removeprefix("bytes=").rstrip("-"))
        # a reset may discard bytes still in flight; a clean close or a stall delivers the whole half
        assert 0 < offset <= len(zips[BIG]) // 2 if case == "drop" else offset == len(zips[BIG]) // 2
        assert result.fetched == len(zips[BIG])
    if case == "429":  # Retry-After: 1 was honoured
        assert gets[1].at - gets[0].at >= 1.0
    if case == "corrupt":
        assert "damaged zip" in warnings[0] and result.fetched == 2 * len(zips[BIG])
    if case == "ignore-range":  # the 200 restarted the file; what the dropped attempt fetched was thrown away
        offset = int(gets[1].range.removeprefix("bytes=").rstrip("-"))
        assert gets[1].status == 200 and result.fetched == offset + len(zips[BIG])
    advanced = sum(d["amount"] for task, d in progress.of("advance") if task == BIG)
    assert advanced == len(zips[BIG])  # a restart takes back what it threw away


@pytest.mark.parametrize(
    "fault, message, gets, network",
    [
        ("corrupt!", "damaged zip .* after 3 complete downloads; the file may be damaged on the server", 3, False),
        ("503!", "HTTP 503 Service Unavailable; gave up after 4 attempts", 4, True),
        ("401", "HTTP 401 Unauthorized: the share token may have changed; set download.token", 1, True),
        ("404", "HTTP 404 Not Found: the Receita may have moved the files", 1, True),
    ],
)
@pytest.mark.slow
def test_a_lasting_fault_is_a_clear_failure_and_leaves_no_damaged_zip(
    tmp_path, share, zips, fault, message, gets, network
):
    share.file(RELEASE, BIG).faults[:] = [fault]
    config = _config(tmp_path, share)
    summary = download_release(config, tables=["estabelecimentos"])
    assert summary.status == "failed"
    [failed] = [f for f in summary.files if f.status == "failed"]
    assert failed.name == BIG and failed.network is network
    assert re.search(message, failed.error), failed.error
    assert len(share.gets(BIG)) == gets  # 401 and 404 are not retried
    assert not (_raw(tmp_path) / BIG).exists() and not (_raw(tmp_path) / f"{BIG}.part").exists()
    assert sorted(_zips_in(_raw(tmp_path))) == [f"Estabelecimentos{i}.zip" for i in range(1, 10)]
    con = catalog(config.data_dir)
    row = con.execute("SELECT status, error FROM audit_files WHERE zip_name = ?", [BIG]).fetchone()
    table = con.execute("SELECT status FROM audit_tables").fetchone()[0]
    con.close()
    assert row[0] == "failed" and re.search(message, row[1]) and table == "failed"


@pytest.mark.slow
def test_what_a_failed_run_fetched_is_resumed_by_the_next_run(tmp_path, share, zips):
    share.file(RELEASE, BIG).faults[:] = ["drop!"]  # every GET is cut after half of what it asked for
    config = _config(tmp_path, share, download__retries=1)
    summary = download_release(config, tables=["estabelecimentos"])
    assert summary.status == "failed"
    part = _raw(tmp_path) / f"{BIG}.part"
    held = part.stat().st_size
    assert len(zips[BIG]) // 2 <= held < len(zips[BIG]) and not (_raw(tmp_path) / BIG).exists()
    assert part.read_bytes() == zips[BIG][:held]
    share.file(RELEASE, BIG).faults.clear()
    again = download_release(config, tables=["estabelecimentos"])
    assert again.status == "succeeded"
    assert share.gets(BIG)[-1].range == f"bytes={held}-"
    assert (_raw(tmp_path) / BIG).read_bytes() == zips[BIG] and not part.exists()
    result = next(f for f in again.files if f.name == BIG)
    assert result.fetched == len(zips[BIG]) - held and result.note == f"resumed at byte {held:,}"


@pytest.mark.slow
def test_a_file_changed_on_the_server_is_fetched_again_and_an_old_part_dropped(tmp_path, share, zips):
    config = _config(tmp_path, share)
    download_release(config, tables=["estabelecimentos", "cnaes"])
    old_part = _raw(tmp_path) / "Estabelecimentos1.zip.part"
    share.file(RELEASE, "Estabelecimentos1.zip").faults[:] = ["drop!"]
    # a run that leaves a part of Estabelecimentos1 (dropped every time), after BIG changed on the server
    new = write_zip(tmp_path / "new", BIG, "K3241.K03200Y0.D61011.ESTABELE", b"new version\n" * 5000).read_bytes()
    served = share.file(RELEASE, BIG)
    served.data, served.version, served.modified = new, 2, served.modified + 86400
    (_raw(tmp_path) / "Estabelecimentos1.zip").unlink()
    summary = download_release(_config(tmp_path, share, download__retries=0), tables=["estabelecimentos"])
    assert (_raw(tmp_path) / BIG).read_bytes() == new
    assert old_part.is_file() and summary.status == "failed"
    state = json.loads((_raw(tmp_path) / STATE_NAME).read_text())
    assert state[BIG]["etag"] == served.etag and state[BIG]["sha256"] == hashlib.sha256(new).hexdigest()
    # the file whose part was begun changes too: the part is dropped, not continued with the new bytes
    changed = share.file(RELEASE, "Estabelecimentos1.zip")
    changed.data, changed.version, changed.faults = zips[BIG], 2, []
    summary = download_release(config, tables=["estabelecimentos"])
    assert summary.status == "succeeded"
    assert (_raw(tmp_path) / "Estabelecimentos1.zip").read_bytes() == zips[BIG]
    assert share.gets("Estabelecimentos1.zip")[-1].range is None
    assert [f.status for f in summary.files if f.name != "Estabelecimentos1.zip"] == ["skipped"] * 9


@pytest.mark.slow
def test_tables_pick_families_and_an_incomplete_month_says_what_is_missing(tmp_path, share):
    progress = RecordingProgress()
    summary = download_release(
        _config(tmp_path, share), "2026-09", tables=["socios", "cnaes", "paises"], progress=progress
    )
    assert summary.status == "succeeded"
    assert sorted(_zips_in(_raw(tmp_path, "2026-09"))) == sorted(
        [f"Socios{i}.zip" for i in range(10) if i != 3] + ["Paises.zip"]
    )
    assert summary.missing == ("Socios3.zip", "Cnaes.zip")
    warning = [d["text"] for level, d in progress.of("message") if level == "warning"]
    assert warning == ["2 of the 12 files asked for are not on the server for 2026-09; missing: Socios3.zip, Cnaes.zip"]
    con = catalog(tmp_path / "data")
    tables = {r[0]: r[1:] for r in con.execute("SELECT table_name, status, note FROM audit_tables").fetchall()}
    con.close()
    assert tables == {
        "socios": ("succeeded", "not on the server: Socios3.zip"),
        "cnaes": ("skipped", "not on the server: Cnaes.zip"),
        "paises": ("succeeded", None),
    }
    with pytest.raises(UsageError, match="no release file family"):
        download_release(_config(tmp_path, share), tables=["nope"])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_listing_failures_say_what_is_wrong(tmp_path, share):
    with pytest.raises(NetworkError, match="401 Unauthorized: the share token may have changed.*--token"):
        list_releases(_config(tmp_path, share, download__token="OLDTOKEN"))
    started = time.monotonic()  # issue 12: a listing says a refused connection at once, without retrying
    with pytest.raises(NetworkError, match=r"^127\.0\.0\.1:\d+: connection refused \(nothing listens there\)"):
        list_releases(
            _config(tmp_path, share, download__base_url=f"http://127.0.0.1:{_closed_port()}/dav/", download__retries=5)
        )
    assert time.monotonic() - started < 2
    with pytest.raises(NetworkError, match="404 Not Found: the Receita may have moved the files"):
        list_releases(_config(tmp_path, share, download__base_url=share.url + "moved/"))
    with pytest.raises(NetworkError, match="HTTP 405 .*set download.mode: mirror"):  # a plain folder, not WebDAV
        list_releases(_config(tmp_path, share, download__base_url=share.mirror_url))
    with pytest.raises(NetworkError, match="not WebDAV XML"):
        parse_multistatus(b"<html><body>Nextcloud</body>", share.url)
    with FakeShare() as empty, pytest.raises(NetworkError, match="no YYYY-MM release folders there"):
        list_releases(_config(tmp_path, share, download__base_url=empty.mirror_url, download__mode="mirror"))
    share.listing_faults[:] = ["503", "429"]  # transient listing errors are retried
    assert len(list_releases(_config(tmp_path, share))) == 2


@pytest.mark.slow
def test_mirror_mode_reads_a_plain_http_folder(tmp_path, share, zips):
    config = _config(tmp_path, share, download__base_url=share.mirror_url, download__mode="mirror", download__token="")
    months = list_releases(config)
    assert [(r.release, len(r.files)) for r in months] == [("2026-09", 35), (RELEASE, 37)]
    assert months[1].size == sum(map(len, zips.values()))  # sizes from HEAD
    summary = download_release(config, RELEASE, tables=["estabelecimentos"])
    assert summary.status == "succeeded"
    assert _zips_in(_raw(tmp_path)) == {n: d for n, d in zips.items() if n.startswith("Estabelecimentos")}


@pytest.mark.slow
def test_a_mirror_that_gives_no_size_still_resumes_and_a_complete_part_answers_416(tmp_path, share, zips):
    share.head_lengths = False
    config = _config(tmp_path, share, download__base_url=share.mirror_url + f"{RELEASE}/", download__mode="mirror")
    remote = find_release(config, RELEASE)  # the base URL is the month's folder itself
    assert remote.release == RELEASE and {f.size for f in remote.files} == {None}
    folder = _raw(tmp_path)
    folder.mkdir(parents=True)
    (folder / f"{BIG}.part").write_bytes(zips[BIG])  # a run that was killed between the last byte and the rename
    (folder / "Estabelecimentos1.zip.part").write_bytes(zips["Estabelecimentos1.zip"][:1000])
    summary = download_release(config, tables=["estabelecimentos"])
    assert summary.status == "succeeded"
    assert _zips_in(folder) == {n: d for n, d in zips.items() if n.startswith("Estabelecimentos")}
    assert [(g.range, g.status) for g in share.gets(BIG)] == [(f"bytes={len(zips[BIG])}-", 416)]
    assert [(g.range, g.status) for g in share.gets("Estabelecimentos1.zip")] == [("bytes=1000-", 206)]


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(args)
    out, err = capsys.readouterr()
    return e.value.code, out, err


def _cli_args(tmp_path: Path, share: FakeShare, *args: str) -> list[str]:
    return ["--data-dir", str(tmp_path / "data"), *args]


@pytest.fixture
def env(monkeypatch, share, tmp_path):
    for name in list(os.environ):
        if name.startswith("CNPJ_DUCK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CNPJ_DUCK_DOWNLOAD_BASE_URL", share.url)
    monkeypatch.setenv("CNPJ_DUCK_DOWNLOAD_TOKEN", share.token)
    monkeypatch.setenv("CNPJ_DUCK_DOWNLOAD_STALL_TIMEOUT", "0.3")
    monkeypatch.setenv("CNPJ_DUCK_DOWNLOAD_BACKOFF", "0.01")
    monkeypatch.setenv("CNPJ_DUCK_DOWNLOAD_RETRIES", "2")
    monkeypatch.chdir(tmp_path)  # no ./config.yaml here


@pytest.mark.slow
def test_cli_releases_and_download(tmp_path, share, env, capsys):
    code, out, err = _cli(_cli_args(tmp_path, share, "releases"), capsys)
    assert code == 0 and err == ""
    assert "2 releases on" in out and "2026-09" in out and "2: Socios3.zip, Cnaes.zip" in out
    code, out, _ = _cli(_cli_args(tmp_path, share, "releases", "--format", "json"), capsys)
    listed = json.loads(out)
    assert [(r["release"], r["files"], r["missing"]) for r in listed] == [
        ("2026-09", 35, ["Socios3.zip", "Cnaes.zip"]),
        (RELEASE, 37, []),
    ]
    share.file(RELEASE, BIG).faults[:] = ["stall"]
    code, out, err = _cli(
        _cli_args(tmp_path, share, "download", "--tables", "estabelecimentos,simples", "--no-progress"), capsys
    )
    assert code == 0, err
    assert f"download of {RELEASE}: succeeded (run 1, 11 fetched, 0 already here" in out
    assert "start download of release 2026-10, run 1 (11 files" in err
    assert f"warning: {BIG}: stalled: no byte for 0.3s; retrying in" in err
    assert f"succeeded {BIG}: 0.4 MB in" in err
    code, out, err = _cli(_cli_args(tmp_path, share, "download", "--tables", "simples", "--quiet"), capsys)
    assert code == 0 and err == "" and "0 fetched, 1 already here" in out
    code, out, err = _cli(["--data-dir", str(tmp_path / "data"), "status", "--run", "1"], capsys)
    assert code == 0, err
    assert re.search(r"run 1 \(cnpj-duck .*download .*\) .*succeeded: \d+\.\d MB fetched", " ".join(out.split()))
    assert re.search(rf"{BIG} succeeded: 0\.4 MB fetched", out)


@pytest.mark.slow
def test_cli_exit_codes_and_one_line_errors(tmp_path, share, env, capsys):
    closed = f"http://127.0.0.1:{_closed_port()}/x/"
    code, _, err = _cli(_cli_args(tmp_path, share, "releases", "--base-url", closed), capsys)
    assert code == 3 and err.count("\n") == 1 and "connection refused (nothing listens there)" in err  # at once
    code, _, err = _cli(_cli_args(tmp_path, share, "download", "--base-url", closed), capsys)  # a download retries
    *retries, last = err.strip().splitlines()
    assert code == 3 and last.startswith("error: PROPFIND http://127.0.0.1:")
    assert "connection refused" in last and "gave up after 3 attempts" in last
    assert len(retries) == 2, err  # the waits are shown as they happen, not only the final error
    for n, line in enumerate(retries, 2):
        assert line.startswith("warning: PROPFIND") and "connection refused" in line
        assert line.endswith(f"(attempt {n} of 3)"), line
    code, _, err = _cli(_cli_args(tmp_path, share, "download", "--token", "OLD", "--quiet"), capsys)
    assert code == 3 and err.count("\n") == 1 and "the share token may have changed" in err
    code, _, err = _cli(_cli_args(tmp_path, share, "download", "--release", "2026-13"), capsys)
    assert code == 2 and "release" in err
    share.file(RELEASE, BIG).faults[:] = ["corrupt!"]
    code, out, err = _cli(_cli_args(tmp_path, share, "download", "--tables", "estabelecimentos", "--quiet"), capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"error: {BIG}: damaged zip")
    assert lines[1].startswith(f"error: download of {RELEASE} failed: 1 file ({BIG}); the errors are above")
    assert "failed" in out
    share.file(RELEASE, BIG).faults[:] = ["503!"]
    code, _, err = _cli(_cli_args(tmp_path, share, "download", "--tables", "estabelecimentos", "--quiet"), capsys)
    assert code == 3 and "HTTP 503 Service Unavailable; gave up after 3 attempts" in err


@pytest.mark.slow
def test_build_download_fetches_the_release_then_builds_it(tmp_path, share, env, capsys, sample_build, monkeypatch):
    manifest, _, built = sample_build
    with FakeShare() as sample_share:
        for path in sorted(manifest.folder.glob("*.zip")):
            sample_share.add(RELEASE, path.name, path.read_bytes())
        monkeypatch.setenv("CNPJ_DUCK_DOWNLOAD_BASE_URL", sample_share.url)
        monkeypatch.setenv("CNPJ_DUCK_DOWNLOAD_TOKEN", sample_share.token)
        code, out, err = _cli(
            _cli_args(tmp_path, share, "build", "--download", "--tables", "empresas,simples", "--no-progress"), capsys
        )
    assert code == 0, err
    assert f"info: download of {RELEASE}: succeeded (run 1, 11 fetched" in err
    assert f"release {RELEASE}: succeeded (run 2" in out
    wanted = [*manifest.folder.glob("Empresas*.zip"), manifest.folder / "Simples.zip"]
    assert _zips_in(_raw(tmp_path)) == {p.name: p.read_bytes() for p in wanted}
    con = catalog(tmp_path / "data")
    runs = con.execute("SELECT command, status FROM audit_runs ORDER BY run_id").fetchall()
    written = con.execute("SELECT sum(rows_written) FROM audit_tables WHERE run_id = 2").fetchone()[0]
    con.close()
    assert [r[1] for r in runs] == ["succeeded", "succeeded"] and "build --download" in runs[1][0]
    assert written == sum(t.rows_written for t in built.tables if t.name in ("empresas", "simples")) > 0
    code, _, err = _cli(_cli_args(tmp_path, share, "build", "--download", "--sample"), capsys)
    assert code == 2 and "does not go with --sample" in err


@pytest.mark.slow
def test_ctrl_c_keeps_the_part_and_the_next_run_resumes_it(tmp_path, zips):
    with FakeShare(stall_seconds=30) as share:
        for name in ("Estabelecimentos0.zip", "Estabelecimentos1.zip"):
            share.add(RELEASE, name, zips[name])
        share.file(RELEASE, BIG).faults[:] = ["stall"]  # half the file, then nothing for 30 s
        env = {k: v for k, v in os.environ.items() if not k.startswith("CNPJ_DUCK_")}
        env.update(
            CNPJ_DUCK_DOWNLOAD_BASE_URL=share.url,
            CNPJ_DUCK_DOWNLOAD_TOKEN=share.token,
            CNPJ_DUCK_DOWNLOAD_STALL_TIMEOUT="20",
        )
        args = [
            sys.executable,
            "-m",
            "cnpj_duck.cli",
            "--data-dir",
            str(tmp_path / "data"),
            "download",
            "--no-progress",
        ]
        proc = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        part = _raw(tmp_path) / f"{BIG}.part"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (part.is_file() and part.stat().st_size >= len(zips[BIG]) // 2):
            time.sleep(0.05)
        assert part.is_file(), proc.communicate()
        interrupted_at = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err
        assert time.monotonic() - interrupted_at < 5  # the blocked read was woken, not waited out
        assert err.strip().splitlines()[-1] == "interrupted"
        assert part.read_bytes() == zips[BIG][: len(zips[BIG]) // 2] and not (_raw(tmp_path) / BIG).exists()
        con = catalog(tmp_path / "data")
        statuses = con.execute(
            "SELECT (SELECT status FROM audit_runs), status FROM audit_files WHERE zip_name = ?", [BIG]
        ).fetchone()
        con.close()
        assert statuses == ("interrupted", "interrupted")
        done = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert share.gets(BIG)[-1].range == f"bytes={len(zips[BIG]) // 2}-"
        assert (_raw(tmp_path) / BIG).read_bytes() == zips[BIG] and not part.exists()


def test_the_token_is_not_sent_to_another_origin_after_a_redirect(tmp_path, share):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str | None] = []

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002
            pass

        def do_PROPFIND(self):  # noqa: N802
            seen.append(self.headers.get("Authorization"))
            self.send_response(307)
            self.send_header("Location", share.url)  # same host, another port: another origin
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = _config(tmp_path, share, download__base_url=f"http://127.0.0.1:{server.server_address[1]}/dav/")
        with pytest.raises(NetworkError, match="401 Unauthorized: the share token may have changed"):
            list_releases(config)
    finally:
        server.shutdown()
        server.server_close()
    assert seen and seen[0] is not None and seen[0].startswith("Basic ")  # the origin it was given for got it
    assert [r.status for r in share.requests if r.method == "PROPFIND"] == [401]  # the other origin did not


@pytest.mark.slow
def test_the_catalog_stays_open_to_others_while_a_download_runs(tmp_path, zips):
    from cnpj_duck.build import build
    from cnpj_duck.catalogdb import open_catalog
    from cnpj_duck.store import Store

    from .conftest import REAL_SAMPLES

    with FakeShare(stall_seconds=30) as share:
        share.add(RELEASE, BIG, zips[BIG])
        share.file(RELEASE, BIG).faults[:] = ["stall"]  # half the file, then nothing: the download is under way
        env = {k: v for k, v in os.environ.items() if not k.startswith("CNPJ_DUCK_")}
        env.update(
            CNPJ_DUCK_DOWNLOAD_BASE_URL=share.url,
            CNPJ_DUCK_DOWNLOAD_TOKEN=share.token,
            CNPJ_DUCK_DOWNLOAD_STALL_TIMEOUT="20",
        )
        data = tmp_path / "data"
        proc = subprocess.Popen(
            [sys.executable, "-m", "cnpj_duck.cli", "--data-dir", str(data), "download", "--no-progress"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        part = _raw(tmp_path) / f"{BIG}.part"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (part.is_file() and part.stat().st_size >= len(zips[BIG]) // 2):
            time.sleep(0.05)
        assert part.is_file(), proc.communicate()
        # A reader (query, status) opens the catalog while the download runs (its audit journal writes the run
        # row within about a second) ...
        deadline = time.monotonic() + 10
        while True:
            with open_catalog(Store(data), read_only=True) as con:
                run = con.execute(
                    "SELECT run_id, status, pid FROM audit_runs WHERE command LIKE '%download%'"
                ).fetchall()
            if run or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert run == [(1, "running", proc.pid)]
        # ... and so does a build, which leaves the live download's run alone (its process is alive).
        config = load_config(None, overrides={"data_dir": str(data)}, env={})
        assert build(config, source=REAL_SAMPLES / "naming-2022", release="2021-06").status == "succeeded"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err
    con = catalog(data)
    runs = con.execute("SELECT run_id, status FROM audit_runs ORDER BY run_id").fetchall()
    con.close()
    assert runs == [(1, "interrupted"), (2, "succeeded")]
