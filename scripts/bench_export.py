"""Benchmark: `export postgres` of estabelecimentos-like data against a server-side `COPY ... FROM` file of the
same rows, in the same run, on the same throwaway PostgreSQL cluster.

    .venv/bin/python scripts/bench_export.py --scale 0.03          # ~2 M rows: generate, build, measure
    .venv/bin/python scripts/bench_export.py --data-dir data/bench/query-0.05-1/data   # reuse a built release

Both loads go into a table without indexes; the time to add the primary key, the indexes and ANALYZE is
reported on its own (the exporter does it on its staging table before the swap). The exporter's rows/s is its
load phase: from the staging table's creation to the commit of its rows (Parquet read, Arrow conversion,
adbc_ingest). The COPY file is written by the server from the exported table, so both load exactly the same
rows. Each round runs both, alternating which goes first; the median is reported. Target: exporter/COPY >= 0.7.
Speed is judged here, never by timed assertions in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnpj_duck.build import build  # noqa: E402
from cnpj_duck.config import load_config  # noqa: E402
from cnpj_duck.export import export_postgres  # noqa: E402
from tests.pg import PgServer, start_server, stop_server  # noqa: E402

TABLE = "estabelecimentos"


def prepare_data(args: argparse.Namespace) -> Path:
    """A data dir with estabelecimentos built: given, or generated and built under data/bench/ (reused)."""
    if args.data_dir:
        return Path(args.data_dir)
    from cnpj_duck.sample import generate_release

    root = ROOT / "data" / "bench" / f"export-{args.scale:g}-{args.seed}"
    data = root / "data"
    if (data / "parquet" / TABLE).is_dir():
        return data
    raw = root / "raw"
    shutil.rmtree(raw, ignore_errors=True)
    print(f"generating scale {args.scale:g} (estabelecimentos only) in {raw}", file=sys.stderr)
    manifest = generate_release(
        raw, release="2026-10", scale=args.scale, seed=args.seed, workers=2, families=("estabelecimentos",)
    )
    config = load_config(None, overrides={"data_dir": str(data), "tables": TABLE}, env={})
    summary = build(config, source=manifest.folder)
    if summary.failed:
        raise SystemExit(f"build failed: {summary.errors}")
    shutil.rmtree(raw, ignore_errors=True)  # the Parquet is what is measured; the zips only take room
    return data


def run_export(server: PgServer, data: Path, batch_rows: int) -> dict[str, float]:
    config = load_config(None, overrides={"data_dir": str(data)}, env={})
    started = time.perf_counter()
    summary = export_postgres(
        config, server.dsn(), schema="bench", tables=[TABLE], batch_rows=batch_rows, command="bench_export"
    )
    table = summary.tables[0]
    return {
        "rows": table.rows,
        "load_s": table.seconds,
        "index_s": table.index_seconds,
        "total_s": time.perf_counter() - started,
    }


def run_copy(server: PgServer, copy_file: str) -> dict[str, float]:
    """Server-side COPY of the file into an identical table without indexes, then the same indexes + ANALYZE."""
    server.psql(
        "DROP TABLE IF EXISTS bench.copy_target; CREATE TABLE bench.copy_target "
        f"(LIKE bench.{TABLE} INCLUDING COMMENTS)"
    )
    started = time.perf_counter()
    server.psql(f"COPY bench.copy_target FROM '{copy_file}'")
    load = time.perf_counter() - started
    rows = int(server.psql("SELECT count(*) FROM bench.copy_target"))
    indexes = server.psql(
        "SELECT string_agg(pg_get_indexdef(indexrelid), ';' ORDER BY indexrelid) FROM pg_index "
        f"WHERE indrelid = 'bench.{TABLE}'::regclass"
    )
    started = time.perf_counter()
    for n, definition in enumerate(filter(None, indexes.split(";"))):
        columns = definition[definition.index(" USING ") :]
        server.psql(f"SET maintenance_work_mem = '256MB'; CREATE INDEX copy_target_{n} ON bench.copy_target{columns}")
    server.psql("ANALYZE bench.copy_target")
    index = time.perf_counter() - started
    server.psql("DROP TABLE bench.copy_target")
    return {"rows": rows, "load_s": load, "index_s": index}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.03, help="release scale to generate (0.03 = ~2 M rows)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", help="a data dir with estabelecimentos already built (skips generation)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-rows", type=int, default=None, help="rows per Arrow batch (default: the exporter's)")
    args = parser.parse_args()

    data = prepare_data(args)
    from cnpj_duck.export import DEFAULT_BATCH_ROWS

    batch_rows = args.batch_rows or DEFAULT_BATCH_ROWS
    server = start_server()
    try:
        results: dict[str, list[dict[str, float]]] = {"export": [], "copy": []}
        copy_file = str(server.root / "copy.txt")
        first = run_export(server, data, batch_rows)  # also the table whose rows the COPY file holds
        server.psql(f"COPY bench.{TABLE} TO '{copy_file}'")
        print(f"warm-up export: {first['rows']:,} rows, load {first['load_s']:.1f}s", file=sys.stderr)
        for n in range(args.rounds):
            order = ("export", "copy") if n % 2 else ("copy", "export")
            for what in order:
                result = run_export(server, data, batch_rows) if what == "export" else run_copy(server, copy_file)
                results[what].append(result)
                print(
                    f"round {n + 1} {what}: {result['rows']:,} rows, load {result['load_s']:.2f}s "
                    f"({result['rows'] / result['load_s']:,.0f} rows/s), index+analyze {result['index_s']:.1f}s",
                    file=sys.stderr,
                )
    finally:
        stop_server(server)

    def median(what: str, key: str) -> float:
        return statistics.median(r[key] for r in results[what])

    rows = results["export"][0]["rows"]
    export_rate = rows / median("export", "load_s")
    copy_rate = rows / median("copy", "load_s")
    load = os.getloadavg()
    print(
        f"\n{rows:,} estabelecimentos rows, {args.rounds} rounds (median), batch_rows {batch_rows:,}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print("| load | rows/s | load s | index + ANALYZE s |")
    print("|---|---|---|---|")
    print(
        f"| cnpj-duck export (adbc_ingest) | {export_rate:,.0f} | {median('export', 'load_s'):.2f} | "
        f"{median('export', 'index_s'):.1f} |"
    )
    print(
        f"| server-side COPY FROM file | {copy_rate:,.0f} | {median('copy', 'load_s'):.2f} | "
        f"{median('copy', 'index_s'):.1f} |"
    )
    print(
        f"ratio export/COPY: {export_rate / copy_rate:.2f} (target >= 0.7); whole export (checks, load, indexes, "
        f"swap): {median('export', 'total_s'):.1f}s"
    )
    print(
        json.dumps(
            {
                "rows": rows,
                "export_rows_per_s": round(export_rate),
                "copy_rows_per_s": round(copy_rate),
                "ratio": round(export_rate / copy_rate, 3),
                "rounds": results,
                "load_average": load,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
