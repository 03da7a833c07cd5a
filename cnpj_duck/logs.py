"""Logging setup: JSON lines to a file (--log-file), plain lines to stderr with -v."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

# Context the audit attaches to its log records (logging's `extra`), copied into each JSON line.
CONTEXT = ("run_id", "table", "file", "batch", "event", "status", "metrics")
# scheme://user:password@host: the password runs to the last "@" of the authority, since an unencoded "@"
# inside a password is how libpq and browsers split it too.
_PASSWORD_RE = re.compile(r"(://[^:/@\s]*:)\S*?@(?=[^@\s/?#]*(?:[/?#\s]|$))")


def redact(text: str) -> str:
    """Hide the password of any URL with credentials (postgresql://user:secret@host -> user:***@host)."""
    return _PASSWORD_RE.sub(r"\1***@", text)


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the audit context when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key in CONTEXT:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["traceback"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str, ensure_ascii=False)


class _Redacting(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(verbose: int, log_file: Path | None) -> None:
    """Log lines on stderr only with -v (info) or -vv (debug); everything from info up to the JSON log file.

    Without -v, stderr carries only what the progress display and the final error line say: the audit's
    warning for a failed level would repeat them.
    """
    root = logging.getLogger("cnpj_duck")
    root.setLevel(logging.DEBUG)
    root.handlers.clear()
    root.propagate = False
    stderr = logging.StreamHandler()
    stderr.setLevel({0: logging.ERROR, 1: logging.INFO}.get(verbose, logging.DEBUG))
    stderr.setFormatter(_Redacting("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(stderr)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
        handler.setFormatter(JsonLinesFormatter())
        root.addHandler(handler)
