"""Benchmark: generate a release, time `build`, and time a bare pipeline over the same zips.

    scripts/cnpj-duck sample ...   # not needed: this script generates what it measures
    .venv/bin/python scripts/bench.py --scales 0.005,0.01,0.02 --tables estabelecimentos

Each measurement runs in a fresh subprocess so its peak RSS is its own. The bare pipeline inflates, parses and
writes Parquet (zstd) with the same reader and writer as build but no transforms, sorting or audit: the ratio
build/bare is cnpj-duck's overhead.
Speed is judged here, never by timed assertions in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _child(mode: str, source: str, data_dir: str, tables: str, memory_limit: str) -> None:
    """Runs inside the subprocess: one measurement, printed as JSON on stdout."""
    from cnpj_duck.build import build
    from cnpj_duck.config import load_config
    from cnpj_duck.layout import FAMILIES

    names = list(FAMILIES) if tables == "all" else tables.split(",")
    config = load_config(
        None, overrides={"data_dir": data_dir, "tables": ",".join(names), "memory_limit": memory_limit}, env={}
    )
    started = time.perf_counter()
    if mode in ("build", "build-rich"):
        progress = None
        if mode == "build-rich":  # the rich display drawn at full speed to a (discarded) terminal
            from rich.console import Console

            from cnpj_duck.console import RichProgress

            progress = RichProgress(Console(file=open(os.devnull, "w"), force_terminal=True, width=150))
            progress.__enter__()
        summary = build(config, source=Path(source), progress=progress)
        if progress is not None:
            progress.__exit__(None, None, None)
        if summary.failed:
            raise SystemExit(f"build failed: {summary.errors}")
        rows = sum(t.rows_written for t in summary.tables)
    else:
        rows = _bare(Path(source), Path(data_dir), names, config.threads, memory_limit, config.batch_mb << 20)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # CPU seconds of every thread: steadier than wall time when something else runs on the machine
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": seconds,
                "cpu": usage.ru_utime + usage.ru_stime,
                "peak_rss": usage.ru_maxrss * 1024,
            }
        )
    )


def _bare(source: Path, out: Path, tables: list[str], threads: int, memory_limit: str, batch_bytes: int) -> int:
    """Inflate, parse and write Parquet with nothing else: the floor build is compared with."""
    import duckdb
    import pyarrow as pa

    from cnpj_duck.ingest import Batch, find_member, iter_member, prefetch
    from cnpj_duck.transform import write_parquet

    con = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit, "preserve_insertion_order": False})
    out.mkdir(parents=True, exist_ok=True)
    rows = 0
    for zip_path in sorted(source.glob("*.zip")):
        member = find_member(zip_path)
        if member.family.name not in tables:
            continue
        schema = pa.schema([(c, pa.string()) for c in member.family.columns])
        batches = (
            b
            for item in prefetch(iter_member(member, batch_bytes))
            if isinstance(item, Batch)
            for b in item.table.to_batches()
        )
        con.register("raw", pa.RecordBatchReader.from_batches(schema, batches))
        target = out / f"{zip_path.stem}.parquet"
        written, _ = write_parquet(con.sql("SELECT * FROM raw"), target, "zstd", 122_880)
        con.unregister("raw")
        rows += written
    return rows


def measure(mode: str, source: Path, work: Path, tables: str, memory_limit: str) -> dict:
    data_dir = work / f"data-{mode}"
    shutil.rmtree(data_dir, ignore_errors=True)
    cmd = [sys.executable, __file__, "--child", mode, str(source), str(data_dir), tables, memory_limit]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    shutil.rmtree(data_dir, ignore_errors=True)
    return result


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import duckdb
    import pyarrow

    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, duckdb {duckdb.__version__}, pyarrow {pyarrow.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="0.005,0.01,0.02", help="comma-separated release scales")
    parser.add_argument("--tables", default="estabelecimentos", help="tables to build, or 'all'")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--memory-limit", default="768MB")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "bench")
    parser.add_argument(
        "--progress-cost",
        action="store_true",
        help="also time build with the rich progress display, at the first scale",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each mode for --progress-cost")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return

    from cnpj_duck.layout import FAMILIES
    from cnpj_duck.sample import generate_release

    families = list(FAMILIES) if args.tables == "all" else args.tables.split(",")
    print(f"machine: {machine()}")
    print(f"tables: {args.tables}; memory_limit {args.memory_limit}\n")
    print(
        "| scale | rows | MB zipped | MB unzipped | build s | build rows/s | build MB/s (zip / unzip) "
        "| bare rows/s | build/bare | build peak RSS MB | bare peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for scale in [float(s) for s in args.scales.split(",")]:
        source = args.work / f"release-{scale}-{args.seed}" / "2026-10"
        if not source.is_dir():
            t0 = time.perf_counter()
            generate_release(
                source.parent, release="2026-10", scale=scale, seed=args.seed, workers=2, families=families
            )
            print(f"(generated scale {scale} in {time.perf_counter() - t0:.0f}s)", file=sys.stderr)
        zipped = sum(p.stat().st_size for p in source.glob("*.zip") if _family(p) in families)
        from cnpj_duck.ingest import find_member

        unzipped = sum(find_member(p).size for p in source.glob("*.zip") if _family(p) in families)
        b = measure("build", source, args.work, args.tables, args.memory_limit)
        bare = measure("bare", source, args.work, args.tables, args.memory_limit)
        if not b["rows"] or b["rows"] != bare["rows"]:
            raise SystemExit(f"build wrote {b['rows']} rows and the bare pipeline {bare['rows']}: not comparable")
        rate = b["rows"] / b["seconds"]
        bare_rate = bare["rows"] / bare["seconds"]
        print(
            f"| {scale} | {b['rows']:,} | {zipped / 1e6:,.0f} | {unzipped / 1e6:,.0f} | {b['seconds']:.1f} "
            f"| {rate:,.0f} | {zipped / 1e6 / b['seconds']:.1f} / {unzipped / 1e6 / b['seconds']:.1f} "
            f"| {bare_rate:,.0f} | {rate / bare_rate:.2f} | {b['peak_rss'] / 2**20:,.0f} "
            f"| {bare['peak_rss'] / 2**20:,.0f} |",
            flush=True,
        )
        if args.progress_cost:
            args.progress_cost = False
            _progress_cost(scale, source, args)


def _progress_cost(scale: float, source: Path, args: argparse.Namespace) -> None:
    """Builds with and without the rich display, alternating, `--repeat` times each; medians compared."""
    runs: dict[str, list[dict[str, float]]] = {"build": [], "build-rich": []}
    for _ in range(args.repeat):
        for mode in runs:
            runs[mode].append(measure(mode, source, args.work, args.tables, args.memory_limit))
    plain = {k: statistics.median(r[k] for r in runs["build"]) for k in ("seconds", "cpu")}
    rich = {k: statistics.median(r[k] for r in runs["build-rich"]) for k in ("seconds", "cpu")}
    print(
        f"\nprogress display cost at scale {scale} (median of {args.repeat} alternating runs each): "
        f"wall {plain['seconds']:.2f}s without, {rich['seconds']:.2f}s with the rich display "
        f"({100 * (rich['seconds'] / plain['seconds'] - 1):+.1f}%); CPU {plain['cpu']:.2f}s without, "
        f"{rich['cpu']:.2f}s with ({100 * (rich['cpu'] / plain['cpu'] - 1):+.1f}%)\n",
        flush=True,
    )


def _family(path: Path) -> str | None:
    from cnpj_duck.layout import recognise

    rec = recognise(path.name)
    return rec.family.name if rec else None


if __name__ == "__main__":
    main()
