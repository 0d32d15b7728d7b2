"""Load benchmark: ``make bench-load`` (or ``.venv/bin/python bench/load.py``).

100 concurrent clients for 60 s against ``opengeomesh serve --workers 2`` on loopback (SQLite),
mixing item reads, writes (POST, and PATCH with If-Match) and reads with a share's access
token; the driver is the load test's (``tests/load/driver.py``). The results replace the
"Load" section of ``docs/benchmarks.md`` (the other sections are kept)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from report import replace_section
from workload import ROOT, machine

sys.path.insert(0, str(ROOT))  # the driver lives with the tests

from tests.load.driver import CLIENTS, SECONDS, WORKERS, load_target, report, run_load

BEGIN = "<!-- load: begin -->"
END = "<!-- load: end -->"
BUSY = (
    " **The machine was busy with other work** (load average above its cores): these latencies"
    " are an upper bound; measure again on a quiet machine."
)
KINDS = {
    "read": "read (a page of 10 or one item, owner's token)",
    "write": "write (POST, or PATCH with If-Match)",
    "share-read": "share-read (a page of 10, share access token)",
    "all": "all",
}


def render(found: dict[str, Any], m: dict[str, str], clients: int) -> str:
    lines = [
        BEGIN,
        "## Load: 100 clients for 60 s on two workers",
        "",
        f"Run with `make bench-load` on {m['date']} ({m['cpu']}, {m['cores']}, {m['ram']},"
        f" SQLite {m['sqlite']}, commit {m['commit']}, load average before the run"
        f" {m['load']}). {clients} concurrent clients (one asyncio process, keep-alive"
        f" connections) against `opengeomesh serve --workers {WORKERS}` on loopback for"
        f" {found['seconds']:.0f} s: {found['requests']:,} requests"
        f" ({found['per_second']:.0f}/s), **{found['errors']} errors**. The clients share the"
        " cores with the server: the latencies include waiting for a core. The same driver is"
        " the suite's load test (`tests/load/test_load.py`), which fails on any error."
        + BUSY
        * (float(m["load"].split(" / ")[0]) > float(m["ncpu"])),
        "",
        "| Requests | count | p50 | p99 | max |",
        "|---|---|---|---|---|",
    ]
    for kind, title in KINDS.items():
        k = found["kinds"].get(kind)
        if k:
            lines.append(
                f"| {title} | {k['count']:,.0f} | {k['p50']:.1f} ms | {k['p99']:.1f} ms"
                f" | {k['max']:.1f} ms |"
            )
    return "\n".join([*lines, END]) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace the load section of the report (or add it at the end)."""
    replace_section(path, BEGIN, END, section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--seconds", type=float, default=SECONDS, help="a trial if not 60")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    m = machine()
    with tempfile.TemporaryDirectory(prefix="ogm-load-") as base:
        print(f"[{time.strftime('%H:%M:%S')}] preparing two servers", file=sys.stderr)
        with load_target(Path(base)) as target:
            print(f"[{time.strftime('%H:%M:%S')}] {args.clients} clients", file=sys.stderr)
            results = run_load(target, clients=args.clients, seconds=args.seconds)
    found = report(results)
    print(json.dumps(found, indent=2))
    for error in results.errors[:20]:
        print("error:", error, file=sys.stderr)
    section = render(found, m, args.clients)
    if args.seconds == SECONDS and args.clients == CLIENTS:
        write_section(args.out, section)
    else:
        print(section)
    return 1 if results.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
