"""The page cache (api/page_cache.py): a read of a local layer asked for again is answered from
memory from its third time on (``Age``), and never once the database changed, for another
caller or host, or for a token that is no longer valid."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from opengeomesh import samples
from opengeomesh.app import serving_app
from opengeomesh.config import load_settings
from opengeomesh.ocm.sharing import SHARE_TOKEN_PREFIX
from opengeomesh.services import open_services
from tests.conftest import (
    InProcessClient,
    World,
    cli,
    open_trust_world,
    populate,
    share_hydrants,
    start_server,
    stop_server,
)

SECTORS = "/collections/sectors/items?limit=3"
HYDRANTS = "/collections/hydrants/items?limit=3"
GEOJSON = {"Content-Type": "application/geo+json"}


def sector(name: str) -> bytes:
    return orjson.dumps(
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [9.9, 51.5]},
            "properties": {"name": name, "established": "2026-11-29T08:00:00Z"},
        }
    )


def test_a_repeated_read_is_kept_until_the_layer_changes(
    client: InProcessClient, world: World
) -> None:
    first = client.get(SECTORS)
    second = client.get(SECTORS)  # asked for again: now kept
    again = client.get(SECTORS)
    assert first.status_code == second.status_code == again.status_code == 200
    assert "age" not in first.headers and "age" not in second.headers
    assert again.headers["age"] == "0"
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["content-crs"] == first.headers["content-crs"]
    matched = first.json()["numberMatched"]

    added = client.post(
        "/collections/sectors/items",
        headers={**world.auth("alice"), **GEOJSON},
        content=sector("C"),
    )
    assert added.status_code == 201, added.text
    after = client.get(SECTORS)
    assert "age" not in after.headers
    assert after.json()["numberMatched"] == matched + 1
    assert "age" in client.get(SECTORS).headers  # asked for before: kept at once

    # a write by another connection (this test's thread, not the app's) is seen at once too
    feature_id = first.json()["features"][0]["id"]
    for _ in range(2):
        assert client.get(f"/collections/sectors/items/{feature_id}").status_code == 200
    assert "age" in client.get(f"/collections/sectors/items/{feature_id}").headers
    world.services.editing.delete(
        world.services.accounts.caller_for_user("alice"), "sectors", feature_id, None
    )
    assert client.get(f"/collections/sectors/items/{feature_id}").status_code == 404
    assert client.get(SECTORS).json()["numberMatched"] == matched


def test_each_caller_and_host_gets_its_own_answer(client: InProcessClient, world: World) -> None:
    alice = world.auth("alice")
    for _ in range(2):
        assert client.get(HYDRANTS, headers=alice).status_code == 200
    assert "age" in client.get(HYDRANTS, headers=alice).headers
    assert client.get(HYDRANTS).status_code == 401
    assert client.get(HYDRANTS, headers=world.auth("carol")).status_code == 404
    client.get(HYDRANTS, headers=world.auth("bob"))
    bob = client.get(HYDRANTS, headers=world.auth("bob"))
    assert bob.status_code == 200 and "age" not in bob.headers

    client.get(HYDRANTS, headers={**alice, "Host": "maps.example.org"})
    elsewhere = client.get(HYDRANTS, headers={**alice, "Host": "maps.example.org"})
    assert "age" not in elsewhere.headers
    assert elsewhere.json()["links"][0]["href"].startswith("http://maps.example.org/")
    client.get(HYDRANTS, headers={**alice, "Origin": "https://map.example.org"})
    browser = client.get(HYDRANTS, headers={**alice, "Origin": "https://map.example.org"})
    assert "age" not in browser.headers and browser.headers["access-control-allow-origin"] == "*"


def test_what_is_never_kept(client: InProcessClient, world: World) -> None:
    alice = world.auth("alice")
    html = {**alice, "Accept": "text/html"}
    for headers in (html, {**alice, "If-None-Match": '"x"'}, {**alice, "Cookie": "a=b"}):
        for _ in range(2):
            client.get(HYDRANTS, headers=headers)
        assert "age" not in client.get(HYDRANTS, headers=headers).headers
    for _ in range(2):
        client.get("/collections/hydrants?f=json", headers=alice)
    assert "age" not in client.get("/collections/hydrants?f=json", headers=alice).headers
    for _ in range(2):
        client.get(HYDRANTS + "&bad=1", headers=alice)
    refused = client.get(HYDRANTS + "&bad=1", headers=alice)
    assert refused.status_code == 400 and "age" not in refused.headers


@pytest.fixture
def sharing_client(tmp_path: Path) -> Iterator[tuple[World, InProcessClient]]:
    with open_trust_world(tmp_path / "data", rate_limit_per_minute_token=5) as opened:
        yield opened


def test_a_kept_answer_is_refused_to_an_expired_token_and_counted(
    sharing_client: tuple[World, InProcessClient],
) -> None:
    world, client = sharing_client
    brief = SHARE_TOKEN_PREFIX + "page-cache-brief"
    expires = time.time() + 1.5
    share_hydrants(client, world, brief, 1.5)
    bearer = {"Authorization": f"Bearer {brief}"}
    for _ in range(2):
        assert client.get(HYDRANTS, headers=bearer).status_code == 200
    assert "age" in client.get(HYDRANTS, headers=bearer).headers
    time.sleep(max(0.0, expires - time.time()) + 0.2)
    expired = client.get(HYDRANTS, headers=bearer)
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]

    # answers from memory count against the token's rate (5 a minute here)
    fresh = {"Authorization": f"Bearer {world.services.accounts.create_token('alice').secret}"}
    statuses = [client.get(SECTORS, headers=fresh).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


def test_off_when_set_to_zero(tmp_path: Path) -> None:
    settings = load_settings({"data_dir": tmp_path / "data", "page_cache_mib": 0}, environ={})
    services = open_services(settings)
    populate(services)
    client = InProcessClient(serving_app(settings, services), "http://ogm.test")
    try:
        for _ in range(2):
            client.get(SECTORS)
        assert "age" not in client.get(SECTORS).headers
    finally:
        client.close()
        services.close()


def test_a_write_by_another_process_is_seen_by_both_workers(tmp_path: Path) -> None:
    """Two workers keep their own answers; the CLI's import (a third process) moves the
    database's version, so neither serves what it kept before."""
    data = tmp_path / "data"
    source = tmp_path / "hydrants.geojson"
    source.write_bytes(orjson.dumps(samples.hydrants(40)))
    cli("user", "add", "alice", data=data)
    cli(
        "collection",
        "import",
        "hydrants",
        str(source),
        "--create",
        "--user",
        "alice",
        "--public",
        data=data,
    )
    server = start_server(data, "--workers", "2")
    try:
        url = f"{server.url}/collections/hydrants/items?limit=1"

        def matched_by_each_worker() -> set[tuple[int, bool]]:
            seen = set()
            for _ in range(40):  # new connections land on either worker
                with httpx.Client() as fresh:
                    answer = fresh.get(url)
                assert answer.status_code == 200
                seen.add((answer.json()["numberMatched"], "age" in answer.headers))
            return seen

        before = matched_by_each_worker()
        assert {matched for matched, _ in before} == {40}
        assert (40, True) in before
        more = samples.hydrants(2)
        for feature in more["features"]:
            feature.pop("id", None)
        source.write_bytes(orjson.dumps(more))
        cli("collection", "import", "hydrants", str(source), "--user", "alice", data=data)
        after = matched_by_each_worker()
        assert {matched for matched, _ in after} == {42}
    finally:
        stop_server(server)


def test_concurrent_writes_and_reads_end_in_the_last_state(
    client: InProcessClient, world: World
) -> None:
    """Reads racing with writes of another thread: once the writes are done, the next read
    shows every one of them."""
    alice = world.services.accounts.caller_for_user("alice")
    start = client.get(SECTORS).json()["numberMatched"]

    def write() -> None:
        for number in range(20):
            world.services.editing.create(alice, "sectors", orjson.loads(sector(f"W{number}")))

    writer = threading.Thread(target=write)
    writer.start()
    while writer.is_alive():
        assert client.get(SECTORS).status_code == 200
    writer.join()
    assert client.get(SECTORS).json()["numberMatched"] == start + 20
