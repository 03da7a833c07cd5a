"""Which release `serve` answers from, and its serving database: built on first start, rebuilt when the data changes.

The serving database of a release is the `export duckdb` file (the release's tables sorted by key) with the lookup
documents of documents.py, written by a child process (build.py), kept as
<data_dir>/serve/<release>.<fingerprint>.duckdb, the fingerprint a digest of the manifests it was made from and of
the file's format (FORMAT: a file of an older cnpj-duck is written anew). The follower looks at the store every few
seconds: when the latest release changes (or the partitions of the one served are rebuilt), it writes the new file in
the background while the old one keeps answering, then switches in one assignment. A request takes the database it
starts on (`acquire`) and finishes on it; the old database is closed, and its file removed, after the last such
request. `--release` pins one month: it is served until the process stops (and rebuilt if its partitions are).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..errors import CnpjDuckError, StoreLockedError, UsageError
from ..store import RELEASE_TABLES, Store
from ..tables import LOOKUP_TABLES
from .build import Builder
from .pool import Database

log = logging.getLogger(__name__)
SERVE_DIR = "serve"
FORMAT = 2  # of the serving file: 2 added serve_documents


@dataclass(frozen=True)
class Target:
    """What should be served now: a release, and the fingerprint of the partitions it is made of."""

    release: str
    fingerprint: str


def fingerprint(store: Store, release: str) -> str:
    """A digest of the release tables' manifests: it changes when any of their partitions is rebuilt."""
    manifests = {table: store.manifest(table, release) for table in RELEASE_TABLES}
    described = {"format": FORMAT, "manifests": manifests}
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


class Follower:
    """The database being served, and the switch to a newer one."""

    def __init__(
        self,
        config: Config,
        pinned: str | None,
        pool_size: int,
        notify: Callable[[dict[str, object]], None] | None = None,
    ) -> None:
        self.config = config
        self.store = Store(config.data_dir)
        self.pinned = pinned
        self.pool_size = pool_size
        self.notify = notify or (lambda event: None)
        self.folder = self.store.root / SERVE_DIR
        self._lock = threading.Lock()
        self._current: Database | None = None
        self._failed: Target | None = None  # a build that failed: not retried until the data changes again
        self._builder = Builder()

    def target(self) -> Target:
        """The release to serve (pinned, or the latest built) and its fingerprint; UsageError when it is not whole."""
        release = self.store.resolve_release(self.pinned, table="estabelecimentos")
        missing = [t for t in RELEASE_TABLES if self.store.manifest(t, release) is None]
        if missing:
            raise UsageError(
                f"release {release}: {', '.join(missing)} not built; serve needs every table of the "
                f"release; run `cnpj-duck build --release {release}`"
            )
        return Target(release, fingerprint(self.store, release))

    def start(self, wait: float = 600.0) -> Database:
        """Open the database of the target release, building it first if needed (before the server listens);
        while a build or export holds the data dir, wait for it (up to `wait` seconds)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                database = self._open(self.target())
                break
            except StoreLockedError as e:
                if time.monotonic() >= deadline:
                    raise
                self.notify({"event": "waiting", "reason": str(e)})
                time.sleep(2)
        with self._lock:
            self._current = database
        return database

    def acquire(self) -> Database:
        """The database a new request uses, counted (the caller's work must call `leave` on it when done)."""
        with self._lock:
            if self._current is None:
                raise RuntimeError("the follower was not started")
            self._current.enter()
            return self._current

    @property
    def current(self) -> Database | None:
        return self._current

    def check(self) -> bool:
        """Switch to a newer target if there is one (building its database; slow); True when switched."""
        current = self._current
        try:
            target = self.target()
        except UsageError as e:  # a release being rebuilt or pruned: keep serving what is open
            log.info("serve: %s; still serving %s", e, current.release if current else None)
            return False
        if current is not None and (current.release, current.fingerprint) == (target.release, target.fingerprint):
            return False
        if target == self._failed:
            return False
        try:
            database = self._open(target)
        except StoreLockedError:  # a build or export runs: try again at the next look
            return False
        except KeyboardInterrupt:  # the build was stopped: the server is stopping (a Ctrl-C reached both)
            return False
        except CnpjDuckError as e:
            self._failed = target
            self.notify({"event": "release_failed", "release": target.release, "error": str(e)})
            return False
        with self._lock:
            old, self._current = self._current, database
        if old is not None:
            old.remove_on_close = old.path != database.path
            old.retire()
        self.notify({"event": "release_switched", "release": database.release, "from": old.release if old else None})
        return True

    def close(self) -> None:
        """Stop a build that runs; close the database once its requests are done."""
        self._builder.close()
        with self._lock:
            current, self._current = self._current, None
        if current is not None:
            current.retire()

    # -- the serving database of a release --------------------------------------------------------------------------

    def path(self, target: Target) -> Path:
        """The file of a target: the fingerprint in its name, so that a rebuilt release is a new path (DuckDB
        keeps one database instance per path in a process: reopening the same path would find the old one)."""
        return self.folder / f"{target.release}.{target.fingerprint[:16]}.duckdb"

    def _open(self, target: Target) -> Database:
        path = self.path(target)
        if not path.is_file():  # written aside and renamed when complete: a file there is whole
            self._build(path, target)
        return Database(
            path,
            target.release,
            target.fingerprint,
            self.pool_size,
            self.config.threads,
            self.config.serve_memory_limit,
            LOOKUP_TABLES,
        )

    def _build(self, path: Path, target: Target) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.notify({"event": "release_building", "release": target.release, "path": str(path)})
        self._builder.build(self.config, target.release, path)
        # The partitions may have been rebuilt while it was written: then the name would lie; try again later.
        if fingerprint(self.store, target.release) != target.fingerprint:
            path.unlink(missing_ok=True)
            raise StoreLockedError(f"release {target.release} changed while its serving database was written")
        for old in self.folder.glob(f"{target.release}.*.duckdb"):  # earlier builds of the same month
            if old != path:
                old.unlink(missing_ok=True)  # a process still serving it keeps its open file
