"""`download`: fetch a release into <data_dir>/raw/YYYY-MM/, resumable and verified, and audited.

A zip is written to `<name>.part`, resumed with Range after stalls, drops and resets, and renamed to its name only
once its size matches the server's and every member's CRC checks out: a zip in raw/ is always a complete one.
remote.py lists the share over HTTP (listing.py parses the folders); re-exported: `list_releases`, `find_release`.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import logging
import os
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, interrupts
from .config import Config
from .errors import CnpjDuckError, NetworkError, SourceError, UsageError
from .layout import EXPECTED_FILE_COUNT, FAMILIES, recognise
from .progress import NullProgress, Progress
from .remote import (
    Http,
    RemoteFile,
    RemoteRelease,
    Transient,
    find_release,
    http_timestamp,
    list_releases,
    parse_index,
    parse_multistatus,
    plain_url,
)
from .resume import CHUNK, STATE_NAME, DownloadState, PartFile
from .threads import run_pool
from .unzip import verify_zip

if TYPE_CHECKING:
    from .audit import FileScope, TableScope

__all__ = [
    "STATE_NAME",
    "DownloadSummary",
    "FileResult",
    "RemoteFile",
    "RemoteRelease",
    "download_release",
    "find_release",
    "list_releases",
    "parse_index",
    "parse_multistatus",
    "plain_url",
    "verify_zip",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileResult:
    """How one zip fared."""

    name: str
    family: str
    status: str  # succeeded, skipped, failed, interrupted
    size: int | None
    fetched: int  # bytes received now (a resumed file counts only the rest)
    seconds: float
    attempts: int
    sha256: str | None = None
    error: str | None = None
    network: bool = False  # failed on the network or the server's answer (exit 3), not on the bytes (exit 1)
    note: str | None = None


@dataclass(frozen=True)
class DownloadSummary:
    """The outcome of `download`: per file, what is missing on the server, and warnings."""

    run_id: int
    release: str
    status: str
    folder: Path
    files: tuple[FileResult, ...]
    missing: tuple[str, ...]
    warnings: tuple[str, ...]
    seconds: float

    @property
    def failed(self) -> bool:
        return self.status != "succeeded"

    @property
    def fetched(self) -> int:
        return sum(f.fetched for f in self.files)

    @property
    def errors(self) -> list[str]:
        return [f"{f.name}: {f.error}" for f in self.files if f.status == "failed" and f.error]


class _Gate:
    """At most `limit` transfers at a time; the limit drops when the server stalls or refuses, and recovers by one
    with each file that completes (the share refuses many parallel connections: RFB_FORMAT.md §1)."""

    def __init__(self, limit: int, stop: threading.Event) -> None:
        self.most = self.limit = limit
        self.active = 0
        self.stop = stop
        self.cond = threading.Condition()

    def __enter__(self) -> _Gate:
        with self.cond:
            while self.active >= self.limit:
                if self.stop.is_set():
                    raise KeyboardInterrupt
                self.cond.wait(0.2)
            self.active += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self.cond:
            self.active -= 1
            self.cond.notify_all()

    def slow_down(self) -> None:
        with self.cond:
            self.limit = max(1, self.limit - 1)

    def speed_up(self) -> None:
        with self.cond:
            self.limit = min(self.most, self.limit + 1)
            self.cond.notify_all()


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a Content-Range header such as 'bytes 100-199/200' or 'bytes */200'."""
    if not value or not value.startswith("bytes "):
        return None, None
    span, _, total = value[6:].partition("/")
    first = span.split("-", 1)[0]
    return (int(first) if first.isdigit() else None), (int(total) if total.isdigit() else None)


class _Downloader:
    """Fetches the zips of one release into its folder, a few at a time."""

    def __init__(self, config: Config, http_: Http, progress: Progress, folder: Path) -> None:
        self.config = config
        self.http = http_
        self.progress = progress
        self.folder = folder
        self.state = DownloadState(folder)
        self.gate = _Gate(config.download_concurrency, http_.stop)

    def file(self, t: TableScope, remote: RemoteFile) -> FileResult:
        """Fetch one zip inside its audit scope; a failure is recorded there and returned, not raised."""
        started = time.monotonic()
        counts = {"fetched": 0, "attempts": 0}
        final = self.folder / remote.name
        try:
            with t.file(remote.name, release=t.columns["release"], zip_path=str(final), zip_size=remote.size) as f:
                try:
                    status, sha, note = self._fetch(f, remote, counts)
                finally:
                    f.add(bytes_in=counts["fetched"])  # what came over the network, kept or not
            return FileResult(
                remote.name,
                t.columns["table_name"],
                status,
                remote.size,
                counts["fetched"],
                time.monotonic() - started,
                counts["attempts"],
                sha,
                note=note,
            )
        except (KeyboardInterrupt, Exception) as e:
            if interrupts.is_interrupt(e):  # Ctrl-C, or the error of a transfer it stopped: not a failure
                self.progress.finish(remote.name, status="interrupted")
                return FileResult(
                    remote.name,
                    t.columns["table_name"],
                    "interrupted",
                    remote.size,
                    counts["fetched"],
                    time.monotonic() - started,
                    counts["attempts"],
                    error="interrupted by the user",
                )
            message = str(e) if isinstance(e, CnpjDuckError) else f"{type(e).__name__}: {e}"
            self.progress.finish(remote.name, status="failed")
            self.progress.message(message, level="error")
            return FileResult(
                remote.name,
                t.columns["table_name"],
                "failed",
                remote.size,
                counts["fetched"],
                time.monotonic() - started,
                counts["attempts"],
                error=message,
                network=isinstance(e, NetworkError),
            )

    def held(self, remote: RemoteFile) -> int:
        """Bytes already here for a file: all of it when the zip is current, else what its part holds."""
        if self._is_current(self.folder / remote.name, remote, self.state.get(remote.name)):
            return remote.size or 0
        part = self.folder / f"{remote.name}.part"
        return part.stat().st_size if part.is_file() else 0

    def _is_current(self, final: Path, remote: RemoteFile, known: dict[str, Any]) -> str | None:
        """Why the zip on disk is the server's (same size, and same etag or last-modified), or None."""
        if not final.is_file() or remote.size is None or final.stat().st_size != remote.size:
            return None
        if remote.etag and known.get("etag") == remote.etag and known.get("size") == remote.size:
            return "same size and etag as on the server"
        stamp = http_timestamp(remote.last_modified)
        if stamp is not None and int(final.stat().st_mtime) == int(stamp):
            return "same size and last-modified as on the server"
        return None

    def _fetch(self, f: FileScope, remote: RemoteFile, counts: dict[str, int]) -> tuple[str, str | None, str | None]:
        final = self.folder / remote.name
        known = self.state.get(remote.name)
        why = self._is_current(final, remote, known)
        if why is not None:
            sha = known.get("sha256") if known.get("size") == remote.size else None
            if sha is None:
                with final.open("rb") as fh:
                    sha = hashlib.file_digest(fh, "sha256").hexdigest()
                self.state.put(
                    remote.name, size=remote.size, etag=remote.etag, last_modified=remote.last_modified, sha256=sha
                )
            f.outcome, f.note = "skipped", f"already complete: {why}"
            f.set(sha256=sha)
            self.progress.start(remote.name, total=0, unit="bytes", kind="transfer")
            self.progress.finish(remote.name, status="skipped", note=f.note)
            return "skipped", sha, f.note
        part_path = self.folder / f"{remote.name}.part"
        started = known.get("part") or {}
        listed = {"size": remote.size, "etag": remote.etag, "last_modified": remote.last_modified}
        if part_path.exists() and started and {k: started.get(k) for k in listed} != listed:
            part_path.unlink()  # the server's file changed since this part was begun
        part = PartFile(part_path)
        resumed = part.size
        self.state.put(remote.name, part={**listed, **(started if resumed else {})})
        remaining = None if remote.size is None else max(remote.size - resumed, 0)
        self.progress.start(remote.name, total=remaining, unit="bytes", kind="transfer", resumed=resumed)
        try:
            self._transfer(remote, part, counts)
            part.sync()
            sha = part.hash.hexdigest()
        finally:
            part.close()
            if part.size == 0:
                part.path.unlink(missing_ok=True)  # nothing to resume from
        stamp = http_timestamp(remote.last_modified)
        if stamp is not None:
            os.utime(part_path, (stamp, stamp))  # the zip's mtime is the server's: a later run can tell it is current
        os.replace(part_path, final)
        self.state.put(
            remote.name, size=part.size, etag=remote.etag, last_modified=remote.last_modified, sha256=sha, part=None
        )
        f.set(sha256=sha, zip_size=part.size)
        notes = [f"resumed at byte {resumed:,}"] if resumed else []
        if counts["attempts"] > 1:
            notes.append(f"{counts['attempts']} attempts")
        f.note = "; ".join(notes) or None
        self.progress.finish(remote.name, status="succeeded", bytes=counts["fetched"])
        self.gate.speed_up()
        return "succeeded", sha, f.note

    def _transfer(self, remote: RemoteFile, part: PartFile, counts: dict[str, int]) -> None:
        """Fetch until the part holds the whole file and it verifies; raise when retries run out."""
        expected = remote.size
        failures = damaged = 0
        high = part.size  # attempts that get past the high-water mark are progress, and reset the failure count
        while True:
            if self.http.stop.is_set():
                raise KeyboardInterrupt
            try:
                if expected is None or part.size < expected:
                    counts["attempts"] += 1
                    with self.gate:
                        expected = self._attempt(remote, part, expected, counts)
                if part.size > expected:
                    self._restart(remote, part, "longer than the server's file")
                    raise Transient(f"the part had more bytes than the server's {expected:,}; starting again")
                if part.size < expected:
                    raise Transient(f"the transfer ended at byte {part.size:,} of {expected:,}")
            except Transient as e:
                if self.http.stop.is_set():
                    raise KeyboardInterrupt from None
                if part.size > high:
                    high, failures = part.size, 0
                failures += 1
                if failures > self.config.download_retries:
                    kept = f"the {part.size:,} bytes fetched are kept in {part.path.name} for the next run"
                    raise NetworkError(
                        f"{remote.name}: {e}; gave up after {counts['attempts']} attempts; {kept}"
                    ) from None
                wait = self.http.delay(failures, e.retry_after)
                self.gate.slow_down()
                self.progress.message(
                    f"{remote.name}: {e}; retrying in {wait:.1f}s from byte {part.size:,}", level="warning"
                )
                self.http.sleep(wait)
                continue
            part.fh.flush()
            problem = verify_zip(part.path)
            if problem is None:
                return
            damaged += 1
            self._restart(remote, part, problem)
            high = 0
            if damaged > min(2, self.config.download_retries):
                part.close()
                part.path.unlink(missing_ok=True)  # never leave damaged bytes behind, not even as a .part
                raise SourceError(
                    f"{problem} after {damaged} complete downloads; the file may be damaged on the "
                    "server: try again later",
                    path=remote.name,
                )
            self.progress.message(f"{remote.name}: {problem}; fetching it again", level="warning")

    def _restart(self, remote: RemoteFile, part: PartFile, why: str) -> None:
        dropped = part.reset()
        self.state.put(
            remote.name, part={"size": remote.size, "etag": remote.etag, "last_modified": remote.last_modified}
        )
        if dropped:
            log.info("%s: %s; starting the file again (%d bytes dropped)", remote.name, why, dropped)
            self.progress.advance(remote.name, -dropped)
            self.progress.advance("download", -dropped)

    def _attempt(self, remote: RemoteFile, part: PartFile, expected: int | None, counts: dict[str, int]) -> int:
        """One GET from where the part ends; returns the file's full size (the part's own when the server's unknown)."""
        start = part.size
        with self.http.open("GET", remote.url, {"Range": f"bytes={start}-"} if start else {}) as resp:
            first, total = _content_range(resp.getheader("Content-Range"))
            if resp.status == 416:
                if start and total == start and expected in (None, start):
                    return start  # the part already holds the whole file
                self._restart(remote, part, "HTTP 416")
                raise Transient("HTTP 416 Range Not Satisfiable; starting the file again")
            if resp.status not in (200, 206):
                raise self.http.status_error(resp, remote.url)
            length = resp.length  # bytes this response promises (None when chunked)
            if resp.status == 200:
                total = length
                if start:
                    self._restart(remote, part, "the server ignored Range (HTTP 200)")
            elif first != start:
                self._restart(remote, part, f"asked for byte {start}, the server sent from {first}")
                raise Transient("the server answered a different range")
            if total is not None and expected is not None and total != expected:
                raise CnpjDuckError(
                    f"{remote.name}: the server now sends {total:,} bytes, its listing said "
                    f"{expected:,}: the file changed on the server; run the download again"
                )
            self._check_validators(remote, part, resp)
            got = 0
            while True:
                if self.http.stop.is_set():
                    raise KeyboardInterrupt
                try:
                    chunk = resp.read1(CHUNK)
                except TimeoutError:
                    raise Transient(f"stalled: no byte for {self.config.download_stall_timeout:g}s") from None
                except (OSError, http.client.HTTPException) as e:
                    raise Transient(f"connection lost ({e or type(e).__name__})") from None
                if not chunk:
                    break
                part.write(chunk)
                got += len(chunk)
                counts["fetched"] += len(chunk)
                self.progress.advance(remote.name, len(chunk))
                self.progress.advance("download", len(chunk))
            if length is not None and got < length:
                raise Transient(f"the connection closed after {got:,} of {length:,} bytes")
            return total if total is not None else part.size

    def _check_validators(self, remote: RemoteFile, part: PartFile, resp: http.client.HTTPResponse) -> None:
        """A resumed part must continue the same version of the file: compare the GET's ETag and Last-Modified."""
        seen = {"get_etag": resp.getheader("ETag"), "get_last_modified": resp.getheader("Last-Modified")}
        started = self.state.get(remote.name).get("part") or {}
        if part.size and resp.status == 206:
            changed = [k for k, v in seen.items() if v and started.get(k) and started[k] != v]
            if changed:
                self._restart(remote, part, "the file changed on the server since the part was begun")
                raise Transient("the file changed on the server since the part was begun; starting again")
        self.state.put(remote.name, part={**started, **{k: v for k, v in seen.items() if v}})


def _families(tables: list[str] | None) -> list[str]:
    if tables is None:
        return list(FAMILIES)
    families = [t for t in tables if t in FAMILIES]
    if not families:
        raise UsageError(
            f"--tables {','.join(tables)}: no release file family among them; download takes {', '.join(FAMILIES)}"
        )
    return families


def download_release(
    config: Config,
    release: str | None = None,
    tables: list[str] | None = None,
    progress: Progress | None = None,
    command: str = "download",
) -> DownloadSummary:
    """Download a release's zips (all families, or those of `tables`) into <data_dir>/raw/<YYYY-MM>/."""
    from .audit import Audit
    from .catalogdb import Journal
    from .store import Store

    started = time.monotonic()
    progress = progress or NullProgress()
    families = _families(tables if tables is not None else config.table_list())
    http_ = Http(config, lambda text: progress.message(text, level="warning"))
    remote = find_release(config, release, http_)
    warnings: list[str] = []
    others = [f.name for f in remote.files if f.family is None]
    if others:
        warnings.append(f"{', '.join(others)}: not release files; not downloaded")
    missing = remote.missing(families)
    if missing:
        asked = sum(FAMILIES[f].file_count for f in families) if families else EXPECTED_FILE_COUNT
        what = "release files" if asked == EXPECTED_FILE_COUNT else "files asked for"
        warnings.append(
            f"{len(missing)} of the {asked} {what} are not on the server for {remote.release}; "
            f"missing: {', '.join(missing)}"
        )
    for warning in warnings:
        progress.message(warning, level="warning")
    wanted = [f for f in remote.files if f.family in families]
    folder = config.data_dir / "raw" / remote.release
    folder.mkdir(parents=True, exist_ok=True)
    downloader = _Downloader(config, http_, progress, folder)
    # Downloads take hours: the audit rows go through a journal of short transactions, so that the outputs can
    # be queried (and a build run) meanwhile. One download at a time in a data dir.
    store = Store(config.data_dir)
    with store.writer_lock(command, name=".download.lock"):
        catalog = Journal(store, notify=lambda text: progress.message(text, level="warning"))
        try:
            audit = Audit(catalog)
            audit.abandon_leftovers()
            results: list[FileResult] = []
            with audit.run(command, remote.release, config.redacted(), __version__) as run, ExitStack() as stack:
                scopes: dict[str, TableScope] = {}
                for family in families:
                    t = stack.enter_context(run.table(family, remote.release))
                    gone = [m for m in missing if (r := recognise(m)) and r.family.name == family]
                    if gone:
                        t.note = f"not on the server: {', '.join(gone)}"
                        if len(gone) == FAMILIES[family].file_count:
                            t.outcome = "skipped"
                    scopes[family] = t
                total = sum(max((f.size or 0) - downloader.held(f), 0) for f in wanted)
                progress.start(
                    "download",
                    total=total,
                    unit="bytes",
                    kind="transfer",
                    release=remote.release,
                    run_id=run.id,
                    files=len(wanted),
                )
                results = _run_all(downloader, scopes, wanted)
                progress.finish("download", status="failed" if run.failed_children else "succeeded")
            return DownloadSummary(
                run.id,
                remote.release,
                run.status,
                folder,
                tuple(results),
                tuple(missing),
                tuple(warnings),
                time.monotonic() - started,
            )
        finally:
            catalog.close()


def _run_all(downloader: _Downloader, scopes: dict[str, TableScope], wanted: list[RemoteFile]) -> list[FileResult]:
    """Largest files first, `download_concurrency` at a time; Ctrl-C stops them all, keeping their parts."""
    order = sorted(wanted, key=lambda f: -(f.size or 0))  # the long ones start early, the small ones fill gaps
    calls = [functools.partial(downloader.file, scopes[f.family or ""], f) for f in order]
    results = run_pool(calls, downloader.config.download_concurrency, "cnpj-duck-download", downloader.http.abort)
    if any(r.status == "interrupted" for r in results):
        raise KeyboardInterrupt
    return sorted(results, key=lambda r: r.name)
