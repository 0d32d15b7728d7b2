"""OpenGeoMesh against pygeoapi and the physical limit: ``make bench-compare`` (or
``.venv/bin/python bench/compare.py [--quick]``).

Generates 100k and 1M points; serves them with OpenGeoMesh (SQLite and PostgreSQL), with
pygeoapi 0.21 (its SQLite and PostgreSQL providers, in its own virtual environment) and, as
the limit, the same response bytes from memory; all under uvicorn with the same number of
workers. wrk drives each with the same request targets, in interleaved rounds. Then: memory
while a client pages through 1M features, and between two servers the mounted layer's cost,
share creation and token exchange. The results replace the comparison section of
``docs/benchmarks.md`` (about 20 minutes); ``--quick`` (10k/100k, short runs) writes
``bench/.work/compare-quick.md`` instead.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

import compare_report
import measure
import mesh
import systems
from loadgen import Wrk, merge, settle
from report import label
from systems import log
from workload import BENCH_DIR, ROOT, data_file, machine


@dataclass(frozen=True, slots=True)
class Plan:
    small: int = 100_000
    large: int = 1_000_000
    workers: int = 2
    connections: int = 16
    warmup_s: float = 2.0
    seconds: float = 8.0
    rounds: int = 2
    walk_limit: int = 1000
    mesh_seconds: float = 5.0
    depth_rounds: int = 5  # one-client runs of first, deep-by-link and deep-by-offset pages
    depth_seconds: float = 3.0
    shares: int = 20
    exchanges: int = 30
    quick: bool = False


QUICK = Plan(
    small=10_000,
    large=100_000,
    warmup_s=1.0,
    seconds=2.0,
    rounds=1,
    mesh_seconds=2.0,
    depth_rounds=2,
    depth_seconds=1.0,
    shares=5,
    exchanges=10,
    quick=True,
)

SCENARIOS = ("items", "bbox", "feature", "filter", "deep", "deep-next")
OURS = ("ogm-sqlite", "ogm-postgres")
THEIRS = {"ogm-sqlite": "pygeoapi-sqlite", "ogm-postgres": "pygeoapi-postgres"}
SYSTEMS = (
    "ogm-sqlite",
    "ogm-sqlite-uncached",
    "pygeoapi-sqlite",
    "ogm-postgres",
    "pygeoapi-postgres",
    "memory",
    "floor",
)


def layer(size: int) -> str:
    return f"points-{label(size).lower()}"


def table(size: int) -> str:
    return layer(size).replace("-", "_")


def targets(plan: Plan) -> dict[str, list[str]]:
    """The request targets of each scenario, the same for every system (``deep-next``, the
    ``next`` link at the deep page, is each OpenGeoMesh's own and added later)."""
    small, large = layer(plan.small), layer(plan.large)
    rnd = random.Random(8)
    boxes = measure.boxes(plan.large, 100, 200, seed=100)
    filters = []
    for number in range(20):
        low = round(rnd.uniform(0, 99), 1)
        kind = ("hydrant", "valve", "sensor", "shelter", "depot")[number % 5]
        text = f"kind = '{kind}' AND value >= {low} AND value < {low + 0.4:.1f}"
        filters.append(f"/collections/{small}/items?limit=100&filter={quote(text, safe='')}")
    return {
        "items": [f"/collections/{small}/items?limit=100"],
        "bbox": [
            f"/collections/{large}/items?limit=1000&bbox=" + ",".join(f"{v:.6f}" for v in box)
            for box in boxes
        ],
        "feature": [f"/collections/{small}/items/{rnd.randint(1, plan.small)}" for _ in range(500)],
        "filter": filters,
        "deep": [f"/collections/{small}/items?limit=100&offset={plan.small * 9 // 10}"],
    }


def fetch(base: str, target: str) -> tuple[int, bytes, bytes]:
    """Status, media type and body of one GET (as the load generator asks)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    try:
        conn.request("GET", target, headers={"Accept": "application/geo+json, application/json"})
        response = conn.getresponse()
        media = (response.getheader("content-type") or "application/octet-stream").encode()
        return response.status, media, response.read()
    finally:
        conn.close()


def answer(scenario: str, body: bytes) -> Any:
    """What must agree between systems: the feature ids (and a feature's properties)."""
    found = orjson.loads(body)
    if scenario == "feature":
        return str(found["id"]), found["properties"]
    return sorted(str(f["id"]) for f in found["features"])


def check_answers(
    urls: dict[str, str], lists: dict[str, dict[str, list[str]]]
) -> dict[str, dict[str, str]]:
    """Per system and scenario: ``ok`` if its answers to a sample of targets match
    OpenGeoMesh on SQLite's (the reference), else why not."""
    verdicts: dict[str, dict[str, str]] = {}
    for scenario, reference_targets in lists["ogm-sqlite"].items():
        picked = list(range(0, len(reference_targets), max(1, len(reference_targets) // 3)))[:4]
        expected = []
        for index in picked:
            status, _, body = fetch(urls["ogm-sqlite"], reference_targets[index])
            expected.append(answer(scenario, body) if status == 200 else status)
        for system, base in urls.items():
            if system in ("memory", "floor"):
                continue
            own = lists[system].get(scenario)
            if own is None:
                continue
            verdict = "ok"
            for index, want in zip(picked, expected, strict=True):
                status, _, body = fetch(base, own[index])
                if status != 200:
                    verdict = f"HTTP {status}: {body[:120].decode(errors='replace')}"
                    break
                got = answer(scenario, body)
                if got != want:
                    verdict = f"different answer ({_differs(got, want)})"
                    break
            verdicts.setdefault(system, {})[scenario] = verdict
    return verdicts


def _differs(got: Any, want: Any) -> str:
    if isinstance(got, list) and isinstance(want, list):
        return f"{len(got)} features instead of {len(want)}"
    return "another feature"


def next_at_depth(base: str, plan: Plan) -> str:
    """OpenGeoMesh's ``next`` link from the page before the deep one: the deep page by key."""
    before = f"/collections/{layer(plan.small)}/items?limit=100&offset={plan.small * 9 // 10 - 100}"
    status, _, body = fetch(base, before)
    if status != 200:
        raise RuntimeError(f"{base}{before}: {status}")
    link = measure._next_link(orjson.loads(body))
    assert link is not None
    return measure._target(link)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k/100k, short runs")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--seconds", type=float, help="per measured wrk run")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--render", type=Path, help="only write the report from a results file of a past run"
    )
    args = parser.parse_args(argv)
    if args.render:
        results = json.loads(args.render.read_text())
        quick = results["plan"]["quick"]
        target = args.out or (
            BENCH_DIR / ".work" / "compare-quick.md" if quick else ROOT / "docs" / "benchmarks.md"
        )
        compare_report.write(target, compare_report.render(results), whole=quick)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = QUICK if args.quick else Plan()
    if args.rounds:
        plan = replace(plan, rounds=args.rounds)
    if args.seconds:
        plan = replace(plan, seconds=args.seconds)
    work = BENCH_DIR / ".work"
    out = args.out or (work / "compare-quick.md" if plan.quick else ROOT / "docs" / "benchmarks.md")
    began = time.perf_counter()
    results: dict[str, Any] = {"machine": machine(), "plan": asdict(plan)}
    wrk = Wrk(work / "wrk")
    python = systems.ensure_pygeoapi(work / "pygeoapi-venv")
    results["versions"] = systems.describe_pygeoapi(python)
    url = os.environ.get("OGM_BENCH_COMPARE_POSTGRES_URL", systems.DEFAULT_POSTGRES)
    sources = {layer(n): data_file(work, n) for n in (plan.small, plan.large)}
    results["setup_s"] = setup(plan, work, url, python, sources, results)
    results.update(head_to_head(plan, work, url, python, wrk, results.pop("_tokens")))
    log("memory while paging through the large layer (one worker each)")
    results["walks"] = walks(plan, work, url, results["tokens_for_walk"])
    del results["tokens_for_walk"]
    results["mesh"] = mesh.measure_mesh(
        work,
        sources[layer(plan.small)],
        wrk,
        rounds=plan.rounds,
        seconds=plan.mesh_seconds,
        shares=plan.shares,
        exchanges=plan.exchanges,
    )
    results["runtime_s"] = time.perf_counter() - began
    (work / ("compare-quick.json" if plan.quick else "compare-results.json")).write_text(
        json.dumps(results, indent=2)
    )
    compare_report.write(out, compare_report.render(results), whole=plan.quick)
    log(f"done in {results['runtime_s']:.0f} s; report: {out}")
    return 0


def setup(
    plan: Plan,
    work: Path,
    url: str,
    python: Path,
    sources: dict[str, Path],
    results: dict[str, Any],
) -> dict[str, float]:
    """The same points into all four databases; seconds per step."""
    import subprocess

    seconds: dict[str, float] = {}
    log("fresh PostgreSQL database")
    results["postgres"] = systems.fresh_postgres(url)
    tokens = {}
    for name, database in (("ogm-sqlite", None), ("ogm-postgres", url)):
        log(f"{name}: importing with the CLI")
        tokens[name], took = systems.prepare_opengeomesh(work / name, database, sources)
        seconds.update({f"{name} {k}": v for k, v in took.items()})
    spatialite = work / "pygeoapi-sqlite.sqlite"
    spatialite.unlink(missing_ok=True)
    for name, source in sources.items():
        log(f"pygeoapi: loading {name} into SpatiaLite and PostGIS")
        started = time.perf_counter()
        subprocess.run(
            [
                str(python),
                str(BENCH_DIR / "spatialite_load.py"),
                str(source),
                str(spatialite),
                name.replace("-", "_"),
            ],
            check=True,
            timeout=1800,
        )
        seconds[f"pygeoapi-sqlite {name}"] = time.perf_counter() - started
        started = time.perf_counter()
        systems.load_postgis_table(url, name.replace("-", "_"), source)
        seconds[f"pygeoapi-postgres {name}"] = time.perf_counter() - started
    results["_tokens"] = tokens
    results["tokens_for_walk"] = tokens
    return seconds


def head_to_head(
    plan: Plan, work: Path, url: str, python: Path, wrk: Wrk, tokens: dict[str, str]
) -> dict[str, Any]:
    """All five systems up at once; each scenario's rows measured in interleaved rounds."""
    layers = {layer(n): table(n) for n in (plan.small, plan.large)}
    lists = {name: targets(plan) for name in SYSTEMS}
    lists["floor"] = {"items": lists["floor"]["items"]}  # the framework's share: one row
    ogm_sqlite = systems.opengeomesh(
        "ogm-sqlite", work / "ogm-sqlite", work / "ogm-sqlite.log", plan.workers, None
    )
    # the same database file without the page cache: what every request costs when made anew
    uncached = systems.opengeomesh(
        "ogm-sqlite-uncached",
        work / "ogm-sqlite",
        work / "ogm-sqlite-uncached.log",
        plan.workers,
        None,
        {"page_cache_mib": "0"},
    )
    ogm_pg = systems.opengeomesh(
        "ogm-postgres", work / "ogm-postgres", work / "ogm-postgres.log", plan.workers, url
    )
    port_s, port_p = systems.free_port(), systems.free_port()
    pyg_s = systems.pygeoapi(
        "pygeoapi-sqlite",
        python,
        work,
        systems.pygeoapi_config(port_s, layers, sqlite=work / "pygeoapi-sqlite.sqlite"),
        port_s,
        plan.workers,
    )
    pyg_p = systems.pygeoapi(
        "pygeoapi-postgres",
        python,
        work,
        systems.pygeoapi_config(port_p, layers, postgres=url),
        port_p,
        plan.workers,
    )
    with ogm_sqlite, uncached, ogm_pg, pyg_s, pyg_p:
        for name, server in (("ogm-sqlite", ogm_sqlite), ("ogm-postgres", ogm_pg)):
            lists[name]["deep-next"] = [next_at_depth(server.url, plan)]
        lists["memory"]["deep-next"] = lists["ogm-sqlite"]["deep-next"]
        lists["ogm-sqlite-uncached"]["deep-next"] = lists["ogm-sqlite"]["deep-next"]
        captured = {}
        for targets_ in lists["ogm-sqlite"].values():
            for target in targets_:
                captured[target] = fetch(ogm_sqlite.url, target)
        memory = systems.memory_limit(work, captured, plan.workers)
        floor = systems.memory_limit(work, captured, plan.workers, "memory_app:floor")
        with memory, floor:
            servers = {
                "ogm-sqlite": ogm_sqlite,
                "ogm-sqlite-uncached": uncached,
                "pygeoapi-sqlite": pyg_s,
                "ogm-postgres": ogm_pg,
                "pygeoapi-postgres": pyg_p,
                "memory": memory,
                "floor": floor,
            }
            urls = {name: s.url for name, s in servers.items()}
            log("checking that the systems answer alike")
            verdicts = check_answers(urls, lists)
            runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
            idle = {name: systems_rss(s.pid) for name, s in servers.items()}
            for number in range(plan.rounds):
                for scenario in SCENARIOS:
                    order = [s for s in SYSTEMS if scenario in lists[s]]
                    shift = number % len(order)
                    for name in order[shift:] + order[:shift]:
                        if verdicts.get(name, {}).get(scenario, "ok") != "ok":
                            continue
                        files = wrk.targets_file(f"{name}-{scenario}", lists[name][scenario])
                        log(f"{scenario}: {name}, round {number + 1}")
                        common = {"connections": plan.connections, "server_pid": servers[name].pid}
                        wrk.run(urls[name], files, seconds=plan.warmup_s, **common)
                        run = wrk.run(urls[name], files, seconds=plan.seconds, **common)
                        run["settle_s"] = settle(servers[name].pid)
                        runs.setdefault(name, {}).setdefault(scenario, []).append(run)
            found_depth = depth(plan, wrk, servers, lists)
    return {
        "depth": found_depth,
        "verdicts": verdicts,
        "idle_rss_mib": idle,
        "rows": {
            name: {scenario: merge(found) for scenario, found in by.items()}
            for name, by in runs.items()
        },
        "targets": {name: {k: len(v) for k, v in by.items()} for name, by in lists.items()},
    }


DEPTH_SYSTEMS = ("ogm-sqlite-uncached", "ogm-postgres")  # where every page is made anew


def depth(
    plan: Plan, wrk: Wrk, servers: dict[str, Any], lists: dict[str, dict[str, list[str]]]
) -> dict[str, dict[str, Any]]:
    """The cost of a page by depth, alone: one client, the first page, the deep page by its
    ``next`` link and by ``offset`` back to back in each round (so the machine's state is the
    same for the three), on the systems that make every page anew."""
    found: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for number in range(plan.depth_rounds):
        for name in DEPTH_SYSTEMS:
            for kind, scenario in (("first", "items"), ("next", "deep-next"), ("offset", "deep")):
                files = wrk.targets_file(f"depth-{name}-{kind}", lists[name][scenario])
                log(f"depth: {name}, {kind}, round {number + 1}")
                wrk.run(servers[name].url, files, seconds=1, connections=1)
                run = wrk.run(
                    servers[name].url,
                    files,
                    seconds=plan.depth_seconds,
                    connections=1,
                    server_pid=servers[name].pid,
                )
                found.setdefault(name, {}).setdefault(kind, []).append(run)
    return {name: {k: merge(v) for k, v in by.items()} for name, by in found.items()}


def systems_rss(pid: int) -> float:
    from loadgen import tree_rss_mib

    return tree_rss_mib(pid)


def walks(plan: Plan, work: Path, url: str, tokens: dict[str, str]) -> dict[str, Any]:
    """A client follows ``next`` links through the large layer (``limit`` 1000) on a freshly
    started one-worker server, its memory sampled (bench/measure.py)."""
    found = {}
    for name, database in (("ogm-sqlite", None), ("ogm-postgres", url)):
        server = systems.opengeomesh(name, work / name, work / f"{name}-walk.log", 1, database)
        with server:
            log(f"walk: {name}")
            found[name] = measure.walk(
                server.url,
                tokens[name],
                server.pid,
                layer(plan.large),
                plan.large,
                plan.walk_limit,
                max_s=600,
            )
    return found


if __name__ == "__main__":
    raise SystemExit(main())
