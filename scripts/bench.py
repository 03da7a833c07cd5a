"""Benchmark: `cnpj-duck build` against the bare floor, in the same run and on the same zips (issue 13).

    .venv/bin/python scripts/bench.py --scales 0.03,0.1,0.3 --inputs /work/benchdata
    .venv/bin/python scripts/bench.py --scales 0.03 --progress-cost
    .venv/bin/python scripts/bench.py --scales 0.03 --repeat 3 --compare ../main   # A/B against another tree

For each scale it takes the whole generated release <inputs>/<scale>/2026-10 (seed 1; generated there when it is
missing) and runs, each as its own process with a fresh output folder:
- build: `cnpj-duck build --source ...` into a fresh data dir (every table, the audit, the catalog);
- floor: ../shared/bench/bare_floor.py as it is (inflate with ISA-L, pyarrow's streaming CSV reader, DuckDB,
  Parquet zstd of all-text columns, one file at a time: no slicing, rejects, transforms, sort or audit);
- with --compare DIR, also the build of the cnpj-duck source tree at DIR (another worktree or checkout, run with
  this venv and its own sql/), so that two versions are measured alternately under the same load.
CPU seconds are user + system of the process and its threads (from wait4), steadier than wall time when
something else runs on the machine; peak RSS is the largest resident size of the process tree (sampled every
0.1 s, and the kernel's own maximum). Speed is judged here, never by timed assertions in tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = ROOT.parent / "shared" / "bench" / "bare_floor.py"
RELEASE = "2026-10"
# Build's CPU seconds per million rows before issue 13 (main at 8f9a9c2), measured with this script on the 2-core
# machine while four other sessions loaded it (so a little high): the CPU target is 0.6x these.
BASELINE_CPU_PER_M = {0.03: 5.72, 0.1: 5.51, 0.3: None}


@dataclass(frozen=True)
class Run:
    """One measured process."""

    rows: int
    seconds: float
    cpu: float
    peak_rss: int  # bytes


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and its descendants, from /proc (0 once it has ended)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


def run_measured(
    cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[str, float, float, int]:
    """Run a command; its stdout, wall seconds, CPU seconds (user + sys) and peak RSS of its process tree."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env, cwd=cwd)
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.1):
                peak = max(peak, _tree_rss(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)  # wait4: the child's own CPU and maximum RSS
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr[-4000:]}")
    return stdout, seconds, usage.ru_utime + usage.ru_stime, max(peak, usage.ru_maxrss * 1024)


def measure_build(source: Path, work: Path, tree: Path | None = None) -> Run:
    """`cnpj-duck build` of the whole release into a fresh data dir; the code of the source `tree` when given."""
    import pyarrow.parquet as pq

    data_dir = (work / "data-build").resolve()
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNPJ_DUCK_")}
    env["CNPJ_DUCK_DATA_DIR"] = str(data_dir)
    cmd = [str(Path(sys.executable).parent / "cnpj-duck")]
    cwd = None
    if tree is not None:  # its package first on the path, and its SQL files over the packaged ones
        env["PYTHONPATH"] = str(tree.resolve())
        env["CNPJ_DUCK_SQL_DIR"] = str((tree / "sql").resolve())
        cmd = [sys.executable, "-m", "cnpj_duck"]
        # `python -m` puts its working directory first on sys.path: run from the tree, or a run started from
        # this checkout's root imports this checkout's package (as --compare did until 2026-12-02).
        cwd = tree.resolve()
        probe = [sys.executable, "-c", "import cnpj_duck; print(cnpj_duck.__file__)"]
        where = Path(subprocess.run(probe, env=env, cwd=cwd, capture_output=True, text=True, check=True).stdout.strip())
        if not where.is_relative_to(cwd):
            raise SystemExit(f"error: --compare {tree}: its build would import cnpj_duck from {where}")
    _, seconds, cpu, peak = run_measured([*cmd, "build", "--source", str(source.resolve()), "--quiet"], env, cwd)
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in (data_dir / "parquet").glob("*/release=*/*.parquet"))
    shutil.rmtree(data_dir, ignore_errors=True)
    return Run(rows, seconds, cpu, peak)


def measure_floor(source: Path, work: Path, floor: Path) -> Run:
    """The independent floor, run as it is; it prints 'rows seconds'."""
    out_dir = work / "data-floor"
    shutil.rmtree(out_dir, ignore_errors=True)
    out, seconds, cpu, peak = run_measured([sys.executable, str(floor), str(source), str(out_dir)])
    shutil.rmtree(out_dir, ignore_errors=True)
    return Run(int(out.split()[-2]), seconds, cpu, peak)


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


def release_for(scale: float, inputs: Path) -> Path:
    """The whole release at this scale under `inputs`, generated (seed 1) when it is not there yet."""
    for name in (f"{scale:g}", str(scale)):
        if (inputs / name / RELEASE).is_dir():
            return inputs / name / RELEASE
    from cnpj_duck.sample import generate_release

    target = inputs / f"{scale:g}"
    t0 = time.perf_counter()
    generate_release(target, release=RELEASE, scale=scale, seed=1, workers=2)
    print(f"(generated scale {scale:g} into {target} in {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return target / RELEASE


def _median(runs: list[Run]) -> Run:
    return Run(
        runs[0].rows,
        statistics.median(r.seconds for r in runs),
        statistics.median(r.cpu for r in runs),
        max(r.peak_rss for r in runs),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="0.03,0.1,0.3", help="comma-separated release scales")
    parser.add_argument(
        "--inputs", type=Path, default=ROOT / "data" / "bench", help="folder of <scale>/2026-10/ releases"
    )
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "bench", help="where outputs are written")
    parser.add_argument("--floor", type=Path, default=FLOOR, help="the bare pipeline to compare with")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (alternating); medians reported")
    parser.add_argument("--no-floor", action="store_true", help="measure build only")
    parser.add_argument(
        "--compare", type=Path, metavar="DIR", help="also build with the cnpj-duck source tree at DIR, alternating"
    )
    parser.add_argument(
        "--progress-cost", action="store_true", help="also time build with the rich progress display, first scale"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    if not args.no_floor and not args.floor.is_file():
        raise SystemExit(f"error: {args.floor}: no such file; pass --floor the path of bare_floor.py")
    args.work.mkdir(parents=True, exist_ok=True)
    scales = [float(s) for s in args.scales.split(",")]
    print(f"machine: {machine()}")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}; repeat {args.repeat}\n")
    print(
        "| scale | rows | MB zipped / unzipped | what | wall s | rows/s | MB/s zipped / unzipped | CPU s "
        "| CPU s per M rows | peak RSS MB | build/floor rows/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    results: dict[float, tuple[Run, Run | None, Run | None]] = {}
    for scale in scales:
        source = release_for(scale, args.inputs)
        zipped = sum(p.stat().st_size for p in source.glob("*.zip")) / 1e6
        from cnpj_duck.ingest import find_member

        unzipped = sum(find_member(p).size for p in source.glob("*.zip")) / 1e6
        builds, floors, others = [], [], []
        for _ in range(args.repeat):
            builds.append(measure_build(source, args.work))
            if not args.no_floor:
                floors.append(measure_floor(source, args.work, args.floor))
            if args.compare:
                others.append(measure_build(source, args.work, args.compare))
        b = _median(builds)
        f = _median(floors) if floors else None
        o = _median(others) if others else None
        results[scale] = (b, f, o)
        ratio = f"{(b.rows / b.seconds) / (f.rows / f.seconds):.2f}" if f else "-"
        compared = f"build {args.compare.name}" if args.compare else ""
        for what, r in (("build", b), ("floor", f), (compared, o)):
            if r is None:
                continue
            print(
                f"| {scale:g} | {r.rows:,} | {zipped:,.0f} / {unzipped:,.0f} | {what} | {r.seconds:.1f} "
                f"| {r.rows / r.seconds:,.0f} | {zipped / r.seconds:.1f} / {unzipped / r.seconds:.1f} "
                f"| {r.cpu:.1f} | {r.cpu / r.rows * 1e6:.2f} | {r.peak_rss / 2**20:,.0f} "
                f"| {ratio if what == 'build' else ''} |",
                flush=True,
            )
        if f and abs(b.rows - f.rows) > 0.001 * f.rows:
            print(f"(scale {scale:g}: build wrote {b.rows:,} rows, the floor {f.rows:,})", file=sys.stderr)
    print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    _targets(results, args.compare.name if args.compare else None)
    if args.progress_cost:
        _progress_cost(release_for(scales[0], args.inputs), args)


def _targets(results: dict[float, tuple[Run, Run | None, Run | None]], compared: str | None) -> None:
    """The issue's targets, checked against this run. With --compare, the CPU target is also judged against the
    other tree's build in this same run (a checkout from before issue 13: a baseline under today's load, where
    the recorded one was measured on a loaded machine)."""
    print("\n| target | measured | met |\n|---|---|---|")
    for scale, (b, f, _) in results.items():
        if f is not None:
            ratio = (b.rows / b.seconds) / (f.rows / f.seconds)
            print(f"| build >= 0.9x floor rows/s at {scale:g} | {ratio:.2f}x | {'yes' if ratio >= 0.9 else 'no'} |")
    if len(results) > 1:
        for name, cost in (("wall", lambda r: r.seconds / r.rows), ("CPU", lambda r: r.cpu / r.rows)):
            costs = [cost(b) for b, _, _ in results.values()]
            spread = max(costs) / min(costs) - 1
            print(
                f"| {name} cost per row within 15% across scales | {100 * spread:.0f}% apart "
                f"| {'yes' if spread <= 0.15 else 'no'} |"
            )
    for scale, (b, _, o) in results.items():
        per_m = b.cpu / b.rows * 1e6
        bases = [("recorded before issue 13", BASELINE_CPU_PER_M.get(scale))]
        if o is not None:
            bases.append((f"build {compared} in this run", o.cpu / o.rows * 1e6))
        for what, base in bases:
            if base:
                print(
                    f"| CPU s per M rows <= 0.6x {what} ({0.6 * base:.2f}) at {scale:g} | {per_m:.2f} "
                    f"({per_m / base:.2f}x) | {'yes' if per_m <= 0.6 * base else 'no'} |"
                )
    for scale, (b, _, _) in results.items():
        mb = b.peak_rss / 2**20
        print(f"| peak RSS <= 1 GB at {scale:g} | {mb:,.0f} MB | {'yes' if b.peak_rss <= 2**30 else 'no'} |")


def _child(mode: str, source: str, data_dir: str) -> None:
    """Runs inside the subprocess of --progress-cost: one in-process build, with or without the rich display."""
    import json
    import resource

    from cnpj_duck.build import build
    from cnpj_duck.config import load_config

    config = load_config(None, overrides={"data_dir": data_dir}, env={})
    progress = None
    if mode == "build-rich":  # the rich display drawn at full speed to a (discarded) terminal
        from rich.console import Console

        from cnpj_duck.console import RichProgress

        progress = RichProgress(Console(file=open(os.devnull, "w"), force_terminal=True, width=150))
        progress.__enter__()
    started = time.perf_counter()
    summary = build(config, source=Path(source), progress=progress)
    seconds = time.perf_counter() - started
    if progress is not None:
        progress.__exit__(None, None, None)
    if summary.failed:
        raise SystemExit(f"build failed: {summary.errors}")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime}))


def _progress_cost(source: Path, args: argparse.Namespace) -> None:
    """Builds with and without the rich display, alternating, `--repeat` times each; medians compared."""
    import json

    runs: dict[str, list[dict[str, float]]] = {"build": [], "build-rich": []}
    for _ in range(max(args.repeat, 3)):
        for mode in runs:
            data_dir = args.work / f"data-{mode}"
            shutil.rmtree(data_dir, ignore_errors=True)
            out, *_ = run_measured([sys.executable, __file__, "--child", mode, str(source), str(data_dir)])
            runs[mode].append(json.loads(out.strip().splitlines()[-1]))
            shutil.rmtree(data_dir, ignore_errors=True)
    plain = {k: statistics.median(r[k] for r in runs["build"]) for k in ("seconds", "cpu")}
    rich = {k: statistics.median(r[k] for r in runs["build-rich"]) for k in ("seconds", "cpu")}
    print(
        f"\nprogress display cost (median of {len(runs['build'])} alternating runs each): wall "
        f"{plain['seconds']:.2f}s without, {rich['seconds']:.2f}s with the rich display "
        f"({100 * (rich['seconds'] / plain['seconds'] - 1):+.1f}%); CPU {plain['cpu']:.2f}s without, "
        f"{rich['cpu']:.2f}s with ({100 * (rich['cpu'] / plain['cpu'] - 1):+.1f}%)",
        flush=True,
    )


if __name__ == "__main__":
    main()
