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
EXPECTED = (
    "a URL like postgresql://user:password@host:5432/db (percent-encode @ / ? # : in the password) or "
    "key=value pairs like 'host=localhost port=5432 dbname=db user=me'"
)


_KEYWORD_FORM = re.compile(r"^\s*[A-Za-z_]+\s*=")
_NAMED = {"host", "hostaddr", "port", "dbname", "user", "password", "sslmode", "options", "application_name"}


def parse_keywords(dsn: str) -> list[tuple[str, str]]:
    """libpq's key/value form (`host=db port=5432 dbname=cnpj password='a b'`) as pairs, read as libpq reads it:
    pairs split by white space, `=` with optional spaces around, a value single-quoted or bare, and a backslash
    escaping the character after it. Raises ValueError naming the fault, never a value (a word typed without
    its key may be a password)."""
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(dsn)
    while True:
        while i < n and dsn[i].isspace():
            i += 1
        if i == n:
            return pairs
        start = i
        while i < n and not dsn[i].isspace() and dsn[i] != "=":
            i += 1
        key = dsn[start:i]
        while i < n and dsn[i].isspace():
            i += 1
        if i == n or dsn[i] != "=" or not key:
            raise ValueError("a word without '=' after it" if key else "an '=' without a key before it")
        i += 1
        while i < n and dsn[i].isspace():
            i += 1
        quoted = i < n and dsn[i] == "'"
        i += quoted
        value: list[str] = []
        while i < n and (quoted or not dsn[i].isspace()):
            if dsn[i] == "\\" and i + 1 < n:
                value.append(dsn[i + 1])
                i += 2
                continue
            if quoted and dsn[i] == "'":
                break
            value.append(dsn[i])
            i += 1
        if quoted:
            if i == n:
                raise ValueError(
                    f"the quoted value of {key!r} without its closing quote"
                    if key in _NAMED
                    else "a quoted value without its closing quote"
                )
            i += 1
        pairs.append((key, "".join(value)))


def as_url(dsn: str) -> str:
    """A DSN as a postgresql:// URL: a URL is returned as typed; libpq's key/value form becomes the same
    settings as a URL (user and password before the host, every other key as a query parameter, all
    percent-encoded), so that one set of checks, names and redaction serves both forms."""
    if not _KEYWORD_FORM.match(dsn):
        return dsn
    settings = dict(parse_keywords(dsn))  # the last of a repeated key counts, as in libpq
    user = quote(settings.pop("user", ""), safe="")
    password = settings.pop("password", None)
    userinfo = user + (":" + quote(password, safe="") if password is not None else "")
    database = quote(settings.pop("dbname", ""), safe="")
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in settings.items())
    return f"postgresql://{userinfo + '@' if userinfo else ''}/{database}{'?' + query if query else ''}"


def check_dsn(v: str) -> str | None:
    """A postgresql:// URL that libpq and Python split the same way (else parts of a password leak into errors),
    or libpq's key/value form.

    Returns what is allowed when the DSN is wrong (config's check at load time), else None."""
    try:
        v = as_url(v)
    except ValueError as e:
        return f"{EXPECTED} (as key=value pairs, this one has {e})"
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
    try:
        dsn = as_url(dsn)
    except ValueError as e:
        raise UsageError(usage.format(e)) from None
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
    try:
        dsn = as_url(dsn)
    except ValueError:
        return "the server of a malformed DSN"
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
