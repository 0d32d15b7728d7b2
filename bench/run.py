"""OpenGeoMesh benchmark: ``make bench`` (or ``.venv/bin/python bench/run.py [--quick]``).

Generates 100k and 1M point collections, imports them with the CLI, serves them with
``opengeomesh serve`` and measures items paging, bbox queries and memory over a full walk; the
results go to ``docs/benchmarks.md`` (about 5-8 minutes). ``--quick`` runs 10k/100k in one to
two minutes and writes ``bench/.work/benchmarks-quick.md`` instead, so trying it out does not
replace the real report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import measure
import report
from report import label
from workload import (
    BENCH_DIR,
    ROOT,
    CpuMeter,
    Server,
    data_file,
    import_collection,
    machine,
    prepare_database,
    wait_until_quiet,
)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one run measures, and how long each part may take."""

    sizes: tuple[int, ...] = (100_000, 1_000_000)
    concurrency: int = 16
    warmup_s: float = 2.0
    duration_s: float = 10.0
    rounds: int = 2
    scenarios: tuple[str, ...] = ("first", "offset", "cursor")
    bbox_expected: tuple[int, ...] = (10, 100, 1000)
    bbox_requests: int = 200
    bbox_goal_ms: float = 10.0
    sweep_clients: tuple[int, ...] = (1, 4, 16, 32)
    sweep_s: float = 5.0
    bursts: int = 3
    burst_clients: int = 32
    burst_s: float = 3.0
    burst_idle_s: float = 12.0  # anyio retires worker threads idle for 10 s
    walk_limit: int = 1000
    walk_max_s: float = 300.0
    quick: bool = False


QUICK = Plan(
    sizes=(10_000, 100_000),
    warmup_s=1.0,
    duration_s=3.0,
    sweep_s=2.0,
    bbox_requests=50,
    quick=True,
)


def collection_id(count: int) -> str:
    return f"points-{label(count).lower()}"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="10k/100k, short runs")
    parser.add_argument("--out", type=Path, help="Markdown report (default: docs/benchmarks.md)")
    parser.add_argument("--work", type=Path, default=BENCH_DIR / ".work", help="Scratch directory")
    parser.add_argument(
        "--reuse", action="store_true", help="Keep the database of the last run (no import timing)"
    )
    parser.add_argument("--concurrency", type=int, help="Concurrent clients of the items load")
    parser.add_argument("--duration", type=float, help="Seconds measured per items scenario")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        help="Wait up to this many seconds for other processes to calm down (default 120)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    # On SIGTERM, unwind like on Ctrl-C, so that the server subprocess is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = QUICK if args.quick else Plan()
    if args.concurrency:
        plan = replace(plan, concurrency=args.concurrency)
    if args.duration:
        plan = replace(plan, duration_s=args.duration)
    out = args.out or (args.work / "benchmarks-quick.md" if plan.quick else ROOT / "docs")
    if out.suffix != ".md":
        out = out / "benchmarks.md"
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    (work / "server.log").unlink(missing_ok=True)
    began = time.perf_counter()
    results: dict[str, Any] = {"machine": machine(), "plan": asdict(plan)}
    results["collections"] = load(plan, work, args.reuse)
    token = (work / "token").read_text().strip()
    data_dir = work / "db"
    largest = max(plan.sizes)
    log(f"waiting up to {args.quiet_wait:.0f} s for other processes to calm down")
    others = wait_until_quiet(args.quiet_wait)
    log(f"other processes use {others:.0f} % of the machine; measuring")
    results["others_cpu_at_start"] = others

    log("starting the server for items load and bbox queries")
    with Server(data_dir, work / "server.log") as server:
        preflight(server, token, [collection_id(size) for size in plan.sizes])
        sampler = measure.RssSampler(server.pid, interval=0.5)
        sampler.start()
        results["items"] = items(plan, server, token)
        results["sweep"] = sweep(plan, server, token)
        sampler.stop()
        results["rss_during_load_mib"] = sampler.summary()
        log(
            f"{plan.bursts} bursts of {plan.burst_clients} clients, {plan.burst_s:.0f} s each after"
            f" {plan.burst_idle_s:.0f} s idle"
        )
        results["bursts"] = asyncio.run(
            measure.bursts(
                server.url,
                token,
                server.pid,
                collection_id(largest),
                largest,
                clients=plan.burst_clients,
                count=plan.bursts,
                burst_s=plan.burst_s,
                idle_s=plan.burst_idle_s,
            )
        )
        results["bbox"] = bbox(plan, server, token, data_dir)

    log(f"restarting the server for a walk through {label(largest)} (limit={plan.walk_limit})")
    with Server(data_dir, work / "server.log") as server:
        meter = CpuMeter(server.pid)
        results["walk"] = measure.walk(
            server.url,
            token,
            server.pid,
            collection_id(largest),
            largest,
            plan.walk_limit,
            plan.walk_max_s,
        )
        results["walk"]["cpu"] = meter.shares()
    results["runtime_s"] = time.perf_counter() - began

    (work / "results.json").write_text(json.dumps(results, indent=2))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.keep_scale_section(report.render(results), out))
    log(f"done in {results['runtime_s']:.0f} s; report: {out}; raw: {work / 'results.json'}")
    return 0


def load(plan: Plan, work: Path, reuse: bool) -> list[dict[str, Any]]:
    """Generate the data files and import them with the CLI into ``work/db``."""
    data_dir = work / "db"
    stamp = work / "db.plan"
    wanted = ",".join(str(s) for s in plan.sizes)
    reused = reuse and stamp.is_file() and stamp.read_text() == wanted
    loaded = []
    if not reused:
        stamp.unlink(missing_ok=True)
        log(f"new database in {data_dir}")
        (work / "token").write_text(prepare_database(data_dir))
    for size in plan.sizes:
        started = time.perf_counter()
        source = data_file(work, size)
        generated = time.perf_counter() - started
        entry: dict[str, Any] = {
            "id": collection_id(size),
            "features": size,
            "file_mib": source.stat().st_size / 2**20,
            "generate_s": generated,
            "import_s": None,
        }
        if not reused:
            log(f"importing {source.name} ({entry['file_mib']:.0f} MiB) as {entry['id']}")
            entry["import_s"] = import_collection(data_dir, entry["id"], source)
            log(f"imported in {entry['import_s']:.1f} s")
        loaded.append(entry)
    stamp.write_text(wanted)
    database = data_dir / "opengeomesh.sqlite"
    for entry in loaded:
        entry["database_mib"] = database.stat().st_size / 2**20
    return loaded


def preflight(server: Server, token: str, collections: list[str]) -> None:
    """Stop early, with the server's reason, if the collections cannot be read."""
    conn = measure.Connection(server.url, token)
    try:
        for cid in collections:
            status, body = conn.get(f"/collections/{cid}/items?limit=1")
            if status != 200:
                raise RuntimeError(
                    f"GET /collections/{cid}/items answered {status}: {body[:300]!r};"
                    f" see {server.log}"
                )
    finally:
        conn.close()


def items(plan: Plan, server: Server, token: str) -> list[dict[str, Any]]:
    """Items pages per second, every scenario, every collection, in interleaved rounds.

    Each (collection, scenario) gets ``duration_s`` in all, split over ``rounds`` rounds that
    take turns, so a burst of noise on the shared machine does not land on one row only.
    """
    cases = [(size, scenario) for size in plan.sizes for scenario in plan.scenarios]
    runs: dict[tuple[int, str], list[measure.LoadRun]] = {case: [] for case in cases}
    cpu: dict[tuple[int, str], list[dict[str, float]]] = {case: [] for case in cases}
    share = plan.duration_s / plan.rounds
    for number in range(plan.rounds):
        for size, scenario in cases:
            warmup = plan.warmup_s if number == 0 else 1.0
            log(f"items {label(size)} {scenario}, round {number + 1}: {warmup + share:.0f} s")
            meter = CpuMeter(server.pid)
            runs[size, scenario].append(
                asyncio.run(
                    measure.items_load(
                        server.url,
                        token,
                        collection_id(size),
                        size,
                        scenario,
                        concurrency=plan.concurrency,
                        warmup=warmup,
                        duration=share,
                        seed=size + number,
                    )
                )
            )
            cpu[size, scenario].append(meter.shares())
    return [
        {
            "collection": collection_id(size),
            **measure.load_summary(runs[size, scenario]),
            "cpu": mean_shares(cpu[size, scenario]),
        }
        for size, scenario in cases
    ]


def mean_shares(shares: list[dict[str, float]]) -> dict[str, float]:
    """The average of several :meth:`CpuMeter.shares`."""
    return {key: sum(s[key] for s in shares) / len(shares) for key in shares[0]}


def sweep(plan: Plan, server: Server, token: str) -> list[dict[str, Any]]:
    """Pages per second as the number of concurrent clients grows (``next`` links, largest)."""
    size = max(plan.sizes)
    rows = []
    for clients in plan.sweep_clients:
        log(f"items {label(size)} cursor with {clients} clients: {plan.sweep_s + 1:.0f} s")
        meter = CpuMeter(server.pid)
        run = asyncio.run(
            measure.items_load(
                server.url,
                token,
                collection_id(size),
                size,
                "cursor",
                concurrency=clients,
                warmup=1.0,
                duration=plan.sweep_s,
                seed=clients,
            )
        )
        summary = measure.load_summary([run])
        rows.append({"collection": collection_id(size), **summary, "cpu": meter.shares()})
    return rows


def bbox(plan: Plan, server: Server, token: str, data_dir: Path) -> list[dict[str, Any]]:
    """Random boxes of ~10/~100/~1000 features in the largest collection, ~100 in the smaller."""
    largest = max(plan.sizes)
    cases = [(largest, expected) for expected in plan.bbox_expected]
    cases += [(size, 100) for size in plan.sizes if size != largest]
    rows = []
    for size, expected in cases:
        chosen = measure.boxes(size, expected, plan.bbox_requests, seed=size + expected)
        truth = measure.true_counts(size, chosen)
        log(f"bbox ~{expected} in {label(size)}: {plan.bbox_requests} requests, HTTP then store")
        meter = CpuMeter(server.pid)
        http = measure.bbox_http(server.url, token, collection_id(size), chosen, truth)
        http["cpu"] = meter.shares()
        store = measure.bbox_store(data_dir, collection_id(size), chosen, truth)
        rows.append(
            {
                "collection": collection_id(size),
                "features": size,
                "expected": expected,
                "side_deg": chosen[0][2] - chosen[0][0],
                "http": http,
                "store": store,
            }
        )
    return rows


if __name__ == "__main__":
    sys.exit(main())
