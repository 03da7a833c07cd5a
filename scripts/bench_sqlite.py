"""Benchmark: `export sqlite` against a plain `executemany` baseline on the same rows, end to end.

    .venv/bin/python scripts/bench_sqlite.py --source /work/benchdata/0.03/2026-10   # build it once, then measure
    .venv/bin/python scripts/bench_sqlite.py --data-dir /tmp/built/data              # a data dir already built

Both write every table of the latest built release, with the same rows (DuckDB reads the Parquet and converts
the values the same way: ISO dates, REAL capital, JSON lists), the same indexes after the load and ANALYZE.
The baseline is what a first loader would write: sqlite3's defaults (rollback journal, synchronous=FULL, 4 KiB
pages, conversion and binding in one thread), one transaction, `executemany` per batch. The export is
`write_sqlite` itself (Arrow batches through the ADBC SQLite driver), audit and row-count checks included. Each
measurement runs in a fresh process (its own peak RSS); rows/s is all rows over the wall time from the start of
the call to the renamed file. CPU seconds (user+sys, every thread) are reported too: on a shared machine they
move less than the wall time.
Speed is judged here, never by timed assertions in tests. Bounded: one table set, `--rounds` rounds (default 1).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def prepare(args: argparse.Namespace) -> Path:
    """The data dir to read: given, or `--source` built into `--work`/data (reused when already built)."""
    if args.data_dir:
        return Path(args.data_dir)
    from cnpj_duck.build import build
    from cnpj_duck.config import load_config
    from cnpj_duck.store import Store

    data = Path(args.work) / "data"
    if Store(data).latest_release() is None:
        print(f"building {args.source} into {data}", file=sys.stderr)
        summary = build(load_config(None, overrides={"data_dir": str(data)}, env={}), source=Path(args.source))
        if summary.failed:
            raise SystemExit(f"build failed: {summary.errors}")
    return data


def measure_export(data: Path, target: Path, settings: dict[str, str]) -> dict[str, float]:
    """In this process: write_sqlite end to end."""
    from cnpj_duck import export_sqlite
    from cnpj_duck.config import load_config
    from cnpj_duck.export_sqlite import write_sqlite
    from cnpj_duck.store import Store

    for name, value in settings.items():  # a variant: e.g. PAGE_SIZE=4096
        setattr(export_sqlite, name, type(getattr(export_sqlite, name))(value))
    config = load_config(None, overrides={"data_dir": str(data)}, env={})
    started, cpu = time.monotonic(), _cpu()
    summary = write_sqlite(Store(data), None, target, config=config, command="bench_sqlite")
    return {
        "seconds": time.monotonic() - started,
        "cpu": _cpu() - cpu,
        "rows": summary.rows,
        "index_seconds": sum(t.index_seconds for t in summary.tables),
        "bytes": target.stat().st_size,
    }


def measure_baseline(data: Path, target: Path, settings: dict[str, str]) -> dict[str, float]:
    """In this process: the same rows with sqlite3's defaults and a plain executemany per batch."""
    import duckdb

    from cnpj_duck.export_sqlite import sqlite_column
    from cnpj_duck.sqlproject import quote_ident
    from cnpj_duck.store import Store
    from cnpj_duck.tables import INDEXED

    store = Store(data)
    release = store.latest_release()
    assert release is not None
    target.unlink(missing_ok=True)
    engine = duckdb.connect(config={"threads": 2})
    db = sqlite3.connect(target)
    started, cpu = time.monotonic(), _cpu()
    rows = 0
    index_seconds = 0.0
    for table in store.tables_of(release):
        files = [str(p) for p in store.part_files(table, release)]
        relation = engine.read_parquet(files, hive_partitioning=False)
        columns = [(c, *sqlite_column(c, str(k))) for c, k in zip(relation.columns, relation.types, strict=True)]
        db.execute(f"CREATE TABLE {quote_ident(table)} ({', '.join(f'{quote_ident(c)} {d}' for c, d, _ in columns)})")
        insert = f"INSERT INTO {quote_ident(table)} VALUES ({', '.join('?' for _ in columns)})"
        for path in files:
            reader = engine.read_parquet(path).project(", ".join(e for _, _, e in columns)).to_arrow_reader(16_384)
            for batch in reader:
                db.executemany(insert, zip(*[c.to_pylist() for c in batch.columns], strict=True))
                rows += batch.num_rows
        db.commit()
        index_started = time.monotonic()
        for cols in INDEXED:
            if all(c in relation.columns for c in cols):
                db.execute(
                    f"CREATE INDEX {quote_ident(table + '_' + '_'.join(cols))} ON {quote_ident(table)} "
                    f"({', '.join(quote_ident(c) for c in cols)})"
                )
        db.commit()
        index_seconds += time.monotonic() - index_started
    db.execute("ANALYZE")
    db.commit()
    db.close()
    return {
        "seconds": time.monotonic() - started,
        "cpu": _cpu() - cpu,
        "rows": rows,
        "index_seconds": index_seconds,
        "bytes": target.stat().st_size,
    }


def _adbc_sqlite() -> str:
    """The ADBC SQLite driver's version and the SQLite it bundles."""
    from importlib.metadata import version

    import adbc_driver_manager
    import adbc_driver_sqlite
    import pyarrow as pa

    with adbc_driver_sqlite.connect(":memory:") as database, adbc_driver_manager.AdbcConnection(database) as con:
        with adbc_driver_manager.AdbcStatement(con) as statement:
            statement.set_sql_query("SELECT sqlite_version()")
            handle, _ = statement.execute_query()
            bundled = pa.RecordBatchReader._import_from_c(handle.address).read_all().column(0)[0].as_py()
    return f"adbc-driver-sqlite {version('adbc-driver-sqlite')} (SQLite {bundled})"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(kind: str, data: Path, target: Path) -> dict[str, float]:
    """One measurement in a fresh process, for its own peak RSS."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--data-dir", str(data), "--target", str(target)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _settings(kind: str) -> dict[str, str]:
    """'export:PAGE_SIZE=4096,READ_AHEAD=0' -> {'PAGE_SIZE': '4096', 'READ_AHEAD': '0'}."""
    _, _, spec = kind.partition(":")
    return dict(item.split("=", 1) for item in spec.split(",") if item)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="/work/benchdata/0.03/2026-10", help="a release folder of zips to build")
    parser.add_argument("--work", default=str(ROOT / "data" / "bench" / "sqlite"), help="where to build and write")
    parser.add_argument("--data-dir", help="a data dir with a release built (skips the build)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="also measure the export with module settings changed, e.g. PAGE_SIZE=4096,READ_AHEAD=0",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure = measure_baseline if args.child == "baseline" else measure_export
        result = measure(Path(args.data_dir), Path(args.target), _settings(args.child))
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    data = prepare(args)
    out = Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    kinds = [*([] if args.skip_baseline else ["baseline"]), "export", *(f"export:{v}" for v in args.variant)]
    results: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    for n in range(args.rounds):
        for kind in kinds if n % 2 == 0 else kinds[::-1]:  # alternate which goes first
            target = out / "bench.db"
            results[kind].append(_child(kind, data, target))
            target.unlink()
    print(
        f"machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version} (stdlib: the baseline, the export's indexes), {_adbc_sqlite()} (the "
        f"export's load); load average {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    width = max(len(k) for k in kinds)
    print(
        f"{'':{width}} {'rows':>11} {'wall s':>8} {'rows/s':>9} {'CPU s':>7} {'rows/CPU s':>10} {'peak RSS MB':>11} "
        f"{'file MB':>8} {'index s':>8}"
    )
    for kind, runs in results.items():

        def median(key: str, runs: list[dict[str, float]] = runs) -> float:
            return statistics.median(r[key] for r in runs)

        rows = median("rows")
        print(
            f"{kind:{width}} {rows:>11,.0f} {median('seconds'):>8.1f} {rows / median('seconds'):>9,.0f} "
            f"{median('cpu'):>7.1f} {rows / median('cpu'):>10,.0f} {median('peak_rss_mb'):>11,.0f} "
            f"{median('bytes') / 1e6:>8,.0f} {median('index_seconds'):>8.1f}"
        )
    if "baseline" in results:
        base = statistics.median(r["seconds"] for r in results["baseline"])
        for kind in kinds[1:]:
            ratio = base / statistics.median(r["seconds"] for r in results[kind])
            print(f"{kind} / baseline throughput: {ratio:.2f}x (median of {args.rounds} round(s))")


if __name__ == "__main__":
    main()
