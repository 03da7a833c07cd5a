"""What holds a build's memory: samples the process every 0.1 s during an in-process `cnpj-duck build` (issue 13).

    .venv/bin/python scripts/memprobe.py /work/benchdata/0.1/2026-10 --data-dir /tmp/probe-data [--csv out.csv]
    .venv/bin/python scripts/memprobe.py SOURCE --data-dir DIR --set memory_limit=512MB   # any config override

Each sample has the resident size (VmRSS), what Arrow's default pool has allocated (pyarrow.total_allocated_bytes),
what DuckDB's buffer manager holds (duckdb_memory(), the build's engine), what glibc's malloc has handed out and
keeps free (mallinfo2), the rows the key sorters hold, and which files are being built. It prints the peak sample,
the largest RSS while each file was built, and the time series to --csv. Measuring costs a little CPU (the sampler
and the wrappers), so CPU and wall figures come from scripts/bench.py, not from here.
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any

MB = 1 << 20


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def _glibc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
        return libc
    except (OSError, AttributeError):
        return None


def _rss() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a release folder of zips")
    parser.add_argument("--data-dir", type=Path, required=True, help="a scratch data dir (emptied first)")
    parser.add_argument("--csv", type=Path, help="write every sample here")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override")
    parser.add_argument("--tables", help="only these tables (comma-separated)")
    parser.add_argument("--sort-mb", type=int, help="(experiment) the sorter's budget per file, in MB")
    parser.add_argument("--jemalloc-decay-ms", type=int, help="(experiment) jemalloc's decay of freed pages")
    parser.add_argument("--trim", action="store_true", help="(experiment) malloc_trim after each spill and sort")
    args = parser.parse_args()

    import shutil

    import duckdb
    import pyarrow as pa

    import cnpj_duck.build as build_module
    import cnpj_duck.build_ingest as build_ingest
    import cnpj_duck.sorter as sorter_module
    from cnpj_duck.config import load_config

    shutil.rmtree(args.data_dir, ignore_errors=True)
    overrides: dict[str, Any] = {"data_dir": str(args.data_dir)}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = value
    if args.tables:
        overrides["tables"] = args.tables
    config = load_config(None, overrides=overrides, env={})

    engines: list[duckdb.DuckDBPyConnection] = []
    connect = build_module.connect_engine

    def connect_engine(*a: Any, **k: Any) -> duckdb.DuckDBPyConnection:
        con = connect(*a, **k)
        engines.append(con)
        return con

    build_module.connect_engine = connect_engine  # type: ignore[assignment]

    sorters: weakref.WeakSet[Any] = weakref.WeakSet()
    init = sorter_module.KeySorter.__init__

    def sorter_init(self: Any, *a: Any, **k: Any) -> None:
        init(self, *a, **k)
        sorters.add(self)

    sorter_module.KeySorter.__init__ = sorter_init  # type: ignore[method-assign]
    # Rows taken out of `held` to be sorted stay alive until the spill or the ordered output ends: counted too.
    take_held, spill, ordered = (
        sorter_module.KeySorter._take_held,
        sorter_module.KeySorter._spill,
        sorter_module.KeySorter.ordered,
    )

    def sorter_take_held(self: Any) -> Any:
        self.probe_taken = self.held_bytes
        return take_held(self)

    def sorter_spill(self: Any) -> None:
        try:
            spill(self)
        finally:
            self.probe_taken = 0
            self.probe_runs = len(self.runs)

    def sorter_ordered(self: Any) -> Any:
        self.probe_merging = bool(self.runs)
        try:
            yield from ordered(self)
        finally:
            self.probe_taken = 0
            self.probe_merging = False

    if args.trim:
        libc_trim = _glibc()
        close = sorter_module.KeySorter.close

        def trimmed_spill(self: Any) -> None:
            sorter_spill(self)
            libc_trim.malloc_trim(0)

        def trimmed_close(self: Any) -> None:
            close(self)
            libc_trim.malloc_trim(0)

        sorter_module.KeySorter._spill = trimmed_spill  # type: ignore[method-assign]
        sorter_module.KeySorter.close = trimmed_close  # type: ignore[method-assign]
    else:
        sorter_module.KeySorter._spill = sorter_spill  # type: ignore[method-assign]
    sorter_module.KeySorter._take_held = sorter_take_held  # type: ignore[method-assign]
    sorter_module.KeySorter.ordered = sorter_ordered  # type: ignore[method-assign]

    active: set[str] = set()
    file_peaks: dict[str, int] = {}
    run_file = build_ingest.FileIngest.file

    def ingest_file(self: Any, engine: Any, f: Any, transform: Any, src: Any, *a: Any) -> Any:
        name = f"{transform.name}/{src.path.name}"
        active.add(name)
        try:
            return run_file(self, engine, f, transform, src, *a)
        finally:
            active.discard(name)

    if args.sort_mb:
        ingest_init = build_ingest.FileIngest.__init__

        def sized_init(self: Any, *a: Any, **k: Any) -> None:
            ingest_init(self, *a, **k)
            self.sort_bytes = args.sort_mb * MB

        build_ingest.FileIngest.__init__ = sized_init  # type: ignore[method-assign]
    build_ingest.FileIngest.file = ingest_file  # type: ignore[method-assign]

    libc = _glibc()
    samples: list[dict[str, Any]] = []
    done = threading.Event()
    started = time.monotonic()

    def sample() -> None:
        cursor = None
        while not done.wait(0.1):
            if cursor is None and engines:
                cursor = engines[0].cursor()
            duck = duck_temp = 0
            tags: dict[str, int] = {}
            if cursor is not None:
                try:
                    for tag, used, temp in cursor.execute(
                        "SELECT tag, memory_usage_bytes, temporary_storage_bytes FROM duckdb_memory()"
                    ).fetchall():
                        duck += used
                        duck_temp += temp
                        if used:
                            tags[tag] = used
                except duckdb.Error:
                    pass
            info = libc.mallinfo2() if libc is not None else None
            row = {
                "t": round(time.monotonic() - started, 2),
                "rss": _rss(),
                "arrow": pa.total_allocated_bytes(),
                "duckdb": duck,
                "duckdb_temp": duck_temp,
                "malloc_used": (info.uordblks + info.hblkhd) if info else 0,
                "malloc_free": info.fordblks if info else 0,
                "sorter_held": sum(s.held_bytes + getattr(s, "loose_bytes", 0) for s in list(sorters)),
                "sorter_taken": sum(getattr(s, "probe_taken", 0) for s in list(sorters)),
                "sorters": " ".join(
                    f"{s.key}:{len(s.runs)}runs{'+merge' if getattr(s, 'probe_merging', False) else ''}"
                    for s in list(sorters)
                    if s.held_bytes or getattr(s, "probe_taken", 0) or s.runs
                ),
                "files": " ".join(sorted(active)),
                "duck_tags": " ".join(f"{k}={v // MB}" for k, v in sorted(tags.items(), key=lambda kv: -kv[1])),
            }
            samples.append(row)
            for name in active:
                file_peaks[name] = max(file_peaks.get(name, 0), row["rss"])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    from cnpj_duck import memory
    from cnpj_duck.build import build

    memory.choose_arrow_pool()  # what the build does first, so that the line below names the pool it uses
    if args.jemalloc_decay_ms is not None:
        pa.jemalloc_set_decay_ms(args.jemalloc_decay_ms)
    print(
        f"arrow pool: {pa.default_memory_pool().backend_name}; memory_limit {config.memory_limit}, "
        f"parallel_files {config.parallel_files}, threads {config.threads}"
    )
    summary = build(config, source=args.source)
    done.set()
    sampler.join()
    cpu = os.times()
    print(
        f"build {summary.status if hasattr(summary, 'status') else ''} in {time.monotonic() - started:.1f} s, "
        f"CPU {cpu.user + cpu.system:.1f} s (sampler included)"
    )
    if not samples:
        return
    peak = max(samples, key=lambda r: r["rss"])
    print("\npeak sample:")
    for key, value in peak.items():
        print(
            f"  {key}: {value // MB if isinstance(value, int) and key != 't' else value}"
            f"{' MB' if isinstance(value, int) and key != 't' else ''}"
        )
    print("\nlargest RSS (MB) while each file was built (top 15):")
    for name, rss in sorted(file_peaks.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {rss // MB:6d}  {name}")
    if args.csv:
        with args.csv.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(samples[0]))
            w.writeheader()
            w.writerows(samples)


if __name__ == "__main__":
    main()
