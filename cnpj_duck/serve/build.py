"""Writing a release's serving file in a child process, so that the server's memory stays the server's.

The file is the `export duckdb` file (the release's tables, sorted; no ART indexes: serve does not read through
them) plus the lookup documents (documents.py). Writing it takes the `memory_limit` of builds and exports, and
DuckDB's allocator keeps much of what it took after the work: done in the server, the server's RSS would stay near
that peak. The child (`python -m cnpj_duck.serve.build`, the config pickled on its stdin) has its own; the server
waits for it, and stops it when it is interrupted or closed. A Ctrl-C reaches both (one process group): the child's
export stops as any export does (its run `interrupted`, its aside file removed) and the server says `interrupted`.
"""

from __future__ import annotations

import logging
import pickle
import signal
import subprocess
import sys
import threading
from pathlib import Path

from .. import interrupts
from ..config import Config
from ..errors import EXIT_INTERRUPTED, CnpjDuckError, StoreLockedError
from ..handover import drop_leftovers

EXIT_LOCKED = 75  # the child's code for "another writer holds the data dir" (StoreLockedError): try again later
STOP_WITHIN = 1.5  # seconds a child stopping on its own gets before it is made to


class Builder:
    """Runs the child that writes one serving file, and stops it on request (from any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._closed = False

    def build(self, config: Config, release: str, path: Path) -> None:
        """Write the serving file of `release` at `path` (whole, or not at all); StoreLockedError, CnpjDuckError."""
        with self._lock:
            if self._closed:
                raise KeyboardInterrupt
            child = subprocess.Popen(
                [sys.executable, "-m", "cnpj_duck.serve.build"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            self._child = child
        try:
            _, err = child.communicate(pickle.dumps((config, release, path)))
        except BaseException:  # a Ctrl-C (or the server closing): the child got it too, or gets it now
            self._stop(child)
            drop_leftovers(path)  # its aside file, if it was killed before it could remove it
            raise
        finally:
            with self._lock:
                self._child = None
        message = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {child.returncode}"]
        if child.returncode == EXIT_LOCKED:
            raise StoreLockedError(message[0])
        if child.returncode == EXIT_INTERRUPTED:
            raise KeyboardInterrupt
        if child.returncode != 0:
            raise CnpjDuckError(f"release {release}: writing its serving file failed: {message[0]}")

    def close(self) -> None:
        """Stop a build that runs (the server is stopping); no build starts after this."""
        with self._lock:
            self._closed = True
            child = self._child
        if child is not None:
            self._stop(child, signalled=False)

    @staticmethod
    def _stop(child: subprocess.Popen[bytes], signalled: bool = True) -> None:
        """The child stops as a Ctrl-C stops an export; SIGINT it if it did not get one, SIGKILL if it lingers."""
        for sig in (None, signal.SIGINT, signal.SIGKILL) if signalled else (signal.SIGINT, signal.SIGKILL):
            if sig is not None and child.poll() is None:
                child.send_signal(sig)
            try:
                child.wait(timeout=STOP_WITHIN if sig != signal.SIGKILL else None)
                return
            except subprocess.TimeoutExpired:
                continue


def write_serving_file(config: Config, release: str, path: Path) -> None:
    """In this process: the release's `export duckdb` file without indexes, with the lookup documents."""
    from ..export_duckdb import write_duckdb
    from ..store import Store
    from .documents import write_documents

    store = Store(config.data_dir)
    write_duckdb(store, release, path, config=config, command="serve", indexes=False, extra=write_documents)


def main() -> None:
    """The child: write the file its stdin names; exit 0, EXIT_LOCKED, 130 (interrupted) or 1 with one line."""
    logging.disable(logging.CRITICAL)  # the export's log lines are its audit's; stderr carries only the error line
    interrupts.install()
    try:
        config, release, path = pickle.loads(sys.stdin.buffer.read())
        write_serving_file(config, release, path)
    except BaseException as e:
        if interrupts.is_interrupt(e):
            sys.exit(EXIT_INTERRUPTED)
        if isinstance(e, StoreLockedError):
            sys.stderr.write(f"{e}\n")
            sys.exit(EXIT_LOCKED)
        sys.stderr.write(f"{e if isinstance(e, CnpjDuckError) else f'{type(e).__name__}: {e}'}\n")
        sys.exit(1)
    finally:
        interrupts.finish()


if __name__ == "__main__":
    main()
