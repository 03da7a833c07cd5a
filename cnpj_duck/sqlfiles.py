"""Where the SQL project's files come from: the ones packaged with cnpj-duck, and a user's folder over them.

The repository's top-level sql/ is installed as the package cnpj_duck.sql (pyproject's package-dir), so
importlib.resources finds it from any working directory, in a checkout (editable install) and a wheel alike. A
user's `sql_dir` (config or --sql-dir) adds files to it or replaces them by relative path: `empresas.sql` there
replaces the packaged transform, `views/mine.sql` adds a view. `cnpj-duck sql init DIR` copies the packaged
files out for editing. This module only finds files (no duckdb): sqlproject reads them.
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import ConfigError, UsageError

PACKAGE = "cnpj_duck.sql"
PACKAGED = "packaged"  # what `origin` says of a file shipped with cnpj-duck
_NOT_PROJECT = {"__init__.py", "__pycache__"}  # what makes sql/ a package, not SQL


@functools.cache  # where the package is does not change while it runs
def packaged_sql_dir() -> Path:
    """The folder of the SQL files shipped with cnpj-duck, wherever the package is installed."""
    root = resources.files(PACKAGE)
    if not isinstance(root, Path):  # a zipped install: DuckDB and the messages need files on disk
        raise ConfigError(f"{root}: cnpj-duck's SQL files are not on disk; install cnpj-duck unzipped (pip install)")
    return root


@dataclass(frozen=True)
class SqlDir:
    """The SQL project: the packaged files, with the files of the user's folder (when set) added or replacing
    them by relative path."""

    user: Path | None = None

    @property
    def roots(self) -> tuple[Path, ...]:
        """The folders looked in, the user's first."""
        packaged = packaged_sql_dir()
        return (packaged,) if self.user is None else (self.user, packaged)

    def file(self, relative: str) -> Path | None:
        """The file at `relative` (like `_macros.sql` or `views/x.sql`): the user's when they have one."""
        return next((root / relative for root in self.roots if (root / relative).is_file()), None)

    def files(self, folder: str = "") -> list[Path]:
        """The project files (`*.sql` not starting with `_`) of a folder, one per name (the user's replacing the
        packaged), sorted by name."""
        found: dict[str, Path] = {}
        for root in reversed(self.roots):
            where = root / folder
            if where.is_dir():
                found.update((p.name, p) for p in where.glob("*.sql") if not p.name.startswith("_"))
        return [found[name] for name in sorted(found)]

    def origin(self, path: Path) -> str:
        """`packaged` for a file shipped with cnpj-duck, else the file's path (in the user's folder)."""
        return PACKAGED if path.is_relative_to(packaged_sql_dir()) else str(path)

    def __str__(self) -> str:
        return str(self.user) if self.user is not None else f"{PACKAGED} ({packaged_sql_dir()})"


def user_sql_dir(value: str, origin: str) -> SqlDir:
    """The SqlDir of the `sql_dir` setting: "" for the packaged files alone, else a folder that must exist."""
    if not value:
        return SqlDir()
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise ConfigError(
            f"sql_dir = {value!r} ({origin}): no such folder of SQL files; create it (cnpj-duck sql "
            "init DIR copies the packaged files there) or leave sql_dir unset for the packaged ones"
        )
    return SqlDir(folder.resolve())


@dataclass(frozen=True)
class SqlInit:
    """What `sql init` copied: the folder and the files written there, relative to it."""

    folder: Path
    written: tuple[str, ...]
    replaced: tuple[str, ...]


def init_sql(folder: Path, force: bool = False) -> SqlInit:
    """Copy the packaged SQL files into `folder` for editing; existing files are kept unless `force`."""
    source = packaged_sql_dir()
    files = sorted(
        p.relative_to(source)
        for p in source.rglob("*")
        if p.is_file() and not _NOT_PROJECT & set(p.relative_to(source).parts)
    )
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: not a folder; name a folder for the SQL files")
    existing = [str(p) for p in files if (folder / p).exists()]
    if existing and not force:
        shown = ", ".join(existing[:5]) + (f" and {len(existing) - 5} more" if len(existing) > 5 else "")
        raise UsageError(f"{folder}: already has {shown}; pass --force to overwrite them, or name another folder")
    for relative in files:
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / relative, folder / relative)
    return SqlInit(folder, tuple(str(p) for p in files), tuple(existing))
