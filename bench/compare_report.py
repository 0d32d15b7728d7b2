"""The comparison section of ``docs/benchmarks.md``, rendered from ``bench/compare.py``'s
results; it replaces only the text between its two markers, so the other benchmarks' sections
(and the hand-written notes on optimisations) stay as they are."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from report import label, replace_section

BEGIN = "<!-- compare: begin -->"
END = "<!-- compare: end -->"

SCENARIO_TEXT = {
    "items": "items page (`limit=100`, {small})",
    "bbox": "bbox, ~100 features ({large})",
    "feature": "one feature by id ({small})",
    "filter": "CQL2 property filter ({small})",
    "deep": "deep page (`offset` {deep}, {small})",
    "deep-next": "deep page by its `next` link ({small})",
}
SYSTEM_TEXT = {
    "ogm-sqlite": "OpenGeoMesh, SQLite",
    "ogm-sqlite-uncached": "OpenGeoMesh, SQLite, page cache off",
    "pygeoapi-sqlite": "pygeoapi, SQLite (SpatiaLite)",
    "ogm-postgres": "OpenGeoMesh, PostgreSQL",
    "pygeoapi-postgres": "pygeoapi, PostgreSQL",
    "memory": "in-memory limit",
    "floor": "same bytes through a FastAPI `def` endpoint",
}
THEIRS = {
    "ogm-sqlite": "pygeoapi-sqlite",
    "ogm-sqlite-uncached": "pygeoapi-sqlite",
    "ogm-postgres": "pygeoapi-postgres",
}
# Deep paging is judged where every page is made anew (a kept page costs the same at any depth).
MADE_ANEW = ("ogm-sqlite-uncached", "ogm-postgres")
MOUNT_GOAL = 1.3
DEPTH_GOAL = 1.25


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _ratio(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.2f}×"


def _rps(rows: dict[str, Any], system: str, scenario: str) -> float | None:
    row = rows.get(system, {}).get(scenario)
    return row["per_second"] if row and row["requests"] else None


def _bound(rows: dict[str, Any], system: str, scenario: str) -> float | None:
    """For a row in which no request finished (without errors): the rate it stayed below,
    one request per round."""
    row = rows.get(system, {}).get(scenario)
    if row is None or row["requests"] or row["errors"] or not row["seconds"]:
        return None
    return float(row["rounds"]) / row["seconds"]


def ratio(rows: dict[str, Any], ours: str, theirs: str, scenario: str) -> float | None:
    mine, other = _rps(rows, ours, scenario), _rps(rows, theirs, scenario)
    return mine / other if mine and other else None


def _verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("**met**" if ok else "**missed**")


def goals(results: dict[str, Any]) -> list[list[str]]:
    """Goal, measured, verdict: the issue's goals as this run measured them."""
    rows, verdicts = results["rows"], results["verdicts"]
    out = []
    for scenario, what in (("items", "Items pages"), ("bbox", "bbox queries")):
        parts, oks = [], []
        for ours, theirs in THEIRS.items():
            value = ratio(rows, ours, theirs, scenario)
            why = verdicts.get(theirs, {}).get(scenario, "ok")
            bound = _bound(rows, theirs, scenario)
            mine = _rps(rows, ours, scenario)
            if value is None and bound is not None and mine is not None:
                parts.append(
                    f"{SYSTEM_TEXT[ours]}: {mine:.0f} vs < {bound:.2f} req/s (no request of "
                    f"{SYSTEM_TEXT[theirs]} finished within a run) = > {mine / bound:.0f}×"
                )
                oks.append(mine / bound >= 3)
                continue
            if value is None:
                parts.append(f"{SYSTEM_TEXT[ours]}: no comparison ({why})")
                continue
            parts.append(
                f"{SYSTEM_TEXT[ours]}: {_rps(rows, ours, scenario):.0f} vs "
                f"{_rps(rows, theirs, scenario):.1f} req/s = {value:.1f}×"
            )
            oks.append(value >= 3)
        out.append(
            [
                f"{what}: ≥ 3× pygeoapi's req/s, both databases",
                "; ".join(parts),
                _verdict(all(oks) if oks else None),
            ]
        )
    parts, oks = [], []
    for ours in THEIRS:
        value = ratio(rows, ours, "memory", "items")
        if value is not None:
            parts.append(f"{SYSTEM_TEXT[ours]}: {value:.0%} of {_rps(rows, 'memory', 'items'):.0f}")
            if ours == "ogm-sqlite":
                oks.append(value >= 0.5)
    floor = ratio(rows, "floor", "memory", "items")
    if floor is not None:
        parts.append(f"a FastAPI `def` endpoint returning the same bytes: {floor:.0%}")
    out.append(
        [
            "Items page: ≥ 50 % of the in-memory limit's req/s (judged on the embedded default, "
            "SQLite with its page cache; the others for comparison)",
            "; ".join(parts),
            _verdict(all(oks) if oks else None),
        ]
    )
    reads = results["mesh"]["reads"]
    one = reads["mount-1"]["median_ms"] / reads["direct-1"]["median_ms"]
    many = reads["direct-16"]["per_second"] / reads["mount-16"]["per_second"]
    measured = (
        f"B with `page_cache_mounts`: one client: median {_ms(reads['mount-1']['median_ms'])} vs "
        f"{_ms(reads['direct-1']['median_ms'])} ms = {one:.2f}×; 16 clients (both "
        f"servers on the same two cores): {reads['mount-16']['per_second']:.0f} vs "
        f"{reads['direct-16']['per_second']:.0f} req/s = {many:.2f}× the time per page"
    )
    if "mount-plain-1" in reads:
        plain_one = reads["mount-plain-1"]["median_ms"] / reads["direct-1"]["median_ms"]
        plain_many = reads["direct-16"]["per_second"] / reads["mount-plain-16"]["per_second"]
        measured += (
            f". A recipient with the defaults, asking A on every read: {plain_one:.2f}× "
            f"(one client), {plain_many:.2f}× (16 clients)"
        )
    out.append(
        [
            f"Reading through B's mounted layer costs ≤ {MOUNT_GOAL}× reading A directly",
            measured,
            _verdict(one <= MOUNT_GOAL and many <= MOUNT_GOAL),
        ]
    )
    parts, oks = [], []
    for ours in MADE_ANEW:
        found = results.get("depth", {}).get(ours, {})
        first, deep, offset = found.get("first"), found.get("next"), found.get("offset")
        if first and deep:
            value = deep["median_ms"] / first["median_ms"]
            text = (
                f"{SYSTEM_TEXT[ours]}: `next` link at depth {_ms(deep['median_ms'])} vs first "
                f"page {_ms(first['median_ms'])} ms median = {value:.2f}×"
            )
            if offset:
                text += f" (by `offset`: {_ms(offset['median_ms'])} ms)"
            parts.append(text)
            oks.append(value <= DEPTH_GOAL)
    out.append(
        [
            f"Deep paging does not slow down with depth (`next` link at 90 % ≤ {DEPTH_GOAL}× "
            "the first page's median; one client, the three pages back to back in each of "
            f"{results['plan'].get('depth_rounds', 0)} rounds, every page made anew)",
            "; ".join(parts),
            _verdict(all(oks) if oks else None),
        ]
    )
    parts, oks = [], []
    for name, walk in results["walks"].items():
        rss = walk["rss_mib"]
        marks = rss["by_progress"]
        late = marks.get("100%", rss["end"]) - marks.get("50%", rss["start"])
        parts.append(
            f"{SYSTEM_TEXT[name]}: {walk['features']:,} features in {walk['seconds']:.0f} s, RSS "
            f"{rss['start']:.0f} → max {rss['max']:.0f} → end {rss['end']:.0f} MiB "
            f"(+{late:.0f} MiB in the second half), every feature once: "
            f"{walk['missing'] == 0 and walk['duplicates'] == 0}"
        )
        oks.append(rss["max"] - rss["start"] <= 50 and late <= 5 and walk["missing"] == 0)
    out.append(
        [
            f"Memory stays flat while a client pages through {label(results['plan']['large'])} "
            "features (≤ 50 MiB growth, ≤ 5 MiB in the second half)",
            "; ".join(parts),
            _verdict(all(oks) if oks else None),
        ]
    )
    return out


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def requests_table(results: dict[str, Any]) -> list[list[str]]:
    plan, rows, verdicts = results["plan"], results["rows"], results["verdicts"]
    names = {
        "small": label(plan["small"]),
        "large": label(plan["large"]),
        "deep": f"{plan['small'] * 9 // 10:,}",
    }
    out = []
    for scenario, text in SCENARIO_TEXT.items():
        for system in SYSTEM_TEXT:
            if scenario not in results["targets"].get(system, {}):
                continue
            row = rows.get(system, {}).get(scenario)
            why = verdicts.get(system, {}).get(scenario, "ok")
            first = [text.format(**names), SYSTEM_TEXT[system]]
            bound = _bound(rows, system, scenario)
            if row is not None and bound is not None:
                note = f"no request finished within {results['plan']['seconds']:.0f} s"
                rss = f"{row['peak_rss_mib']:.0f}"
                out.append([*first, f"< {bound:.2f}", "–", "–", rss, "–", "0%", note])
                continue
            if row is None or not row["requests"]:
                out.append([*first, "–", "–", "–", "–", "–", "–", why if why != "ok" else "–"])
                continue
            theirs = THEIRS.get(system)
            out.append(
                [
                    *first,
                    f"{row['per_second']:.1f}"
                    if row["per_second"] < 10
                    else f"{row['per_second']:.0f}",
                    _ms(row["median_ms"]),
                    _ms(row["p99_ms"]),
                    f"{row['peak_rss_mib']:.0f}",
                    _ratio(ratio(rows, system, theirs, scenario)) if theirs else "–",
                    "–"
                    if system == "memory"
                    else f"{(ratio(rows, system, 'memory', scenario) or 0):.0%}",
                    (
                        f"{row['server_cpu_ms_per_request']:.1f}"
                        if row["server_cpu_ms_per_request"]
                        else "–"
                    )
                    + (f"; {row['errors']} errors" if row["errors"] else ""),
                ]
            )
    return out


def depth_section(results: dict[str, Any]) -> list[str]:
    """One client, the first page and the deep page by link and by offset back to back."""
    found = results.get("depth")
    if not found:
        return []
    deep = f"{results['plan']['small'] * 9 // 10:,}"
    pages = {
        "first": "first page",
        "next": "deep page by its `next` link",
        "offset": f"`offset` {deep}",
    }
    rows = [
        [
            SYSTEM_TEXT[name],
            text,
            _ms(by[kind]["median_ms"]),
            _ms(by[kind]["p99_ms"]),
            f"{by[kind]['per_second']:.0f}",
            f"{by[kind]['median_ms'] / by['first']['median_ms']:.2f}×",
        ]
        for name, by in found.items()
        for kind, text in pages.items()
        if kind in by
    ]
    return [
        "### Depth",
        "",
        f"One client (wrk, one connection) on the {label(results['plan']['small'])} layer, the "
        "three pages one after the other in each round, so that they meet the machine in the "
        "same state; the servers that make every page anew.",
        "",
        *_table(["System", "Page", "median ms", "p99 ms", "req/s", "× first page"], rows),
    ]


def render(results: dict[str, Any]) -> str:
    m, plan, v = results["machine"], results["plan"], results["versions"]
    mesh = results["mesh"]
    reads = mesh["reads"]
    lines = [
        BEGIN,
        "## Side by side: OpenGeoMesh, pygeoapi and the in-memory limit",
        "",
        f"Run with `make bench-compare` on {m['date']}: {m['cpu']}, {m['cores']}, {m['ram']}, "
        f"{m['os']}, Python {m['python']}, PostgreSQL {results['postgres']}, pygeoapi "
        f"{v['pygeoapi']}, uvicorn {v['uvicorn']} for all, commit {m['commit']}; load average at "
        f"the start {m['load']}; {results['runtime_s'] / 60:.0f} minutes in all. Raw numbers: "
        "`bench/.work/compare-results.json` (`bench/compare.py --render FILE` writes this "
        "section again from such a file).",
        "",
        f"Every system runs under uvicorn (httptools, access log on) with {plan['workers']} "
        "workers on 127.0.0.1: OpenGeoMesh with `opengeomesh serve --workers "
        f"{plan['workers']}` on SQLite and on PostgreSQL/PostGIS, and once more on the same "
        "SQLite file with its page cache off (`page_cache_mib = 0`): with it on, as by default, "
        "a request asked for again is answered from memory until the database changes, so "
        "that server's rows measure the cache, and the *page cache off* rows what a request "
        "costs when made anew (PostgreSQL has no page cache); pygeoapi 0.21 (its Starlette "
        "app, in its own virtual environment) with its SQLite provider on a SpatiaLite file and "
        "its PostgreSQL provider on a PostGIS table with a primary key and a GiST index; the "
        "*in-memory limit* is a bare ASGI app answering each request with the bytes OpenGeoMesh "
        "(SQLite) answered, read from a dictionary. The same generated points (uniform over "
        f"lon 6..16, lat 46..56) in all four databases; collections public, requests anonymous "
        "(pygeoapi has no access control). wrk (one thread, "
        f"{plan['connections']} keep-alive connections) replays the same list of request "
        f"targets against each, {plan['seconds']:.0f} s per row after {plan['warmup_s']:.0f} s "
        f"of warm-up, in {plan['rounds']} interleaved rounds (the systems' order rotates), so "
        "that noise on the shared two-core machine (which also runs wrk and PostgreSQL) hits "
        "every system alike. Before measuring, each system's answers to a sample of the "
        "targets are compared with OpenGeoMesh's (same feature ids); a system that answers "
        "differently is not timed for that row. Median and p99 are the median over the rounds "
        "of wrk's percentiles; *peak RSS* is the server's whole process tree (uvicorn's "
        "supervisor and workers) at its highest during the row; *CPU ms/req* the server "
        "tree's CPU time per request.",
        "",
        "### Goals",
        "",
        *_table(["Goal", "Measured", "Verdict"], goals(results)),
        "### Requests",
        "",
        *_table(
            [
                "Request",
                "System",
                "req/s",
                "median ms",
                "p99 ms",
                "peak RSS MiB",
                "× pygeoapi (same database)",
                "of the limit",
                "CPU ms/req",
            ],
            requests_table(results),
        ),
        "Targets: bbox 200 random boxes of ~100 expected features (`limit=1000`); one feature: "
        "500 random ids; filter: 20 filters like `kind = 'valve' AND value >= 41.3 AND value < "
        "41.7` (CQL2 text, ~80 features each, `limit=100`); the deep page by `offset` and by "
        "OpenGeoMesh's `next` link (keyset paging; taken from the page before it). pygeoapi's "
        "SQLite provider ignores `filter`, so its answers differ and that row is not timed.",
        "",
        *depth_section(results),
        "### Between two servers",
        "",
        "Three `opengeomesh serve` (one worker each, SQLite) as three organisations, trust from "
        f"invites, signatures on, discovery cached; A shares a {label(plan['small'])}-feature "
        "layer with a user of B and of C, who accept it. B runs with `page_cache_mounts = "
        "true`: it answers a mounted page asked for again from memory while it follows A's "
        "change feed, so an edit at A reaches B's readers within the feed's latency. C runs "
        "with the defaults: its mounted layer reads A with the share's access token on every "
        "request (A's page cache answers those repeated reads as it answers the direct ones).",
        "",
        *_table(
            ["Measured", "median ms", "p99 ms", "req/s", "note"],
            [
                [
                    f"items page at A directly, {c} connection(s)",
                    _ms(reads[f"direct-{c}"]["median_ms"]),
                    _ms(reads[f"direct-{c}"]["p99_ms"]),
                    f"{reads[f'direct-{c}']['per_second']:.0f}",
                    "",
                ]
                for c in (1, 16)
            ]
            + [
                [
                    f"the same through B's mount, `page_cache_mounts`, {c} connection(s)",
                    _ms(reads[f"mount-{c}"]["median_ms"]),
                    _ms(reads[f"mount-{c}"]["p99_ms"]),
                    f"{reads[f'mount-{c}']['per_second']:.0f}",
                    f"same features: {mesh['same_page']}",
                ]
                for c in (1, 16)
            ]
            + [
                [
                    f"the same through C's mount, defaults (asks A every time), {c} connection(s)",
                    _ms(reads[f"mount-plain-{c}"]["median_ms"]),
                    _ms(reads[f"mount-plain-{c}"]["p99_ms"]),
                    f"{reads[f'mount-plain-{c}']['per_second']:.0f}",
                    "",
                ]
                for c in (1, 16)
                if f"mount-plain-{c}" in reads
            ]
            + [
                [
                    "share creation (`POST /manage/shares` at A → signed `POST /ocm/shares` at B)",
                    _ms(mesh["share_creation_ms"]["median"]),
                    _ms(mesh["share_creation_ms"]["p99"]),
                    "",
                    f"{mesh['share_creations']} shares, each received at B",
                ],
                [
                    "token exchange (B's `…/access` → signed `POST /ocm/token` at A)",
                    _ms(mesh["token_exchange_ms"]["median"]),
                    _ms(mesh["token_exchange_ms"]["p99"]),
                    "",
                    f"{mesh['token_exchanges']} exchanges",
                ],
                [
                    "for scale: a local `GET /manage/received-shares` at B",
                    _ms(mesh["local_manage_request_ms"]["median"]),
                    _ms(mesh["local_manage_request_ms"]["p99"]),
                    "",
                    "",
                ],
            ],
        ),
        END,
    ]
    return "\n".join(lines) + "\n"


def write(path: Path, section: str, *, whole: bool) -> None:
    """Replace the comparison section of ``path`` (or add it at the end); ``whole`` writes
    the section alone (a quick run's file)."""
    if whole or not path.is_file():
        path.write_text("# Benchmarks (quick comparison)\n\n" + section if whole else section)
        return
    replace_section(path, BEGIN, END, section)
