"""Reading a server's folder listings, WebDAV PROPFIND answers and HTML index pages, into entries; and the URL
without its credentials that messages show."""

from __future__ import annotations

import html.parser
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit
from xml.etree import ElementTree  # expat >= 2.4 (bundled with 3.11) refuses entity-expansion bombs

from .errors import NetworkError


def plain_url(url: str) -> str:
    """A URL without its user and password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return urlunsplit(parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")))


@dataclass(frozen=True)
class Entry:
    """A file or folder of a server's listing."""

    name: str
    url: str
    folder: bool
    size: int | None = None
    last_modified: str | None = None
    etag: str | None = None


def parse_multistatus(body: bytes, url: str) -> list[Entry]:
    """The entries of a PROPFIND Depth 1 answer, without the folder itself."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as e:
        raise NetworkError(
            f"{plain_url(url)}: the answer to PROPFIND is not WebDAV XML ({e}); is download.base_url a "
            "WebDAV folder? (download.mode 'mirror' reads plain HTTP folders)"
        ) from None
    own = unquote(urlsplit(url).path).rstrip("/")
    entries: list[Entry] = []
    for response in root.iter("{DAV:}response"):
        href = (response.findtext("{DAV:}href") or "").strip()
        if not href:
            continue
        props: dict[str, ElementTree.Element] = {}
        for propstat in response.iter("{DAV:}propstat"):
            if " 200" not in (propstat.findtext("{DAV:}status") or " 200"):
                continue  # properties the server does not have (404 propstat)
            for prop in propstat.iter("{DAV:}prop"):
                props.update({child.tag: child for child in prop})
        full = urljoin(url, href)
        path = unquote(urlsplit(full).path)
        if path.rstrip("/") == own:
            continue
        rtype = props.get("{DAV:}resourcetype")
        folder = href.endswith("/") or (rtype is not None and rtype.find("{DAV:}collection") is not None)
        length = props.get("{DAV:}getcontentlength")
        length_text = (length.text or "").strip() if length is not None else ""
        size = int(length_text) if length_text.isdigit() else None
        modified = props.get("{DAV:}getlastmodified")
        etag = props.get("{DAV:}getetag")
        entries.append(
            Entry(
                path.rstrip("/").rsplit("/", 1)[-1],
                full,
                folder,
                size,
                (modified.text or "").strip() or None if modified is not None else None,
                (etag.text or "").strip() or None if etag is not None else None,
            )
        )
    return entries


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(v for k, v in attrs if k == "href" and v)


def parse_index(body: bytes, url: str) -> list[Entry]:
    """The links of an HTML folder index (Apache, nginx, `python -m http.server`) that point below `url`."""
    parser = _Links()
    parser.feed(body.decode("utf-8", errors="replace"))
    own = urlsplit(url).path.rstrip("/") + "/"
    entries: dict[str, Entry] = {}
    for href in parser.hrefs:
        full = urljoin(url, href)
        parts = urlsplit(full)
        if parts.query or not parts.path.startswith(own) or parts.path == own:
            continue  # sort links (?C=N;O=D), the parent folder, other sites
        name = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
        entries.setdefault(name, Entry(name, urlunsplit(parts._replace(fragment="")), parts.path.endswith("/")))
    return list(entries.values())
