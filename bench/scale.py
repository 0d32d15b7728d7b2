"""Scale-out benchmark: ``make bench-scale`` (or ``.venv/bin/python bench/scale.py``).

On PostgreSQL/PostGIS: imports 1M points, then serves them with one and with two workers,
side by side in alternating rounds (items pages per second), measures bbox queries with two
workers, and the live change feed's latency from a write on one connection to a subscriber's
event on another. The results replace the "Scale-out" section of ``docs/benchmarks.md``.
``OGM_BENCH_POSTGRES_URL`` names the database (default: the machine's PostgreSQL, database
``ogm_bench``, dropped and created anew).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
from psycopg import sql

import measure
from report import SCALE_BEGIN as BEGIN
from report import SCALE_END as END
from report import label, replace_section
from workload import BENCH_DIR, ROOT, Server, cli, data_file, machine

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/ogm_bench"
SIZE = 1_000_000  # --size changes it for a trial run (then the report is not written)
LAYER = "points"
WORKERS = (1, 2)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fresh_database(url: str) -> None:
    """Drop and create the benchmark database, with PostGIS."""
    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")


def prepare(url: str, data_dir: Path, source: Path) -> tuple[str, float]:
    """The admin user ``bench`` and its token, and the import; returns (token, seconds)."""
    db = ("--data", str(data_dir), "--database-url", url)
    cli("user", "add", "bench", "--admin", *db)
    token = cli("token", "create", "bench", "--label", "benchmark", *db)
    started = time.perf_counter()
    cli("collection", "import", LAYER, str(source), "--create", "--user", "bench", *db)
    return token, time.perf_counter() - started


def pages(
    url: str, data_dir: Path, token: str, work: Path, size: int, rounds: int, seconds: float
) -> Any:
    """Items pages per second with 1 and 2 workers, 16 clients, in alternating rounds."""
    found: dict[str, dict[int, list[measure.LoadRun]]] = {"first": {}, "cursor": {}}
    for number in range(rounds):
        for workers in WORKERS:
            extra = ("--database-url", url, "--workers", str(workers))
            with Server(data_dir, work / "scale-server.log", extra) as server:
                for scenario in found:
                    log(f"items {scenario}, {workers} worker(s), round {number + 1}")
                    run = asyncio.run(
                        measure.items_load(
                            server.url,
                            token,
                            LAYER,
                            size,
                            scenario,
                            concurrency=16,
                            warmup=1.0,
                            duration=seconds,
                            seed=number,
                        )
                    )
                    found[scenario].setdefault(workers, []).append(run)
    return {
        scenario: {str(w): measure.load_summary(runs) for w, runs in by_workers.items()}
        for scenario, by_workers in found.items()
    }


def bbox(server: Server, token: str, size: int) -> list[dict[str, Any]]:
    """bbox queries expecting about 10, 100 and 1000 features, one at a time."""
    rows = []
    for expected in (10, 100, 1000):
        chosen = measure.boxes(size, expected, 200, seed=expected)
        truth = measure.true_counts(size, chosen)
        log(f"bbox ~{expected} features, 200 queries")
        result = measure.bbox_http(server.url, token, LAYER, chosen, truth)
        rows.append({"expected": expected, **result})
    return rows


def feed_latency(server: Server, token: str, writes: int, writers: int) -> dict[str, Any]:
    """Seconds from the start of each write (POST on its own connection) to its event on a
    subscriber's stream; checks every write arrives once, in change-number order."""
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=30) as http:
        made = http.post("/manage/collections", json={"id": "feed-bench", "title": "Feed"})
        made.raise_for_status()
    sent: dict[str, float] = {}
    arrived: queue.Queue[tuple[int, str, float]] = queue.Queue()
    ready = threading.Event()

    def subscribe() -> None:
        headers = {**auth, "Accept": "text/event-stream"}
        url = f"{server.url}/collections/feed-bench/changes"
        with httpx.stream("GET", url, headers=headers, timeout=60) as stream:
            ready.set()
            seq = 0
            for line in stream.iter_lines():
                if line.startswith("id:"):
                    seq = int(line[3:].strip())
                elif line.startswith("data:"):
                    event = orjson.loads(line[5:])
                    arrived.put((seq, str(event["subject"]), time.perf_counter()))
                    if arrived.qsize() >= writes:
                        return

    subscriber = threading.Thread(target=subscribe, daemon=True)
    subscriber.start()
    ready.wait(10)
    time.sleep(0.5)

    def write(first: int) -> None:
        # a new connection per write: the kernel hands them to either worker, so most events
        # cross from the writer's worker to the subscriber's through LISTEN/NOTIFY
        fresh = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=server.url, headers=auth, timeout=30, limits=fresh) as http:
            for number in range(first, writes, writers):
                fid = f"w{number}"
                body = {
                    "type": "Feature",
                    "id": fid,
                    "geometry": {"type": "Point", "coordinates": [10.0, 50.0 + number / 1e4]},
                    "properties": {"n": number},
                }
                sent[fid] = time.perf_counter()
                http.post("/collections/feed-bench/items", json=body).raise_for_status()
                time.sleep(0.02)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    subscriber.join(30)
    events = [arrived.get_nowait() for _ in range(arrived.qsize())]
    numbers = [seq for seq, _, _ in events]
    latencies = [at - sent[fid] for _, fid, at in events if fid in sent]
    return {
        "writes": writes,
        "writers": writers,
        "events": len(events),
        "in_order": numbers == sorted(numbers),
        "distinct": len(set(numbers)) == len(numbers),
        "latency_ms": {**measure.latency_ms(latencies), "max": max(latencies) * 1000},
    }


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    size = results["size"]
    items = results["pages"]
    lines = [
        BEGIN,
        "## Scale-out: PostgreSQL/PostGIS with one and two workers",
        "",
        f"Run with `make bench-scale` on {m['date']} ({m['cpu']}, {m['cores']}, {m['ram']},"
        f" PostgreSQL {results['postgres']}, commit {m['commit']}); {label(size)} points"
        f" imported with the CLI in {results['import_s']:.1f} s"
        f" ({size / results['import_s']:,.0f} features/s). The load generator shares the two"
        " cores with the server and the database, so a second worker cannot double anything."
        " The SQLite sections above come from `make bench`, a separate run (see its date and"
        " commit): compare within a section, not across them.",
        "",
        "| Pages (`limit=100`), 16 clients | 1 worker | 2 workers | ratio |",
        "|---|---|---|---|",
    ]
    for scenario, by in items.items():
        one, two = by["1"], by["2"]
        lines.append(
            f"| {scenario}: pages/s (median ms) | {one['per_second']:.0f}"
            f" ({one['latency_ms']['median']:.1f}) | {two['per_second']:.0f}"
            f" ({two['latency_ms']['median']:.1f}) |"
            f" {two['per_second'] / one['per_second']:.2f}× |"
        )
    lines += [
        "",
        f"| bbox at {label(size)}, 2 workers | median | p90 | p99 | features | wrong counts |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["bbox"]:
        ms = row["latency_ms"]
        lines.append(
            f"| ~{row['expected']} features | {ms['median']:.2f} ms | {ms['p90']:.2f} ms"
            f" | {ms['p99']:.2f} ms | {row['returned']['median']:.0f} | {row['wrong_counts']} |"
        )
    feed = results["feed"]
    ms = feed["latency_ms"]
    verdict = "**met**" if ms["p99"] < 200 else "**not met**"
    lines += [
        "",
        f"Change feed, 2 workers: {feed['writes']} writes from {feed['writers']} clients (a new"
        " connection each, so either worker answers it), each timed from the start of its POST"
        " to its event on a subscriber's Server-Sent Events"
        f" stream: median {ms['median']:.1f} ms, p90 {ms['p90']:.1f} ms, p99 {ms['p99']:.1f} ms,"
        f" max {ms['max']:.1f} ms (goal p99 < 200 ms: {verdict}); {feed['events']} events,"
        f" in order: {feed['in_order']}, none twice: {feed['distinct']}.",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace the scale-out section of the report (or add it at the end)."""
    replace_section(path, BEGIN, END, section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0, help="per scenario and round")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--size", type=int, default=SIZE, help="features (a trial if not 1M)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    url = os.environ.get("OGM_BENCH_POSTGRES_URL", DEFAULT_URL)
    work = BENCH_DIR / ".work"
    work.mkdir(parents=True, exist_ok=True)
    data_dir = work / "scale-data"
    began = time.perf_counter()
    results: dict[str, Any] = {"machine": machine(), "size": args.size}
    log(f"fresh PostgreSQL database and {label(args.size)} points")
    fresh_database(url)
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        results["postgres"] = row[0] if row else "?"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    token, results["import_s"] = prepare(url, data_dir, data_file(work, args.size))
    results["pages"] = pages(url, data_dir, token, work, args.size, args.rounds, args.seconds)
    extra = ("--database-url", url, "--workers", "2")
    with Server(data_dir, work / "scale-server.log", extra) as server:
        results["bbox"] = bbox(server, token, args.size)
        log("change feed latency")
        results["feed"] = feed_latency(server, token, writes=300, writers=4)
    results["runtime_s"] = time.perf_counter() - began
    (work / "scale-results.json").write_text(json.dumps(results, indent=2))
    if args.size == SIZE:
        write_section(args.out, render(results))
        log(f"done in {results['runtime_s']:.0f} s; report: {args.out}")
    else:
        print(render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
