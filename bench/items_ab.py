"""A quick A/B of one request, the items page (limit=100 on a 100k collection): OpenGeoMesh
on SQLite against the in-memory limit, both with uvicorn and 2 workers, in interleaved wrk
rounds (``python bench/items_ab.py``). Prints each round and our requests/s as a share of the
limit's; the ratio, not the absolute rate, is what to compare on a shared machine."""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
from pathlib import Path

import systems
from compare import fetch
from loadgen import Wrk, tree_cpu_s, tree_pids
from workload import BENCH_DIR, ROOT, data_file

SIZE = 100_000
LAYER = "points-100k"
TARGET = f"/collections/{LAYER}/items?limit=100"


def baseline(work: Path, data: Path, revision: str, workers: int) -> systems.Process:
    """OpenGeoMesh as of ``revision`` (its ``src`` exported under ``work``) on the same data."""
    source = work / f"base-{revision}"
    if not source.exists():
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision, "src"], check=True, capture_output=True
        ).stdout
        source.mkdir()
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    server = systems.opengeomesh("base", data, work / "base.log", workers, None)
    assert server.env is not None
    server.env["PYTHONPATH"] = str(source / "src")
    return server


def _per_process_cpu(root: int) -> dict[int, float]:
    """CPU seconds of each process of a server's tree: how evenly its workers share the load."""
    found = {}
    for pid in tree_pids(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--target", default=TARGET)
    parser.add_argument("--fresh", action="store_true", help="import the data again")
    parser.add_argument("--baseline", help="a git revision to serve beside, as 'base'")
    args = parser.parse_args(argv)
    work = BENCH_DIR / ".work" / "items-ab"
    work.mkdir(parents=True, exist_ok=True)
    data = work / "ogm-sqlite"
    if args.fresh or not (data / "ready").exists():
        systems.prepare_opengeomesh(data, None, {LAYER: data_file(work, SIZE)})
        (data / "ready").touch()
    wrk = Wrk(work / "wrk")
    files = wrk.targets_file("items", [args.target])
    ours = systems.opengeomesh("ogm", data, work / "ogm.log", args.workers, None)
    with contextlib.ExitStack() as stack:
        stack.enter_context(ours)
        captured = fetch(ours.url, args.target)
        memory = systems.memory_limit(work, {args.target: captured}, args.workers)
        limit = stack.enter_context(memory)
        servers = {"ogm": ours, "limit": limit}
        if args.baseline:
            servers["base"] = stack.enter_context(baseline(work, data, args.baseline, args.workers))
        rates: dict[str, list[float]] = {n: [] for n in servers}
        cpu: dict[str, list[float]] = {n: [] for n in servers}
        shares: dict[str, list[float]] = {}
        for server in servers.values():  # warm up
            wrk.run(server.url, files, seconds=2, connections=args.connections)
        for number in range(args.rounds):
            for name, server in servers.items():
                before = tree_cpu_s(server.pid)
                split = _per_process_cpu(server.pid)
                run = wrk.run(server.url, files, seconds=args.seconds, connections=args.connections)
                rates[name].append(run["per_second"])
                cpu[name].append((tree_cpu_s(server.pid) - before) / run["requests"] * 1e3)
                after = _per_process_cpu(server.pid)
                shares[name] = [round(after[p] - split.get(p, 0.0), 1) for p in after]
            shown = ", ".join(
                f"{n} {rates[n][-1]:.0f} req/s ({cpu[n][-1]:.2f} ms CPU, "
                f"{rates[n][-1] / rates['limit'][-1]:.1%})"
                for n in servers
            )
            print(f"round {number + 1}: {shown}; CPU s per process {shares}", flush=True)
        for name in servers:
            ratios = [o / m for o, m in zip(rates[name], rates["limit"], strict=True)]
            print(
                f"median {name}: {statistics.median(ratios):.1%} of the limit, "
                f"{statistics.median(cpu[name]):.2f} ms CPU per request"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
