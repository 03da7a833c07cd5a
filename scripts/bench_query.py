"""Benchmark the query side: CNPJ lookups (and diff) on a generated release built at some scale.

    .venv/bin/python scripts/bench_query.py --lookup --scale 0.05            # ~3.3 M establishments
    .venv/bin/python scripts/bench_query.py --lookup --diff --scale 0.05

Generates (once) a release of estabelecimentos, empresas, socios, simples and the lookups under
data/bench/query-<scale>-<seed>/, reusing the estabelecimentos zips of scripts/bench.py's
data/bench/release-<scale>-<seed>/ when they are there, and builds it (the build skips unchanged files).
--lookup times `Lookup.get` for random existing CNPJs (median, p95, max) on one open connection, the
end-to-end `lookup()` call that the CLI makes (connection and views included), and one `cnpj-duck lookup`
process. --diff times `diff` (in a fresh process, for its own peak RSS) twice: against a month derived from the
built one in SQL as real months go (0.5% of keys removed, 2% changed, 1% new; written as partitions, no zips),
and against the generator's next month, where dates are drawn afresh so nearly every row changes (the worst
case). Speed is judged here, never by timed assertions in tests.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIG = ("estabelecimentos", "empresas", "socios", "simples")
LOOKUPS = ("cnaes", "motivos", "municipios", "naturezas", "paises", "qualificacoes")


def prepare(work: Path, release: str, scale: float, seed: int) -> Path:
    """The release's zips under work/raw/<release>/, generated when missing; returns the data dir, built."""
    from cnpj_duck.build import build
    from cnpj_duck.config import load_config
    from cnpj_duck.layout import recognise
    from cnpj_duck.sample import generate_release

    raw = work / "raw" / release
    have = {rec.family.name for p in raw.glob("*.zip") if (rec := recognise(p.name))}
    reuse = ROOT / "data" / "bench" / f"release-{scale}-{seed}" / release
    if "estabelecimentos" not in have and len(list(reuse.glob("Estabelecimentos*.zip"))) == 10:
        raw.mkdir(parents=True, exist_ok=True)
        for zip_path in reuse.glob("Estabelecimentos*.zip"):  # same generator, scale and seed: same bytes
            os.link(zip_path, raw / zip_path.name)
        have.add("estabelecimentos")
    missing = [f for f in (*BIG, *LOOKUPS) if f not in have]
    if missing:
        t0 = time.perf_counter()
        generate_release(raw.parent, release=release, scale=scale, seed=seed, workers=2, families=missing)
        print(f"(generated {', '.join(missing)} for {release} in {time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    data_dir = work / "data"
    config = load_config(None, overrides={"data_dir": str(data_dir)}, env={})
    t0 = time.perf_counter()
    summary = build(config, source=raw)
    if summary.failed:
        raise SystemExit(f"build failed: {summary.errors}")
    rows = {t.name: t.rows_in_output for t in summary.tables}
    print(f"(build of {release}: {time.perf_counter() - t0:.0f}s; rows {rows})", file=sys.stderr)
    return data_dir


def bench_lookup(data_dir: Path, count: int, seed: int, release: str) -> None:
    import duckdb
    import pyarrow.parquet as pq

    from cnpj_duck.config import load_config
    from cnpj_duck.lookup import Lookup, lookup
    from cnpj_duck.store import Store

    config = load_config(None, overrides={"data_dir": str(data_dir)}, env={})
    store = Store(data_dir)
    release = store.resolve_release(release, table="estabelecimentos")
    files = [str(f) for f in store.part_files("estabelecimentos", release)]
    con = duckdb.connect()
    total = con.sql("SELECT count(*) FROM read_parquet(?)", params=[files]).fetchall()[0][0]
    # Random existing CNPJs: a reservoir sample over the whole table, so every part file and row group is hit.
    cnpjs = [
        r[0]
        for r in con.sql(
            f"SELECT cnpj FROM read_parquet(?) USING SAMPLE reservoir({count} ROWS) REPEATABLE ({seed})", params=[files]
        ).fetchall()
    ]
    con.close()
    random.Random(seed).shuffle(cnpjs)
    groups = sum(pq.ParquetFile(f).metadata.num_row_groups for f in files)
    print(
        f"\nlookup: release {release}, {total:,} establishments in {len(files)} files, {groups} row groups; "
        f"{len(cnpjs)} random existing CNPJs"
    )

    t0 = time.perf_counter()
    finder = Lookup(config, release)
    opened = time.perf_counter() - t0
    times = []
    for cnpj in cnpjs:
        t0 = time.perf_counter()
        result = finder.get(cnpj)
        times.append(time.perf_counter() - t0)
        if not result.found:
            raise SystemExit(f"{cnpj} was sampled from the data but not found")
    finder.close()
    once = []
    for cnpj in cnpjs[:20]:
        t0 = time.perf_counter()
        lookup(config, [cnpj], release)
        once.append(time.perf_counter() - t0)
    started = time.perf_counter()
    command = [
        sys.executable,
        "-m",
        "cnpj_duck.cli",
        "--data-dir",
        str(data_dir),
        "lookup",
        "--release",
        release,
        "--format",
        "json",
        cnpjs[0],
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    process = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"cnpj-duck lookup failed: {done.stderr}")
    ms = sorted(t * 1000 for t in times)
    print("| measure | median ms | p95 ms | max ms | n |")
    print("|---|---|---|---|---|")
    print(
        f"| `Lookup.get` (open connection) | {statistics.median(ms):.1f} | {ms[int(0.95 * (len(ms) - 1))]:.1f} "
        f"| {ms[-1]:.1f} | {len(ms)} |"
    )
    one = sorted(t * 1000 for t in once)
    print(
        f"| `lookup()` (connect, views, one CNPJ) | {statistics.median(one):.1f} "
        f"| {one[int(0.95 * (len(one) - 1))]:.1f} | {one[-1]:.1f} | {len(one)} |"
    )
    print(f"| `cnpj-duck lookup --format json` process | {process * 1000:.0f} | | | 1 |")
    print(f"(opening the views: {opened * 1000:.1f} ms)")


# A month as real ones go: 0.5% of keys removed, 2% changed in one or two columns, 1% new (RFB_FORMAT.md §1
# has no public numbers; these are of the order of the monthly openings and status changes).
_EDITS = {
    "estabelecimentos": (
        "cnpj",
        "situacao_cadastral = CASE situacao_cadastral WHEN '02' THEN '08' ELSE '02' END, "
        "data_situacao_cadastral = DATE '2026-11-15'",
    ),
    "empresas": ("cnpj_basico", "capital_social = capital_social + 1"),
    "simples": ("cnpj_basico", "opcao_simples = NOT opcao_simples"),
    "socios": (
        "cnpj_basico || coalesce(cnpj_cpf_socio, '') || coalesce(nome_socio_razao_social, '')",
        "qualificacao_socio = CASE qualificacao_socio WHEN '49' THEN '05' ELSE '49' END",
    ),
}


def derive_release(data_dir: Path, source: str, target: str) -> None:
    """Write release `target` from `source`'s Parquet with known edits (no zips: the partitions and manifests)."""
    import json

    import duckdb

    from cnpj_duck.store import Store

    store = Store(data_dir)
    con = duckdb.connect()
    for table in (*BIG, *LOOKUPS):
        out = store.partition(table, target)
        if store.manifest(table, target) is not None:
            continue
        files = [str(f) for f in store.part_files(table, source)]
        con.read_parquet(files).create_view("src", replace=True)
        columns = con.sql("SELECT * FROM src LIMIT 0").columns
        if table in _EDITS:
            key, change = _EDITS[table]
            sets = dict(part.split(" = ", 1) for part in _split_sets(change))
            edited = ", ".join(
                f"CASE WHEN hash({key}) % 50 = 1 THEN {sets[c]} ELSE {c} END AS {c}" if c in sets else c
                for c in columns
            )
            first = columns[0]  # cnpj or cnpj_basico: an 'N' in front makes a new key
            renamed = ", ".join(f"'N' || substr({c}, 2) AS {c}" if c in ("cnpj", "cnpj_basico") else c for c in columns)
            sql = (
                f"SELECT {edited} FROM src WHERE hash({key}) % 200 <> 0 "
                f"UNION ALL SELECT {renamed} FROM src WHERE hash({key}) % 100 = 2 ORDER BY {first}"
            )
        else:
            sql = "SELECT * FROM src"
        out.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY ({sql}) TO '{out / 'part-0.parquet'}' (FORMAT parquet, COMPRESSION zstd)")
        rows = con.execute(f"SELECT count(*) FROM '{out / 'part-0.parquet'}'").fetchall()[0][0]
        manifest = {
            "table": table,
            "release": target,
            "partial": False,
            "run_id": 0,
            "parts": {
                "part-0.parquet": {"rows": rows, "zip_name": f"derived from {source}", "sha256": "", "run_id": 0}
            },
        }
        store.manifest_path(table, target).parent.mkdir(parents=True, exist_ok=True)
        store.manifest_path(table, target).write_text(json.dumps(manifest), encoding="utf-8")
    con.close()


def _split_sets(change: str) -> list[str]:
    """'a = x, b = y' -> ['a = x', 'b = y'] (commas inside CASE ... END are not separators here)."""
    parts, depth, current = [], 0, ""
    for token in change.split(", "):
        current = f"{current}, {token}" if current else token
        depth += token.count("CASE") - token.count("END")
        if depth == 0:
            parts.append(current)
            current = ""
    return parts


def bench_diff(work: Path, releases: tuple[str, str]) -> None:
    """Time diff in a fresh process, so that its peak RSS is its own."""
    import json

    cmd = [sys.executable, __file__, "--diff-child", str(work / "data"), *releases]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"diff failed:\n{done.stderr}")
    r = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"\ndiff {releases[0]} -> {releases[1]} over {r['rows']:,} rows (both sides): {r['classified']:.1f}s to "
        f"classify every key and name the changed columns, {r['streamed']:.1f}s to stream the {r['records']:,} "
        f"differing records (Arrow batches); peak RSS {r['peak'] / 2**20:,.0f} MB (memory_limit "
        f"{r['memory_limit']})"
    )
    print("| table | rows from | rows to | new | removed | changed | unchanged | duplicate keys |")
    print("|---|---|---|---|---|---|---|---|")
    for t in r["tables"]:
        print(
            f"| {t['table']} | {t['rows_from']:,} | {t['rows_to']:,} | {t['new']:,} | {t['removed']:,} "
            f"| {t['changed']:,} | {t['unchanged']:,} | {t['duplicate_keys']:,} |"
        )


def _diff_child(data_dir: str, from_release: str, to_release: str) -> None:
    import dataclasses
    import json

    from cnpj_duck.config import load_config
    from cnpj_duck.diff import diff

    config = load_config(None, overrides={"data_dir": data_dir}, env={})
    t0 = time.perf_counter()
    result = diff(config, from_release, to_release)
    classified = time.perf_counter() - t0
    t0 = time.perf_counter()
    records = sum(batch.num_rows for batch in result.records().to_arrow_reader(batch_size=10_000))
    streamed = time.perf_counter() - t0
    tables = [dataclasses.asdict(t) for t in result.summary()]
    result.close()
    print(
        json.dumps(
            {
                "classified": classified,
                "streamed": streamed,
                "records": records,
                "tables": tables,
                "rows": sum(t["rows_from"] + t["rows_to"] for t in tables),
                "memory_limit": config.memory_limit,
                "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lookup", action="store_true", help="time CNPJ lookups")
    parser.add_argument("--diff", action="store_true", help="build the next month too and time diff")
    parser.add_argument("--scale", type=float, default=0.05, help="release scale (1 = 66 M establishments)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=200, help="CNPJs to look up")
    parser.add_argument("--work", type=Path, help="default data/bench/query-<scale>-<seed>")
    parser.add_argument("--clean", action="store_true", help="delete the work folder first")
    parser.add_argument("--diff-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.diff_child:
        _diff_child(*args.diff_child)
        return
    if not (args.lookup or args.diff):
        parser.error("pass --lookup and/or --diff")
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench import machine

    work = args.work or ROOT / "data" / "bench" / f"query-{args.scale}-{args.seed}"
    if args.clean:
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {machine()}")
    data_dir = prepare(work, "2026-10", args.scale, args.seed)
    if args.lookup:
        bench_lookup(data_dir, args.count, args.seed, "2026-10")  # as built by cnpj-duck: 10 part files
    if args.diff:
        derive_release(data_dir, "2026-10", "2026-12")  # a typical month: few changes
        bench_diff(work, ("2026-10", "2026-12"))
        prepare(work, "2026-11", args.scale, args.seed)  # the generator's next month: nearly every row changes
        bench_diff(work, ("2026-10", "2026-11"))


if __name__ == "__main__":
    main()
