"""The server side of `download`: an http.client wrapper with the share's auth and timeouts, and the listing of
releases from the Receita's Nextcloud WebDAV share (PROPFIND Depth 1) or a plain HTTP folder of zips ('mirror').

See ../shared/RFB_FORMAT.md §1. Only transient failures (timeouts, stalls, resets, 5xx, 429) are retried, with
exponential backoff and jitter; 401, 403 and 404 fail at once with a message that says what to change.
"""

from __future__ import annotations

import base64
import http.client
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar
from urllib.parse import SplitResult, unquote, urljoin, urlsplit, urlunsplit

from . import __version__
from .config import Config
from .errors import NetworkError, UsageError
from .layout import FAMILIES, is_valid_release, recognise, release_from_text
from .listing import Entry, parse_index, parse_multistatus, plain_url

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BACKOFF = 60.0  # seconds: the doubling stops here
MAX_RETRY_AFTER = 600.0  # a server asking for more is waited on this long, then tried again
_REDIRECTS = (301, 302, 303, 307, 308)
_PROPFIND = (
    b'<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/>'
    b"<d:getcontentlength/><d:getlastmodified/><d:getetag/></d:prop></d:propfind>"
)


@dataclass(frozen=True)
class RemoteFile:
    """One zip on the server, as listed."""

    name: str
    url: str
    size: int | None  # None when a mirror does not say
    last_modified: str | None  # as the server wrote it (RFC 1123)
    etag: str | None
    family: str | None  # None for a zip that is not a release file
    index: int = 0


@dataclass(frozen=True)
class RemoteRelease:
    """A month's folder on the server and its zips."""

    release: str
    url: str
    files: tuple[RemoteFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size or 0 for f in self.files)

    def missing(self, families: Iterable[str] | None = None) -> list[str]:
        """The expected zips (of `families`, default all) that the server does not have."""
        present = {(f.family, f.index) for f in self.files if f.family}
        return [
            FAMILIES[name].zip_name(i)
            for name in (families or FAMILIES)
            for i in range(FAMILIES[name].file_count)
            if (name, i) not in present
        ]


class Transient(Exception):
    """A failure worth retrying: a timeout, a stall, a reset, a short body, a 5xx or a 429."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def _origin(parts: SplitResult) -> tuple[str, str, int]:
    """Scheme, host and port: credentials go only to the origin they were given for (a redirect may leave it)."""
    return parts.scheme, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (a number or an HTTP date), capped at MAX_RETRY_AFTER."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def http_timestamp(http_date: str | None) -> float | None:
    try:
        return parsedate_to_datetime(http_date).timestamp() if http_date else None
    except (TypeError, ValueError):
        return None


class Http:
    """http.client requests with the share's basic auth, a connect timeout, a stall timeout and redirects."""

    def __init__(self, config: Config, notify: Callable[[str], None] | None = None, patient: bool = True) -> None:
        self.config = config
        self.notify = notify  # told about each retry of a listing request, so a waiting user sees why
        # A download retries a refused connection (a server restarting); a listing says so at once (issue 12).
        self.patient = patient
        self.stop = threading.Event()
        # The sockets themselves: http.client gives a `Connection: close` socket to the response and forgets it.
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        parts = urlsplit(config.download_base_url)
        user: str | None
        password: str | None
        if parts.username is not None:  # credentials written into the URL win, in both modes
            user, password = unquote(parts.username), unquote(parts.password or "")
        elif config.download_mode == "webdav" and config.download_token:
            user, password = config.download_token, ""  # Nextcloud public shares: token as user, no password
        else:
            user = password = None
        self.auth = base64.b64encode(f"{user}:{password}".encode()).decode() if user is not None else None
        self.auth_origin = _origin(parts)

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Exponential backoff with jitter; a server's Retry-After is a floor."""
        base = min(self.config.download_backoff * 2.0 ** max(failures - 1, 0), MAX_BACKOFF)
        return max(base * random.uniform(0.5, 1.0), retry_after or 0.0)

    def sleep(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise KeyboardInterrupt

    def abort(self) -> None:
        """Shut every open socket down so that threads blocked reading wake up (Ctrl-C)."""
        self.stop.set()
        with self._lock:
            for sock in list(self._open):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    @contextmanager
    def open(
        self, method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> Iterator[http.client.HTTPResponse]:
        """Send a request (following redirects) and yield the response; the connection closes afterwards."""
        for _ in range(6):
            sock, resp = self._send(method, url, headers or {}, body)
            location = resp.getheader("Location")
            if resp.status in _REDIRECTS and location:
                self._close(sock, resp)
                url = urljoin(url, location)
                continue
            try:
                yield resp
            finally:
                self._close(sock, resp)
            return
        raise NetworkError(f"{plain_url(url)}: too many redirects; check download.base_url")

    def _close(self, sock: socket.socket, resp: http.client.HTTPResponse | None = None) -> None:
        if resp is not None:
            resp.close()
        sock.close()
        with self._lock:
            self._open.discard(sock)

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[socket.socket, http.client.HTTPResponse]:
        if self.stop.is_set():
            raise KeyboardInterrupt
        parts = urlsplit(url)
        host = parts.hostname or ""
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = kind(host, parts.port, timeout=self.config.download_connect_timeout)
        where = f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        try:
            conn.connect()
        except socket.gaierror as e:
            conn.close()
            raise NetworkError(
                f"{host}: cannot resolve the host name ({e.strerror}); check the network and download.base_url"
            ) from None
        except ssl.SSLCertVerificationError as e:
            conn.close()
            raise NetworkError(f"{host}: the TLS certificate does not verify ({e.verify_message})") from None
        except TimeoutError:
            conn.close()
            raise Transient(f"no connection to {where} within {self.config.download_connect_timeout:g}s") from None
        except ConnectionRefusedError:
            conn.close()
            if not self.patient:
                raise NetworkError(
                    f"{where}: connection refused (nothing listens there); check download.base_url or --base-url"
                ) from None
            raise Transient(f"cannot connect to {where} (connection refused)") from None
        except OSError as e:
            conn.close()
            raise Transient(f"cannot connect to {where} ({e.strerror or e})") from None
        sock = conn.sock
        assert sock is not None
        sock.settimeout(self.config.download_stall_timeout)  # from here on, the stall watchdog
        with self._lock:
            self._open.add(sock)
        target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        sent = {"User-Agent": f"cnpj-duck/{__version__}", **headers}
        if self.auth and _origin(parts) == self.auth_origin:  # never to another host, port or plain http
            sent["Authorization"] = f"Basic {self.auth}"
        try:
            conn.request(method, target, body=body, headers=sent)
            return sock, conn.getresponse()
        except TimeoutError:
            self._close(sock)
            raise Transient(f"no answer from {where} for {self.config.download_stall_timeout:g}s") from None
        except (OSError, http.client.HTTPException) as e:
            self._close(sock)
            if self.stop.is_set():
                raise KeyboardInterrupt from None
            raise Transient(f"connection to {where} lost ({e or type(e).__name__})") from None

    def status_error(self, resp: http.client.HTTPResponse, url: str) -> Exception:
        """The error for a status that is not a success: transient for 429 and 5xx, a clear message otherwise."""
        status, reason, where = resp.status, resp.reason, plain_url(url)
        if status == 429 or status >= 500:
            return Transient(f"HTTP {status} {reason}", _retry_after(resp.getheader("Retry-After")))
        if status == 401:
            return NetworkError(
                f"{where}: HTTP 401 Unauthorized: the share token may have changed; set "
                "download.token in config.yaml or pass --token (the share's web page has the new one)"
            )
        if status == 403:
            return NetworkError(
                f"{where}: HTTP 403 Forbidden: the server refuses this share token or address; check "
                "download.token and download.base_url"
            )
        if status in (405, 501):
            return NetworkError(
                f"{where}: HTTP {status} {reason}: the server does not take this request; if "
                "download.base_url is a plain HTTP folder, set download.mode: mirror (or --mirror)"
            )
        if status == 404:
            return NetworkError(
                f"{where}: HTTP 404 Not Found: the Receita may have moved the files; check "
                "download.base_url in config.yaml or pass --base-url"
            )
        return NetworkError(f"{where}: unexpected HTTP {status} {reason}")

    def fetch(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        ok: tuple[int, ...] = (200, 207),
    ) -> tuple[http.client.HTTPResponse, bytes]:
        """A small request, retried on transient errors; returns the response and its whole body."""

        def once() -> tuple[http.client.HTTPResponse, bytes]:
            with self.open(method, url, headers, body) as resp:
                if resp.status not in ok:
                    raise self.status_error(resp, url)
                try:
                    return resp, resp.read()
                except TimeoutError:
                    raise Transient(f"stalled: no byte for {self.config.download_stall_timeout:g}s") from None
                except (OSError, http.client.HTTPException) as e:
                    raise Transient(f"connection lost ({e or type(e).__name__})") from None

        return self.retrying(f"{method} {plain_url(url)}", once)

    def retrying(self, what: str, attempt: Callable[[], T]) -> T:
        failures = 0
        while True:
            try:
                return attempt()
            except Transient as e:
                failures += 1
                if failures > self.config.download_retries:
                    raise NetworkError(
                        f"{what}: {e}; gave up after {failures} attempts (is the server reachable? "
                        "download.retries sets how often to try)"
                    ) from None
                wait = self.delay(failures, e.retry_after)
                tries = self.config.download_retries + 1
                text = f"{what}: {e}; retrying in {wait:.1f}s (attempt {failures + 1} of {tries})"
                if self.notify is not None:
                    self.notify(text)
                else:
                    log.warning(text)
                self.sleep(wait)


def _root(config: Config) -> str:
    return config.download_base_url.rstrip("/") + "/"


def _list_folder(http_: Http, config: Config, url: str) -> list[Entry]:
    if config.download_mode == "webdav":
        _, body = http_.fetch(
            "PROPFIND", url, {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}, _PROPFIND
        )
        return parse_multistatus(body, url)
    _, body = http_.fetch("GET", url)
    return parse_index(body, url)


def _head(http_: Http, entry: Entry) -> Entry:
    """A mirror's size, last-modified and etag of one file, from HEAD (None where it says nothing)."""
    try:
        resp, _ = http_.fetch("HEAD", entry.url)
    except NetworkError:
        return entry  # some servers refuse HEAD; the GET tells the size
    length = resp.getheader("Content-Length")
    return Entry(
        entry.name,
        entry.url,
        False,
        int(length) if length and length.isdigit() else None,
        resp.getheader("Last-Modified"),
        resp.getheader("ETag"),
    )


def _release_at(
    http_: Http, config: Config, release: str, url: str, entries: list[Entry] | None = None
) -> RemoteRelease:
    """List one month's folder."""
    entries = _list_folder(http_, config, url) if entries is None else entries
    zips = [e for e in entries if not e.folder and e.name.lower().endswith(".zip")]
    if config.download_mode == "mirror":
        with ThreadPoolExecutor(max_workers=config.download_concurrency) as pool:
            zips = list(pool.map(lambda e: _head(http_, e), zips))
    files = []
    for e in sorted(zips, key=lambda e: e.name):
        rec = recognise(e.name)
        files.append(
            RemoteFile(
                e.name,
                e.url,
                e.size,
                e.last_modified,
                e.etag,
                rec.family.name if rec else None,
                rec.index if rec else 0,
            )
        )
    return RemoteRelease(release, url, tuple(files))


def _months(http_: Http, config: Config) -> tuple[list[Entry], RemoteRelease | None]:
    """The YYYY-MM folders at the base URL; or, when the base URL is itself a month's folder, that release."""
    root = _root(config)
    entries = _list_folder(http_, config, root)
    months = sorted((e for e in entries if e.folder and is_valid_release(e.name)), key=lambda e: e.name)
    if months:
        return months, None
    month = release_from_text(urlsplit(root).path)
    if month and any(e.name.lower().endswith(".zip") for e in entries):
        return [], _release_at(http_, config, month, root, entries)
    raise NetworkError(
        f"{plain_url(root)}: no YYYY-MM release folders there; check download.base_url "
        f"(and download.mode: {config.download_mode})"
    )


def list_releases(config: Config, notify: Callable[[str], None] | None = None) -> list[RemoteRelease]:
    """Every month on the server with its files, oldest first; `notify` hears about retries."""
    http_ = Http(config, notify, patient=False)
    months, single = _months(http_, config)
    if single is not None:
        return [single]
    workers = config.download_concurrency if config.download_mode == "webdav" else 1  # a mirror HEADs each zip
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda e: _release_at(http_, config, e.name, e.url), months))


def find_release(config: Config, release: str | None = None, http_: Http | None = None) -> RemoteRelease:
    """One month on the server: YYYY-MM, or 'latest' (the newest month with release zips)."""
    wanted = release or config.release
    if wanted != "latest" and not is_valid_release(wanted):
        raise UsageError(f"--release {wanted!r}: expected 'latest' or a month as YYYY-MM")
    http_ = http_ or Http(config)
    months, single = _months(http_, config)
    if single is not None:
        if wanted not in ("latest", single.release):
            raise UsageError(
                f"{plain_url(single.url)} holds release {single.release}, not {wanted}; pass "
                f"--release {single.release} or a base URL above the month folders"
            )
        return single
    if wanted != "latest":
        found = [e for e in months if e.name == wanted]
        if not found:
            raise UsageError(
                f"release {wanted} is not on the server ({plain_url(_root(config))}); "
                "`cnpj-duck releases` lists the months there"
            )
        return _release_at(http_, config, wanted, found[0].url)
    for entry in reversed(months):
        remote = _release_at(http_, config, entry.name, entry.url)
        if any(f.family for f in remote.files):
            return remote
    raise NetworkError(f"{plain_url(_root(config))}: no month folder holds release zips yet")
