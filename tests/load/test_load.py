"""The load test: 100 concurrent clients for 60 s against ``serve --workers 2`` on loopback,
mixing reads, writes with If-Match and reads with a share's access token; not one error.
``make bench-load`` runs the same driver and records p50/p99 in docs/benchmarks.md."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.load.driver import CLIENTS, SECONDS, load_target, report, run_load

pytestmark = pytest.mark.alone

# OGM_LOAD_SECONDS shortens the run while working on the test; the suite runs it in full.
RUN_SECONDS = float(os.environ.get("OGM_LOAD_SECONDS", SECONDS))


def test_100_clients_for_60_seconds_on_two_workers_without_an_error(tmp_path: Path) -> None:
    with load_target(tmp_path) as target:
        results = run_load(target, clients=CLIENTS, seconds=RUN_SECONDS)
    found = report(results)
    print(json.dumps(found, indent=2))
    assert results.errors == [], results.errors[:20]
    assert results.seconds >= RUN_SECONDS * 0.95
    for kind in ("read", "write", "share-read"):
        assert found["kinds"][kind]["count"] >= CLIENTS, found  # every kind, under load
