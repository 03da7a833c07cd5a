"""How many cores a build keeps busy, table by table (issue 13).

    .venv/bin/python scripts/bench_cores.py /work/benchdata/0.1/2026-10 [--work DIR]

Runs `cnpj-duck build --source RELEASE --quiet` into a fresh data dir under --work, samples the process's CPU
seconds (user + system, /proc/PID/stat) every 0.2 s, and afterwards reads each table's start and end from the
audit (audit_tables): per table, its wall seconds, the CPU seconds spent meanwhile and their ratio, the cores it
kept busy on average (2.0 is both cores of this machine). Tables run one after another; a table with one file
(Simples.zip) or the last file of a table runs alone, so this shows what overlapping them could give. Run it on
an otherwise idle machine: another process's load shows up as fewer cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15 of stat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("release", type=Path, help="a release folder of zips")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "bench", help="where the build is written")
    parser.add_argument("--tables", help="only these tables (build --tables)")
    args = parser.parse_args()
    data_dir = (args.work / "data-cores").resolve()
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNPJ_DUCK_")}
    env["CNPJ_DUCK_DATA_DIR"] = str(data_dir)
    cmd = [str(Path(sys.executable).parent / "cnpj-duck"), "build", "--source", str(args.release.resolve()), "--quiet"]
    if args.tables:
        cmd += ["--tables", args.tables]
    samples: list[tuple[float, float]] = []  # (wall clock, CPU seconds so far)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            cpu = _cpu_seconds(proc.pid)
            if cpu is not None:
                samples.append((time.time(), cpu))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"build failed ({code})")
    import duckdb

    con = duckdb.connect(str(data_dir / "cnpj.duckdb"), read_only=True)
    tables = con.execute(
        "SELECT table_name, epoch(started_at::TIMESTAMPTZ), epoch(finished_at::TIMESTAMPTZ), rows_read "
        "FROM audit_tables WHERE run_id = (SELECT max(run_id) FROM audit_runs) ORDER BY started_at"
    ).fetchall()
    con.close()

    def cpu_at(t: float) -> float:
        before = [c for w, c in samples if w <= t]
        return before[-1] if before else 0.0

    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {len(samples)} samples")
    print("| table | rows | wall s | CPU s | cores busy |\n|---|---|---|---|---|")
    for name, start, end, rows in tables:
        wall, cpu = end - start, cpu_at(end) - cpu_at(start)
        if wall >= 0.5:
            print(f"| {name} | {rows:,} | {wall:.1f} | {cpu:.1f} | {cpu / wall:.2f} |")
    wall, cpu = samples[-1][0] - samples[0][0], samples[-1][1]
    print(f"| whole build | | {wall:.1f} | {cpu:.1f} | {cpu / wall:.2f} |")
    print(f"(started {datetime.fromtimestamp(samples[0][0]):%H:%M:%S})")
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
