"""One zip member of a build into one Parquet part: parsed in batches, each batch recorded in the audit, its rows
written through the table's transform; Ctrl-C, --limit-rows and the reject threshold stop it."""

from __future__ import annotations

import json
import threading
from collections.abc import Generator
from pathlib import Path

import duckdb
import pyarrow as pa

from . import interrupts, memory
from .audit import FileScope
from .config import Config
from .errors import RejectThresholdError, SqlError
from .ingest import Batch, BatchFailure, Member, find_member, iter_member
from .progress import Progress
from .source import SourceFile
from .sqlproject import Transform
from .threads import prefetch
from .transform import FamilyWriter


class FileIngest:
    """The build's file workers share this: its settings, its progress, its stop event and its cut tables."""

    def __init__(
        self, config: Config, progress: Progress, stop: threading.Event, limit_rows: int | None, cut: set[str]
    ) -> None:
        self.config = config
        self.progress = progress
        self.stop = stop  # set on Ctrl-C: every file stops at its next batch
        self.limit_rows = limit_rows
        self.cut = cut  # the builder's: tables of which a development run left rows out
        # Small batches make --limit-rows stop close to its number (it stops after the batch that reaches it).
        self.batch_bytes = min(config.batch_mb << 20, 1 << 20) if limit_rows else config.batch_mb << 20
        self.sort_bytes = memory.sort_bytes(config)  # the rows of a file held for sorting
        memory.give_back_freed()
        memory.choose_arrow_pool()

    def file(
        self,
        engine: duckdb.DuckDBPyConnection,
        f: FileScope,
        transform: Transform,
        src: SourceFile,
        out_path: Path,
        spill_dir: Path,
    ) -> tuple[int, dict[str, int]]:
        """One zip's member into `out_path` (rows beyond the sort's memory go to `spill_dir` meanwhile); returns
        the rows written and the values nulled per column."""
        member = find_member(src.path, src.family)
        f.set(member_name=member.member_name)
        task = f"{transform.name}/{src.path.name}"
        self.progress.start(task, total=member.size, unit="bytes", table=transform.name)
        writer = FamilyWriter(engine, transform, self.config.parquet_compression, self.config.parquet_row_group_size)
        failure: list[BaseException] = []
        batches = self._batches(f, member, writer, task, failure)
        try:
            written = writer.write(batches, out_path, self.sort_bytes, spill_dir)
        except BaseException as e:
            error = failure[0] if failure else e
            if interrupts.is_interrupt(error) or self.stop.is_set():
                f.discard_batches("interrupted by the user", status="interrupted")
                raise KeyboardInterrupt from None
            f.discard_batches(str(error) or type(error).__name__)  # none of the file's rows reached the output
            if error is e and isinstance(e, duckdb.Error):
                raise SqlError(f"{transform.path} on {src.path.name}: {str(e).strip().splitlines()[0]}") from None
            raise error from None
        finally:
            batches.close()
        f.add(bytes_out=written.bytes)
        f.set(values_nulled=json.dumps(written.nulled, sort_keys=True))
        self.progress.finish(task, rows=written.rows, rejected=f.counts["rows_rejected"])
        return written.rows, written.nulled

    def _batches(
        self, f: FileScope, member: Member, writer: FamilyWriter, task: str, failure: list[BaseException]
    ) -> Generator[pa.RecordBatch, None, None]:
        """Record each parsed batch in the audit and pass its rows on; errors are kept for the caller to raise."""
        limit = self.config.max_rejects_per_file
        try:
            prepared = (
                (item, writer.prepare(item.table) if isinstance(item, Batch) else None)
                for item in iter_member(member, self.batch_bytes, empty_as_null=True)
            )
            for item, ready in prefetch(prepared):  # prepared in the reading thread, counted when written
                if self.stop.is_set():
                    with f.batch(item.first_line):
                        raise KeyboardInterrupt
                if isinstance(item, BatchFailure):
                    with f.batch(item.first_line):
                        raise item.error
                with f.batch(item.first_line) as b:
                    b.add(
                        rows_read=item.records,
                        rows_written=item.rows,
                        rows_rejected=len(item.rejects),
                        bytes_in=item.bytes_in,
                    )
                    b.set(last_line=item.last_line)
                    f.record_rejects(b, item.rejects)
                self.progress.advance(task, item.bytes_in, rows=item.rows, rejected=len(item.rejects))
                self.progress.advance("build", item.bytes_in)
                if f.counts["rows_rejected"] > limit:
                    raise RejectThresholdError(
                        f"{f.counts['rows_rejected']} records rejected, more than max_rejects_per_file = "
                        f"{limit}; see `cnpj-duck rejects` or raise the limit in config.yaml",
                        path=member.zip_path.name,
                    )
                assert ready is not None
                table, counts = ready
                writer.count(counts)
                yield from table.to_batches()
                if self.limit_rows is not None and f.counts["rows_written"] >= self.limit_rows:
                    f.note = f"partial: stopped after {f.counts['rows_written']:,} rows (--limit-rows)"
                    self.cut.add(writer.transform.name)
                    return
        except BaseException as e:
            failure.append(e)
            raise
