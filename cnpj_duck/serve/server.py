"""Run the server: the follower opens (or first builds) the release's serving database, then uvicorn listens."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import UsageError
from .app import ServeSettings, create_app, log_line
from .follower import Follower


@dataclass(frozen=True)
class Started:
    """What the server answers from, once it listens."""

    release: str
    extracted: str | None
    url: str
    privacy: bool


def run(
    settings: ServeSettings,
    host: str = "127.0.0.1",
    port: int = 8000,
    on_start: Callable[[Started], None] | None = None,
) -> None:
    """Serve until interrupted (Ctrl-C, SIGTERM); the serving database is ready before the port is opened."""
    try:
        import uvicorn
    except ImportError:
        raise UsageError(
            "serve needs FastAPI and uvicorn: install the serve extra (pip install 'cnpj-duck[serve]')"
        ) from None
    follower = Follower(settings.config, settings.release, settings.pool, notify=log_line)
    database = follower.start()
    app = create_app(settings, follower)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="on", server_header=False
        )
    )
    if on_start is not None:
        shown = f"[{host}]" if ":" in host else host
        on_start(Started(database.release, database.extracted, f"http://{shown}:{port}", settings.privacy))
    try:
        server.run()
    except SystemExit:  # uvicorn's answer to a port it cannot bind, after logging why
        raise UsageError(
            f"--host {host} --port {port}: cannot listen there (in use, or not an address of this "
            "machine); pick another one with --host/--port"
        ) from None
    finally:
        follower.close()
