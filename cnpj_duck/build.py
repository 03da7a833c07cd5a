"""`build`: a release folder of zips in, one typed Parquet dataset per table out, every row audited."""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from . import __version__, interrupts
from .audit import Audit, RunScope, TableScope
from .build_ingest import FileIngest
from .catalogdb import Journal
from .config import Config
from .errors import (
    CnpjDuckError,
    SourceError,
    SqlError,
    UsageError,
)
from .layout import FAMILIES
from .progress import NullProgress, Progress
from .source import ReleaseFolder, SourceFile, member_size, resolve_release, scan_release
from .sqlproject import MACROS_FILE, Transform, load_transforms, order_transforms
from .store import CATALOG_NAME, Store, link_or_copy
from .threads import run_pool
from .transform import connect_engine, write_derived


@dataclass(frozen=True)
class TableResult:
    """How one output table fared in a build."""

    name: str
    status: str
    files: int
    rows_read: int
    rows_written: int
    rows_rejected: int
    values_nulled: dict[str, int]
    seconds: float
    parquet_bytes: int
    error: str | None = None
    rows_in_output: int = 0  # rows in the published partition, including files skipped as unchanged
    note: str | None = None


@dataclass(frozen=True)
class BuildSummary:
    """The outcome of `build`: per table, plus warnings about the release folder."""

    run_id: int
    release: str
    status: str
    tables: tuple[TableResult, ...]
    warnings: tuple[str, ...]
    seconds: float
    output_dir: Path
    partial: bool = False  # a development run (--limit-rows, --max-files-per-table)

    @property
    def failed(self) -> bool:
        return self.status != "succeeded"

    @property
    def errors(self) -> list[str]:
        return [f"{t.name}: {t.error}" for t in self.tables if t.status == "failed" and t.error]


def sha256_of(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def transform_fingerprint(transform: Transform, config: Config) -> str:
    """Changes when the SQL, the shared macros, the Parquet settings or cnpj-duck change: then outputs are rebuilt."""
    macros = config.sql_dir.file(MACROS_FILE)
    text = "\0".join(
        [
            __version__,
            transform.sql,
            macros.read_text(encoding="utf-8") if macros else "",
            config.parquet_compression,
            str(config.parquet_row_group_size),
        ]
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _FilePlan:
    """What every file of one table shares: where it goes and what is current."""

    transform: Transform
    release: str
    final: Path
    staged: Path
    current: dict[str, Any] | None
    fingerprint: str


@dataclass(frozen=True)
class _FileOutcome:
    part: str
    entry: dict[str, Any]
    nulled: dict[str, int]
    skipped: bool


class Builder:
    """One build: the catalog and audit, the transform engine, and the release being built."""

    def __init__(
        self,
        config: Config,
        progress: Progress,
        force: bool,
        limit_rows: int | None = None,
        max_files: int | None = None,
    ) -> None:
        self.config = config
        self.progress = progress
        self.limit_rows = limit_rows
        self.max_files = max_files
        self.partial = limit_rows is not None or max_files is not None
        self.cut: set[str] = set()  # tables of which a development run left rows or files out
        # A partial (development) run neither reuses outputs nor is reused: it may have read part of a file.
        self.force = force or self.partial
        self.store = Store(config.data_dir)
        self.staging: Path | None = None  # this run's own, made once the lock is held
        self.stop = threading.Event()  # set on Ctrl-C: every file worker stops at its next batch
        self.ingest = FileIngest(config, progress, self.stop, limit_rows, self.cut)
        self.sizes: dict[Path, int] = {}

    def run(self, release: str, folder: Path, tables: list[str] | None, command: str) -> BuildSummary:
        started = time.monotonic()
        config = self.config
        engine = connect_engine(config.threads, config.memory_limit, config.data_dir / ".tmp", config.sql_dir)
        try:
            transforms = load_transforms(config.sql_dir, engine)
            wanted = self._select(transforms, tables)
            scan = scan_release(release, folder)
            families = [name for name, t in wanted.items() if t.family is not None]
            if families and not any(f.family.name in wanted for f in scan.files):
                what = "release file" if len(families) == len(FAMILIES) else f"file of {', '.join(families)}"
                raise UsageError(
                    f"{folder}: no {what} here (zips such as Empresas0.zip or Cnaes.zip); "
                    "pass --source the folder that holds the release's zips"
                )
            for warning in scan.warnings:
                self.progress.message(warning, level="warning")
            with self.store.writer_lock(command):
                self.store.recover()
                journal = Journal(self.store, notify=lambda text: self.progress.message(text, level="warning"))
                results: list[TableResult] = []
                try:
                    run = self._run_audited(Audit(journal), engine, wanted, scan, release, command, results)
                finally:
                    journal.close()
                    if self.staging is not None:
                        self.store.drop_staging(self.staging)
                warnings = [*scan.warnings, *self._refresh_catalog()]
            return BuildSummary(
                run.id,
                release,
                run.status,
                tuple(results),
                tuple(warnings),
                time.monotonic() - started,
                config.data_dir / "parquet",
                self.partial,
            )
        finally:
            engine.close()

    def _run_audited(
        self,
        audit: Audit,
        engine: duckdb.DuckDBPyConnection,
        wanted: dict[str, Transform],
        scan: ReleaseFolder,
        release: str,
        command: str,
        results: list[TableResult],
    ) -> RunScope:
        """The build's run in the audit: every table in order, their results appended to `results`."""
        audit.abandon_leftovers()
        with audit.run(command, release, self.config.redacted(), __version__, partial=self.partial) as run:
            self.staging = self.store.staging(run.id)
            files = [f for f in scan.files if f.family.name in wanted]
            if self.max_files is not None:
                self.cut |= {f.family.name for f in files if f.index >= self.max_files}
                files = [f for f in files if f.index < self.max_files]
            self.sizes = {f.path: member_size(f.path) for f in files}  # one look in each zip, reused
            total = sum(self.sizes.values())
            self.progress.start("build", total=total, unit="bytes", release=release, run_id=run.id)
            for transform in wanted.values():
                mine = [f for f in files if f.family.name == transform.name]
                with run.table(transform.name, release) as t:
                    t0 = time.monotonic()
                    try:
                        if transform.family is not None:
                            nulled = self._build_family(engine, t, transform, mine, release)
                        else:
                            nulled = self._build_derived(engine, t, transform, release)
                    except (CnpjDuckError, OSError) as e:
                        if interrupts.is_interrupt(e):  # the error of the work Ctrl-C stopped: the run stops
                            raise
                        t.fail(str(e))
                        nulled = {}
                results.append(self._result(t, len(mine), nulled, time.monotonic() - t0, release))
            self.progress.finish("build", status="failed" if run.failed_children else "succeeded")
        return run

    def _refresh_catalog(self) -> list[str]:
        """Point the catalog's views at what is published now; a failure is a warning, the build stands."""
        from .catalog import refresh_catalog

        try:
            refreshed = refresh_catalog(self.config.data_dir, self.config.sql_dir, self.config.ibge_path)
            problems = [f"catalog view not created: {p}" for p in refreshed.problems]
            if refreshed.mixed:
                problems.append(refreshed.mixed)
        except (CnpjDuckError, duckdb.Error, OSError) as e:
            problems = [
                f"{CATALOG_NAME}: views not refreshed ({str(e).strip().splitlines()[0]}); the outputs "
                "are built: fix this and build again (unchanged tables are skipped)"
            ]
        for problem in problems:
            self.progress.message(problem, level="warning")
        return problems

    def _select(self, transforms: dict[str, Transform], tables: list[str] | None) -> dict[str, Transform]:
        ordered = order_transforms(transforms)
        if tables is None:
            return {t.name: t for t in ordered}
        unknown = [t for t in tables if t not in transforms]
        if unknown:
            raise UsageError(
                f"--tables: no transform for {', '.join(unknown)} in {self.config.sql_dir}; "
                f"known: {', '.join(sorted(transforms))}"
            )
        return {t.name: t for t in ordered if t.name in tables}

    def _result(self, t: TableScope, files: int, nulled: dict[str, int], seconds: float, release: str) -> TableResult:
        c = t.counts
        manifest = self.store.manifest(t.columns["table_name"], release)
        total = sum(p["rows"] for p in manifest["parts"].values()) if manifest else 0
        return TableResult(
            t.columns["table_name"],
            t.status,
            files,
            c["rows_read"],
            c["rows_written"],
            c["rows_rejected"],
            nulled,
            seconds,
            c["bytes_out"],
            t.error,
            total,
            t.note,
        )

    def _build_family(
        self,
        engine: duckdb.DuckDBPyConnection,
        t: TableScope,
        transform: Transform,
        files: list[SourceFile],
        release: str,
    ) -> dict[str, int]:
        if not files:
            t.outcome = "skipped"
            t.note = f"no {transform.name} files in the release folder"
            return {}
        final = self.store.partition(transform.name, release)
        fingerprint = transform_fingerprint(transform, self.config)
        current = None if self.force else self.store.manifest(transform.name, release)
        if current is not None and (current.get("fingerprint") != fingerprint or current.get("partial")):
            current = None  # the SQL or cnpj-duck changed, or a dev run left part of it: every file is rebuilt
        assert self.staging is not None
        staged = self.staging / transform.name / f"release={release}"
        staged.mkdir(parents=True, exist_ok=True)
        plan = _FilePlan(transform, release, final, staged, current, fingerprint)
        outcomes = self._run_files(engine, t, plan, files)
        if t.failed_children or t.interrupted_children:
            return {}
        parts = {o.part: o.entry for o in outcomes}
        nulled: dict[str, int] = {}
        for o in outcomes:
            for name, count in o.nulled.items():
                nulled[name] = nulled.get(name, 0) + count
        skipped = sum(o.skipped for o in outcomes)
        if current is not None and skipped == len(files) and parts == current["parts"]:
            t.outcome = "skipped"
            t.note = f"all {len(files)} files unchanged since the output was built; --force rebuilds"
            t.set(output_path=str(final))
            self.store.drop_kept(transform.name, release)
            return nulled
        self._publish(
            t, staged, transform.name, release, {"fingerprint": fingerprint, "run_id": t.run_id, "parts": parts}
        )
        self.store.drop_kept(transform.name, release)
        return nulled

    def _run_files(
        self, engine: duckdb.DuckDBPyConnection, t: TableScope, plan: _FilePlan, files: list[SourceFile]
    ) -> list[_FileOutcome]:
        """Build a table's files, `parallel_files` at a time; Ctrl-C stops them all and marks them interrupted."""
        calls = [functools.partial(self._one_file, engine, t, plan, src) for src in files]
        outcomes = run_pool(calls, self.config.parallel_files, "cnpj-duck-file", self.stop.set)
        return [o for o in outcomes if o is not None]

    def _one_file(
        self, engine: duckdb.DuckDBPyConnection, t: TableScope, plan: _FilePlan, src: SourceFile
    ) -> _FileOutcome | None:
        """One zip into one part file (or a link to the current part when the zip is unchanged)."""
        if self.stop.is_set():
            return None
        part = f"part-{src.index}.parquet"
        try:
            with t.file(
                src.path.name, release=plan.release, zip_path=str(src.path), zip_size=src.path.stat().st_size
            ) as f:
                if src.problem:
                    raise SourceError(src.problem, path=src.path.name)
                sha = sha256_of(src.path)
                f.set(sha256=sha, output_path=str(plan.final / part))
                previous = (plan.current or {}).get("parts", {}).get(part)
                if previous and previous["zip_name"] == src.path.name and previous["sha256"] == sha:
                    link_or_copy(plan.final / part, plan.staged / part)
                    f.outcome = "skipped"
                    f.note = f"unchanged since run {previous['run_id']} (same sha256 and transform)"
                    self.progress.advance("build", self.sizes[src.path])
                    return _FileOutcome(part, previous, {}, True)
                kept = None if self.force else self.store.kept_part(plan.transform.name, plan.release, part)
                if kept and (kept[1]["zip_name"], kept[1]["sha256"], kept[1]["fingerprint"]) == (
                    src.path.name,
                    sha,
                    plan.fingerprint,
                ):
                    link_or_copy(kept[0], plan.staged / part)
                    f.outcome = "skipped"
                    f.note = f"built by run {kept[1]['run_id']}, which stopped before publishing the table"
                    self.progress.advance("build", self.sizes[src.path])
                    entry = {k: kept[1][k] for k in ("zip_name", "sha256", "rows", "run_id")}
                    return _FileOutcome(part, entry, kept[1].get("nulled", {}), True)
                cursor = interrupts.register(engine.cursor())  # Ctrl-C interrupts its query (interrupts.py)
                try:
                    assert self.staging is not None
                    spill = self.staging / ".sort"  # the run's own: removed with it, or by the next start if killed
                    rows, nulled = self.ingest.file(cursor, f, plan.transform, src, plan.staged / part, spill)
                finally:
                    cursor.close()
                entry = {"zip_name": src.path.name, "sha256": sha, "rows": rows, "run_id": t.run_id}
                if not self.partial:  # kept until the table is published: a rerun after Ctrl-C starts from here
                    self.store.keep_part(
                        plan.transform.name,
                        plan.release,
                        plan.staged / part,
                        {**entry, "fingerprint": plan.fingerprint, "nulled": nulled},
                    )
                return _FileOutcome(part, entry, nulled, False)
        except Exception as e:  # recorded as the file's failure by its scope; the other files go on
            if not interrupts.is_interrupt(e):  # after a Ctrl-C its scope says `interrupted`; no error line
                self.progress.message(str(e) or type(e).__name__, level="error")
            return None

    def _publish(self, t: TableScope, staged: Path, table: str, release: str, manifest: dict[str, Any]) -> None:
        # A development run's table is partial when rows or files were left out of it; a derived one, always.
        partial = self.partial and (table in self.cut or "inputs" in manifest)
        manifest = {"table": table, "release": release, "partial": partial, **manifest}
        final = self.store.publish(staged, table, release, manifest)
        t.set(output_path=str(final))

    def _build_derived(
        self, engine: duckdb.DuckDBPyConnection, t: TableScope, transform: Transform, release: str
    ) -> dict[str, int]:
        inputs: dict[str, list[Path]] = {}
        digests: dict[str, str] = {}
        for dep in sorted(transform.depends):
            files = self.store.part_files(dep, release)
            if not files:
                raise SqlError(
                    f"{transform.path}: reads {dep}, which has no output for release {release}; build {dep} first"
                )
            inputs[dep] = files
            # what the input was built from (its manifest, as stored), not when: a rebuilt input rebuilds this
            manifest = json.dumps(self.store.manifest(dep, release), sort_keys=True)
            digests[dep] = hashlib.sha256(manifest.encode("utf-8")).hexdigest()
        final = self.store.partition(transform.name, release)
        fingerprint = transform_fingerprint(transform, self.config)
        current = None if self.force else self.store.manifest(transform.name, release)
        if (
            current
            and current.get("fingerprint") == fingerprint
            and current.get("inputs") == digests
            and not current.get("partial")
        ):
            t.outcome = "skipped"
            t.note = "its SQL and the tables it reads are unchanged since the output was built; --force rebuilds"
            t.set(output_path=str(final))
            return {}
        assert self.staging is not None
        staged = self.staging / transform.name / f"release={release}"
        staged.mkdir(parents=True, exist_ok=True)
        with t.file(transform.path.name, release=release) as f:
            written = write_derived(
                engine,
                transform,
                inputs,
                staged / "part-0.parquet",
                self.config.parquet_compression,
                self.config.parquet_row_group_size,
            )
            f.add(rows_read=written.rows, rows_written=written.rows, bytes_out=written.bytes)
            f.set(output_path=str(final / "part-0.parquet"))
        parts = {
            "part-0.parquet": {
                "zip_name": transform.path.name,
                "sha256": fingerprint,
                "rows": written.rows,
                "run_id": t.run_id,
            }
        }
        self._publish(
            t,
            staged,
            transform.name,
            release,
            {"fingerprint": fingerprint, "run_id": t.run_id, "parts": parts, "inputs": digests},
        )
        return {}


def build(
    config: Config,
    *,
    release: str | None = None,
    source: Path | None = None,
    tables: list[str] | None = None,
    force: bool = False,
    progress: Progress | None = None,
    command: str = "build",
    limit_rows: int | None = None,
    max_files: int | None = None,
) -> BuildSummary:
    """Build a release into Parquet under <data_dir>/parquet; returns a summary (check `.failed`).

    `limit_rows` and `max_files` make a quick development run: it reads about that many rows of each file
    and the first files of each table, and is recorded as partial.
    """
    rel, folder = resolve_release(config, release, source)
    builder = Builder(config, progress or NullProgress(), force, limit_rows, max_files)
    return builder.run(rel, folder, tables or config.table_list(), command)
