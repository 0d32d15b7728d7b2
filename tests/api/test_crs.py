"""OGC API – Features Part 2 (CRS by reference) through HTTP, in process."""

from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from pyproj import Transformer

from opengeomesh.features.crs import CRS84, SUPPORTED_URIS, UTM32, WGS84
from tests.conftest import InProcessClient, World

ITEMS = "/collections/hydrants/items"
PART_2 = "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs"
TO_UTM32 = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True)


def everything(client: InProcessClient, world: World, query: str = "") -> list[dict[str, Any]]:
    body = client.get(f"{ITEMS}?limit=1000{query}", headers=world.auth("bob")).json()
    return list(body["features"])


def test_conformance_and_collections_declare_the_crss(
    client: InProcessClient, world: World
) -> None:
    assert PART_2 in client.get("/conformance").json()["conformsTo"]
    listed = client.get("/collections", headers=world.auth("bob")).json()["collections"]
    alone = client.get("/collections/hydrants", headers=world.auth("bob")).json()
    for body in (*listed, alone):
        assert body["crs"] == SUPPORTED_URIS and body["crs"][0] == CRS84.uri
        assert body["storageCrs"] == CRS84.uri
    assert alone["extent"]["spatial"]["crs"] == CRS84.uri


def test_every_geojson_answer_says_its_crs(client: InProcessClient, world: World) -> None:
    bob = world.auth("bob")
    assert client.get(ITEMS, headers=bob).headers["content-crs"] == f"<{CRS84.uri}>"
    assert client.get(f"{ITEMS}/7", headers=bob).headers["content-crs"] == f"<{CRS84.uri}>"
    answer = client.get(f"{ITEMS}?crs=EPSG:25832", headers=bob)
    assert answer.headers["content-crs"] == f"<{UTM32.uri}>"
    assert client.head(f"{ITEMS}?crs=EPSG:25832", headers=bob).headers["content-crs"]


def test_items_in_utm_match_pyproj(client: InProcessClient, world: World) -> None:
    plain = everything(client, world)
    projected = everything(client, world, f"&crs={UTM32.uri}")
    assert [f["id"] for f in projected] == [f["id"] for f in plain]
    assert [f["properties"] for f in projected] == [f["properties"] for f in plain]
    for mine, original in zip(projected, plain, strict=True):
        x, y = TO_UTM32.transform(*original["geometry"]["coordinates"])
        assert mine["geometry"]["coordinates"] == pytest.approx([x, y], abs=0.001)


def test_epsg_4326_is_latitude_first(client: InProcessClient, world: World) -> None:
    plain = everything(client, world)
    swapped = everything(client, world, "&crs=EPSG:4326")
    assert [f["geometry"]["coordinates"] for f in swapped] == [
        f["geometry"]["coordinates"][::-1] for f in plain
    ]


def test_paging_keeps_the_crs(client: InProcessClient, world: World) -> None:
    url: str | None = f"{ITEMS}?limit=100&crs=EPSG:25833"
    pages = 0
    while url:
        answer = client.get(url, headers=world.auth("bob"))
        assert answer.status_code == 200
        assert answer.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/25833>"
        body = answer.json()
        assert all(f["geometry"]["coordinates"][0] > 1000 for f in body["features"])
        url = next((x["href"] for x in body["links"] if x["rel"] == "next"), None)
        assert url is None or parse_qs(urlparse(url).query)["crs"] == ["EPSG:25833"]
        pages += 1
    assert pages == 3


def test_polygons_and_a_single_feature(client: InProcessClient) -> None:
    sectors = client.get("/collections/sectors/items?crs=EPSG:3857").json()["features"]
    ring = sectors[0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and all(abs(x) > 1e5 for x, _ in ring)
    one = client.get("/collections/sectors/items/sector-1?crs=EPSG:3857")
    assert one.status_code == 200 and one.json()["geometry"] == sectors[0]["geometry"]
    assert one.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/3857>"


def test_etag_differs_per_crs(client: InProcessClient, world: World) -> None:
    bob = world.auth("bob")
    plain = client.get(f"{ITEMS}/7", headers=bob).headers["etag"]
    utm = client.get(f"{ITEMS}/7?crs=EPSG:25832", headers=bob).headers["etag"]
    assert plain != utm
    again = client.get(f"{ITEMS}/7?crs=EPSG:25832", headers={**bob, "If-None-Match": utm})
    assert again.status_code == 304
    other = client.get(f"{ITEMS}/7?crs=EPSG:4326", headers={**bob, "If-None-Match": utm})
    assert other.status_code == 200


def test_bbox_in_utm(client: InProcessClient, world: World) -> None:
    """Every feature inside the UTM box is found; the few more lie just outside it, where the
    box's CRS84 envelope reaches beyond its curved edges."""
    box = (562_000.0, 5_708_000.0, 566_000.0, 5_712_000.0)
    inside = set()
    for f in everything(client, world, "&crs=EPSG:25832"):
        x, y = f["geometry"]["coordinates"]
        if box[0] <= x <= box[2] and box[1] <= y <= box[3]:
            inside.add(f["id"])
    query = urlencode({"bbox": ",".join(map(str, box)), "bbox-crs": UTM32.uri})
    found = {f["id"] for f in everything(client, world, f"&{query}")}
    assert inside and inside <= found and len(found - inside) <= 3


def test_bbox_in_epsg_4326_is_lat_lon(client: InProcessClient, world: World) -> None:
    lon_lat = {f["id"] for f in everything(client, world, "&bbox=9.92,51.52,9.95,51.55")}
    lat_lon = {
        f["id"]
        for f in everything(client, world, f"&bbox=51.52,9.92,51.55,9.95&bbox-crs={WGS84.uri}")
    }
    assert lat_lon == lon_lat and lon_lat


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("crs=EPSG:4258", "crs"),
        ("crs=", "crs"),
        ("crs=EPSG:25832&crs=EPSG:25833", "crs"),
        ("bbox-crs=urn:ogc:def:crs:EPSG::25832&bbox=1,2,3,4", "bbox-crs"),
        ("bbox-crs=EPSG:25832&bbox=1e300,1e300,2e300,2e300", "bbox"),
        ("bbox-crs=EPSG:25832&bbox=600000,5700000,500000,5800000", "bbox"),
        ("bbox-crs=EPSG:4326&bbox=9.92,51.52,9.95,51.55,3", "bbox"),
    ],
)
def test_bad_crs_values_are_400(
    client: InProcessClient, world: World, query: str, parameter: str
) -> None:
    for path in (ITEMS, f"{ITEMS}/7") if parameter == "crs" else (ITEMS,):
        answer = client.get(f"{path}?{query}", headers=world.auth("bob"))
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["parameter"] == parameter


def test_crs_only_where_features_are(client: InProcessClient) -> None:
    for path in ("/collections?crs=EPSG:25832", "/collections/sectors?crs=EPSG:25832"):
        assert client.get(path).json()["parameter"] == "crs"
    assert client.get("/collections/sectors/items/sector-1?bbox-crs=EPSG:25832").status_code == 400


def test_html_pages_in_another_crs(client: InProcessClient) -> None:
    page = client.get("/collections/sectors/items?f=html&crs=EPSG:25832")
    assert page.status_code == 200 and "<html" in page.text
    one = client.get("/collections/sectors/items/sector-1?f=html&crs=EPSG:25832")
    easting = client.get("/collections/sectors/items/sector-1?crs=EPSG:25832").json()["geometry"]
    assert one.status_code == 200 and str(easting["coordinates"][0][0][0]) in one.text
    assert one.headers["content-crs"] == f"<{UTM32.uri}>"
