"""Between two servers, as organisations run them: A (the sender) and B (the recipient),
each ``opengeomesh serve`` with its own data directory and keys, trust built by an invite,
signatures on (RFC 9421) and discovery cached. Measured: reading a collection through B's
mounted layer against reading it at A directly, the round trip of creating a share, and
the token exchange (B asks A's token endpoint for an access token with the share's secret).

Alone, for iterating on the mount's cost: ``.venv/bin/python bench/mesh.py [--rounds N]
[--seconds S] [--before SRC]`` measures only the reads, A directly and through B's mount in
interleaved rounds; ``--before`` adds a second B running the code of another source tree
(``git archive COMMIT src | tar -x -C DIR``; ``DIR/src``), so before and after share the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

import measure
from loadgen import Wrk, merge, tree_cpu_s
from systems import Process, log
from workload import CLI, HOST, cli, cli_env, free_port


class Org:
    """One organisation's server: its data directory, URL and host (``127.0.0.1:PORT``);
    ``code`` runs it from another source tree (its ``src``) instead of this one."""

    def __init__(
        self,
        base: Path,
        name: str,
        organisation: str,
        code: Path | None = None,
        config: str = "",
    ) -> None:
        self.port = free_port()
        self.host = f"{HOST}:{self.port}"
        self.url = f"http://{self.host}"
        self.data = base / name
        self.data.mkdir(parents=True)
        (self.data / "config.toml").write_text(
            f'public_url = "{self.url}"\norganisation = "{organisation}"\n'
            "allow_private_peers = true\n" + config
        )
        args = [str(CLI), "serve", "--data", str(self.data), "--host", HOST, "--port", "{port}"]
        env = cli_env()
        if code is not None:
            env["PYTHONPATH"] = str(code)
        self.server = Process(name, args, base / f"{name}.log", env=env, port=self.port)

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
    # B keeps the answers of its mounted layers while it follows A's change feed; a second
    # recipient, C, runs with the defaults and asks A on every read
    a = Org(base, "a", "Feuerwehr Musterstadt")
    b = Org(base, "b", "Leitstelle Nord", config="page_cache_mounts = true\n")
    c = Org(base, "c", "Leitstelle Süd")
    a.cli("user", "add", "alice")
    for org in (b, c):
        org.cli("user", "add", "bob")
    log("mesh: importing the layer into A")
    a.cli("collection", "import", "points", str(source), "--create", "--user", "alice")
    alice, bob, carl = a.token("alice"), b.token("bob"), c.token("bob")
    with a.server, b.server, c.server:
        for org in (b, c):
            org.cli(
                "invite", "accept", a.cli("invite", "create", "--user", "alice"), "--user", "bob"
            )
        ha = httpx.Client(base_url=a.url, headers={"Authorization": f"Bearer {alice}"}, timeout=60)
        hb = httpx.Client(base_url=b.url, headers={"Authorization": f"Bearer {bob}"}, timeout=60)
        hc = httpx.Client(base_url=c.url, headers={"Authorization": f"Bearer {carl}"}, timeout=60)
        with ha, hb, hc:
            mount, received_id = _mount(ha, hb, b)
            plain, _ = _mount(ha, hc, c)
            page = "/collections/points/items?limit=100"
            same = _same_page(ha, hb, page, f"{mount}/items?limit=100") and _same_page(
                ha, hc, page, f"{plain}/items?limit=100"
            )
            rows = [
                ("direct", a, wrk.targets_file("mesh-direct", [page]), alice),
                ("mount", b, wrk.targets_file("mesh-mount", [f"{mount}/items?limit=100"]), bob),
                (
                    "mount-plain",
                    c,
                    wrk.targets_file("mesh-plain", [f"{plain}/items?limit=100"]),
                    carl,
                ),
            ]
            found: dict[str, list[dict[str, Any]]] = {}
            for number in range(rounds):
                for connections in (1, 16):
                    turn = number % len(rows)
                    for name, org, targets, token in rows[turn:] + rows[:turn]:
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


def _mount(ha: httpx.Client, hb: httpx.Client, b: Org) -> tuple[str, int]:
    """A shares ``points`` with bob of B, who accepts: the mount's path at B, and the
    received share's id."""
    share = ha.post("/manage/shares", json={"collection": "points", "share_with": f"bob@{b.host}"})
    share.raise_for_status()
    pending = [s for s in hb.get("/manage/received-shares").json() if s["state"] == "pending"]
    accepted = hb.post(f"/manage/received-shares/{pending[0]['id']}/accept")
    accepted.raise_for_status()
    return accepted.json()["mount_url"].removeprefix(b.url), int(pending[0]["id"])


def measure_reads(
    work: Path, source: Path, wrk: Wrk, *, rounds: int, seconds: float, before: Path | None
) -> dict[str, dict[str, Any]]:
    """Only the reads: A directly, through B's mount and (``before``) through the mount of a
    second B running other code; wrk with 1 and 16 connections, in rounds whose order turns."""
    import tempfile

    work.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="mesh-reads-", dir=work))  # runs may overlap
    a = Org(base, "a", "Feuerwehr Musterstadt")
    bs = {"mount": Org(base, "b", "Leitstelle Nord")}
    if before is not None:
        bs["mount-before"] = Org(base, "b0", "Leitstelle Süd", code=before)
    a.cli("user", "add", "alice")
    log("mesh: importing the layer into A")
    a.cli("collection", "import", "points", str(source), "--create", "--user", "alice")
    alice = a.token("alice")
    rows: list[tuple[str, Org, Path, str]] = [
        (
            "direct",
            a,
            wrk.targets_file("mesh-direct", ["/collections/points/items?limit=100"]),
            alice,
        )
    ]
    with a.server:
        for name, b in bs.items():
            b.cli("user", "add", "bob")
            bob = b.token("bob")
            b.server.__enter__()
            b.cli("invite", "accept", a.cli("invite", "create", "--user", "alice"), "--user", "bob")
            ha = httpx.Client(base_url=a.url, headers={"Authorization": f"Bearer {alice}"})
            hb = httpx.Client(base_url=b.url, headers={"Authorization": f"Bearer {bob}"})
            with ha, hb:
                mount, _ = _mount(ha, hb, b)
                if not _same_page(
                    ha, hb, "/collections/points/items?limit=100", f"{mount}/items?limit=100"
                ):
                    raise RuntimeError(f"{name}: the mounted page differs from A's")
            rows.append(
                (name, b, wrk.targets_file(f"mesh-{name}", [f"{mount}/items?limit=100"]), bob)
            )
        try:
            found: dict[str, list[dict[str, Any]]] = {}
            for number in range(rounds):
                for connections in (1, 16):
                    turn = number % len(rows)
                    for name, org, targets, token in rows[turn:] + rows[:turn]:
                        wrk.run(org.url, targets, seconds=1, connections=connections, token=token)
                        cpu = tree_cpu_s(a.server.pid), tree_cpu_s(org.server.pid)
                        run = wrk.run(
                            org.url, targets, seconds=seconds, connections=connections, token=token
                        )
                        at_a = tree_cpu_s(a.server.pid) - cpu[0]
                        at_b = tree_cpu_s(org.server.pid) - cpu[1] if org is not a else 0.0
                        per = 1000 / max(1, run["requests"])
                        run["cpu_ms_per_request"] = per * (at_a + at_b)
                        run["a_cpu_ms_per_request"] = per * at_a
                        found.setdefault(f"{name}-{connections}", []).append(run)
                        log(
                            f"mesh: round {number + 1}, {name}, {connections} connection(s):"
                            f" median {run['median_ms']:.2f} ms, {run['per_second']:.0f}/s,"
                            f" CPU per request {run['cpu_ms_per_request']:.2f} ms"
                            f" (A {run['a_cpu_ms_per_request']:.2f})"
                        )
        finally:
            for b in bs.values():
                b.server.stop()
    import shutil

    shutil.rmtree(base, ignore_errors=True)
    return {
        key: merge(runs)
        | {
            "runs": runs,
            "cpu_ms_per_request": _median([r["cpu_ms_per_request"] for r in runs]),
            "a_cpu_ms_per_request": _median([r["a_cpu_ms_per_request"] for r in runs]),
        }
        for key, runs in found.items()
    }


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values)


def main() -> int:
    import argparse
    import json

    from workload import BENCH_DIR, data_file

    parser = argparse.ArgumentParser(description="Reading through a mounted layer, only.")
    parser.add_argument("--features", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--before", type=Path, help="the src directory of the code to compare")
    args = parser.parse_args()
    work = BENCH_DIR / ".work"
    reads = measure_reads(
        work,
        data_file(work, args.features),
        Wrk(work / "wrk"),
        rounds=args.rounds,
        seconds=args.seconds,
        before=args.before,
    )
    (work / "mesh-reads.json").write_text(json.dumps(reads, indent=2))
    for connections in (1, 16):
        direct = reads[f"direct-{connections}"]
        for name in ("direct", "mount", "mount-before"):
            row = reads.get(f"{name}-{connections}")
            if row is None:
                continue
            ratios = [
                r["median_ms"] / d["median_ms"]
                for r, d in zip(row["runs"], direct["runs"], strict=True)
            ]
            print(
                f"{name:>12} c={connections:<2} median {row['median_ms']:6.2f} ms"
                f" ({row['median_ms'] / direct['median_ms']:.2f}x; by round"
                f" {', '.join(f'{x:.2f}' for x in ratios)}),"
                f" {row['per_second']:6.0f}/s ({direct['per_second'] / row['per_second']:.2f}x),"
                f" CPU per request {row['cpu_ms_per_request']:.2f} ms"
                f" (A {row['a_cpu_ms_per_request']:.2f})"
            )
    return 0


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


if __name__ == "__main__":
    raise SystemExit(main())
