"""Render a run's results (see ``run.py``) as ``docs/benchmarks.md``, with a verdict per goal."""

from __future__ import annotations

import itertools
import math
from typing import Any

MEMORY_GROWTH_LIMIT_MIB = 50.0  # "flat": the walk may not raise RSS by more than this
SLOPE_TOLERANCE = 1.10  # per-feature cost may rise 10 % between box sizes (noise)


def _label(count: int) -> str:
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
        "Run it with `make bench` (about 5–10 minutes; writes this file) or try",
        "`.venv/bin/python bench/run.py --quick` (10k/100k, about a minute; writes",
        "`bench/.work/benchmarks-quick.md`). Raw numbers of the last run:",
        "`bench/.work/results.json`.",
        "Medians are quoted, with p90/p99 where the tail matters; all rows come from one run,",
        "measured side by side, because the machine is noisy.",
        "",
    ]
    if plan["quick"]:
        lines += [
            f"> **Quick run**: collections of {' and '.join(_label(s) for s in plan['sizes'])};",
            f"> the goals (stated for 1M features) are judged on {_label(largest)} here.",
            "",
        ]
    lines += _machine(results)
    lines += _goals(results)
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
        ["Benchmark runtime", f"{results['runtime_s']:.0f} s"],
    ]
    return ["## Machine", "", *_table(["", ""], rows)]


def _bbox_row(results: dict[str, Any], features: int, expected: int) -> dict[str, Any] | None:
    return next(
        (r for r in results["bbox"] if r["features"] == features and r["expected"] == expected),
        None,
    )


def _goals(results: dict[str, Any]) -> list[str]:
    plan = results["plan"]
    largest = max(plan["sizes"])
    rows = []

    hundred = _bbox_row(results, largest, 100)
    if hundred is not None:
        median = hundred["http"]["latency_ms"]["median"]
        alone = hundred["store"]["latency_ms"]["median"]
        met = median < plan["bbox_goal_ms"]
        rows.append(
            [
                f"bbox query, ~100 features at {_label(largest)}: median < "
                f"{plan['bbox_goal_ms']:.0f} ms",
                f"{_ms(median)} ms over HTTP (store alone {_ms(alone)}"
                f" ms), {hundred['http']['returned']['median']:.0f} features returned",
                "**met**" if met else "**not met**",
            ]
        )

    sized = [_bbox_row(results, largest, e) for e in plan["bbox_expected"]]
    steps = [r for r in sized if r is not None]
    if len(steps) >= 2:
        verdicts = []
        for where in ("http", "store"):
            costs = [r[where]["us_per_feature"] for r in steps]
            verdicts.append(all(b <= a * SLOPE_TOLERANCE for a, b in itertools.pairwise(costs)))
        text = "; ".join(
            f"~{r['expected']}: {_ms(r['http']['latency_ms']['median'])} ms for "
            f"{r['http']['returned']['median']:.0f} ({r['http']['us_per_feature']:.0f} µs/feature)"
            for r in steps
        )
        rows.append(
            [
                "bbox cost grows no faster than the features returned",
                f"HTTP medians: {text}",
                "**met**" if all(verdicts) else "**not met**",
            ]
        )

    walk = results["walk"]
    rss = walk["rss_mib"]
    growth = rss["max"] - rss["start"]
    complete = walk["finished"] and walk["missing"] == 0 and walk["duplicates"] == 0
    met = growth <= MEMORY_GROWTH_LIMIT_MIB and complete
    rows.append(
        [
            f"memory flat while paging through all {_label(largest)} features",
            f"RSS {rss['start']:.0f} → max {rss['max']:.0f} → end {rss['end']:.0f} MiB "
            f"(+{growth:.0f} MiB; limit +{MEMORY_GROWTH_LIMIT_MIB:.0f} MiB)"
            + ("" if complete else "; the walk did not see every feature exactly once"),
            "**met**" if met else "**not met**",
        ]
    )
    return ["## Goals", "", *_table(["Goal", "Measured", "Verdict"], rows)]


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


def _items(results: dict[str, Any]) -> list[str]:
    plan = results["plan"]
    rows = []
    for r in results["items"]:
        lat = r["latency_ms"]
        rows.append(
            [
                f"`{r['collection']}`",
                {"first": "first page", "offset": "random `offset`", "cursor": "`next` links"}[
                    r["scenario"]
                ],
                f"{r['per_second']:.0f}",
                _ms(lat["median"]),
                _ms(lat["p90"]),
                _ms(lat["p99"]),
                str(r["error_count"]),
            ]
        )
    notes = []
    by = {(r["collection"], r["scenario"]): r for r in results["items"]}
    for size in plan["sizes"]:
        cid = f"points-{_label(size).lower()}"
        first, offset = by.get((cid, "first")), by.get((cid, "offset"))
        if first and offset and offset["per_second"]:
            notes.append(
                f"At {_label(size)}, random-offset pages run at "
                f"{offset['per_second'] / first['per_second']:.0%} of the first-page rate."
            )
    return [
        "## Items pages (`limit=100`) under load",
        "",
        f"{plan['concurrency']} concurrent keep-alive clients (httpx, one asyncio loop) for "
        f"{plan['duration_s']:.0f} s after {plan['warmup_s']:.0f} s of warm-up, per row. "
        "*first page*: `?limit=100` again and again; *random `offset`*: `?limit=100&offset=N`, "
        "N uniform over the collection; *`next` links*: each client follows `next` links from a "
        "random starting page (the start is not counted). Latency is per request as the client "
        "sees it, so it includes queueing behind the other clients.",
        "",
        *_table(
            ["Collection", "Pages", "Pages/s", "Median ms", "p90 ms", "p99 ms", "Errors"], rows
        ),
        *[f"- {n}" for n in notes],
        f"- Server RSS after the load: {results['rss_after_load_mib']:.0f} MiB.",
        "",
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
        ["RSS by share of pages done (MiB)", marks],
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
