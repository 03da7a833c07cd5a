"""What lets a download resume: the `.part` file being written, with its running sha256, and the state file
beside the zips that remembers what the server said about each one."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

__all__ = ["CHUNK", "STATE_NAME", "DownloadState", "PartFile"]

STATE_NAME = ".cnpj-duck-download.json"  # a dot file: build ignores it
CHUNK = 1 << 20


class DownloadState:
    """What the server said about each file held here (size, last-modified, etag, sha256), beside the zips."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / STATE_NAME
        self.lock = threading.Lock()
        try:
            self.data: dict[str, dict[str, Any]] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.data = {}

    def get(self, name: str) -> dict[str, Any]:
        with self.lock:
            return dict(self.data.get(name, {}))

    def put(self, name: str, **values: Any) -> None:
        with self.lock:
            self.data[name] = {**self.data.get(name, {}), **values}
            scratch = self.path.with_suffix(".tmp")
            scratch.write_text(json.dumps(self.data, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(scratch, self.path)


class PartFile:
    """The `.part` file being written, with the sha256 of what it holds kept up to date."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.hash = hashlib.sha256()
        self.size = 0
        if path.is_file():  # resuming: hash what an earlier attempt or run wrote
            with path.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    self.hash.update(chunk)
                    self.size += len(chunk)
        self.fh = path.open("ab")

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.fh.flush()  # what was received is on disk: a killed process resumes from it
        self.hash.update(data)
        self.size += len(data)

    def reset(self) -> int:
        """Empty the file; returns how many bytes were thrown away."""
        dropped = self.size
        self.fh.seek(0)
        self.fh.truncate()
        self.hash = hashlib.sha256()
        self.size = 0
        return dropped

    def sync(self) -> None:
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()
