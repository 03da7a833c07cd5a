"""A fake Receita share on 127.0.0.1: Nextcloud-style WebDAV (PROPFIND, basic auth, Range) and a plain HTTP mirror
folder, serving real zips, with faults injected per file.

Faults are consumed one per GET of the file, in order; a fault ending in '!' happens on every GET:
  drop     send half of what was asked, then reset the connection (RST)
  short    send half, then close cleanly although Content-Length promised more
  stall    send half, then send nothing for `stall_seconds`
  corrupt  send the whole body with 16 bytes flipped in the middle
  ignore-range  answer 200 with the whole file whatever Range asked
  416, 401, 404, 503   answer with that status
  429      answer 429 with Retry-After: 1
"""

from __future__ import annotations

import base64
import email.utils
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit

WEBDAV = "/public.php/webdav/"
MIRROR = "/mirror/"


@dataclass
class Served:
    """One file on the fake server."""

    data: bytes
    modified: float  # seconds since the epoch
    faults: list[str] = field(default_factory=list)
    version: int = 1

    @property
    def etag(self) -> str:
        return f'"{len(self.data):x}-{self.version}"'

    @property
    def last_modified(self) -> str:
        return email.utils.formatdate(self.modified, usegmt=True)


@dataclass(frozen=True)
class Request:
    """What the server saw: the method, the path, the Range header, and what it answered."""

    method: str
    path: str
    range: str | None
    status: int
    at: float


class FakeShare:
    """A threaded HTTP server on an ephemeral port of 127.0.0.1; use as a context manager."""

    def __init__(self, token: str = "TESTTOKEN", stall_seconds: float = 2.0, head_lengths: bool = True) -> None:
        self.token = token
        self.stall_seconds = stall_seconds
        self.head_lengths = head_lengths  # False: the mirror's HEAD says no size (the GET tells it)
        self.releases: dict[str, dict[str, Served]] = {}
        self.listing_faults: list[str] = []  # consumed one per PROPFIND or index page
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.active = 0
        self.most_active = 0
        self.released = threading.Event()  # set on close: stalls end at once
        share = self

        class Handler(_Handler):
            server_share = share

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # dropped connections are the point
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{WEBDAV}"

    @property
    def mirror_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{MIRROR}"

    def add(
        self, release: str, name: str, data: bytes, faults: list[str] | None = None, modified: float = 1_790_000_000.0
    ) -> Served:
        served = Served(data, modified, list(faults or []))
        self.releases.setdefault(release, {})[name] = served
        return served

    def file(self, release: str, name: str) -> Served:
        return self.releases[release][name]

    def gets(self, name: str) -> list[Request]:
        """The GETs of one file, in order."""
        with self.lock:
            return [r for r in self.requests if r.method == "GET" and r.path.endswith("/" + name)]

    def __enter__(self) -> FakeShare:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def record(self, method: str, path: str, range_: str | None, status: int) -> None:
        with self.lock:
            self.requests.append(Request(method, path, range_, status, time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    server_share: FakeShare
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    @property
    def share(self) -> FakeShare:
        return self.server_share

    # --- routing -----------------------------------------------------------------------------------------------

    def _route(self) -> tuple[str, str | None, str | None] | None:
        """(kind, release, file name) of the path; kind is 'webdav' or 'mirror'."""
        path = unquote(urlsplit(self.path).path)
        for kind, prefix in (("webdav", WEBDAV), ("mirror", MIRROR)):
            if path == prefix.rstrip("/") or path.startswith(prefix):
                rest = [p for p in path[len(prefix) :].split("/") if p]
                if len(rest) > 2:
                    return None
                return kind, rest[0] if rest else None, rest[1] if len(rest) > 1 else None
        return None

    def _authorised(self, kind: str) -> bool:
        if kind == "mirror":
            return True
        expected = "Basic " + base64.b64encode(f"{self.share.token}:".encode()).decode()
        return self.headers.get("Authorization") == expected

    def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        # Recorded before the answer leaves: a client that waits after it (Retry-After) waits from a later time.
        self.share.record(self.command, self.path, self.headers.get("Range"), status)
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def _prelude(self) -> tuple[str, str | None, str | None] | None:
        route = self._route()
        if route is None:
            self._answer(404, b"not found")
            return None
        if not self._authorised(route[0]):
            self._answer(401, b"unauthorised", {"WWW-Authenticate": 'Basic realm="Nextcloud"'})
            return None
        return route

    def _listing_fault(self) -> bool:
        with self.share.lock:
            fault = self.share.listing_faults.pop(0) if self.share.listing_faults else None
        if fault is None:
            return False
        self._answer(int(fault), b"fault", {"Retry-After": "0"} if fault in ("429", "503") else None)
        return True

    # --- WebDAV listing ----------------------------------------------------------------------------------------

    def do_PROPFIND(self) -> None:  # noqa: N802 - the HTTP method's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        route = self._prelude()
        if route is None or self._listing_fault():
            return
        kind, release, name = route
        if kind != "webdav" or name is not None or (release and release not in self.share.releases):
            self._answer(404 if kind == "webdav" else 405, b"no")
            return
        if self.headers.get("Depth") != "1":
            self._answer(400, b"Depth 1 only")
            return
        responses = [self._collection(WEBDAV + (f"{release}/" if release else ""))]
        if release is None:
            responses += [self._collection(f"{WEBDAV}{month}/") for month in sorted(self.share.releases)]
        else:
            for file_name, served in sorted(self.share.releases[release].items()):
                responses.append(
                    f"<d:response><d:href>{quote(f'{WEBDAV}{release}/{file_name}')}</d:href><d:propstat><d:prop>"
                    f"<d:getlastmodified>{served.last_modified}</d:getlastmodified>"
                    f"<d:getcontentlength>{len(served.data)}</d:getcontentlength><d:resourcetype/>"
                    f"<d:getetag>{served.etag}</d:getetag></d:prop>"
                    "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
                )
        body = (
            '<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns" '
            'xmlns:oc="http://owncloud.org/ns">' + "".join(responses) + "</d:multistatus>"
        )
        self._answer(207, body.encode(), {"Content-Type": "application/xml; charset=utf-8"})

    @staticmethod
    def _collection(href: str) -> str:
        # Like Nextcloud: a folder has no getcontentlength (a 404 propstat) and a collection resourcetype.
        return (
            f"<d:response><d:href>{quote(href)}</d:href><d:propstat><d:prop>"
            "<d:getlastmodified>Sat, 01 Nov 2026 10:00:00 GMT</d:getlastmodified>"
            '<d:resourcetype><d:collection/></d:resourcetype><d:getetag>"folder"</d:getetag></d:prop>'
            "<d:status>HTTP/1.1 200 OK</d:status></d:propstat><d:propstat><d:prop><d:getcontentlength/>"
            "</d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response>"
        )

    # --- files and mirror pages --------------------------------------------------------------------------------

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        route = self._prelude()
        if route is None:
            return
        kind, release, name = route
        if name is None:
            if kind == "webdav":
                self._answer(200, b"<html>Nextcloud</html>", {"Content-Type": "text/html"})
            elif not self._listing_fault():
                self._index(release)
            return
        served = self.share.releases.get(release or "", {}).get(name)
        if served is None:
            self._answer(404, b"no such file")
            return
        if self.command == "HEAD":
            headers = {"Last-Modified": served.last_modified, "ETag": served.etag}
            self.send_response(200)
            for k, v in headers.items():
                self.send_header(k, v)
            if self.share.head_lengths:
                self.send_header("Content-Length", str(len(served.data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            self.share.record("HEAD", self.path, None, 200)
            return
        with self.share.lock:
            self.share.active += 1
            self.share.most_active = max(self.share.most_active, self.share.active)
        try:
            self._send_file(served)
        finally:
            with self.share.lock:
                self.share.active -= 1

    def _index(self, release: str | None) -> None:
        if release is None:
            links = [f"{month}/" for month in sorted(self.share.releases)]
        elif release in self.share.releases:
            links = sorted(self.share.releases[release])
        else:
            self._answer(404, b"no such folder")
            return
        items = "".join(f'<li><a href="{quote(link)}">{link}</a></li>' for link in links)
        body = f'<html><body><a href="?C=N;O=D">Name</a><a href="../">Parent</a><ul>{items}</ul></body></html>'
        self._answer(200, body.encode(), {"Content-Type": "text/html"})

    def _send_file(self, served: Served) -> None:
        with self.share.lock:
            fault = None
            if served.faults:
                fault = served.faults[0]
                if not fault.endswith("!"):
                    served.faults.pop(0)
            fault = fault.rstrip("!") if fault else None
        data = served.data
        if fault in ("401", "404", "416", "503"):
            self._answer(int(fault), b"fault")
            return
        if fault == "429":
            self._answer(429, b"slow down", {"Retry-After": "1"})
            return
        if fault == "corrupt":
            mid = len(data) // 2
            data = data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 16]) + data[mid + 16 :]
        wanted = self.headers.get("Range")
        start = 0
        if wanted and fault != "ignore-range":
            start = int(wanted.removeprefix("bytes=").split("-", 1)[0])
            if start >= len(data):
                self._answer(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", served.etag)
        self.send_header("Last-Modified", served.last_modified)
        self.send_header("Connection", "close")
        self.end_headers()
        self.share.record("GET", self.path, wanted, 206 if start else 200)
        self.close_connection = True
        if fault in ("drop", "short", "stall"):
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            if fault == "stall":
                self.share.released.wait(self.share.stall_seconds)
            if fault == "drop":  # SO_LINGER 0: close sends a reset, as a failing middlebox does
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()
            return
        self.wfile.write(body)
