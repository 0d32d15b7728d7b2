"""OGC API – Features Part 1 through HTTP, in process."""

from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import InProcessClient, World

ITEMS = "/collections/hydrants/items"


def links_by_rel(body: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {link["rel"]: link for link in body["links"]}


def test_landing_page_links(client: InProcessClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    rels = links_by_rel(response.json())
    assert {"self", "alternate", "service-desc", "service-doc", "conformance", "data"} <= set(rels)
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert all("type" in link for link in response.json()["links"])


def test_conformance(client: InProcessClient) -> None:
    conforms = client.get("/conformance").json()["conformsTo"]
    for part in ("core", "geojson", "html", "oas30"):
        assert f"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{part}" in conforms


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (None, ["sectors"]),
        ("carol", ["sectors"]),
        ("bob", ["hydrants", "sectors"]),
        ("alice", ["hydrants", "sectors"]),
    ],
)
def test_collections_per_caller(
    client: InProcessClient, world: World, user: str | None, expected: list[str]
) -> None:
    headers = world.auth(user) if user else {}
    body = client.get("/collections", headers=headers).json()
    assert [c["id"] for c in body["collections"]] == expected


def test_collection_has_extent_and_typed_links(client: InProcessClient, world: World) -> None:
    body = client.get("/collections/hydrants", headers=world.auth("bob")).json()
    assert body["id"] == "hydrants" and body["itemType"] == "feature"
    west, south, east, north = body["extent"]["spatial"]["bbox"][0]
    assert 9.8 < west < east < 10.0 and 51.4 < south < north < 51.6
    items = [link for link in body["links"] if link["rel"] == "items"]
    assert {link["type"] for link in items} == {"application/geo+json", "text/html"}
    sectors = client.get("/collections/sectors").json()
    assert sectors["extent"]["temporal"]["interval"][0][0] == "2026-11-28T06:17:00Z"


def test_no_token_is_401_and_no_grant_is_404(client: InProcessClient, world: World) -> None:
    anonymous = client.get(ITEMS)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert client.get("/collections/hydrants/items/1").status_code == 401
    for path in ("/collections/hydrants", ITEMS, "/collections/hydrants/items/1"):
        assert client.get(path, headers=world.auth("carol")).status_code == 404
    assert client.get("/collections/nothing", headers=world.auth("carol")).status_code == 404


def test_bad_token_is_401_even_on_public_resources(client: InProcessClient) -> None:
    for header in ("Bearer ogm_not-a-token", "Bearer nonsense", "Basic YWxpY2U6eA=="):
        response = client.get("/collections/sectors", headers={"Authorization": header})
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_paging_with_next_and_prev(client: InProcessClient, world: World) -> None:
    seen: list[object] = []
    url: str | None = f"{ITEMS}?limit=60"
    pages = 0
    while url:
        page = client.get(url, headers=world.auth("bob"))
        assert page.status_code == 200
        assert page.headers["content-type"] == "application/geo+json"
        body = page.json()
        assert body["numberMatched"] == 250
        assert body["numberReturned"] == len(body["features"])
        assert body["timeStamp"].endswith("Z")
        seen += [f["id"] for f in body["features"]]
        rels = links_by_rel(body)
        assert all("type" in link for link in body["links"])
        if pages:
            assert "prev" in rels
        url = rels["next"]["href"] if "next" in rels else None
        pages += 1
    assert pages == 5
    assert seen == list(range(1, 251))


def test_next_link_keeps_every_parameter(client: InProcessClient, world: World) -> None:
    body = client.get(f"{ITEMS}?limit=5&bbox=9.8,51.4,10.1,51.7", headers=world.auth("bob")).json()
    query = parse_qs(urlparse(links_by_rel(body)["next"]["href"]).query)
    assert query["limit"] == ["5"] and query["bbox"] == ["9.8,51.4,10.1,51.7"]
    assert "cursor" in query


def test_bbox_and_datetime(client: InProcessClient, world: World) -> None:
    everything = client.get(f"{ITEMS}?limit=1000", headers=world.auth("bob")).json()["features"]
    area = (9.92, 51.52, 9.95, 51.55)
    expected = [
        f["id"]
        for f in everything
        if area[0] <= f["geometry"]["coordinates"][0] <= area[2]
        and area[1] <= f["geometry"]["coordinates"][1] <= area[3]
    ]
    body = client.get(
        f"{ITEMS}?limit=1000&bbox={','.join(map(str, area))}", headers=world.auth("bob")
    ).json()
    assert [f["id"] for f in body["features"]] == expected
    assert body["numberMatched"] == len(expected) > 0
    timed = client.get("/collections/sectors/items?datetime=2026-11-28T06:30:00Z/..").json()
    assert [f["id"] for f in timed["features"]] == ["sector-2", "sector-3", "sector-4", "sector-5"]
    instant = client.get("/collections/sectors/items?datetime=2026-11-28T06:17:00Z").json()
    assert [f["id"] for f in instant["features"]] == ["sector-1"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("unknownQueryParameter=1", "unknownQueryParameter"),
        ("limit=unlimited", "limit"),
        ("bbox=1,2,3", "bbox"),
        ("datetime=tomorrow", "datetime"),
        ("f=xml", "f"),
        ("limit=1&limit=2", "limit"),
        ("cursor=zzz", "cursor"),
    ],
)
def test_bad_parameters_are_400(
    client: InProcessClient, world: World, query: str, parameter: str
) -> None:
    response = client.get(f"{ITEMS}?{query}", headers=world.auth("bob"))
    assert response.status_code == 400
    assert response.json()["parameter"] == parameter
    assert parameter in response.json()["detail"]


def test_unknown_parameter_elsewhere(client: InProcessClient) -> None:
    for path in ("/", "/conformance", "/collections", "/collections/sectors", "/api"):
        assert client.get(f"{path}?foo=bar").status_code == 400


def test_limit_is_clamped(client: InProcessClient, world: World) -> None:
    body = client.get(f"{ITEMS}?limit=20000", headers=world.auth("bob")).json()
    assert body["numberReturned"] == 250


def test_single_feature_with_etag(client: InProcessClient, world: World) -> None:
    response = client.get("/collections/hydrants/items/7", headers=world.auth("bob"))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == 7 and body["type"] == "Feature"
    assert {"self", "alternate", "collection"} <= set(links_by_rel(body))
    etag = response.headers["etag"]
    again = client.get(
        "/collections/hydrants/items/7", headers={**world.auth("bob"), "If-None-Match": etag}
    )
    assert again.status_code == 304 and again.headers["etag"] == etag
    missing = client.get("/collections/hydrants/items/999999", headers=world.auth("bob"))
    assert missing.status_code == 404


def test_html_by_parameter_and_by_accept(client: InProcessClient, world: World) -> None:
    page = client.get(f"{ITEMS}?f=html&limit=3", headers=world.auth("bob"))
    assert page.headers["content-type"].startswith("text/html")
    assert "Fire hydrants" in page.text and "flow_l_min" in page.text
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    assert client.get("/", headers=browser).headers["content-type"].startswith("text/html")
    gdal = {"Accept": "application/geo+json, application/json"}
    assert client.get("/collections", headers=gdal).headers["content-type"] == "application/json"
    for path in (
        "/collections?f=html",
        "/collections/sectors?f=html",
        "/conformance?f=html",
        "/collections/sectors/items/sector-1?f=html",
        "/api.html",
    ):
        response = client.get(path)
        assert response.status_code == 200 and "<html" in response.text, path


def test_head_works_where_get_does(client: InProcessClient, world: World) -> None:
    for path in ("/", "/conformance", "/collections", f"{ITEMS}?limit=2", "/api"):
        response = client.head(path, headers=world.auth("bob"))
        assert response.status_code == 200, path
    assert client.head(ITEMS).status_code == 401
