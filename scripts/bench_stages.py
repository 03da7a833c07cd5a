"""Where a build's CPU goes, stage by stage, on whole zips of a release (issue 13).

    .venv/bin/python scripts/bench_stages.py /work/benchdata/0.03/2026-10/Estabelecimentos1.zip [more zips]

Each zip goes through the build's own functions one stage at a time in one thread (DuckDB with one thread too),
every stage over the whole file before the next starts, so each stage's CPU seconds (user + sys of the process)
are its own: inflate, slicing, parse (pyarrow, with its line and quote counts), prepare (trim_padded and the
counts of typed values), the transform in DuckDB (the SQL without its ORDER BY, Arrow in and out), the key sort
and gather, and the Parquet write. Two more lines measure parts of those stages: `crossing` is `SELECT *` of the
raw columns through DuckDB (what passing text through the transform costs), `count` the parse's bytes.count.
The build itself runs these on two cores at once, so its CPU is about the sum, not its wall time.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(stages: dict[str, float], name: str, call: Callable[[], T]) -> T:
    started = cpu()
    result = call()
    stages[name] = stages.get(name, 0.0) + cpu() - started
    return result


def profile(zip_path: Path, stages: dict[str, float], batch_mb: int, sql_dir: Path | None, whole: bool) -> int:
    """Run one zip through every stage, adding each stage's CPU seconds to `stages`; returns its rows."""
    import pyarrow as pa

    from cnpj_duck.ingest import MemberParser, find_member, read_slices
    from cnpj_duck.sorter import KeySorter
    from cnpj_duck.sqlfiles import SqlDir
    from cnpj_duck.sqlproject import load_transforms
    from cnpj_duck.transform import FamilyWriter, _write_tables, connect_engine, statistics_columns
    from cnpj_duck.unzip import open_member

    member = find_member(zip_path)
    with tempfile.TemporaryDirectory() as tmp:
        sql = SqlDir(sql_dir)
        con = connect_engine(1, "2GB", Path(tmp) / "spill", sql)
        transform = load_transforms(sql, con)[member.family.name]
        writer = FamilyWriter(con, transform, "zstd", 122880)

        def inflate() -> bytes:
            with zipfile.ZipFile(zip_path) as zf, open_member(zf, member.member_name) as stream:
                return b"".join(iter(lambda: stream.read(batch_mb << 20), b""))

        data = timed(stages, "inflate", inflate)
        slices = timed(stages, "slice", lambda: list(read_slices(io.BytesIO(data), batch_mb << 20)))
        timed(stages, "  (count: bytes.count of lines)", lambda: [s.count(b"\n") for s in slices])
        parser = MemberParser(member.family, zip_path.name, empty_as_null=True)
        tables = timed(stages, "parse", lambda: [parser.parse(s).table for s in slices])
        prepared = timed(stages, "prepare (trim, counts)", lambda: [writer.prepare(t) for t in tables])
        raw = [t for t, _ in prepared]
        for _, counts in prepared:
            writer.count(counts)

        def through(sql_text: str) -> list[pa.RecordBatch]:
            con.register(transform.raw_name, pa.Table.from_batches([b for t in raw for b in t.to_batches()]))
            try:
                reader = con.sql(sql_text).to_arrow_reader(batch_size=122880)
                return list(reader)
            finally:
                con.unregister(transform.raw_name)

        timed(stages, "  (crossing: SELECT * of raw)", lambda: through(f"SELECT * FROM {transform.raw_name}"))
        assert writer.unordered is not None
        key = writer.unordered[1]
        if whole:
            writer.split = None  # every column through DuckDB, as before passthrough.py

        def run() -> tuple[pa.Schema, list[pa.RecordBatch]]:
            result = writer._run(b for t in raw for b in t.to_batches())
            try:
                return result.schema, list(result)
            finally:
                result.close()

        schema, batches = timed(stages, "transform (DuckDB)", run)
        rows = sum(b.num_rows for b in batches)

        def sort() -> list[pa.Table]:
            sorter = KeySorter(key, schema, 1 << 40, Path(tmp), 122880)
            for b in batches:
                sorter.add(b)
            return list(sorter.ordered())

        ordered = timed(stages, "sort + gather", sort)
        out = Path(tmp) / "out.parquet"
        stats = statistics_columns(transform.name, schema.names)
        timed(
            stages,
            "parquet write",
            lambda: _write_tables(ordered, schema, out, "zstd", 122880, list(writer.typed), None, stats),
        )
        con.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zips", nargs="+", type=Path)
    parser.add_argument("--batch-mb", type=int, default=16)
    parser.add_argument("--whole", action="store_true", help="run every column through DuckDB (no passthrough)")
    parser.add_argument("--sql-dir", type=Path, default=None, help="a sql_dir over the packaged SQL files")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import pyarrow as pa

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    stages: dict[str, float] = {}
    rows = 0
    for path in args.zips:
        rows += profile(path, stages, args.batch_mb, args.sql_dir, args.whole)
    total = sum(v for k, v in stages.items() if not k.startswith(" "))  # the parts measured twice left out
    print(f"{rows:,} rows, {total:.2f} CPU s in the stages ({total / rows * 1e6:.2f} per M rows)")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("| stage | CPU s | per M rows | share |\n|---|---|---|---|")
    for name, seconds in stages.items():
        print(f"| {name} | {seconds:.2f} | {seconds / rows * 1e6:.2f} | {100 * seconds / total:.0f}% |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
