"""`prune`: remove built releases beyond the newest N (their Parquet and manifests); the audit rows stay.

A release that the last successful export put in Postgres is kept whatever N says: it is what the exported
tables were made from, and `diff` against it must stay possible.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from .catalogdb import open_catalog
from .config import Config
from .errors import UsageError
from .store import Store


@dataclass(frozen=True)
class PruneResult:
    """What a prune removed (or, dry, would remove) and what it kept."""

    removed: tuple[str, ...]
    kept: tuple[str, ...]
    protected: dict[str, str]  # release -> why it was kept beyond N
    freed_bytes: int
    dry_run: bool
    warnings: tuple[str, ...] = ()


def exported_releases(store: Store) -> dict[str, str]:
    """Releases that the newest successful export of each Postgres schema holds, with why."""
    if not store.catalog_path.is_file():
        return {}
    with open_catalog(store, read_only=True) as con:
        rows = con.execute(
            "SELECT release, run_id, schema_name FROM (SELECT release, run_id, "
            "json_extract_string(config, '$.\"export.schema\"') AS schema_name, row_number() OVER (PARTITION BY "
            "json_extract_string(config, '$.\"export.schema\"') ORDER BY run_id DESC) AS n FROM audit_runs "
            "WHERE status = 'succeeded' AND command LIKE '%export postgres%' AND release IS NOT NULL) WHERE n = 1 "
            "ORDER BY run_id"
        ).fetchall()
    return {release: f"in Postgres schema {schema} (export run {run})" for release, run, schema in rows}


def prune(config: Config, keep: int, dry_run: bool = False) -> PruneResult:
    """Remove every built release older than the newest `keep`, except what an export still uses."""
    if keep < 1:
        raise UsageError(f"--keep {keep}: keep at least 1 release")
    store = Store(config.data_dir)
    with store.writer_lock("prune"):
        months = store.releases()
        protected = {r: why for r, why in exported_releases(store).items() if r in months}
        kept = set(months[-keep:]) | set(protected)
        removed = [m for m in months if m not in kept]
        freed = 0
        for month in removed:
            for table in store.tables_of(month):
                folder = store.partition(table, month)
                freed += sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
                if not dry_run:
                    store.manifest_path(table, month).unlink(missing_ok=True)  # not built from here on
                    shutil.rmtree(folder)
                    store.drop_kept(table, month)
            index = store.index_dir(month)
            if index.is_dir():
                freed += sum(p.stat().st_size for p in index.iterdir() if p.is_file())
                if not dry_run:
                    shutil.rmtree(index)
        warnings: list[str] = []
        if removed and not dry_run:
            from .catalog import refresh_catalog

            refreshed = refresh_catalog(config.data_dir, config.sql_dir, config.ibge_path)
            warnings = [f"catalog view not created: {p}" for p in refreshed.problems]
    return PruneResult(
        tuple(removed),
        tuple(sorted(kept)),
        {r: protected[r] for r in sorted(protected) if r not in months[-keep:]},
        freed,
        dry_run,
        tuple(warnings),
    )
