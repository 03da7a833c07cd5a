"""The Postgres DSN: checked before use, named without its password, and scrubbed out of every message.

The DSN is the one secret (STYLE.md, practice 6). libpq and Python split a URL differently when a password holds
an unencoded @ / ? # or :, so what a parser might take for the password is hidden however it is split.
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit

from .errors import UsageError
from .logs import redact

CONNECT_TIMEOUT = 15  # seconds; libpq waits forever by default on a host that drops packets
EXPECTED = "a URL like postgresql://user:password@host:5432/db (percent-encode @ / ? # : in the password)"


def check_dsn(v: str) -> str | None:
    """A postgresql:// URL that libpq and Python split the same way (else parts of a password leak into errors).

    Returns what is allowed when the DSN is wrong (config's check at load time), else None."""
    m = re.match(r"^postgres(?:ql)?://([^/?#]*)(.*)$", v)
    if not m:
        return EXPECTED
    netloc = m.group(1)
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ("@" in userinfo or ":" in userinfo.partition(":")[2]):
        return EXPECTED
    if not at and ("@" in m.group(2)):
        return EXPECTED
    for host in hostport.split(","):  # libpq takes host1:port1,host2:port2
        port = host.rsplit("]", 1)[-1].rpartition(":")[2] if ":" in host.rsplit("]", 1)[-1] else ""
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            return EXPECTED
        if host.startswith("[") and "]" not in host:
            return EXPECTED
    try:
        unquote_to_bytes(netloc).decode("utf-8")
    except UnicodeDecodeError:
        return EXPECTED
    if re.search(r"%(?![0-9A-Fa-f]{2})", v):
        return EXPECTED
    return None


def validate_dsn(dsn: str) -> None:
    """Raise UsageError (exit 2) for a DSN that libpq or Python would fail to parse, in one line that names no
    part of it. check_dsn catches most at config load; this adds what libpq rejects before connecting."""
    usage = "the Postgres DSN (--dsn or CNPJ_DUCK_PG_DSN) is malformed: {}; expected " + EXPECTED
    if check_dsn(dsn) is not None:
        raise UsageError(f"the Postgres DSN (--dsn or CNPJ_DUCK_PG_DSN) is malformed: expected {EXPECTED}")
    try:
        urlsplit(dsn)  # e.g. a bracketed host that is not an IPv6 address
    except ValueError:
        raise UsageError(usage.format("a host in [ ] must be an IPv6 address")) from None
    if re.search(r"%(?![0-9A-Fa-f]{2})", dsn):
        raise UsageError(usage.format("a % must start a percent-encoded byte such as %40"))
    if "%00" in dsn:
        raise UsageError(usage.format("%00 (a NUL byte) is not allowed"))
    try:
        unquote_to_bytes(dsn).decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(usage.format("its percent-encoded bytes are not UTF-8")) from None


def _userinfo(dsn: str) -> str:
    """Everything between "://" and the LAST "@": what some parser (Python's, libpq's) could take for the user
    and password when the password holds an unencoded @ / ? # or :. It is never shown."""
    return dsn.split("://", 1)[-1].rpartition("@")[0]


def _server_part(dsn: str) -> str:
    """The DSN after its user and password: 'host:port/db?query'. Cut at the last "@" of the text before the
    query when there is one (an "@" in the query is a value's), else at the last "@" of all (a password with an
    unencoded "?"); the text before the cut is never shown."""
    body = dsn.split("://", 1)[-1]
    before_query = body.partition("?")[0]
    if "@" in before_query:
        return body[before_query.rindex("@") + 1 :]
    return body.rpartition("@")[2]


def _query_params(dsn: str) -> list[tuple[str, str]]:
    """The query's key=value pairs as libpq reads them: "&"-separated, percent-decoded ("+" stays a "+")."""
    query = dsn.partition("?")[2].partition("#")[0]
    pairs = []
    for item in filter(None, query.split("&")):
        key, _, value = item.partition("=")
        pairs.append((unquote(key, errors="replace"), unquote(value, errors="replace")))
    return pairs


def with_connection_defaults(dsn: str) -> str:
    """The DSN with a connect timeout and an application name, unless it sets them itself. They are appended
    to the query as typed: re-encoding it would change what libpq reads (it decodes %20, not "+", as a space)."""
    present = {key for key, _ in _query_params(dsn)}
    extra = [
        f"{key}={quote(value, safe='')}"
        for key, value in (("connect_timeout", str(CONNECT_TIMEOUT)), ("application_name", "cnpj-duck"))
        if key not in present
    ]
    if not extra:
        return dsn
    url, hash_, fragment = dsn.partition("#")
    joiner = "" if url.endswith(("?", "&")) else "&" if "?" in url else "?"
    return url + joiner + "&".join(extra) + hash_ + fragment


def describe_server(dsn: str) -> str:
    """'host:port/database' of a DSN: what messages name instead of the DSN (which may hold a password).

    Read from the text after the last "@" only, so no part of a password can show, however it is written."""
    hosts, slash, path = _server_part(dsn).partition("?")[0].partition("#")[0].partition("/")
    params = dict(_query_params(dsn))  # the last of a repeated key counts, as in libpq
    # What the DSN leaves out, libpq takes from PGHOST, PGPORT and PGDATABASE (issue 12: the summary named
    # localhost:5432 while the rows went to PGHOST:PGPORT).
    path = slash + path if path else "/" + (params.get("dbname") or os.environ.get("PGDATABASE", ""))
    if not hosts:  # postgresql:///db?host=/var/run/postgresql
        hosts = params.get("host") or os.environ.get("PGHOST") or "localhost"
    if "," not in hosts and not re.search(r":[^\]/]*$", hosts):
        hosts += f":{params.get('port') or os.environ.get('PGPORT') or 5432}"
    return f"{unquote(hosts, errors='replace')}{unquote(path, errors='replace')}"


def _secret_pieces(dsn: str) -> set[str]:
    """Every string a parser might take for (part of) the password: the raw text after the user, up to the last
    "@", and its pieces split where libpq or Python split URLs, each as typed and percent-decoded; and a
    password given as a query parameter."""
    raw = _userinfo(dsn).partition(":")[2]
    pieces = {raw, *re.split(r"[@/?#:,&=\[\]]", raw)}
    try:
        pieces.add(urlsplit(dsn).password or "")
    except ValueError:
        pass
    pieces |= {v for k, v in _query_params(dsn) if k == "password"}
    return {form for piece in pieces for form in (piece, unquote(piece, errors="replace")) if form}


def scrub(text: str, dsn: str) -> str:
    """Remove the DSN's password from a message, however it appears: as typed, percent-decoded, or the pieces a
    parser that splits the URL differently (libpq) may echo. Pieces of one or two characters are removed
    only where they stand alone (quoted, or between separators), not from inside the message's words."""
    for secret in sorted(_secret_pieces(dsn), key=len, reverse=True):
        if len(secret) > 2:
            text = text.replace(secret, "***")
        else:
            text = re.sub(rf"(?<![\w]){re.escape(secret)}(?![\w])", "***", text)
    return redact(text)
