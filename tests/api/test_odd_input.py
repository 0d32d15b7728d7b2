"""Odd and hostile input gets a clear 4xx naming the culprit, never a 500 (found in review)."""

import io
import threading
import time

import orjson
import pytest

from tests.conftest import InProcessClient, World

ITEMS = "/collections/hydrants/items"


def feature(geometry: object, **properties: object) -> dict[str, object]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def import_body(
    client: InProcessClient,
    world: World,
    collection: str,
    body: bytes,
    media: str = "application/geo+json",
):  # type: ignore[no-untyped-def]
    return client.post(
        f"/manage/collections/{collection}/import",
        content=body,
        headers={**world.auth("alice"), "Content-Type": media},
    )


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("offset=9223372036854775808", "offset"),
        ("limit=" + "9" * 5000, "limit"),
        ("limit=²", "limit"),
        ("limit=１２", "limit"),
        ("bbox=1_0,50,11,51", "bbox"),
        ("cursor=bjEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA", "cursor"),
        ("datetime=9999-12-31T23:30:00-01:00", "datetime"),
        ("datetime=2026-11-28T06:17:00", "datetime"),
        ("datetime=2026-11-28T06:00:00%2B25:00", "datetime"),
    ],
)
def test_out_of_range_parameters(
    client: InProcessClient, world: World, query: str, parameter: str
) -> None:
    response = client.get(f"{ITEMS}?{query}", headers=world.auth("bob"))
    assert response.status_code == 400, response.text
    assert response.json()["parameter"] == parameter


def test_far_dates_are_fine(client: InProcessClient) -> None:
    assert client.get("/collections/sectors/items?datetime=9999-12-31").status_code == 200
    assert client.get("/collections/sectors/items?datetime=0001-01-01/..").status_code == 200


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        (
            feature(
                {"type": "Point", "coordinates": [1, 2]}, established="0001-01-01T00:00:00+01:00"
            ),
            "features[0].properties.established",
        ),
        (
            feature({"type": "LineString", "coordinates": [[1, 2, 3], [3, 4]]}),
            "features[0].geometry.coordinates",
        ),
        ({**feature(None), "id": "."}, "features[0].id"),
        ({**feature(None), "id": 2**63}, "features[0].id"),
    ],
)
def test_bad_features_are_named(
    client: InProcessClient, world: World, body: dict[str, object], parameter: str
) -> None:
    response = import_body(
        client, world, "sectors", orjson.dumps(body) + b"\n", "application/x-ndjson"
    )
    assert response.status_code == 400, response.text
    assert response.json()["parameter"] == parameter
    assert client.get("/collections").status_code == 200


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        (b'{"type": "FeatureCollection", "features": {}}', "features"),
        (b'{"type": "FeatureCollection", "features": "abc"}', "features"),
        (b'{"type": "Foo", "features": []}', "type"),
        (b'{"type": "FeatureCollection"}', "features"),
        (b"[1, 2]", "file"),
    ],
)
def test_malformed_collections(
    client: InProcessClient, world: World, body: bytes, parameter: str
) -> None:
    response = import_body(client, world, "sectors", body)
    assert response.status_code == 400, response.text
    assert response.json()["parameter"] == parameter


def test_long_first_line_and_bom(client: InProcessClient, world: World) -> None:
    ring = [[9 + i / 100000, 51] for i in range(6000)] + [[9, 51.001]]
    long_line = orjson.dumps({**feature({"type": "LineString", "coordinates": ring}), "id": "L"})
    assert len(long_line) > 65536
    short = orjson.dumps({**feature(None), "id": "S"})
    response = import_body(client, world, "sectors", b"\xef\xbb\xbf" + long_line + b"\n" + short)
    assert response.json()["imported"] == 2


def test_etags_differ_per_representation_and_collection(
    client: InProcessClient, world: World
) -> None:
    alice = world.auth("alice")
    json_tag = client.get(f"{ITEMS}/7", headers=alice).headers["etag"]
    html = client.get(f"{ITEMS}/7?f=html", headers=alice)
    assert html.headers["etag"] != json_tag and "Accept" in html.headers["vary"]
    star = client.get(f"{ITEMS}/7", headers={**alice, "If-None-Match": "*"})
    assert star.status_code == 304
    client.delete("/manage/collections/hydrants", headers=alice)
    client.post("/manage/collections", headers=alice, json={"id": "hydrants"})
    body = orjson.dumps({**feature({"type": "Point", "coordinates": [5, 5]}), "id": 7})
    import_body(client, world, "hydrants", body + b"\n", "application/x-ndjson")
    again = client.get(f"{ITEMS}/7", headers={**alice, "If-None-Match": json_tag})
    assert again.status_code == 200 and again.headers["etag"] != json_tag


def test_bad_token_refused_everywhere(client: InProcessClient) -> None:
    for path in ("/", "/conformance", "/api", "/api.html"):
        response = client.get(path, headers={"Authorization": "Bearer garbage"})
        assert response.status_code == 401, path


def test_management_needs_a_user_and_answers_head(client: InProcessClient, world: World) -> None:
    assert client.get("/manage/collections/sectors/export").status_code == 401
    assert client.head("/manage/me", headers=world.auth("bob")).status_code == 200
    assert client.head("/manage/collections", headers=world.auth("bob")).status_code == 200


def test_bodies_are_strict(client: InProcessClient, world: World) -> None:
    alice = world.auth("alice")
    broken = client.post(
        "/manage/collections",
        headers={**alice, "Content-Type": "application/json"},
        content=b"{bad json",
    )
    assert broken.status_code == 400 and broken.json()["parameter"] == "body"
    loose = client.post("/manage/collections", headers=alice, json={"id": "x", "public": "yes"})
    assert loose.status_code == 400 and loose.json()["parameter"] == "public"
    huge = client.delete("/manage/users/alice/tokens/99999999999999999999999", headers=alice)
    assert huge.status_code == 400


def test_a_long_import_does_not_block_other_writes(world: World) -> None:
    """Features are checked before the write lock is taken, so a slow upload holds no lock."""
    release = threading.Event()
    body = orjson.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {**feature({"type": "Point", "coordinates": [9, 51]}), "id": f"slow-{n}"}
                for n in range(20)
            ],
        }
    )

    class SlowUpload(io.BytesIO):
        def read(self, size: int = -1) -> bytes:
            if self.tell() > 100:
                release.wait(10)
            return super().read(min(size, 64) if size and size > 0 else 64)

    alice = world.services.accounts.caller_for_user("alice")
    done: list[int] = []
    worker = threading.Thread(
        target=lambda: done.append(
            world.services.catalog.import_features(alice, "sectors", SlowUpload(body))
        )
    )
    worker.start()
    time.sleep(0.3)
    started = time.monotonic()
    world.services.accounts.add_user("dave")  # a write while the upload is still being read
    assert time.monotonic() - started < 1
    release.set()
    worker.join(10)
    assert done == [20]


def test_anonymous_management_is_401_even_on_public_layers(client: InProcessClient) -> None:
    for method, path in (
        ("DELETE", "/manage/collections/sectors"),
        ("GET", "/manage/collections/sectors/grants"),
        ("PATCH", "/manage/collections/sectors"),
    ):
        response = client.request(method, path, json={} if method == "PATCH" else None)
        assert response.status_code == 401, (method, path, response.text)


def test_405_lists_every_method(client: InProcessClient, world: World) -> None:
    response = client.request("OPTIONS", "/manage/collections/sectors", headers=world.auth("alice"))
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) >= {"GET", "HEAD", "PATCH", "DELETE"}
