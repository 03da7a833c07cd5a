"""Benchmark `cnpj-duck serve` (issue 15): a bounded load on loopback against a built data dir.

    .venv/bin/python scripts/bench_serve.py --data-dir /path/to/data               # built already
    .venv/bin/python scripts/bench_serve.py --data-dir /tmp/b --source /work/benchdata/0.3/2026-10

Starts the server on a free 127.0.0.1 port (its first start writes <data-dir>/serve/<release>.<fingerprint>.duckdb
in a child process: timed, and its size reported),
measures the first page of a few uf + cnae searches on the quiet server, then sends a fixed number of requests
from N concurrent clients (threads, one keep-alive connection each): lookups of random CNPJs of the build, a
share of misses (valid CNPJs that are not in it) and a share of searches; twice: back to back (the most it
answers; with N clients waiting, latency is N / throughput by Little's law), then paced at --rate requests/s
(latency at that load, counted from each request's planned moment). Reports latency percentiles per kind,
lookups per second, the server's CPU per request and RSS, and any answer that was not the expected status.
Never a test: numbers depend on the machine (say which, and how loaded, when you quote them).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def proc_stats(pid: int) -> dict[str, float]:
    """RSS now and at peak (MB), and CPU seconds (user + sys), of a process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = {line.split(":")[0]: line.split(":")[1].strip() for line in status.splitlines() if ":" in line}
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return {
        "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
        "peak_rss_mb": int(fields["VmHWM"].split()[0]) / 1024,
        "cpu_s": (int(stat[11]) + int(stat[12])) / ticks,
    }


def build_if_needed(data_dir: Path, source: Path | None) -> None:
    from cnpj_duck.store import Store

    if Store(data_dir).latest_release() is not None and source is None:
        return
    if source is None:
        sys.exit(f"{data_dir}: nothing built; pass --source FOLDER (a release's zips) to build it first")
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cnpj_duck.cli",
            "--data-dir",
            str(data_dir),
            "build",
            "--source",
            str(source),
            "--no-progress",
            "-q",
        ],
        check=True,
    )
    print(f"(built {source} into {data_dir} in {time.perf_counter() - started:.0f} s)", file=sys.stderr)


def sample_keys(data_dir: Path, hits: int, seed: int) -> tuple[list[str], list[tuple[str, str]], str]:
    """Random CNPJs of the latest release, (uf, cnae) pairs with many establishments, and the release."""
    import duckdb

    from cnpj_duck.store import Store

    store = Store(data_dir)
    release = store.resolve_release(None, table="estabelecimentos")
    con = duckdb.connect()
    store.read_table(con, "estabelecimentos", release).create_view("estabelecimentos")
    con.execute(f"SELECT setseed({(seed % 1000) / 1000})")
    cnpjs = [r[0] for r in con.execute(f"SELECT cnpj FROM estabelecimentos USING SAMPLE {hits} ROWS").fetchall()]
    pairs = con.execute(
        "SELECT uf, cnae_fiscal_principal FROM estabelecimentos GROUP BY ALL ORDER BY count(*) DESC LIMIT 20"
    ).fetchall()
    con.close()
    return cnpjs, [(uf, cnae) for uf, cnae in pairs], release


def misses(count: int, rng: random.Random, known: set[str]) -> list[str]:
    """Valid CNPJs (right check digits) that are not in the build."""
    from cnpj_duck.cnpj import check_digits

    out: list[str] = []
    while len(out) < count:
        first12 = f"{rng.randrange(10**8):08d}{rng.randrange(1, 10**4):04d}"
        cnpj = first12 + check_digits(first12)
        if cnpj not in known:
            out.append(cnpj)
    return out


class Client:
    """One keep-alive HTTP connection to the server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self.conn.request("GET", path)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def load(port: int, pid: int, plan: list[tuple[str, str]], clients: int, rate: float) -> dict[str, Any]:
    """Send the plan from `clients` threads: back to back (rate 0), or request n at start + n / rate (an open
    load: latency counts from the planned moment, so a server that falls behind shows it)."""
    expected = {"hit": 200, "miss": 404, "search": 200}
    times: dict[str, list[float]] = {kind: [] for kind in expected}
    wrong: list[tuple[str, int]] = []
    cursor = iter(range(len(plan)))
    lock = threading.Lock()
    start = time.perf_counter() + 0.1

    def client() -> None:
        c = Client(port)
        while True:
            with lock:
                n = next(cursor, None)
            if n is None:
                return
            kind, path = plan[n]
            planned = start + n / rate if rate else time.perf_counter()
            time.sleep(max(0.0, planned - time.perf_counter()))
            status, _ = c.get(path)
            ms = (time.perf_counter() - planned) * 1000
            with lock:
                times[kind].append(ms)
                if status != expected[kind]:
                    wrong.append((path, status))

    before = proc_stats(pid)
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    after = proc_stats(pid)
    if wrong:
        print(f"unexpected answers (first 5): {wrong[:5]}", file=sys.stderr)
    lookups = times["hit"] + times["miss"]
    return {
        "wall_s": round(wall, 2),
        "lookups_per_s": round(len(lookups) / wall, 1),
        "lookup_p50_ms": round(percentile(lookups, 0.5), 2),
        "lookup_p99_ms": round(percentile(lookups, 0.99), 2),
        "hit_p50_ms": round(percentile(times["hit"], 0.5), 2),
        "miss_p50_ms": round(percentile(times["miss"], 0.5), 2),
        "search_p50_ms": round(percentile(times["search"], 0.5), 2),
        "search_p99_ms": round(percentile(times["search"], 0.99), 2),
        "server_cpu_ms_per_request": round((after["cpu_s"] - before["cpu_s"]) * 1000 / len(plan), 2),
        "unexpected_status": len(wrong),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="A data dir with a built release (or --source).")
    parser.add_argument("--source", type=Path, help="A release folder of zips to build into --data-dir first.")
    parser.add_argument("--requests", type=int, default=5000, help="Requests of the load (default 5000).")
    parser.add_argument("--clients", type=int, default=32, help="Concurrent clients (default 32).")
    parser.add_argument("--miss", type=float, default=0.1, help="Share of lookups of absent CNPJs (default 0.1).")
    parser.add_argument("--search", type=float, default=0.02, help="Share of searches (default 0.02).")
    parser.add_argument("--limit", type=int, default=100, help="Page size of the searches (default 100).")
    parser.add_argument(
        "--rate",
        type=float,
        default=300,
        help="Requests/s of the paced phase after the back-to-back one (default 300; 0: no paced phase).",
    )
    parser.add_argument("--pool", type=int, help="serve.pool for the server (default: its config).")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    build_if_needed(data_dir, args.source)
    rng = random.Random(args.seed)
    hits, pairs, release = sample_keys(data_dir, 20_000, args.seed)
    absent = misses(2000, rng, set(hits))

    port = free_port()
    log = data_dir.parent / f"bench-serve-{port}.log"
    env = {**os.environ, **({"CNPJ_DUCK_SERVE_POOL": str(args.pool)} if args.pool else {})}
    started = time.perf_counter()
    with log.open("wb") as err:
        server = subprocess.Popen(
            [sys.executable, "-m", "cnpj_duck.cli", "--data-dir", str(data_dir), "serve", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
    try:
        probe = Client(port)
        while True:
            if server.poll() is not None:
                sys.exit(f"serve exited {server.returncode}: {log.read_text()}")
            try:
                if probe.get("/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        ready_s = time.perf_counter() - started
        quiet = proc_stats(server.pid)
        # Peak RSS from here on (the serving file, if written now, was written by a child process).
        Path(f"/proc/{server.pid}/clear_refs").write_text("5")

        first_pages = []
        for uf, cnae in pairs[:10]:  # each a different search: no page of it was asked before
            t0 = time.perf_counter()
            status, body = probe.get(f"/?uf={uf}&cnae={cnae}&limit={args.limit}")
            first_pages.append((time.perf_counter() - t0) * 1000)
            assert status == 200 and json.loads(body)["data"], (uf, cnae, body[:200])

        plan: list[tuple[str, str]] = []
        for n in range(args.requests):
            roll = rng.random()
            if roll < args.search:
                uf, cnae = rng.choice(pairs)
                plan.append(("search", f"/?uf={uf}&cnae={cnae}&limit={args.limit}"))
            elif roll < args.search + args.miss:
                plan.append(("miss", f"/{absent[n % len(absent)]}"))
            else:
                plan.append(("hit", f"/{rng.choice(hits)}"))
        phases = {"as_fast_as_possible": load(port, server.pid, plan, args.clients, 0.0)}
        if args.rate:
            phases[f"paced_at_{args.rate:g}_per_s"] = load(port, server.pid, plan, args.clients, args.rate)
        after = proc_stats(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)

    report: dict[str, Any] = {
        "release": release,
        "requests_per_phase": args.requests,
        "clients": args.clients,
        "ready_s": round(ready_s, 1),
        "serving_file_mb": round(sum(p.stat().st_size for p in (data_dir / "serve").glob("*.duckdb")) / 1e6),
        "first_search_page_ms": {"median": round(statistics.median(first_pages), 1), "max": round(max(first_pages), 1)},
        **phases,
        "server_rss_mb": {
            "at_start": round(quiet["rss_mb"]),
            "peak_at_start": round(quiet["peak_rss_mb"]),
            "after_load": round(after["rss_mb"]),
            "peak_while_serving": round(after["peak_rss_mb"]),
        },
        "load_average": os.getloadavg()[0],
    }
    wrong = sum(phase["unexpected_status"] for phase in phases.values())
    print(json.dumps(report, indent=1))
    if wrong:
        sys.exit(1)


if __name__ == "__main__":
    main()
