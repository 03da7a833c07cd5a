"""The ASGI application of `cnpj-duck serve` (FastAPI, run by uvicorn): the paths of shared/API_COMPAT.md.

    GET /<cnpj>         one establishment (bare, punctuated or alphanumeric CNPJ; 400 invalid, 404 absent)
    GET /?<filters>     a page of the search; GET / alone redirects to the docs (/docs, /redoc, /openapi.json:
                        their scripts are served from /docs-assets, so they work offline)
    GET /updated        the release served and the Receita's extraction date
    GET|HEAD /healthz   200, empty
    anything else       405 (another method) with the API's message

Requests are checked before any query (params.py); the queries run on worker threads (pool.py) against the
database the follower serves (follower.py); the guard middleware refuses oversized or non-ASCII requests and
writes one JSON log line per request, with the route rather than the CNPJ or values asked for.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

import duckdb
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..config import Config
from ..ibge import IbgeCodes
from . import queries
from .follower import Follower
from .params import FILTERS, OPTIONS, BadRequestError, SearchQuery, not_found_message, parse_cnpj, parse_search
from .pool import Database, QueryTimeoutError, Runner
from .shape import Shaper

log = logging.getLogger(__name__)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_PATH = 256  # bytes of the path as sent: a punctuated CNPJ takes 18
MAX_QUERY = 4096  # bytes of the query string: 6 filters of 100 values fit
GET_ONLY = "Essa URL aceita apenas o método GET."
FIXED_PATHS = frozenset({"/", "/updated", "/healthz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
DOCS_ASSETS = "/docs-assets"  # where the docs pages' scripts and styles are served from (no CDN: they work offline)


@dataclass(frozen=True)
class ServeSettings:
    """How one server runs: what it serves, with which rules, and its limits."""

    config: Config
    release: str | None = None  # pinned month; None follows the latest built release
    privacy: bool = True
    ibge: IbgeCodes = field(default_factory=IbgeCodes)
    timeout: float = 10.0  # seconds a request's queries may take before they are interrupted (503)
    pool: int = 4  # cursors and worker threads: requests whose queries run at once
    poll: float = 5.0  # seconds between looks at the store for a newer release


def log_line(line: dict[str, Any]) -> None:
    """One JSON line on stderr (requests and the release follower's events)."""
    sys.stderr.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
    sys.stderr.flush()


def _json(data: Any, status: int = 200, release: str | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"X-Cnpj-Duck-Release": release} if release else None
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _message(text: str, status: int) -> Response:
    return _json({"message": text}, status)


_SEARCH_DOC = [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": text}
    for name, text in (
        ("uf", "State, two letters (any case); repeat or separate with commas for several"),
        ("municipio", "Municipality code: the Receita's (SIAFI, 4 digits) or IBGE's (7 digits, with --ibge)"),
        ("cnae_fiscal", "Main CNAE code (7 digits)"),
        ("cnae", "A CNAE code, main or secondary"),
        ("natureza_juridica", "Legal nature code (4 digits)"),
        ("cnpf", "A partner's CNPJ, or masked CPF as published (***456789**)"),
        ("limit", "Establishments per page, 1 to 1000 (default 100)"),
        ("cursor", "The `cursor` of the previous page"),
        ("compact", "Any value: `data` lists CNPJs only"),
    )
]


def create_app(settings: ServeSettings, follower: Follower, log: Callable[[dict[str, Any]], None] = log_line) -> Any:
    """The application over a started Follower (its database is open); the lifespan watches for new releases."""
    runner = Runner(settings.pool, settings.timeout)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watcher = asyncio.create_task(_watch(follower, settings.poll, log))
        try:
            yield
        finally:
            watcher.cancel()
            runner.close()
            follower.close()

    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        swagger_ui_parameters={"validatorUrl": None},  # Swagger UI would send the schema to an online validator
        title="cnpj-duck",
        version=__version__,
        lifespan=lifespan,
        description="CNPJ lookups and searches over a release built by cnpj-duck (the paths and JSON "
        "of the public lookup API).",
    )

    async def answer(work: Callable[[duckdb.DuckDBPyConnection, Database, Shaper], Response]) -> Response:
        database = follower.acquire()
        shaper = Shaper(database.descriptions, settings.ibge, settings.privacy)
        return await runner.run(database, lambda cursor: work(cursor, database, shaper))

    @app.get(
        "/",
        summary="Search establishments",
        openapi_extra={"parameters": _SEARCH_DOC},
        responses={302: {"description": "No query: a redirect to these docs"}},
    )
    async def search(request: Request) -> Response:
        if not request.url.query:
            return RedirectResponse("/docs", status_code=302)
        query = parse_search(request.query_params.multi_items(), settings.ibge)
        return await answer(lambda cursor, database, shaper: _search_page(cursor, database, shaper, query))

    @app.get("/updated", summary="The release served and its extraction date")
    async def updated() -> Response:
        database = follower.current
        assert database is not None
        when = database.extracted or "data desconhecida"
        return _json(
            {
                "message": f"Dados da Receita Federal extraídos em {when} (release {database.release}).",
                "data_extracao": database.extracted,
                "release": database.release,
            },
            release=database.release,
        )

    @app.api_route("/healthz", methods=["GET", "HEAD"], summary="200 while the server answers")
    async def healthz() -> Response:
        return Response(status_code=200)

    @app.get("/{cnpj:path}", summary="One establishment by CNPJ (bare, punctuated or alphanumeric)")
    async def lookup(cnpj: str) -> Response:
        canonical = parse_cnpj(cnpj)
        return await answer(lambda cursor, database, shaper: _lookup(cursor, database, shaper, canonical))

    def timeout_answer() -> Response:
        return _message(f"A consulta levou mais de {settings.timeout:g} s e foi cancelada; tente de novo.", 503)

    async def fast_lookup(path: str) -> Response:
        """The route `/{cnpj}` answered without FastAPI's routing and parameter solving (most of the event loop's
        work per lookup): the same endpoint, the same answers to its errors."""
        try:
            return await lookup(path[1:])
        except BadRequestError as e:
            return _message(e.message, 400)
        except QueryTimeoutError:
            return timeout_answer()
        except Exception as e:
            log({"event": "error", "path": _logged_path(path), "error": f"{type(e).__name__}: {e}"})
            return _message("Erro interno do servidor.", 500)

    @app.exception_handler(BadRequestError)
    async def bad_request(request: Request, e: BadRequestError) -> Response:
        return _message(e.message, 400)

    @app.exception_handler(QueryTimeoutError)
    async def timed_out(request: Request, e: QueryTimeoutError) -> Response:
        return timeout_answer()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        return _message(GET_ONLY if e.status_code == 405 else str(e.detail), e.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> Response:
        return _message("Requisição inválida.", 400)

    @app.exception_handler(Exception)
    async def internal(request: Request, e: Exception) -> Response:
        log({"event": "error", "path": _logged_path(request.url.path), "error": f"{type(e).__name__}: {e}"})
        return _message("Erro interno do servidor.", 500)

    return Guard(app, log, fast_lookup)


def _lookup(cursor: duckdb.DuckDBPyConnection, database: Database, shaper: Shaper, cnpj: str) -> Response:
    row, related = queries.lookup(cursor, database.layout, cnpj)
    if row is None:
        return _json({"message": not_found_message(cnpj)}, 404, database.release)
    return _json(shaper.establishment(row, related), release=database.release)


def _search_page(cursor: duckdb.DuckDBPyConnection, database: Database, shaper: Shaper, query: SearchQuery) -> Response:
    page = queries.search(cursor, database.layout, query)
    if query.compact:
        data: list[Any] = [row["cnpj"] for row in page.rows]
    else:
        data = [shaper.establishment(row, page.related) for row in page.rows]
    body: dict[str, Any] = {"data": data}
    if page.cursor is not None:
        body["cursor"] = page.cursor
    return _json(body, release=database.release)


async def _watch(follower: Follower, every: float, log: Callable[[dict[str, Any]], None]) -> None:
    """Look for a newer release every few seconds, on a thread of its own (a build takes minutes)."""
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(follower.check)
        except Exception as e:  # keep serving what is open; say why
            log({"event": "release_check_failed", "error": f"{type(e).__name__}: {e}"})


def _is_fixed(path: str) -> bool:
    """Whether a path is one of the routes other than `/{cnpj}`."""
    return path in FIXED_PATHS or path == DOCS_ASSETS or path.startswith(f"{DOCS_ASSETS}/")


def _logged_path(path: str) -> str:
    """The path as logged: the route, not the CNPJ asked for (a CNPJ can name a person)."""
    return path if _is_fixed(path) else "/{cnpj}"


class Guard:
    """Refuses what no route should see (oversized, non-ASCII or control characters) with a 400, and logs one
    JSON line per request: method, route, status, milliseconds, the names of the parameters (not their values).
    A GET of `/{cnpj}` without a query goes straight to `lookup`, the rest through the application."""

    def __init__(
        self,
        app: ASGIApp,
        log: Callable[[dict[str, Any]], None],
        lookup: Callable[[str], Awaitable[Response]] | None = None,
    ) -> None:
        self.app = app
        self.log = log
        self.lookup = lookup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        problem = _refused(scope)
        if problem:
            await _message(problem, 400)(scope, receive, send_status)
        elif self.lookup is not None and _is_lookup(scope):
            await (await self.lookup(scope["path"]))(scope, receive, send_status)
        else:
            await self.app(scope, receive, send_status)
        query = scope.get("query_string", b"")
        names = sorted({part.split(b"=", 1)[0].decode("ascii", "replace") for part in query.split(b"&") if part})
        known = [n if n in FILTERS or n in OPTIONS else "?" for n in names]
        self.log(
            {
                "method": scope["method"],
                "path": _logged_path(scope["path"]),
                "status": status[0],
                "ms": round((time.perf_counter() - started) * 1000, 2),
                **({"params": known} if known else {}),
            }
        )


def _is_lookup(scope: Scope) -> bool:
    """Whether a request is a GET of `/{cnpj}` (no query: the API's lookups take none; the application answers
    one with a query as it answers any unknown parameter)."""
    return scope["method"] == "GET" and not scope.get("query_string") and not _is_fixed(scope["path"])


def _refused(scope: Scope) -> str | None:
    """Why a request is refused before routing, or None."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8", "replace")
    query: bytes = scope.get("query_string", b"")
    if len(raw_path) > MAX_PATH:
        return f"URL longa demais ({len(raw_path)} bytes; o máximo é {MAX_PATH})."
    if len(query) > MAX_QUERY:
        return f"Consulta longa demais ({len(query)} bytes; o máximo é {MAX_QUERY})."
    for part in (unquote_to_bytes(raw_path), unquote_to_bytes(query.replace(b"+", b" "))):
        if not part.isascii():
            return (
                "A URL tem caracteres fora do ASCII; CNPJs, códigos e siglas usam apenas letras, dígitos e pontuação."
            )
        if any(b < 32 or b == 127 for b in part):
            return "A URL tem caracteres de controle."
    return None
