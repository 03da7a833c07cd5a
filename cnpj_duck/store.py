"""The data directory on disk, in one place: partitions and manifests, what is built, the writers' lock and staging.

    <data_dir>/
      cnpj.duckdb                          the catalog: audit tables, macros, views (see catalogdb.py)
      parquet/<table>/release=YYYY-MM/     a published partition: its part-<n>.parquet files, nothing else (so any
                                           Parquet reader, polars included, reads a table's folder)
      manifests/<table>/release=YYYY-MM.json  what the partition was built from: per part, its zip, sha256, rows
      raw/YYYY-MM/                         downloaded release zips
      index/release=YYYY-MM/               indexes derived from a built release (search's names), made on demand
      .lock                                held by the running build or export (its pid inside)
      .download.lock                       held by the running download
      .staging/<pid>-<run>/                a writer's partitions before they are published
      .trash/                              a partition caught mid-swap by a crash, put back at the next start
      .parts/<table>/release=YYYY-MM/      part files finished by a run that stopped before publishing the table
      .tmp/                                DuckDB's spill files

One rule says what is built: a release is built for a table when its partition has a manifest whose part files
are all there. The latest built release is the newest month in which every release table (the ten
families of the layout) is built; while no month is complete, the newest month with any table.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import StoreLockedError, UsageError
from .layout import FAMILIES, is_valid_release
from .sqlproject import quote_literal

if TYPE_CHECKING:
    import duckdb

CATALOG_NAME = "cnpj.duckdb"
LEGACY_MANIFEST = "_manifest.json"  # where cnpj-duck 0.1 kept a partition's manifest (inside it); moved out at start
DATA_FILES = "[!_]*.parquet"  # files starting with "_" are not data (by convention)
RELEASE_TABLES = tuple(FAMILIES)  # the tables made from the release's files: a complete release has them all
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_RELEASE_DIR_RE = re.compile(r"^release=(\d{4}-\d{2})$")


@dataclass(frozen=True)
class Store:
    """One data directory: where everything lives and what is built in it."""

    root: Path

    @property
    def catalog_path(self) -> Path:
        return self.root / CATALOG_NAME

    @property
    def parquet_dir(self) -> Path:
        return self.root / "parquet"

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def tmp_dir(self) -> Path:
        return self.root / ".tmp"

    def partition(self, table: str, release: str) -> Path:
        """Where a table's partition of a release is published."""
        return self.parquet_dir / table / f"release={release}"

    def manifest_path(self, table: str, release: str) -> Path:
        """Where the manifest of a table's partition of a release is."""
        return self.root / "manifests" / table / f"release={release}.json"

    # -- what is built ------------------------------------------------------------------------------------------

    def index_dir(self, release: str) -> Path:
        """Where the indexes derived from a built release live (search's names); rebuilt from the Parquet at will."""
        return self.root / "index" / f"release={release}"

    def manifest(self, table: str, release: str) -> dict[str, Any] | None:
        """What a published partition was built from; None when it is not built (no manifest, or a part missing)."""
        return read_manifest(self.manifest_path(table, release), self.partition(table, release))

    def part_files(self, table: str, release: str) -> list[Path]:
        """The part files of a built partition, in part order; [] when the table is not built for the release."""
        manifest = self.manifest(table, release)
        if manifest is None:
            return []
        return [self.partition(table, release) / name for name in sorted(manifest["parts"], key=_part_order)]

    def _built_files(self, table: str, release: str) -> list[Path]:
        """part_files, or a UsageError saying how to build them."""
        files = self.part_files(table, release)
        if not files:
            raise UsageError(f"{table} is not built for release {release}; run `cnpj-duck build --release {release}`")
        return files

    def built(self) -> dict[str, list[str]]:
        """Every output table with at least one built release, and those releases, oldest first."""
        found: dict[str, list[str]] = {}
        if not self.parquet_dir.is_dir():
            return found
        for table_dir in sorted(self.parquet_dir.iterdir()):
            if not table_dir.is_dir() or not _NAME_RE.match(table_dir.name):
                continue
            releases = sorted(
                m.group(1)
                for d in table_dir.iterdir()
                if (m := _RELEASE_DIR_RE.match(d.name)) and self.manifest(table_dir.name, m.group(1))
            )
            if releases:
                found[table_dir.name] = releases
        return found

    def releases(self) -> list[str]:
        """Every month with at least one built table, oldest first."""
        return _months(self.built())

    def tables_of(self, release: str) -> list[str]:
        """The tables built for a release."""
        return [table for table, found in self.built().items() if release in found]

    def latest_release(self) -> str | None:
        """The newest complete release (every release table built); else the newest with any table; else None."""
        return _latest(self.built())

    def incomplete_newer(self) -> dict[str, list[str]]:
        """Months newer than the latest built release (built in part), with the tables they have."""
        built = self.built()  # one look at the manifests for all the answers
        latest = _latest(built)
        return {
            m: [t for t, found in built.items() if m in found]
            for m in _months(built)
            if latest is not None and m > latest
        }

    def resolve_release(self, release: str | None, table: str | None = None) -> str:
        """The release asked for (None or 'latest': the latest built), checked to be built (for `table`, if given)."""
        built = self.built()  # one look at the manifests for all the answers
        if release is None or release == "latest":
            latest = _latest(built)
            if latest is None:
                what = f"no built release of {table}" if table else "nothing is built here yet"
                raise UsageError(f"{self.parquet_dir}: {what}; run `cnpj-duck build` first (or pass --data-dir)")
            if table is not None and latest not in built.get(table, ()):
                raise UsageError(
                    f"{table} is not built for {latest}, the latest built release; run "
                    f"`cnpj-duck build --release {latest} --tables {table}`"
                )
            return latest
        if not is_valid_release(release):
            raise UsageError(f"--release {release!r}: expected a month as YYYY-MM, or latest")
        have = [t for t, found in built.items() if release in found]
        if not have or (table is not None and table not in have):
            what = table or "any table"
            built_text = ", ".join(built.get(table, []) if table else _months(built)) or "none"
            raise UsageError(
                f"--release {release}: {what} is not built for it (built: {built_text}); run "
                f"`cnpj-duck build --release {release}`"
            )
        return release

    # -- relations ----------------------------------------------------------------------------------------------

    def scan_sql(self, table: str, release: str, relative: bool = False) -> str:
        """A `read_parquet(...)` over a built partition's part files (relative to the data dir when asked)."""
        files = [self._path_text(p, relative) for p in self._built_files(table, release)]
        listed = ", ".join(quote_literal(f) for f in files)
        return f"read_parquet([{listed}], hive_partitioning = false)"

    def history_sql(self, table: str, relative: bool = False, releases: list[str] | None = None) -> str:
        """A `read_parquet(...)` over every built release of a table (or those given), with the month in `release`."""
        months = self.built().get(table, []) if releases is None else releases
        files = [self._path_text(p, relative) for r in months for p in self.part_files(table, r)]
        if not files:
            raise UsageError(f"{table} is not built for any release; run `cnpj-duck build`")
        listed = ", ".join(quote_literal(f) for f in files)
        # union_by_name: a column added in a later release reads as NULL in the earlier ones.
        return (
            f"read_parquet([{listed}], hive_partitioning = true, hive_types = {{'release': VARCHAR}}, "
            "union_by_name = true)"
        )

    def read_table(
        self, con: duckdb.DuckDBPyConnection, table: str, release: str, **options: Any
    ) -> duckdb.DuckDBPyRelation:
        """A built partition as a relation of `con` (options go to read_parquet, e.g. filename=True)."""
        files = self._built_files(table, release)
        return con.read_parquet([str(f) for f in files], hive_partitioning=False, **options)

    def _path_text(self, path: Path, relative: bool) -> str:
        return str(path.relative_to(self.root)) if relative else str(path.resolve())

    # -- writers ------------------------------------------------------------------------------------------------

    @contextmanager
    def writer_lock(self, command: str, name: str = ".lock") -> Iterator[None]:
        """Hold the data dir's run lock for a build or export (a download holds its own): refuse a second one."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / name
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
                raise StoreLockedError(
                    f"{self.root}: {holder} is running in this data directory; wait for it "
                    f"to finish (or stop it) before `{command}`"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{command} (pid {os.getpid()})".encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the descriptor lets go of the lock; so does the process's death

    def staging(self, run_id: int) -> Path:
        """This run's staging folder (made now; only its owner, or a later start once the owner is gone, removes it)."""
        path = self.root / ".staging" / f"{os.getpid()}-{run_id}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- parts finished by a run that did not publish (Ctrl-C, another file failed): kept per file ------------

    def _kept(self, table: str, release: str) -> Path:
        return self.root / ".parts" / table / f"release={release}"

    def keep_part(self, table: str, release: str, part: Path, entry: dict[str, Any]) -> None:
        """Keep a finished part file (hard-linked) with what it was built from, for the next run to reuse."""
        folder = self._kept(table, release)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / part.name
        target.unlink(missing_ok=True)
        link_or_copy(part, target)
        side = folder / f"{part.stem}.json"
        side.with_suffix(".tmp").write_text(json.dumps(entry, sort_keys=True), encoding="utf-8")
        side.with_suffix(".tmp").replace(side)  # the entry last: a part without one is never reused

    def kept_part(self, table: str, release: str, part: str) -> tuple[Path, dict[str, Any]] | None:
        """A part file kept by an earlier run, with its entry; None when there is none."""
        folder = self._kept(table, release)
        try:
            entry = json.loads((folder / f"{Path(part).stem}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return (folder / part, entry) if (folder / part).is_file() and isinstance(entry, dict) else None

    def drop_kept(self, table: str, release: str) -> None:
        """Forget the kept parts of a table's release (its partition is published)."""
        shutil.rmtree(self._kept(table, release), ignore_errors=True)

    def drop_staging(self, staged: Path) -> None:
        """Remove a run's staging folder (its owner's call), and .staging itself when no other run's is left."""
        shutil.rmtree(staged, ignore_errors=True)
        try:
            (self.root / ".staging").rmdir()
        except OSError:
            pass

    def recover(self) -> None:
        """Undo what a killed writer left: a publish caught half-way, manifests of the old layout, staging folders.

        Called with the writer lock held, so no other build or export is running.
        """
        for legacy in sorted(self.parquet_dir.glob(f"*/release=*/{LEGACY_MANIFEST}")):  # out of the partitions
            partition = legacy.parent
            target = self.manifest_path(partition.parent.name, partition.name.split("=", 1)[1])
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                legacy.unlink()
            else:
                legacy.replace(target)
        for pending in sorted((self.root / "manifests").glob("*/*.json.new")):
            try:
                staged = Path(json.loads(pending.read_text(encoding="utf-8"))["staged_from"])
            except (OSError, ValueError, KeyError, TypeError):
                pending.unlink()
                continue
            if staged.exists():  # the partition was never moved in: the old one stands, with its manifest
                pending.unlink()
            else:
                pending.replace(pending.with_suffix(""))
        trash = self.root / ".trash"
        if trash.is_dir():
            for old in sorted(trash.glob("*/release=*")):
                final = self.partition(old.parent.name, old.name.split("=", 1)[1])
                if not final.exists():
                    final.parent.mkdir(parents=True, exist_ok=True)
                    old.rename(final)
            shutil.rmtree(trash, ignore_errors=True)
        for staged in sorted((self.root / ".staging").glob("*")):
            pid = staged.name.split("-", 1)[0]
            if not pid.isdigit() or not process_alive(int(pid)):
                self.drop_staging(staged)

    def publish(self, staged: Path, table: str, release: str, manifest: dict[str, Any]) -> Path:
        """Move a complete partition into place with its manifest: never a half-written one.

        The new manifest is written aside first (naming the staged folder), then the old partition is moved to
        .trash, the staged one into place, and the manifest onto the old one. Between the renames (microseconds)
        the table has no partition, or the old manifest; a crash there is undone by `recover`, which finishes the
        publish if the partition was moved in, and otherwise puts the old one back.
        """
        final = self.partition(table, release)
        final.parent.mkdir(parents=True, exist_ok=True)
        path = self.manifest_path(table, release)
        path.parent.mkdir(parents=True, exist_ok=True)
        pending = path.with_name(path.name + ".new")
        pending.write_text(
            json.dumps({**manifest, "staged_from": str(staged)}, indent=1, sort_keys=True), encoding="utf-8"
        )
        old = self.root / ".trash" / table / final.name
        if final.exists():
            old.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
        staged.rename(final)
        pending.replace(path)
        shutil.rmtree(old, ignore_errors=True)
        return final


def _months(built: dict[str, list[str]]) -> list[str]:
    return sorted({r for found in built.values() for r in found})


def _latest(built: dict[str, list[str]]) -> str | None:
    """The one rule (see the module's doc): the newest complete month, else the newest month with any table."""
    months = _months(built)
    complete = [m for m in months if all(m in built.get(t, ()) for t in RELEASE_TABLES)]
    if complete:
        return complete[-1]
    return months[-1] if months else None


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the file system allows it (no bytes copied), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def read_manifest(path: Path, partition: Path) -> dict[str, Any] | None:
    """A partition's manifest (per part file: its zip, sha256 and rows); None unless every part it lists is there.

    A data dir of cnpj-duck 0.1 kept it inside the partition: read there until the next writer moves it out.
    """
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        try:
            manifest = json.loads((partition / LEGACY_MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
    except (OSError, ValueError):
        return None
    parts = manifest.get("parts") if isinstance(manifest, dict) else None
    if not isinstance(parts, dict):
        return None
    manifest.pop("staged_from", None)
    return manifest if all((partition / name).is_file() for name in parts) else None


def _part_order(name: str) -> tuple[int, str]:
    """part-2 before part-10."""
    digits = re.findall(r"\d+", name)
    return (int(digits[-1]) if digits else -1, name)


def process_alive(pid: int | None) -> bool:
    """Whether another process with this id runs (ours is never another command's: one command a process)."""
    if pid is None or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def open_engine(
    threads: int,
    memory_limit: str,
    temp_dir: Path,
    preserve_insertion_order: bool = True,
    database: Path | None = None,
    storage_version: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB bounded like the config says: threads, memory_limit, spilling to temp_dir; in memory, or the
    `database` file (created in `storage_version` when given, e.g. 'v1.5.0' for DuckDB 1.x clients)."""
    import duckdb

    temp_dir.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "threads": threads,
        "memory_limit": memory_limit,
        "temp_directory": str(temp_dir),
        "preserve_insertion_order": preserve_insertion_order,
    }
    if storage_version is not None:
        config["storage_compatibility_version"] = storage_version
    return duckdb.connect(str(database) if database is not None else ":memory:", config=config)
