"""The one error hierarchy. Each error's message says what happened and what to do; the CLI maps it to an exit code."""

from __future__ import annotations

# Exit codes, documented in the README: 0 ok, 1 data or build failure, 2 usage or configuration,
# 3 network or connection, 4 an export held back by its guard, 130 interrupted.
EXIT_OK = 0
EXIT_DATA = 1
EXIT_USAGE = 2
EXIT_NETWORK = 3
EXIT_GUARD = 4
EXIT_INTERRUPTED = 130


class CnpjDuckError(Exception):
    """Base of every error cnpj-duck reports to a user."""

    exit_code = EXIT_DATA


class UsageError(CnpjDuckError):
    """A flag, argument or path that cannot work as given."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A configuration key with a wrong name, type or value."""


class SourceError(CnpjDuckError):
    """A release file that cannot be read as the Receita publishes it."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class LayoutDriftError(SourceError):
    """A member whose rows do not have the columns the layout expects."""


class RejectThresholdError(SourceError):
    """A file with more unparseable records than the configured threshold allows."""


class SqlError(CnpjDuckError):
    """A transform in sql/ that DuckDB cannot run."""


class CatalogLockedError(CnpjDuckError):
    """The catalog database is held by another process."""


class StoreLockedError(CnpjDuckError):
    """Another writer (a build or an export) runs in the same data directory."""


class NetworkError(CnpjDuckError):
    """A server that cannot be reached or refuses us."""

    exit_code = EXIT_NETWORK


class ShrinkError(CnpjDuckError):
    """An export that would replace live tables with much smaller ones, or leave one out: stopped, nothing
    changed (a script tells it from a failure by its exit code)."""

    exit_code = EXIT_GUARD
