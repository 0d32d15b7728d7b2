"""Render a run's results (see ``run.py``) as ``docs/benchmarks.md``, with a verdict per goal."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

# "Flat": a walk may fill SQLite's page cache (32 MiB per connection), nothing more. 50 MiB is
# about 52 bytes per feature at 1M, so anything kept per feature seen would exceed it.
MEMORY_GROWTH_LIMIT_MIB = 50.0
MAX_EXPONENT = 1.1  # time ∝ returned^k: k <= 1 is "no faster than", + 0.1 for noise


def label(count: int) -> str:
    """10000 -> 10k, 1000000 -> 1M."""
    return f"{count // 1_000_000}M" if count % 1_000_000 == 0 else f"{count // 1000}k"


def _ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def render(results: dict[str, Any]) -> str:
    """The whole Markdown report."""
    plan = results["plan"]
    largest = max(plan["sizes"])
    lines = [
        "# Benchmarks",
        "",
        "How fast OpenGeoMesh serves large point layers over OGC API – Features: pages of",
        "`/collections/{id}/items` per second, bbox query latency, and the server's memory while a",
        "client pages through a whole collection. The data are uniformly spread points",
        f"(fixed seed) over lon {6}..{16}, lat {46}..{56}, imported with `opengeomesh collection",
        "import` and served by `opengeomesh serve` (default settings, uvicorn access log on) on",
        "127.0.0.1; the load generator runs on the same machine and shares its cores.",
        "",
        "Run it with `make bench` (about 5–8 minutes; writes this file) or try",
        "`.venv/bin/python bench/run.py --quick` (10k/100k, one to two minutes; writes",
        "`bench/.work/benchmarks-quick.md`). Raw numbers of the last run:",
        "`bench/.work/results.json`.",
        "Medians are quoted, with p90/p99 where the tail matters; all rows come from one run,",
        "measured side by side, because the machine is noisy.",
        "The sections at the end come from other commands and are kept when this one rewrites",
        "the file: `make bench-scale` (PostgreSQL, one and two workers) and `make bench-compare`",
        "(side by side with pygeoapi and the in-memory limit; `bench/compare.py --quick` for a",
        "trial).",
        "",
    ]
    if plan["quick"]:
        lines += [
            f"> **Quick run**: collections of {' and '.join(label(s) for s in plan['sizes'])};",
            f"> the goals (stated for 1M features) are judged on {label(largest)} here.",
            "",
        ]
    lines += _machine(results)
    lines += _goals(results)
    lines += _observations(results)
    lines += _imports(results)
    lines += _items(results)
    lines += _bbox(results)
    lines += _walk(results)
    return "\n".join(lines).rstrip() + "\n"


def _machine(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    rows = [
        ["Date (UTC)", m["date"]],
        ["CPU", m["cpu"]],
        ["Cores", m["cores"]],
        ["RAM", m["ram"]],
        ["OS", m["os"]],
        ["Python", m["python"]],
        ["SQLite", m["sqlite"]],
        ["Packages", m["packages"]],
        ["Commit", m["commit"]],
        ["Load average at start (1/5/15 min)", m["load"]],
        ["Other processes' CPU when measuring began", f"{results['others_cpu_at_start']:.0f} %"],
        ["Benchmark runtime", f"{results['runtime_s']:.0f} s"],
    ]
    return ["## Machine", "", *_table(["", ""], rows)]


def _bbox_row(results: dict[str, Any], features: int, expected: int) -> dict[str, Any] | None:
    return next(
        (r for r in results["bbox"] if r["features"] == features and r["expected"] == expected),
        None,
    )


def growth_exponents(steps: list[dict[str, Any]], where: str) -> list[float]:
    """k in time ∝ returned^k between neighbouring box sizes, from the medians."""
    exponents = []
    for small, large in itertools.pairwise(steps):
        t1, t2 = small[where]["latency_ms"]["median"], large[where]["latency_ms"]["median"]
        n1, n2 = small[where]["returned"]["median"], large[where]["returned"]["median"]
        exponents.append(math.log(t2 / t1) / math.log(n2 / n1) if n1 and n2 > n1 else math.nan)
    return exponents


def _goals(results: dict[str, Any]) -> list[str]:
    plan = results["plan"]
    largest = max(plan["sizes"])
    rows = []

    hundred = _bbox_row(results, largest, 100)
    if hundred is not None:
        median = hundred["http"]["latency_ms"]["median"]
        alone = hundred["store"]["latency_ms"]["median"]
        met = median < plan["bbox_goal_ms"] and hundred["http"]["wrong_counts"] == 0
        rows.append(
            [
                f"bbox query, ~100 features at {label(largest)}: median < "
                f"{plan['bbox_goal_ms']:.0f} ms",
                f"{_ms(median)} ms over HTTP (store alone {_ms(alone)}"
                f" ms), {hundred['http']['returned']['median']:.0f} features returned",
                "**met**" if met else "**not met**",
            ]
        )

    sized = [_bbox_row(results, largest, e) for e in plan["bbox_expected"]]
    steps = [r for r in sized if r is not None]
    if len(steps) >= 2:
        exponents = {where: growth_exponents(steps, where) for where in ("http", "store")}
        met = all(k <= MAX_EXPONENT for ks in exponents.values() for k in ks)
        text = "; ".join(
            f"~{r['expected']}: {_ms(r['http']['latency_ms']['median'])} ms "
            f"({r['http']['returned']['median']:.0f} features)"
            for r in steps
        )
        shown = ", ".join(f"{k:.2f}" for k in exponents["http"])
        stored = ", ".join(f"{k:.2f}" for k in exponents["store"])
        compared = "".join(
            f" For comparison, ~{other['expected']} features in {label(other['features'])}: "
            f"{_ms(other['http']['latency_ms']['median'])} ms over HTTP."
            for other in results["bbox"]
            if other["features"] != largest
        )
        rows.append(
            [
                "bbox cost grows no faster than the features returned",
                f"HTTP medians {text}. Growth exponent k (time ∝ returned^k) between "
                f"neighbouring sizes: HTTP {shown}, store alone {stored} (limit {MAX_EXPONENT})."
                + compared,
                "**met**" if met else "**not met**",
            ]
        )

    walk = results["walk"]
    rss = walk["rss_mib"]
    growth = rss["max"] - rss["start"]
    marks = rss["by_progress"]
    late = marks.get("100%", math.nan) - marks.get("50%", math.nan)
    complete = walk["finished"] and walk["missing"] == 0 and walk["duplicates"] == 0
    met = growth <= MEMORY_GROWTH_LIMIT_MIB and complete
    rows.append(
        [
            f"memory flat while paging through all {label(largest)} features",
            f"RSS {rss['start']:.0f} → max {rss['max']:.0f} → end {rss['end']:.0f} MiB: "
            f"+{growth:.0f} MiB in all (limit {MEMORY_GROWTH_LIMIT_MIB:.0f}, i.e. SQLite's page "
            f"cache and no more), of which +{late:.0f} MiB in the second half of the walk; every "
            + (
                "feature seen exactly once"
                if complete
                else "**but the walk did not see every feature exactly once**"
            ),
            "**met**" if met else "**not met**",
        ]
    )
    return ["## Goals", "", *_table(["Goal", "Measured", "Verdict"], rows)]


def _observations(results: dict[str, Any]) -> list[str]:
    """Facts worth acting on, computed from this run's numbers."""
    plan = results["plan"]
    largest = max(plan["sizes"])
    cid = f"points-{label(largest).lower()}"
    notes = []
    small = _bbox_row(results, largest, min(plan["bbox_expected"]))
    if small is not None:
        outside = (
            small["http"]["latency_ms"]["median"]
            - small["store"]["latency_ms"]["median"]
            - small["store"]["encode_ms"]["median"]
        )
        notes.append(
            f"**Fixed cost per request.** A bbox request returning "
            f"~{small['http']['returned']['median']:.0f} features takes "
            f"{_ms(small['http']['latency_ms']['median'])} ms over HTTP but "
            f"{_ms(small['store']['latency_ms']['median'])} ms in the store: about "
            f"{_ms(outside)} ms of every request goes to HTTP, routing, authentication and the "
            "hand-offs between the event loop and worker threads."
        )
    by = {(r["collection"], r["scenario"]): r for r in results["items"]}
    offset, cursor = by.get((cid, "offset")), by.get((cid, "cursor"))
    if offset and cursor:
        notes.append(
            f"**Deep `offset` pages are slow.** At {label(largest)}, random-offset pages have a "
            f"median of {_ms(offset['latency_ms']['median'])} ms (p99 "
            f"{_ms(offset['latency_ms']['p99'])}) against {_ms(cursor['latency_ms']['median'])} ms "
            f"for `next` links, and are served at {offset['per_second']:.0f} against "
            f"{cursor['per_second']:.0f} pages/s: `LIMIT … OFFSET n` makes SQLite step over n "
            "rows, so cost grows with the offset, while `next` links seek by key."
        )
    sweep = results["sweep"]
    if len(sweep) >= 2:
        one, best = sweep[0], max(sweep, key=lambda r: r["per_second"])
        last = sweep[-1]
        measured = (
            f"{one['concurrency']} client: {one['per_second']:.0f} pages/s; best "
            f"{best['per_second']:.0f} pages/s with {best['concurrency']}; with "
            f"{last['concurrency']} clients {last['per_second']:.0f} pages/s at a p99 of "
            f"{_ms(last['latency_ms']['p99'])} ms."
        )
        ncpu = int(results["machine"]["ncpu"])
        cost = (
            f" Server CPU per page: {_ms(cpu_per_page(one, ncpu))} ms with "
            f"{one['concurrency']} client, {_ms(cpu_per_page(last, ncpu))} ms with "
            f"{last['concurrency']}."
        )
        if last["per_second"] < 0.7 * best["per_second"]:
            notes.append(
                f"**Throughput falls as clients are added.** {measured}{cost} The server is one "
                "Python process; each request hops once from the event loop to a worker "
                "thread, and with more clients more threads (each with its own SQLite "
                "connection) contend for the GIL, so every page costs more CPU."
            )
        elif best["per_second"] < 1.5 * one["per_second"]:
            notes.append(
                f"**Throughput does not scale with clients.** {measured}{cost} The server is "
                "one Python process: requests share one core's worth of Python (the GIL), and "
                "more clients mostly add queueing."
            )
        else:
            notes.append(f"**Throughput with more clients.** {measured}{cost}")
    load_rss = results["rss_during_load_mib"]
    walk_rss = results["walk"]["rss_mib"]
    notes.append(
        f"**Memory under concurrent load.** RSS reached {load_rss['max']:.0f} MiB "
        f"({load_rss['anon_max']:.0f} MiB anonymous) with up to {load_rss['threads_max']} "
        f"server threads and {load_rss['handles_max']} SQLite connections during the "
        f"multi-client runs, against {walk_rss['max']:.0f} MiB for a "
        "single-client walk: every worker thread opens its own SQLite connection, each with its "
        "own page cache, so memory grows with the number of threads that served requests."
    )
    bursts = results["bursts"]
    if len(bursts) >= 2:
        first, last = bursts[0], bursts[-1]
        grown = last["handles_after"] - first["handles_after"]
        if grown > 0:
            notes.append(
                f"**SQLite connections leak.** After each idle pause, a burst of "
                f"{plan['burst_clients']} clients leaves more database handles open: "
                + ", ".join(str(b["handles_after"]) for b in bursts)
                + f" after bursts 1–{len(bursts)}, with RSS "
                + " → ".join(f"{b['rss_after']:.0f}" for b in bursts)
                + " MiB. The thread pool retires idle threads and starts new ones; each new "
                "thread opens a new connection while the old thread's connection stays open "
                "(and keeps its page cache), so memory grows with every burst, without bound."
            )
        else:
            notes.append(
                "**Bursts after idle pauses** leave the number of open database handles "
                f"unchanged ({first['handles_after']} after the first burst, "
                f"{last['handles_after']} after the last)."
            )
    return ["## Observations", "", *[f"- {n}" for n in notes], ""]


def _imports(results: dict[str, Any]) -> list[str]:
    rows = []
    for c in results["collections"]:
        seconds = c["import_s"]
        rows.append(
            [
                f"`{c['id']}`",
                f"{c['features']:,}",
                f"{c['file_mib']:.0f} MiB",
                "reused" if seconds is None else f"{seconds:.1f} s",
                "–" if seconds is None else f"{c['features'] / seconds:,.0f}",
            ]
        )
    db = results["collections"][-1]["database_mib"]
    return [
        "## Import",
        "",
        "`opengeomesh collection import ID FILE --create` of newline-delimited GeoJSON, one",
        f"collection after the other into one database (final size {db:.0f} MiB).",
        "",
        *_table(["Collection", "Features", "File", "Import time", "Features/s"], rows),
    ]


def _load_row(r: dict[str, Any], first: str) -> list[str]:
    lat = r["latency_ms"]
    return [
        first,
        f"{r['per_second']:.0f}",
        _ms(lat["median"]),
        _ms(lat["p90"]),
        _ms(lat["p99"]),
        str(r["error_count"]),
        _cpu(r["cpu"]),
    ]


def cpu_per_page(run: dict[str, Any], ncpu: int) -> float:
    """Server CPU milliseconds per page served during a load run."""
    if not run["requests"]:
        return math.nan
    seconds = run["cpu"]["server"] / 100 * ncpu * run["duration_s"]
    return 1000 * seconds / run["requests"]


def _cpu(shares: dict[str, float]) -> str:
    return f"{shares['server']:.0f} / {shares['bench']:.0f} / {shares['others']:.0f}"


SCENARIOS = {"first": "first page", "offset": "random `offset`", "cursor": "`next` links"}


def _items(results: dict[str, Any]) -> list[str]:
    plan = results["plan"]
    head = ["Pages/s", "Median ms", "p90 ms", "p99 ms", "Errors", "CPU % server / bench / others"]
    rows = [
        [f"`{r['collection']}`", *_load_row(r, SCENARIOS[r["scenario"]])] for r in results["items"]
    ]
    by = {(r["collection"], r["scenario"]): r for r in results["items"]}
    notes = []
    for size in plan["sizes"]:
        cid = f"points-{label(size).lower()}"
        first, offset = by.get((cid, "first")), by.get((cid, "offset"))
        if first and offset and first["per_second"]:
            notes.append(
                f"At {label(size)}, random-offset pages are served at "
                f"{offset['per_second'] / first['per_second']:.0%} of the first-page rate "
                f"(median {_ms(offset['latency_ms']['median'])} vs "
                f"{_ms(first['latency_ms']['median'])} ms)."
            )
    rss = results["rss_during_load_mib"]
    notes.append(
        f"Server RSS during these load runs and the sweep below: {rss['start']:.0f} MiB at the "
        f"start, {rss['max']:.0f} MiB at most ({rss['anon_max']:.0f} MiB anonymous), "
        f"{rss['end']:.0f} MiB at the end; up to {rss['threads_max']} threads and "
        f"{rss['handles_max']} open database handles."
    )
    ncpu = int(results["machine"]["ncpu"])
    sweep = [
        [*_load_row(r, str(r["concurrency"])), _ms(cpu_per_page(r, ncpu))] for r in results["sweep"]
    ]
    largest = label(max(plan["sizes"]))
    return [
        "## Items pages (`limit=100`) under load",
        "",
        f"{plan['concurrency']} concurrent keep-alive clients on one asyncio loop, for "
        f"{plan['duration_s']:.0f} s per row, in {plan['rounds']} interleaved rounds (each after "
        "1–2 s of warm-up) so that noise on the shared machine spreads over all rows. "
        "*first page*: `?limit=100` again and again; *random `offset`*: `?limit=100&offset=N`, "
        "N uniform over the collection; *`next` links*: each client follows `next` links from a "
        "random starting page (the start is not counted). Latency is per request as the client "
        "sees it, so it includes queueing behind the other clients. The clients are a minimal "
        "HTTP/1.1 implementation on asyncio streams (~0.1 ms CPU per request): httpx costs ~1 ms "
        "of CPU per request, which on two cores would be taken from the server. *CPU %* is the "
        "share of the whole machine (both cores = 100 %) used meanwhile by the server, by this "
        "load generator and by other processes on the shared machine (noise).",
        "",
        *_table(["Collection", "Pages", *head], rows),
        *[f"- {n}" for n in notes],
        "",
        f"### Concurrency sweep (`next` links, {largest})",
        "",
        f"The same load with 1 to {max(plan['sweep_clients'])} clients, "
        f"{plan['sweep_s']:.0f} s each after 1 s of warm-up.",
        "",
        *_table(["Clients", *head, "Server CPU ms/page"], sweep),
        *_bursts(results),
    ]


def _bursts(results: dict[str, Any]) -> list[str]:
    plan = results["plan"]
    rows = [
        [
            str(b["burst"]),
            f"{b['per_second']:.0f}",
            str(b["errors"]),
            f"{b['rss_before']:.0f} → {b['rss_after']:.0f}",
            str(b["threads_after"]),
            f"{b['handles_before']} → {b['handles_after']}",
        ]
        for b in results["bursts"]
    ]
    return [
        f"### Bursts after idle pauses (`next` links, {label(max(plan['sizes']))})",
        "",
        f"{plan['bursts']} bursts of {plan['burst_clients']} clients for "
        f"{plan['burst_s']:.0f} s, each after {plan['burst_idle_s']:.0f} s without requests "
        "(the thread pool retires threads idle for 10 s). *Handles* are the server's open "
        "file descriptors on the database file, one per SQLite connection.",
        "",
        *_table(["Burst", "Pages/s", "Errors", "RSS MiB", "Threads", "Handles"], rows),
    ]


def _bbox(results: dict[str, Any]) -> list[str]:
    plan = results["plan"]
    rows = []
    for r in results["bbox"]:
        http, store = r["http"], r["store"]
        got = http["returned"]
        rows.append(
            [
                f"`{r['collection']}`",
                f"~{r['expected']} ({r['side_deg']:.3f}°)",
                f"{got['median']:.0f} ({got['min']}–{got['max']})",
                _ms(http["latency_ms"]["median"]),
                _ms(http["latency_ms"]["p90"]),
                _ms(http["latency_ms"]["p99"]),
                _ms(store["latency_ms"]["median"]),
                _ms(store["latency_ms"]["p90"]),
                _ms(store["encode_ms"]["median"]),
                f"{http['us_per_feature']:.0f}",
                f"{store['us_per_feature']:.0f}",
                str(http["wrong_counts"] + store["wrong_counts"]),
                f"{http['cpu']['others']:.0f}",
            ]
        )
    return [
        "## bbox queries",
        "",
        f"{plan['bbox_requests']} random square boxes per row, sent one after the other "
        "(`?bbox=…&limit=10000`, so every feature in the box comes in one page). *HTTP* is the "
        "full request through the server; *store* is the same query in-process through "
        "`Catalog.items` (SQLite R*Tree + exact test), and *encode* the time to turn that page "
        "into GeoJSON bytes. *Wrong* counts requests whose `numberReturned`/`numberMatched` "
        "differ from the true count computed from the generated points.",
        "",
        *_table(
            [
                "Collection",
                "Box (side)",
                "Returned median (min–max)",
                "HTTP median ms",
                "HTTP p90",
                "HTTP p99",
                "Store median ms",
                "Store p90",
                "Encode median ms",
                "HTTP µs/feature",
                "Store µs/feature",
                "Wrong",
                "Others' CPU %",
            ],
            rows,
        ),
    ]


def _walk(results: dict[str, Any]) -> list[str]:
    walk = results["walk"]
    rss = walk["rss_mib"]
    marks = ", ".join(f"{k}: {v:.0f}" for k, v in rss["by_progress"].items())
    rows = [
        ["Pages (`limit`)", f"{walk['pages']:,} ({walk['limit']})"],
        ["Features seen / distinct", f"{walk['features']:,} / {walk['distinct']:,}"],
        [
            "Missing / duplicated / unknown ids",
            f"{walk['missing']} / {walk['duplicates']} / {walk['unknown_ids']}",
        ],
        ["Time", f"{walk['seconds']:.1f} s" + ("" if walk["finished"] else " (stopped early)")],
        [
            "Pages/s (features/s)",
            f"{walk['pages_per_second']:.1f} ({walk['features_per_second']:,.0f})",
        ],
        [
            "Page latency median / p99",
            f"{_ms(walk['latency_ms']['median'])} / {_ms(walk['latency_ms']['p99'])} ms",
        ],
        [
            "Server RSS start / max / end",
            f"{rss['start']:.0f} / {rss['max']:.0f} / {rss['end']:.0f} MiB",
        ],
        [
            "Anonymous memory (`RssAnon`) start / max",
            f"{rss['anon_start']:.0f} / {rss['anon_max']:.0f} MiB",
        ],
        ["RSS by share of pages done (MiB)", marks],
        ["CPU % server / bench / others", _cpu(walk["cpu"])],
    ]
    return [
        "## Memory during a full walk",
        "",
        f"One client follows `next` links from the first page to the last (`limit="
        f"{walk['limit']}`) on a freshly started server, while the server's `VmRSS` is read from "
        "`/proc/PID/status` every 0.2 s. Every feature id is checked to arrive exactly once.",
        "",
        *_table(["", ""], rows),
    ]


SCALE_BEGIN = "<!-- scale-out: begin -->"
SCALE_END = "<!-- scale-out: end -->"


# The sections other commands write (bench/scale.py, bench/compare.py and the notes on its
# optimisations, bench/load.py): kept, in this order, when ``make bench`` rewrites the report.
KEPT_SECTIONS = (
    (SCALE_BEGIN, SCALE_END),
    ("<!-- compare: begin -->", "<!-- compare: end -->"),
    ("<!-- compare-notes: begin -->", "<!-- compare-notes: end -->"),
    ("<!-- load: begin -->", "<!-- load: end -->"),
)


def keep_scale_section(text: str, path: Path) -> str:
    """``text`` followed by the sections of other commands already in ``path``."""
    previous = path.read_text() if path.is_file() else ""
    for begin, end_marker in KEPT_SECTIONS:
        start, end = previous.find(begin), previous.find(end_marker)
        if 0 <= start < end:
            text = text.rstrip("\n") + "\n\n" + previous[start : end + len(end_marker)] + "\n"
    return text


def replace_section(path: Path, begin: str, end: str, section: str) -> None:
    """Put ``section`` (which starts with ``begin`` and ends with ``end``) in place of the one
    between those markers in ``path``, or at its end: each command rewrites only its own."""
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    if begin in text and end in text:
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end)
        text = head + section.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
