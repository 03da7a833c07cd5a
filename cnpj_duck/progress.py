"""The small progress protocol the core reports through; the CLI draws it with rich, tests record it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol


class Progress(Protocol):
    """Start, advance and finish named tasks; `message` for one-off events."""

    def start(self, task: str, *, total: int | None = None, unit: str = "rows", **info: Any) -> None: ...

    def advance(self, task: str, amount: int = 0, **metrics: Any) -> None: ...

    def finish(self, task: str, *, status: str = "succeeded", **metrics: Any) -> None: ...

    def message(self, text: str, *, level: str = "info") -> None: ...


class NullProgress:
    """Reports nothing."""

    def start(self, task: str, *, total: int | None = None, unit: str = "rows", **info: Any) -> None:
        pass

    def advance(self, task: str, amount: int = 0, **metrics: Any) -> None:
        pass

    def finish(self, task: str, *, status: str = "succeeded", **metrics: Any) -> None:
        pass

    def message(self, text: str, *, level: str = "info") -> None:
        pass


@dataclass
class RecordingProgress:
    """Keeps every event as a tuple, for tests."""

    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _add(self, kind: str, task: str, data: dict[str, Any]) -> None:
        with self._lock:
            self.events.append((kind, task, data))

    def start(self, task: str, *, total: int | None = None, unit: str = "rows", **info: Any) -> None:
        self._add("start", task, {"total": total, "unit": unit, **info})

    def advance(self, task: str, amount: int = 0, **metrics: Any) -> None:
        self._add("advance", task, {"amount": amount, **metrics})

    def finish(self, task: str, *, status: str = "succeeded", **metrics: Any) -> None:
        self._add("finish", task, {"status": status, **metrics})

    def message(self, text: str, *, level: str = "info") -> None:
        self._add("message", level, {"text": text})

    def of(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """The (task, data) pairs of one kind of event, in order."""
        return [(task, data) for k, task, data in self.events if k == kind]
