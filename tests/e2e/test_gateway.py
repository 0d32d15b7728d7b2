"""OpenGeoMesh in front of a real pygeoapi (issue 10): the operator of A registers pygeoapi as
an upstream, Alice exposes its hydrants and shares them with Bob on B; Bob reads them through
his mount, also with GDAL; a change of pygeoapi's data reaches subscribers of the change feed
on A and through B's mount; revoking works; a stopped pygeoapi gives B a quick 502."""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pyogrio.raw
import pytest

from tests.conftest import free_port, gdal_env
from tests.e2e.orgs import Org, eventually, token
from tests.e2e.pygeoapi_upstream import HYDRANTS, Pygeoapi, start_pygeoapi
from tests.e2e.test_sharing_changes import Subscriber


@pytest.fixture(scope="module")
def pygeoapi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pygeoapi]:
    server = start_pygeoapi(tmp_path_factory.mktemp("pygeoapi"), free_port())
    try:
        yield server
    finally:
        server.stop()


def _all(url: str, auth: dict[str, str]) -> list[dict[str, object]]:
    features: list[dict[str, object]] = []
    next_url: str | None = f"{url}/items?limit=3"
    while next_url:
        page = httpx.get(next_url, headers=auth)
        assert page.status_code == 200, page.text
        features += page.json()["features"]
        next_url = next((x["href"] for x in page.json()["links"] if x["rel"] == "next"), None)
        assert next_url is None or next_url.startswith(url)
    return features


def test_pygeoapi_behind_a_shared_with_b(
    sharing_orgs: tuple[Org, Org], pygeoapi: Pygeoapi, tmp_path: Path
) -> None:
    a, b = sharing_orgs
    added = a.cli(
        "upstream", "add", pygeoapi.url, "--name", "pygeoapi", "--auth", "header",
        "--header", "X-Api-Key:s3cret-value", "--allow-private",
    )  # fmt: skip
    assert "registered" in added.stdout and "write" in added.stdout
    listed = a.cli("upstream", "list").stdout
    assert "pygeoapi" in listed and "X-Api-Key" in listed and "s3cret" not in listed
    a.cli("upstream", "expose", "pygeoapi", "hydrants", "--id", "pg-hydrants", "--user", "alice")
    assert "s3cret" not in (a.data / "opengeomesh.sqlite").read_bytes().decode("latin-1")

    alice = token(a, "alice")
    url = f"{a.url}/collections/pg-hydrants"
    described = httpx.get(url, headers=alice).json()
    assert described["title"] == "Hydrants of Musterstadt"
    assert described["owner"] == "alice" and described["extent"]["spatial"]["bbox"]
    expected = [dict(f, id=f["id"]) for f in HYDRANTS["features"]]
    assert _all(url, alice) == expected  # paged through pygeoapi's offsets, in our cursors
    inside = httpx.get(f"{url}/items?bbox=9.90,51.50,9.935,51.52", headers=alice).json()
    assert [f["id"] for f in inside["features"]] == ["1", "2", "3"]
    one = httpx.get(f"{url}/items/4", headers=alice)
    assert one.status_code == 200 and one.json()["properties"]["name"] == "Hydrant 4"
    assert httpx.get(f"{url}/items/404", headers=alice).status_code == 404
    filtered = httpx.get(f"{url}/items", params={"filter": "kind = 'pillar'"}, headers=alice)
    assert filtered.status_code == 400 and "Part 3" in filtered.json()["detail"]
    written = httpx.post(
        f"{url}/items",
        headers={**alice, "Content-Type": "application/geo+json"},
        content=orjson.dumps(HYDRANTS["features"][0]),
    )
    # pygeoapi declares Part 4 server-wide; its GeoJSON provider is not editable and says so
    assert written.status_code == 400 and "editable" in written.json()["detail"], written.text
    erin = token(a, "erin")
    assert httpx.get(url, headers=erin).status_code == 404  # the catalog's access rule holds
    assert httpx.get(f"{a.url}/manage/upstreams", headers=alice).status_code == 403

    # share with Bob on B; he reads the layer through his mount, also with GDAL
    made = httpx.post(
        f"{a.url}/manage/shares",
        headers=alice,
        json={"collection": "pg-hydrants", "share_with": f"bob@{b.host}"},
    )
    assert made.status_code == 201, made.text
    bob_secret = b.cli("token", "create", "bob").stdout.strip()
    bob = {"Authorization": f"Bearer {bob_secret}"}
    pending = eventually(
        lambda: [
            s
            for s in httpx.get(f"{b.url}/manage/received-shares", headers=bob).json()
            if s["name"] == "Hydrants of Musterstadt"
        ]
    )
    accepted = httpx.post(f"{b.url}/manage/received-shares/{pending[0]['id']}/accept", headers=bob)
    assert accepted.status_code == 200, accepted.text
    mount = accepted.json()["mount_url"]
    assert _all(mount, bob) == expected
    with gdal_env(GDAL_HTTP_AUTH="BEARER", GDAL_HTTP_BEARER=bob_secret):
        meta, _, geometry, fields = pyogrio.raw.read(f"OAPIF:{mount}")
    names = sorted(fields[list(meta["fields"]).index("name")])
    assert names == sorted(f["properties"]["name"] for f in HYDRANTS["features"])
    assert len(geometry) == 7

    # pygeoapi's data changes (its GeoJSON provider reads the file on every request): A's
    # poller (every 0.5 s here) publishes the differences; subscribers on A and through B's
    # mount get them as CloudEvents. The first poll, long done, took only the snapshot.
    assert httpx.get(f"{url}/changes", headers=alice).json()["events"] == []
    on_a = Subscriber(f"{url}/changes", alice, until=2)
    on_b = Subscriber(f"{mount}/changes", bob, until=2)
    for subscriber in (on_a, on_b):
        subscriber.start()
        assert subscriber.started(), subscriber.failure
    changed = orjson.loads(orjson.dumps(HYDRANTS))
    changed["features"][1]["properties"]["name"] = "Hydrant 2 (moved)"
    changed["features"].append(
        {
            "type": "Feature",
            "id": "8",
            "geometry": {"type": "Point", "coordinates": [9.99, 51.54]},
            "properties": {"name": "Hydrant 8", "kind": "pillar"},
        }
    )
    written_file = pygeoapi.data.with_suffix(".tmp")
    written_file.write_bytes(orjson.dumps(changed))
    os.replace(written_file, pygeoapi.data)  # whole, never half-written
    for subscriber in (on_a, on_b):
        subscriber.join(20)
        assert subscriber.failure is None and len(subscriber.events) == 2, subscriber.failure
    for subscriber, source in ((on_a, url), (on_b, mount)):
        events = subscriber.events
        assert [e["type"] for e in events] == [
            "org.ogc.api.collection.item.update",
            "org.ogc.api.collection.item.create",
        ]
        assert [e["subject"] for e in events] == ["2", "8"]
        assert events[0]["data"]["properties"]["name"] == "Hydrant 2 (moved)"
        assert {e["source"] for e in events} == {source}
        assert b"upstream" not in orjson.dumps(events)  # who changed it is not in the feed
    assert _all(mount, bob)[-1]["id"] == "8"

    # pygeoapi stops: B answers quickly with a clear 502, not a hang
    pygeoapi.stop()
    started = time.monotonic()
    down = httpx.get(f"{mount}/items", headers=bob, timeout=30)
    assert down.status_code == 502, down.text
    assert time.monotonic() - started < 10
    assert "upstream 'pygeoapi'" in down.json()["detail"]  # A's 502, passed on by B
    direct = httpx.get(f"{url}/items", headers=alice)
    assert direct.status_code == 502 and "upstream 'pygeoapi'" in direct.json()["detail"]

    # revoking: the mount is gone at once
    revoked = httpx.delete(f"{a.url}/manage/shares/{made.json()['id']}", headers=alice)
    assert revoked.status_code == 204
    assert httpx.get(f"{mount}/items", headers=bob).status_code == 404

    # the upstream cannot be removed while it feeds a collection
    refused = a.cli("upstream", "remove", "pygeoapi", check=False)
    assert refused.returncode != 0 and "pg-hydrants" in refused.stderr
    a.cli("collection", "delete", "pg-hydrants", "--user", "alice")
    a.cli("upstream", "remove", "pygeoapi")
    assert "pygeoapi" not in a.cli("upstream", "list").stdout
