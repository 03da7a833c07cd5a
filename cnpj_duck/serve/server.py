"""Run the server: the follower opens (or first builds) the release's serving database, then uvicorn listens."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import UsageError
from .app import ServeSettings, create_app, log_line
from .follower import Follower

# Seconds a thread holding the GIL runs before another may take it (Python's default 0.005). The event loop gives
# the GIL up at every socket write and log line; while a worker runs Python (shaping a search page), getting it back
# can take the whole interval. At scale 0.3 (scripts/bench_serve.py, busy machine, two runs each) 0.0005 gave 756
# and 647 lookups/s back to back and 2.05-2.43 CPU ms per request, against 680 and 595, 2.29-2.58 at 0.005.
SWITCH_INTERVAL = 0.0005


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
    sys.setswitchinterval(SWITCH_INTERVAL)
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
