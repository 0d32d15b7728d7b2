"""Sharing between two real servers (DESIGN.md, both flows in order): a fire brigade (A) shares
layers with a control room (B), a user and a group; B mounts them; GDAL reads them through B;
A downgrades, revokes, deletes a shared layer; B declines. Refusals: test_sharing_refusals.py."""

import socket
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pyogrio.raw
import shapely
import shapely.geometry

from opengeomesh import samples
from tests.conftest import gdal_env, start_server, stop_server
from tests.e2e.orgs import Org, eventually, token


def received(b: Org, auth: dict[str, str]) -> list[dict[str, Any]]:
    response = httpx.get(f"{b.url}/manage/received-shares", headers=auth)
    assert response.status_code == 200, response.text
    return list(response.json())


def sent(a: Org, auth: dict[str, str], share_id: int) -> dict[str, Any]:
    response = httpx.get(f"{a.url}/manage/shares/{share_id}", headers=auth)
    assert response.status_code == 200, response.text
    return dict(response.json())


def all_features(url: str, auth: dict[str, str], limit: int = 25) -> list[dict[str, Any]]:
    """Every feature of a collection, following ``next`` links as a client would."""
    features: list[dict[str, Any]] = []
    next_url: str | None = f"{url}/items?limit={limit}"
    while next_url:
        page = httpx.get(next_url, headers=auth)
        assert page.status_code == 200, page.text
        body = page.json()
        features += body["features"]
        next_url = next((x["href"] for x in body["links"] if x["rel"] == "next"), None)
        assert next_url is None or next_url.startswith(url)  # links lead to the same server
    return features


def test_share_accept_read_downgrade_revoke(sharing_orgs: tuple[Org, Org]) -> None:
    a, b = sharing_orgs
    alice, bob, dave = token(a, "alice"), token(b, "bob"), token(b, "dave")
    created = httpx.post(
        f"{a.url}/manage/shares",
        headers=alice,
        json={"collection": "hydrants", "share_with": f"bob@{b.host}", "permission": "write"},
    )
    assert created.status_code == 201, created.text
    share = created.json()
    assert share["state"] == "pending" and share["recipient_name"] == "Bob"
    assert share["delivery"] is None

    # B: pending for bob only; nothing mounted before acceptance
    pending = [s for s in received(b, bob) if s["name"] == "hydrants"]
    assert len(pending) == 1 and pending[0]["state"] == "pending"
    assert pending[0]["permission"] == "write" and pending[0]["sender"] == f"alice@{a.host}"
    assert all(s["name"] != "hydrants" for s in received(b, dave))
    mount = pending[0]["collection"]
    assert httpx.get(f"{b.url}/collections/{mount}", headers=bob).status_code == 404

    accepted = httpx.post(f"{b.url}/manage/received-shares/{pending[0]['id']}/accept", headers=bob)
    assert accepted.status_code == 200, accepted.text
    mount_url = accepted.json()["mount_url"]
    assert mount_url == f"{b.url}/collections/{mount}"
    assert eventually(lambda: sent(a, alice, share["id"])["state"] == "accepted")

    # bob reads the mounted layer through B: exactly A's features, B's links
    listed = httpx.get(f"{b.url}/collections", headers=bob).json()["collections"]
    assert mount in [c["id"] for c in listed]
    described = httpx.get(mount_url, headers=bob).json()
    assert described["numberOfFeatures"] == 137 and described["extent"]["spatial"]["bbox"]
    assert all(x["href"].startswith(b.url) for x in described["links"])
    original = all_features(f"{a.url}/collections/hydrants", alice, limit=1000)
    through_b = all_features(mount_url, bob, limit=25)
    assert through_b == original and len(original) == 137
    second = httpx.get(f"{mount_url}/items?limit=25", headers=bob).json()
    second = httpx.get(next(x["href"] for x in second["links"] if x["rel"] == "next"), headers=bob)
    back = next(x["href"] for x in second.json()["links"] if x["rel"] == "prev")
    assert back.startswith(mount_url)
    assert httpx.get(back, headers=bob).json()["features"] == original[:25]
    box = "9.90,51.50,9.94,51.54"
    inside = httpx.get(f"{mount_url}/items?bbox={box}&limit=1000", headers=bob).json()
    expected = httpx.get(f"{a.url}/collections/hydrants/items?bbox={box}&limit=1000", headers=alice)
    assert inside["features"] == expected.json()["features"] and inside["features"]
    one = httpx.get(f"{mount_url}/items/7", headers=bob)
    assert one.status_code == 200 and one.json()["id"] == 7 and one.headers["etag"]
    again = httpx.get(f"{mount_url}/items/7", headers={**bob, "If-None-Match": one.headers["etag"]})
    assert again.status_code == 304
    assert httpx.get(f"{mount_url}/items/99999", headers=bob).status_code == 404
    html = httpx.get(f"{mount_url}/items?f=html", headers=bob)
    assert html.status_code == 200 and "hydrants" in html.text
    assert httpx.get(mount_url, headers=dave).status_code == 404  # not dave's share

    # direct access: a token of A for the share, which opens that one collection
    direct = httpx.post(f"{b.url}/manage/received-shares/{pending[0]['id']}/access", headers=bob)
    assert direct.status_code == 200, direct.text
    holder = {"Authorization": f"Bearer {direct.json()['access_token']}"}
    assert direct.json()["collection_url"] == f"{a.url}/collections/hydrants"
    only = httpx.get(f"{a.url}/collections", headers=holder).json()["collections"]
    assert [c["id"] for c in only] == ["hydrants"] and only[0]["access"] == "write"
    assert httpx.get(f"{a.url}/collections/sectors", headers=holder).status_code == 404
    assert httpx.get(f"{a.url}/collections/sectors/items", headers=holder).status_code == 404
    assert httpx.get(f"{a.url}/manage/collections", headers=holder).status_code in (401, 403)

    # downgrade: effective at once on A, and B is told
    patched = httpx.patch(
        f"{a.url}/manage/shares/{share['id']}", headers=alice, json={"permission": "read"}
    )
    assert patched.status_code == 200 and patched.json()["permission"] == "read"
    now = httpx.get(f"{a.url}/collections/hydrants", headers=holder).json()
    assert now["access"] == "read"
    assert eventually(
        lambda: next(s for s in received(b, bob) if s["name"] == "hydrants")["permission"] == "read"
    )

    # revoke: the very next request with the token, and through the mount, fails
    revoked = httpx.delete(f"{a.url}/manage/shares/{share['id']}", headers=alice)
    assert revoked.status_code == 204
    refused = httpx.get(f"{a.url}/collections/hydrants/items", headers=holder)
    assert refused.status_code == 401 and "invalid_token" in refused.headers["www-authenticate"]
    assert httpx.get(f"{mount_url}/items", headers=bob).status_code == 404
    assert eventually(lambda: all(s["name"] != "hydrants" for s in received(b, bob)))
    listed = httpx.get(f"{b.url}/collections", headers=bob).json()["collections"]
    assert mount not in [c["id"] for c in listed]


def test_group_share_and_gdal_through_the_mount(sharing_orgs: tuple[Org, Org]) -> None:
    a, b = sharing_orgs
    made = a.cli(
        "share", "create", "sectors", f"control-room@{b.host}", "--group", "--user", "alice"
    )
    assert "pending" in made.stdout
    for member in ("bob", "dave"):
        listing = orjson.loads(
            b.cli("share", "list", "--user", member, "--received", "--json").stdout
        )
        assert [s["name"] for s in listing if s["recipient"] == "control-room"] == ["sectors"]
    frank = orjson.loads(b.cli("share", "list", "--user", "frank", "--received", "--json").stdout)
    assert frank == []
    listing = orjson.loads(b.cli("share", "list", "--user", "dave", "--received", "--json").stdout)
    share = next(s for s in listing if s["recipient"] == "control-room")
    b.cli("share", "accept", str(share["id"]), "--user", "dave")
    assert "accepted" in a.cli("share", "list", "--user", "alice").stdout

    bob_secret = b.cli("token", "create", "bob").stdout.strip()
    url = f"{b.url}/collections/{share['collection']}"
    with gdal_env(GDAL_HTTP_AUTH="BEARER", GDAL_HTTP_BEARER=bob_secret):
        meta, _, geometry, fields = pyogrio.raw.read(f"OAPIF:{url}")
    names = list(fields[list(meta["fields"]).index("name")])
    read_by_gdal = dict(zip(names, (shapely.from_wkb(g) for g in geometry), strict=True))
    on_a = {
        f["properties"]["name"]: shapely.geometry.shape(f["geometry"])
        for f in samples.incident_sectors()["features"]
    }
    assert read_by_gdal.keys() == on_a.keys()
    assert all(read_by_gdal[n].equals_exact(on_a[n], 1e-9) for n in on_a)
    alice, bob = token(a, "alice"), {"Authorization": f"Bearer {bob_secret}"}
    for when in ("2026-11-28T06:30:00Z/2026-11-28T07:10:00Z", "2026-11-28T06:34:00Z"):
        query = urlencode({"datetime": when})
        through_b = httpx.get(f"{url}/items?{query}", headers=bob).json()["features"]
        on_a = httpx.get(f"{a.url}/collections/sectors/items?{query}", headers=alice)
        assert through_b == on_a.json()["features"] and through_b
    frank_auth = token(b, "frank")
    assert httpx.get(url, headers=frank_auth).status_code == 404


def test_decline_and_deleting_a_shared_collection(sharing_orgs: tuple[Org, Org]) -> None:
    a, b = sharing_orgs
    alice, bob = token(a, "alice"), token(b, "bob")
    a.cli("collection", "create", "staging", "--user", "alice", "--title", "Staging areas")
    a.cli("collection", "create", "closures", "--user", "alice", "--title", "Road closures")
    ids = {}
    for name in ("staging", "closures"):
        made = httpx.post(
            f"{a.url}/manage/shares",
            headers=alice,
            json={"collection": name, "share_with": f"bob@{b.host}"},
        )
        assert made.status_code == 201, made.text
        ids[name] = made.json()["id"]
    by_name = {s["name"]: s for s in received(b, bob)}

    declined = httpx.post(
        f"{b.url}/manage/received-shares/{by_name['Staging areas']['id']}/decline", headers=bob
    )
    assert declined.status_code == 200 and declined.json()["mount_url"] is None
    assert eventually(lambda: sent(a, alice, ids["staging"])["state"] == "declined")
    again = httpx.post(
        f"{b.url}/manage/received-shares/{by_name['Staging areas']['id']}/accept", headers=bob
    )
    assert again.status_code == 400  # decided already

    accepted = httpx.post(
        f"{b.url}/manage/received-shares/{by_name['Road closures']['id']}/accept", headers=bob
    )
    mount_url = accepted.json()["mount_url"]
    assert httpx.get(f"{mount_url}/items", headers=bob).json()["features"] == []
    assert httpx.delete(f"{a.url}/manage/collections/closures", headers=alice).status_code == 204
    assert eventually(lambda: all(s["name"] != "Road closures" for s in received(b, bob)))
    assert httpx.get(mount_url, headers=bob).status_code == 404


def test_the_mount_says_when_the_sender_fails(sharing_orgs: tuple[Org, Org]) -> None:
    """Last in this module: it takes server A down and brings it back."""
    a, b = sharing_orgs
    assert a.server is not None
    alice, bob = token(a, "alice"), token(b, "bob")
    made = httpx.post(
        f"{a.url}/manage/shares",
        headers=alice,
        json={"collection": "vehicles", "share_with": f"bob@{b.host}"},
    )
    assert made.status_code == 201, made.text
    pending = next(s for s in received(b, bob) if s["name"] == "vehicles")
    url = httpx.post(f"{b.url}/manage/received-shares/{pending['id']}/accept", headers=bob).json()[
        "mount_url"
    ]
    assert httpx.get(f"{url}/items", headers=bob).status_code == 200

    port = int(a.host.rsplit(":", 1)[1])
    stop_server(a.server)
    down = httpx.get(f"{url}/items", headers=bob)
    assert down.status_code == 502, down.text
    assert a.host in down.json()["detail"]

    with socket.socket() as silent:  # accepts connections and never answers
        silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        silent.bind(("127.0.0.1", port))
        silent.listen(16)
        started = time.monotonic()
        slow = httpx.get(f"{url}/items", headers=bob, timeout=30)
        assert slow.status_code == 504, slow.text
        assert time.monotonic() - started < 10
    a.server = start_server(a.data, port=port)
    assert httpx.get(f"{url}/items", headers=bob).status_code == 200
