"""What an export reads: a built release's tables (Parquet partitions) and the SQL project's views over it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import sqlproject
from .config import Config
from .errors import UsageError
from .store import Store


@dataclass(frozen=True)
class Source:
    """A table to export: a Parquet partition, or a view over the release in DuckDB."""

    name: str
    kind: str  # 'parquet' or 'view'
    files: tuple[Path, ...] = ()
    part_rows: dict[str, int] = field(default_factory=dict)  # manifest rows per part file
    partial: bool = False


def locate_sources(
    store: Store, config: Config, release: str | None, tables: list[str] | None, quality: bool = False
) -> tuple[str, list[Source]]:
    """The release to export (asked for, else config's, else the latest built) and its tables and views: the one
    place that knows where a built release's Parquet is."""
    wanted = release if release and release != "latest" else None
    if wanted is None and config.release != "latest":
        wanted = config.release
    found = store.resolve_release(wanted)
    return found, find_sources(config, found, tables, quality)


def find_sources(config: Config, release: str, tables: list[str] | None, quality: bool = False) -> list[Source]:
    """The release's built tables, then the enriched views; qualidade only when asked for (`quality`, or by name
    in `tables`): it is a scan of every table, seconds for a few dozen rows (issue 12)."""
    store = Store(config.data_dir)
    sources: list[Source] = []
    for table in store.tables_of(release):
        manifest = store.manifest(table, release) or {}
        files = store.part_files(table, release)
        parts = {f.name: int(manifest["parts"][f.name]["rows"]) for f in files}
        sources.append(Source(table, "parquet", tuple(files), parts, bool(manifest.get("partial"))))
    if not sources:
        raise UsageError(
            f"release {release}: no built table under {config.data_dir / 'parquet'}; "
            "run `cnpj-duck build` for it or pass another --release"
        )
    built = {s.name for s in sources}
    sources += [Source(name, "view") for name in sqlproject.view_names(config.sql_dir) if name not in built]
    if tables is None:
        return [s for s in sources if quality or s.name != sqlproject.QUALITY_VIEW]
    known = {s.name: s for s in sources}
    unknown = [t for t in tables if t not in known]
    if unknown:
        raise UsageError(f"--tables: {', '.join(unknown)} not built for release {release}; known: {', '.join(known)}")
    return [known[t] for t in tables]
