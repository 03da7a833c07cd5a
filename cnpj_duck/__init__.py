"""cnpj-duck: the Receita Federal CNPJ open-data release into typed Parquet, with DuckDB."""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

try:  # one version, pyproject's: what pip installed says it
    __version__ = metadata.version("cnpj-duck")
except metadata.PackageNotFoundError:  # the package imported from a folder it was never installed from
    __version__ = "0+unknown"

if TYPE_CHECKING:
    from .build import build as build


def __getattr__(name: str) -> Any:
    # Heavy imports (duckdb, pyarrow) wait until the library is used, so `cnpj-duck --help` stays instant.
    if name == "build":
        from .build import build

        return build
    raise AttributeError(name)
