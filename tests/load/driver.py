"""The load test's driver, used by ``tests/load/test_load.py`` and ``bench/load.py``
(``make bench-load``): many concurrent clients, on loopback only, bounded in time and in
requests, against a real ``opengeomesh serve --workers 2`` (A) that shares a layer with a
second server (B). Each client mixes

- ``read``: a page of items or one item, with alice's own token;
- ``write``: a new feature (POST), or a change to one of its own features (PATCH with the
  ETag it last got, in ``If-Match``): no two clients write the same feature, so every write is
  expected to succeed, a 412 included in the errors;
- ``share-read``: a page of the shared layer with the access token B got from A's token
  endpoint (a real share, a real token exchange).

Every answer is checked (status and, for writes, an ETag); anything else is an error."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from opengeomesh import samples
from tests.conftest import stop_server
from tests.e2e.orgs import Org, make_org, token

CLIENTS = 100
SECONDS = 60.0
MAX_REQUESTS = 300_000  # the other bound: a very fast machine stops here
WORKERS = 2
LAYER = "hydrants"
FEATURES = 2_000
# Every setting of the servers under load, in one place (a rate limit added later is set here).
# The load test measures capacity with one token per kind of client, far above what one real
# client asks: the rate limits (tested in tests/security/test_limits.py) are off here.
SERVER_SETTINGS = (
    "peer_timeout = 10\nshare_token_minutes = 30\n"
    "rate_limit_per_minute_token = 0\nrate_limit_per_minute_peer = 0\n"
)
MIX = (("read", 0.5), ("write", 0.2), ("share-read", 0.3))


@dataclass
class Target:
    """The servers under load and what clients need to call them."""

    url: str  # A, on two workers
    auth: dict[str, str]  # alice's token at A
    share_auth: dict[str, str]  # the access token of the share, from A's token endpoint
    feature_ids: list[int]


@dataclass
class Results:
    """Latencies (seconds) per kind of request, and every unexpected answer."""

    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def summary(self) -> dict[str, dict[str, float]]:
        """Per kind (and all together): count, p50 and p99 in milliseconds."""
        kinds = {**self.latencies, "all": [x for v in self.latencies.values() for x in v]}
        found = {}
        for kind, values in kinds.items():
            if values:
                cuts = statistics.quantiles(values, n=100, method="inclusive")
                found[kind] = {
                    "count": float(len(values)),
                    "p50": cuts[49] * 1000,
                    "p99": cuts[98] * 1000,
                    "max": max(values) * 1000,
                }
        return found


@contextmanager
def load_target(base: Path, *, workers: int = WORKERS) -> Iterator[Target]:
    """A (``serve --workers``) with alice's layer, shared with bob at B, who accepted it and
    got an access token for it; both stopped afterwards."""
    with ExitStack() as stack:
        a = make_org(base, "a", "Feuerwehr Musterstadt", config=SERVER_SETTINGS, workers=workers)
        stack.callback(_stop, a)
        b = make_org(base, "b", "Leitstelle Nord", config=SERVER_SETTINGS)
        stack.callback(_stop, b)
        a.cli("user", "add", "alice")
        b.cli("user", "add", "bob")
        alice, bob = token(a, "alice"), token(b, "bob")
        made = httpx.post(f"{a.url}/manage/collections", headers=alice, json={"id": LAYER})
        _expect(made, 201)
        imported = httpx.post(
            f"{a.url}/manage/collections/{LAYER}/import",
            headers={**alice, "Content-Type": "application/geo+json"},
            content=orjson.dumps(samples.hydrants(FEATURES)),
            timeout=120,
        )
        _expect(imported, 200)
        invite = a.cli("invite", "create", "--user", "alice").stdout.strip()
        b.cli("invite", "accept", invite, "--user", "bob")
        shared = httpx.post(
            f"{a.url}/manage/shares",
            headers=alice,
            json={"collection": LAYER, "share_with": f"bob@{b.host}"},
            timeout=60,
        )
        _expect(shared, 201)
        got = httpx.get(f"{b.url}/manage/received-shares", headers=bob).json()
        (share,) = [s for s in got if s["name"] == LAYER]
        _expect(httpx.post(f"{b.url}/manage/received-shares/{share['id']}/accept", headers=bob))
        access = httpx.post(f"{b.url}/manage/received-shares/{share['id']}/access", headers=bob)
        _expect(access)
        share_auth = {"Authorization": f"Bearer {access.json()['access_token']}"}
        page = httpx.get(f"{a.url}/collections/{LAYER}/items?limit=10000", headers=alice)
        ids = [int(f["id"]) for f in _expect(page).json()["features"]]
        yield Target(url=a.url, auth=alice, share_auth=share_auth, feature_ids=ids)


def run_load(
    target: Target,
    *,
    clients: int = CLIENTS,
    seconds: float = SECONDS,
    max_requests: int = MAX_REQUESTS,
) -> Results:
    """``clients`` concurrent clients for ``seconds`` (or until ``max_requests``)."""
    return asyncio.run(_run(target, clients, seconds, max_requests))


async def _run(target: Target, clients: int, seconds: float, max_requests: int) -> Results:
    results = Results(latencies={kind: [] for kind, _ in MIX})
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    timeout = httpx.Timeout(30.0)
    start = time.monotonic()
    deadline = start + seconds
    async with httpx.AsyncClient(base_url=target.url, limits=limits, timeout=timeout) as http:
        counter = iter(range(max_requests))

        async def client(number: int) -> None:
            rng = random.Random(number)
            own: dict[str, str] = {}  # feature URL: its ETag
            while time.monotonic() < deadline and next(counter, None) is not None:
                kind = rng.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
                began = time.monotonic()
                try:
                    problem = await _one(http, target, kind, rng, own, number)
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                results.latencies[kind].append(time.monotonic() - began)
                if problem:
                    results.errors.append(f"{kind}: {problem}")

        await asyncio.gather(*(client(n) for n in range(clients)))
    results.seconds = time.monotonic() - start
    return results


async def _one(
    http: httpx.AsyncClient,
    target: Target,
    kind: str,
    rng: random.Random,
    own: dict[str, str],
    number: int,
) -> str:
    """One request of ``kind``; what was wrong with its answer, or ''."""
    items = f"/collections/{LAYER}/items"
    if kind == "read":
        if rng.random() < 0.5:
            answer = await http.get(
                f"{items}/{rng.choice(target.feature_ids)}", headers=target.auth
            )
        else:
            offset = rng.randrange(0, FEATURES - 10)
            answer = await http.get(f"{items}?limit=10&offset={offset}", headers=target.auth)
        return _check(answer, 200)
    if kind == "share-read":
        offset = rng.randrange(0, FEATURES - 10)
        answer = await http.get(f"{items}?limit=10&offset={offset}", headers=target.share_auth)
        return _check(answer, 200)
    if not own or rng.random() < 0.3:  # a new feature of this client's
        feature = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [9.9 + rng.random() / 10, 51.5]},
            "properties": {"client": number, "state": "new"},
        }
        answer = await http.post(items, json=feature, headers=target.auth)
        if answer.status_code == 201 and answer.headers.get("etag"):
            own[answer.headers["location"]] = answer.headers["etag"]
        return _check(answer, 201)
    url = rng.choice(list(own))
    answer = await http.patch(
        url,
        content=orjson.dumps({"properties": {"state": f"seen {rng.random():.6f}"}}),
        headers={
            **target.auth,
            "Content-Type": "application/merge-patch+json",
            "If-Match": own[url],
        },
    )
    if answer.status_code == 200 and answer.headers.get("etag"):
        own[url] = answer.headers["etag"]
    return _check(answer, 200)


def _check(answer: httpx.Response, status: int) -> str:
    if answer.status_code != status:
        return (
            f"{answer.request.method} {answer.request.url.path} {answer.status_code}: "
            + (answer.text[:200])
        )
    if answer.request.method in ("POST", "PATCH") and not answer.headers.get("etag"):
        return f"{answer.request.method} {answer.request.url.path}: no ETag"
    return ""


def _expect(answer: httpx.Response, status: int = 200) -> httpx.Response:
    if answer.status_code != status:
        raise RuntimeError(f"{answer.request.url}: {answer.status_code} {answer.text[:300]}")
    return answer


def _stop(org: Org) -> None:
    if org.server is not None and org.server.process.poll() is None:
        stop_server(org.server)


def report(results: Results) -> dict[str, Any]:
    """What the load test found, for the test's output and the benchmark report."""
    return {
        "seconds": round(results.seconds, 1),
        "requests": results.requests,
        "per_second": round(results.requests / results.seconds, 1) if results.seconds else 0,
        "errors": len(results.errors),
        "kinds": results.summary(),
    }
