"""Between two servers, as organisations run them: A (the sender) and B (the recipient),
each ``opengeomesh serve`` with its own data directory and keys, trust built by an invite,
signatures on (RFC 9421) and discovery cached. Measured: reading a collection through B's
mounted layer against reading it at A directly, the round trip of creating a share, and
the token exchange (B asks A's token endpoint for an access token with the share's secret).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

import measure
from loadgen import Wrk, merge
from systems import Process, log
from workload import CLI, HOST, cli, cli_env, free_port


class Org:
    """One organisation's server: its data directory, URL and host (``127.0.0.1:PORT``)."""

    def __init__(self, base: Path, name: str, organisation: str) -> None:
        self.port = free_port()
        self.host = f"{HOST}:{self.port}"
        self.url = f"http://{self.host}"
        self.data = base / name
        self.data.mkdir(parents=True)
        (self.data / "config.toml").write_text(
            f'public_url = "{self.url}"\norganisation = "{organisation}"\n'
            "allow_private_peers = true\n"
        )
        args = [str(CLI), "serve", "--data", str(self.data), "--host", HOST, "--port", "{port}"]
        self.server = Process(name, args, base / f"{name}.log", env=cli_env(), port=self.port)

    def cli(self, *args: str) -> str:
        return cli(*args, "--data", str(self.data))

    def token(self, user: str) -> str:
        return self.cli("token", "create", user, "--label", "bench")


def timed(action: Callable[[], httpx.Response], expect: int) -> float:
    began = time.perf_counter()
    response = action()
    elapsed = time.perf_counter() - began
    if response.status_code != expect:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text[:300]}")
    return elapsed


def measure_mesh(
    work: Path, source: Path, wrk: Wrk, *, rounds: int, seconds: float, shares: int, exchanges: int
) -> dict[str, Any]:
    """Mount overhead (wrk, 1 and 16 connections, interleaved), share creation round trips
    and token exchanges, between two fresh servers with one worker each."""
    base = work / "mesh"
    if base.exists():
        import shutil

        shutil.rmtree(base)
    base.mkdir(parents=True)
    a, b = Org(base, "a", "Feuerwehr Musterstadt"), Org(base, "b", "Leitstelle Nord")
    a.cli("user", "add", "alice")
    b.cli("user", "add", "bob")
    log("mesh: importing the layer into A")
    a.cli("collection", "import", "points", str(source), "--create", "--user", "alice")
    alice, bob = a.token("alice"), b.token("bob")
    with a.server, b.server:
        invite = a.cli("invite", "create", "--user", "alice")
        b.cli("invite", "accept", invite, "--user", "bob")
        ha = httpx.Client(base_url=a.url, headers={"Authorization": f"Bearer {alice}"}, timeout=60)
        hb = httpx.Client(base_url=b.url, headers={"Authorization": f"Bearer {bob}"}, timeout=60)
        with ha, hb:
            share = ha.post(
                "/manage/shares", json={"collection": "points", "share_with": f"bob@{b.host}"}
            )
            share.raise_for_status()
            pending = [
                s for s in hb.get("/manage/received-shares").json() if s["state"] == "pending"
            ]
            accepted = hb.post(f"/manage/received-shares/{pending[0]['id']}/accept")
            accepted.raise_for_status()
            mount = accepted.json()["mount_url"].removeprefix(b.url)
            received_id = pending[0]["id"]
            direct_t = wrk.targets_file("mesh-direct", ["/collections/points/items?limit=100"])
            mount_t = wrk.targets_file("mesh-mount", [f"{mount}/items?limit=100"])
            same = _same_page(
                ha, hb, "/collections/points/items?limit=100", f"{mount}/items?limit=100"
            )
            found: dict[str, list[dict[str, Any]]] = {}
            for number in range(rounds):
                for connections in (1, 16):
                    order = [("direct", a, direct_t, alice), ("mount", b, mount_t, bob)]
                    for name, org, targets, token in order if number % 2 == 0 else order[::-1]:
                        log(f"mesh: {name}, {connections} connection(s), round {number + 1}")
                        wrk.run(org.url, targets, seconds=1, connections=connections, token=token)
                        run = wrk.run(
                            org.url, targets, seconds=seconds, connections=connections, token=token
                        )
                        found.setdefault(f"{name}-{connections}", []).append(run)
            reads = {key: merge(runs) for key, runs in found.items()}
            log(f"mesh: {shares} share creations, {exchanges} token exchanges")
            creations = _share_round_trips(ha, hb, b.host, shares)
            exchange = [
                timed(lambda: hb.post(f"/manage/received-shares/{received_id}/access"), 200)
                for _ in range(exchanges)
            ]
            for_scale = [timed(lambda: hb.get("/manage/received-shares"), 200) for _ in range(20)]
    return {
        "reads": reads,
        "same_page": same,
        "share_creation_ms": measure.latency_ms(creations),
        "share_creations": len(creations),
        "token_exchange_ms": measure.latency_ms(exchange),
        "token_exchanges": len(exchange),
        "local_manage_request_ms": measure.latency_ms(for_scale),
    }


def _same_page(ha: httpx.Client, hb: httpx.Client, direct: str, mounted: str) -> bool:
    one = ha.get(direct, headers={"Accept": "application/geo+json"}).json()
    two = hb.get(mounted, headers={"Accept": "application/geo+json"}).json()
    return [f["id"] for f in one["features"]] == [f["id"] for f in two["features"]]


def _share_round_trips(ha: httpx.Client, hb: httpx.Client, b_host: str, count: int) -> list[float]:
    """Seconds of ``POST /manage/shares`` at A, which asks B at once (signed ``POST
    /ocm/shares``; A's discovery of B is cached by then); each share is checked at B."""
    times = []
    for number in range(count):
        layer = f"layer-{number}"
        ha.post(
            "/manage/collections", json={"id": layer, "title": f"Layer {number}"}
        ).raise_for_status()
        body = {"collection": layer, "share_with": f"bob@{b_host}"}
        times.append(timed(lambda body=body: ha.post("/manage/shares", json=body), 201))
    titles = {s["name"] for s in hb.get("/manage/received-shares").json()}
    missing = [n for n in range(count) if f"Layer {n}" not in titles]
    if missing:
        raise RuntimeError(f"shares not received at B: {missing}")
    return times
