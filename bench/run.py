"""OpenGeoMesh benchmark: ``make bench`` (or ``.venv/bin/python bench/run.py [--quick]``).

Generates 100k and 1M point collections, imports them with the CLI, serves them with
``opengeomesh serve`` and measures items paging, bbox queries and memory over a full walk; the
results go to ``docs/benchmarks.md``. ``--quick`` runs 10k/100k in about a minute and writes to
``bench/.work/benchmarks-quick.md`` instead, so trying it out does not replace the real report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import measure
import report
from workload import (
    BENCH_DIR,
    ROOT,
    Server,
    data_file,
    import_collection,
    machine,
    prepare_database,
    rss_mib,
)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one run measures, and how long each part may take."""

    sizes: tuple[int, ...] = (100_000, 1_000_000)
    concurrency: int = 16
    warmup_s: float = 2.0
    duration_s: float = 10.0
    scenarios: tuple[str, ...] = ("first", "offset", "cursor")
    bbox_expected: tuple[int, ...] = (10, 100, 1000)
    bbox_requests: int = 200
    bbox_goal_ms: float = 10.0
    walk_limit: int = 1000
    walk_max_s: float = 300.0
    quick: bool = False


QUICK = Plan(sizes=(10_000, 100_000), warmup_s=1.0, duration_s=3.0, bbox_requests=50, quick=True)


def label(count: int) -> str:
    """10000 -> 10k, 1000000 -> 1M."""
    return f"{count // 1_000_000}M" if count % 1_000_000 == 0 else f"{count // 1000}k"


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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
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
    began = time.perf_counter()
    results: dict[str, Any] = {"machine": machine(), "plan": asdict(plan)}
    results["collections"] = load(plan, work, args.reuse)
    token = (work / "token").read_text().strip()
    data_dir = work / "db"
    largest = max(plan.sizes)

    log("starting the server for items load and bbox queries")
    with Server(data_dir, work / "server.log") as server:
        results["items"] = []
        for size in plan.sizes:
            for scenario in plan.scenarios:
                log(f"items {label(size)} {scenario}: {plan.warmup_s + plan.duration_s:.0f} s")
                outcome = asyncio.run(
                    measure.items_load(
                        server.url,
                        token,
                        collection_id(size),
                        size,
                        scenario,
                        concurrency=plan.concurrency,
                        warmup=plan.warmup_s,
                        duration=plan.duration_s,
                        seed=size,
                    )
                )
                results["items"].append({"collection": collection_id(size), **outcome})
        results["rss_after_load_mib"] = rss_mib(server.pid)
        results["bbox"] = bbox(plan, server, token, data_dir)

    log(f"restarting the server for a walk through {label(largest)} (limit={plan.walk_limit})")
    with Server(data_dir, work / "server.log") as server:
        results["walk"] = measure.walk(
            server.url,
            token,
            server.pid,
            collection_id(largest),
            largest,
            plan.walk_limit,
            plan.walk_max_s,
        )
    results["runtime_s"] = time.perf_counter() - began

    (work / "results.json").write_text(json.dumps(results, indent=2))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.render(results))
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
        http = measure.bbox_http(server.url, token, collection_id(size), chosen, truth)
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
