"""Benchmark `cnpj-duck search` (issue 12, item 12): the name index's making, then whole search commands.

    .venv/bin/python scripts/bench_search.py --data-dir /path/to/data              # a data dir already built
    .venv/bin/python scripts/bench_search.py --data-dir /path/to/data --make-index # remove the index first

Every measurement is a fresh `cnpj-duck search` process (the CLI's start included, as a user sees it): wall
seconds, CPU seconds (user+sys) and peak RSS of its process tree. With --make-index the release's name index is
removed first, so the first search makes it again (timed on its own). Then `--rounds` rounds of four kinds of
search, their terms taken from the data (the same every run: the first rows of a fixed hash order): a prefix of
a legal name, a prefix of a trade name, two words of a legal name (`--words`), and filters only (uf + main CNAE
of an establishment). `query "select 1"` is measured too: the part of every command that is the CLI's own start.
Bounded: 4 kinds x `--rounds` processes (default 5). Never a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from bench import machine, run_measured  # noqa: E402  (scripts/bench.py: the measured subprocess)


def terms(data: Path) -> dict[str, list[str]]:
    """The arguments of each kind of search, from the latest release's tables (a fixed hash order: repeatable)."""
    import duckdb

    from cnpj_duck.store import Store

    store = Store(data)
    release = store.latest_release()
    if release is None:
        raise SystemExit(f"{data}: no built release (build one first)")
    files = {t: [str(p) for p in store.part_files(t, release)] for t in ("empresas", "estabelecimentos")}
    con = duckdb.connect()
    legal = con.execute(
        "SELECT razao_social FROM read_parquet(?) WHERE len(string_split(razao_social, ' ')) >= 3 "
        "ORDER BY hash(razao_social) LIMIT 1",
        [files["empresas"]],
    ).fetchone()[0]
    trade, uf, cnae = con.execute(
        "SELECT nome_fantasia, uf, cnae_fiscal_principal FROM read_parquet(?) "
        "WHERE len(nome_fantasia) >= 8 AND uf IS NOT NULL AND cnae_fiscal_principal IS NOT NULL "
        "ORDER BY hash(cnpj) LIMIT 1",
        [files["estabelecimentos"]],
    ).fetchone()
    words = legal.split()
    return {
        "prefix (legal name)": [" ".join(words[:2])[: max(6, len(words[0]) + 3)]],
        "prefix (trade name)": [trade[:6]],
        "two words (--words)": [f"{words[0]} {words[-1]}", "--words"],
        "filters (uf + cnae)": ["--uf", uf, "--cnae", cnae],
    }


def cli(data: Path, *args: str) -> tuple[float, float, int]:
    """One `cnpj-duck` process on `data`: wall s, CPU s, peak RSS bytes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNPJ_DUCK_")}
    env["CNPJ_DUCK_DATA_DIR"] = str(data)
    exe = Path(sys.executable).parent / "cnpj-duck"
    _, seconds, cpu, peak = run_measured([str(exe), *args, "--format", "csv"], env)
    return seconds, cpu, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, type=Path, help="a built data dir")
    parser.add_argument("--make-index", action="store_true", help="remove the name index first and time its making")
    parser.add_argument("--rounds", type=int, default=5, help="processes per kind of search (median reported)")
    args = parser.parse_args()
    from cnpj_duck.store import Store

    data: Path = args.data_dir
    store = Store(data)
    release = store.latest_release()
    kinds = terms(data)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    results: dict[str, object] = {"release": release, "terms": kinds}
    if args.make_index:
        assert release is not None
        for old in store.index_dir(release).glob("nomes-*.parquet"):
            old.unlink()
        seconds, cpu, peak = cli(data, "search", *next(iter(kinds.values())))
        results["make index"] = {"seconds": seconds, "cpu": cpu, "peak_rss_mb": peak / 2**20}
        print(
            f"index made by the first search: {seconds:.1f} s, {cpu:.1f} CPU s, {peak / 2**20:.0f} MB", file=sys.stderr
        )
    else:
        cli(data, "search", *next(iter(kinds.values())))  # makes the index if it is missing: not measured
    kinds["cli start (query 'select 1')"] = ["query", "select 1"]
    for kind, argv in kinds.items():
        command = argv if argv[0] == "query" else ["search", *argv]
        runs = [cli(data, *command) for _ in range(args.rounds)]
        row = {
            "median_s": statistics.median(r[0] for r in runs),
            "max_s": max(r[0] for r in runs),
            "median_cpu_s": statistics.median(r[1] for r in runs),
            "peak_rss_mb": max(r[2] for r in runs) / 2**20,
        }
        results[kind] = row
        print(
            f"{kind:32} median {row['median_s']:.2f} s (max {row['max_s']:.2f}), CPU {row['median_cpu_s']:.2f} s, "
            f"peak {row['peak_rss_mb']:.0f} MB",
            file=sys.stderr,
        )
    results["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
