"""OGC API – Features Part 4 in process: create, replace, update, delete, ETags and
If-Match, OPTIONS, who may write, bad bodies, and the record of changes."""

import threading
from typing import Any

import orjson
from pyproj import Transformer

from tests.conftest import InProcessClient, World

GEOJSON = {"Content-Type": "application/geo+json"}
ITEMS = "/collections/hydrants/items"


def hydrant(x: float = 9.95, y: float = 51.53, **properties: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [x, y]},
        "properties": {"kind": "pillar", **properties},
    }


def post(client: InProcessClient, world: World, user: str, body: Any, **headers: str) -> Any:
    return client.post(
        ITEMS, headers={**world.auth(user), **GEOJSON, **headers}, content=orjson.dumps(body)
    )


def test_create_read_replace_update_delete(client: InProcessClient, world: World) -> None:
    alice = world.auth("alice")
    before = client.get("/collections/hydrants", headers=alice).json()["numberOfFeatures"]
    created = post(client, world, "alice", hydrant(flow_l_min=900))
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    feature_id = location.rsplit("/items/", 1)[1]
    assert location == f"http://ogm.test{ITEMS}/{feature_id}"
    assert created.json()["properties"]["flow_l_min"] == 900
    first = client.get(location, headers=alice)
    assert first.headers["etag"] == created.headers["etag"]
    count = client.get("/collections/hydrants", headers=alice).json()["numberOfFeatures"]
    assert count == before + 1

    replaced = client.put(
        location,
        headers={**alice, **GEOJSON, "If-Match": first.headers["etag"]},
        content=orjson.dumps(hydrant(9.96, 51.54, flow_l_min=1200)),
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.headers["etag"] != first.headers["etag"]
    assert replaced.json()["geometry"]["coordinates"] == [9.96, 51.54]
    stale = client.put(
        location,
        headers={**alice, **GEOJSON, "If-Match": first.headers["etag"]},
        content=orjson.dumps(hydrant()),
    )
    assert stale.status_code == 412
    assert client.get(location, headers=alice).json()["geometry"]["coordinates"] == [9.96, 51.54]

    patched = client.patch(
        location,
        headers={**alice, "Content-Type": "application/merge-patch+json"},
        content=orjson.dumps({"properties": {"kind": None, "checked": "2026-11-29"}}),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["properties"] == {"flow_l_min": 1200, "checked": "2026-11-29"}
    moved = client.get(f"{ITEMS}?bbox=9.955,51.535,9.965,51.545&limit=1000", headers=alice)
    assert feature_id in [str(f["id"]) for f in moved.json()["features"]]

    assert client.delete(location, headers=alice).status_code == 204
    assert client.get(location, headers=alice).status_code == 404
    assert client.delete(location, headers=alice).status_code == 404
    after = client.get("/collections/hydrants", headers=alice).json()["numberOfFeatures"]
    assert after == before

    changes = client.get("/manage/collections/hydrants/changes", headers=alice).json()
    assert [c["action"] for c in changes[:4]] == ["delete", "update", "replace", "create"]
    assert {c["actor"] for c in changes[:4]} == {"alice"}
    assert (
        client.get("/manage/collections/hydrants/changes", headers=world.auth("bob")).status_code
        == 403
    )


def test_who_may_write(client: InProcessClient, world: World) -> None:
    # bob reads hydrants through his group; carol may not see it; nobody is anonymous
    assert post(client, world, "bob", hydrant()).status_code == 403
    assert post(client, world, "carol", hydrant()).status_code == 404
    anonymous = client.post(ITEMS, headers=GEOJSON, content=orjson.dumps(hydrant()))
    assert anonymous.status_code == 401
    assert client.delete(f"{ITEMS}/1", headers=world.auth("bob")).status_code == 403
    assert client.get(f"{ITEMS}/1", headers=world.auth("bob")).status_code == 200

    def allowed(user: str, url: str) -> set[str]:
        answer = client.request("OPTIONS", url, headers=world.auth(user))
        assert answer.status_code == 200, answer.text
        return {m.strip() for m in answer.headers["allow"].split(",")}

    assert "POST" in allowed("alice", ITEMS) and "POST" not in allowed("bob", ITEMS)
    assert {"PUT", "PATCH", "DELETE"} <= allowed("alice", f"{ITEMS}/1")
    assert {"PUT", "PATCH", "DELETE"} <= allowed("alice", f"{ITEMS}/no-such-feature")
    assert allowed("bob", f"{ITEMS}/1") == {"GET", "HEAD", "OPTIONS"}
    assert client.request("OPTIONS", ITEMS, headers=world.auth("carol")).status_code == 404


def test_bad_writes_change_nothing(client: InProcessClient, world: World) -> None:
    alice = world.auth("alice")
    before = client.get(f"{ITEMS}/1", headers=alice)
    cases = [
        (hydrant(x=400), 400, "coordinates"),
        ({"type": "Point", "coordinates": [1, 2]}, 400, "type"),
        ({**hydrant(), "properties": [1]}, 400, "properties"),
    ]
    for body, status, word in cases:
        answer = post(client, world, "alice", body)
        assert answer.status_code == status and word in answer.json()["detail"], answer.text
    assert post(client, world, "alice", {**hydrant(), "id": 1}).status_code == 409
    wrong_type = client.post(ITEMS, headers={**alice, "Content-Type": "text/plain"}, content=b"x")
    assert wrong_type.status_code == 415
    not_json = client.post(ITEMS, headers={**alice, **GEOJSON}, content=b"{")
    assert not_json.status_code == 400
    huge = {**hydrant(), "properties": {"note": "x" * (5 << 20)}}
    assert post(client, world, "alice", huge).status_code == 413
    renamed = client.put(
        f"{ITEMS}/1", headers={**alice, **GEOJSON}, content=orjson.dumps({**hydrant(), "id": 2})
    )
    assert renamed.status_code == 400 and "id" in renamed.json()["detail"]
    repatched = client.patch(
        f"{ITEMS}/1",
        headers={**alice, "Content-Type": "application/merge-patch+json"},
        content=orjson.dumps({"id": 99}),
    )
    assert repatched.status_code == 400
    missing = client.put(
        f"{ITEMS}/no-such",
        headers={**alice, **GEOJSON, "If-Match": '"x"'},
        content=orjson.dumps(hydrant()),
    )
    assert missing.status_code == 412  # If-Match never creates
    other_crs = post(
        client,
        world,
        "alice",
        hydrant(),
        **{"Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/31467>"},
    )
    assert other_crs.status_code == 400 and other_crs.json()["parameter"] == "Content-Crs"
    for crs in (
        "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>",
        "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
    ):
        assert post(client, world, "alice", hydrant(), **{"Content-Crs": crs}).status_code == 201
    after = client.get(f"{ITEMS}/1", headers=alice)
    assert after.json() == before.json() and after.headers["etag"] == before.headers["etag"]


def test_a_body_in_utm_is_stored_in_crs84(client: InProcessClient, world: World) -> None:
    easting, northing = 565000.0, 5709000.0  # near Göttingen, ETRS89 / UTM 32N
    lon, lat = Transformer.from_crs("EPSG:25832", "OGC:CRS84", always_xy=True).transform(
        easting, northing
    )
    body = {**hydrant(), "geometry": {"type": "Point", "coordinates": [easting, northing]}}
    made = post(
        client,
        world,
        "alice",
        body,
        **{"Content-Crs": "http://www.opengis.net/def/crs/EPSG/0/25832"},
    )
    assert made.status_code == 201, made.text
    assert made.headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    stored = made.json()["geometry"]["coordinates"]
    assert abs(stored[0] - lon) < 1e-8 and abs(stored[1] - lat) < 1e-8
    back = client.get(
        made.headers["location"] + "?crs=http://www.opengis.net/def/crs/EPSG/0/25832",
        headers=world.auth("alice"),
    ).json()["geometry"]["coordinates"]
    assert abs(back[0] - easting) < 0.01 and abs(back[1] - northing) < 0.01
    # an ETag read in another CRS still names this version for If-Match
    etag = client.get(
        made.headers["location"] + "?crs=EPSG:25832", headers=world.auth("alice")
    ).headers["etag"]
    patched = client.patch(
        made.headers["location"],
        headers={
            **world.auth("alice"),
            "Content-Type": "application/merge-patch+json",
            "If-Match": etag,
        },
        content=orjson.dumps({"properties": {"kind": "wall"}}),
    )
    assert patched.status_code == 200, patched.text


def test_patching_a_geometry_replaces_it_whole(client: InProcessClient, world: World) -> None:
    alice = world.auth("alice")
    patched = client.patch(
        f"{ITEMS}/3",
        headers={**alice, "Content-Type": "application/merge-patch+json"},
        content=orjson.dumps(
            {
                "geometry": {
                    "type": "GeometryCollection",
                    "geometries": [{"type": "Point", "coordinates": [9.9, 51.5]}],
                }
            }
        ),
    )
    assert patched.status_code == 200, patched.text
    assert "coordinates" not in patched.json()["geometry"]


def test_the_caller_is_checked_before_the_body(client: InProcessClient, world: World) -> None:
    odd = {"Content-Type": "text/plain"}
    assert client.post(ITEMS, headers=odd, content=b"x").status_code == 401
    assert client.post(ITEMS, headers={**world.auth("bob"), **odd}, content=b"x").status_code == 403
    assert (
        client.post(ITEMS, headers={**world.auth("carol"), **odd}, content=b"x").status_code == 404
    )


def test_many_patches_at_once_all_land(client: InProcessClient, world: World) -> None:
    alice = world.auth("alice")
    answers: list[int] = []

    def patch(n: int) -> None:
        answer = client.patch(
            f"{ITEMS}/4",
            headers={**alice, "Content-Type": "application/merge-patch+json"},
            content=orjson.dumps({"properties": {f"p{n}": n}}),
        )
        answers.append(answer.status_code)

    threads = [threading.Thread(target=patch, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 20
    properties = client.get(f"{ITEMS}/4", headers=alice).json()["properties"]
    assert all(properties[f"p{n}"] == n for n in range(20))  # no merge undid another
