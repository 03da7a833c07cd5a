"""cnpj-duck: the Receita Federal CNPJ open-data release into typed Parquet, with DuckDB."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .build import build as build


def __getattr__(name: str) -> Any:
    # Heavy imports (duckdb, pyarrow) wait until the library is used, so `cnpj-duck --help` stays instant.
    if name == "build":
        from .build import build

        return build
    raise AttributeError(name)
