"""OGC API – Features Part 3 through HTTP, in process: queryables, filter, filter-lang and
filter-crs with bbox, datetime and paging; every bad filter a 400 naming its parameter."""

from __future__ import annotations

from urllib.parse import quote

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opengeomesh import samples
from tests.conftest import InProcessClient, World

ITEMS = "/collections/hydrants/items"
SECTORS = "/collections/sectors/items"
HYDRANTS = samples.hydrants(250)["features"]


def ids(client: InProcessClient, url: str, world: World) -> list[int]:
    body = client.get(url, headers=world.auth("bob")).json()
    assert body["numberMatched"] == body["numberReturned"], body
    return sorted(f["id"] for f in body["features"])


def wanted(test: object) -> list[int]:
    return sorted(f["id"] for f in HYDRANTS if test(f["properties"]))  # type: ignore[operator]


def test_conformance_declares_filtering(client: InProcessClient) -> None:
    conforms = client.get("/conformance").json()["conformsTo"]
    for part in ("filter", "features-filter", "queryables"):
        assert f"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/{part}" in conforms
    for part in ("basic-cql2", "cql2-text", "cql2-json", "advanced-comparison-operators"):
        assert f"http://www.opengis.net/spec/cql2/1.0/conf/{part}" in conforms
    assert not any(
        uri.endswith(("/queryables-query-parameters", "/arithmetic")) for uri in conforms
    )


def test_queryables(client: InProcessClient, world: World) -> None:
    collection = client.get("/collections/hydrants", headers=world.auth("bob")).json()
    rel = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
    (found,) = [link for link in collection["links"] if link["rel"] == rel]
    assert found["type"] == "application/schema+json"
    response = client.get("/collections/hydrants/queryables", headers=world.auth("bob"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/schema+json"
    body = response.json()
    assert body["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert body["$id"] == "http://ogm.test/collections/hydrants/queryables"
    assert body["type"] == "object" and body["additionalProperties"] is False
    properties = body["properties"]
    assert properties["geometry"]["format"] == "geometry-any"
    assert properties["kind"]["type"] == "string"
    assert properties["diameter_mm"]["type"] == "integer"
    timed = client.get("/collections/sectors/queryables").json()["properties"]
    assert timed["established"] == {"title": "established", "type": "string", "format": "date-time"}
    page = client.get("/collections/sectors/queryables?f=html")
    assert page.status_code == 200 and "established" in page.text


def test_queryables_need_read_access(client: InProcessClient, world: World) -> None:
    assert client.get("/collections/hydrants/queryables").status_code == 401
    hidden = client.get("/collections/hydrants/queryables", headers=world.auth("carol"))
    assert hidden.status_code == 404
    assert client.get("/collections/sectors/queryables?x=1").status_code == 400


def test_text_filters(client: InProcessClient, world: World) -> None:
    def query(text: str) -> list[int]:
        return ids(client, f"{ITEMS}?limit=1000&filter={quote(text)}", world)

    assert query("diameter_mm = 100") == wanted(lambda p: p["diameter_mm"] == 100)
    assert query("kind LIKE 'under%' AND flow_l_min >= 2000") == wanted(
        lambda p: p["kind"].startswith("under") and p["flow_l_min"] >= 2000
    )
    assert query("diameter_mm IN (80, 150) OR flow_l_min BETWEEN 400 AND 500") == wanted(
        lambda p: p["diameter_mm"] in (80, 150) or 400 <= p["flow_l_min"] <= 500
    )
    assert query("NOT (checked < '2026-06-01') AND kind IS NOT NULL") == wanted(
        lambda p: p["checked"] >= "2026-06-01"
    )
    assert query("checked < DATE('2026-03-01')") == wanted(lambda p: p["checked"] < "2026-03-01")


def test_json_filter_and_spatial(client: InProcessClient, world: World) -> None:
    box = [9.9, 51.5, 9.95, 51.55]
    inside = sorted(
        f["id"]
        for f in HYDRANTS
        if box[0] <= f["geometry"]["coordinates"][0] <= box[2]
        and box[1] <= f["geometry"]["coordinates"][1] <= box[3]
    )
    spatial = {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": box}]}
    json_filter = quote(orjson.dumps(spatial).decode())
    assert ids(client, f"{ITEMS}?limit=1000&filter-lang=cql2-json&filter={json_filter}", world) == (
        inside
    )
    polygon = "POLYGON((9.9 51.5, 9.95 51.5, 9.95 51.55, 9.9 51.55, 9.9 51.5))"
    text = f"S_INTERSECTS(geometry, {polygon})"
    assert ids(client, f"{ITEMS}?limit=1000&filter={quote(text)}", world) == inside
    # with bbox: both apply
    both = ids(client, f"{ITEMS}?limit=1000&filter={quote(text)}&bbox=9.9,51.5,9.92,51.55", world)
    assert set(both) <= set(inside) and both != inside
    outside = ids(client, f"{ITEMS}?limit=1000&filter={quote('NOT ' + text)}", world)
    assert sorted(outside + inside) == sorted(f["id"] for f in HYDRANTS)


def test_temporal_filters_with_datetime(client: InProcessClient) -> None:
    def names(query: str) -> list[str]:
        body = client.get(f"{SECTORS}?{query}").json()
        return [f["id"] for f in body["features"]]

    after = quote("T_AFTER(established, TIMESTAMP('2026-11-28T06:40:00Z'))")
    assert names(f"filter={after}") == ["sector-3", "sector-4", "sector-5"]
    assert names(f"filter={after}&datetime=../2026-11-28T07:00:00Z") == ["sector-3"]
    during = quote(
        "T_DURING(established, INTERVAL('2026-11-28T06:20:00Z', '2026-11-28T07:00:00Z'))"
    )
    assert names(f"filter={during}") == ["sector-2", "sector-3"]
    day = quote("T_INTERSECTS(established, DATE('2026-11-28')) AND name <> 'North'")
    assert names(f"filter={day}") == ["sector-2", "sector-3", "sector-4", "sector-5"]


def test_paging_keeps_the_filter(client: InProcessClient, world: World) -> None:
    text = quote("diameter_mm <> 100")
    url: str | None = f"{ITEMS}?limit=30&filter={text}"
    seen: list[int] = []
    matched = None
    while url:
        body = client.get(url, headers=world.auth("bob")).json()
        matched = matched or body["numberMatched"]
        seen += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
        assert url is None or "filter=" in url
    assert sorted(seen) == wanted(lambda p: p["diameter_mm"] != 100) and matched == len(seen)


@pytest.mark.parametrize(
    ("query", "parameter", "reason"),
    [
        ("filter=nope%20%3D%201", "filter", "'nope' is not a queryable"),
        ("filter=kind%20%3D", "filter", "not valid cql2-text"),
        ("filter=kind%20%3D%201&filter-lang=ecql", "filter-lang", "not offered"),
        ("filter=kind%20%3D%201&filter-lang=cql2-json", "filter", "not valid JSON"),
        ("filter-crs=EPSG:4326", "filter-crs", "not supported"),
        ("filter=casei(kind)%20%3D%20'x'", "filter", "not supported"),
        ("filter=" + "(" * 60 + "kind%3D'x'" + ")" * 60, "filter", "nested too deeply"),
        ("filter=a%3D1&filter=b%3D1", "filter", "more than once"),
    ],
)
def test_bad_filters_are_400(
    client: InProcessClient, world: World, query: str, parameter: str, reason: str
) -> None:
    response = client.get(f"{ITEMS}?{query}", headers=world.auth("bob"))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["parameter"] == parameter and reason in problem["detail"]


FUZZ = ["a", "kind", "geometry", "=", "<", "'x'", "(", ")", "AND", "NOT", "IN", "LIKE", ",", "1"]
FUZZ += ["S_INTERSECTS", "POINT", "BBOX", "T_AFTER", "TIMESTAMP", "DATE", "INTERVAL", "'..'"]
FUZZ += ["IS", "NULL", "BETWEEN", "{", "}", '"op"', ":", "[", "]", "-", "1e999", "'2026-11-28'"]


@given(st.lists(st.sampled_from(FUZZ), max_size=12), st.sampled_from(["cql2-text", "cql2-json"]))
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_fuzzed_filters_are_200_or_400(
    client: InProcessClient, world: World, parts: list[str], language: str
) -> None:
    text = quote(" ".join(parts))
    response = client.get(
        f"{ITEMS}?filter={text}&filter-lang={language}", headers=world.auth("bob")
    )
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.json()["parameter"] == "filter"


OPS = ["and", "or", "not", "=", "<", "like", "between", "in", "isNull", "s_intersects"]
OPS += ["s_within", "t_after", "t_during", "casei", "+", "a_contains", "nope"]
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False),
    st.sampled_from(["x", "..", "2026-11-28", "%", "\\"]),
    st.sampled_from(["kind", "diameter_mm", "geometry", "checked", "nope"]).map(
        lambda name: {"property": name}
    ),
    st.sampled_from(["2026-11-28T06:00:00Z", "bad"]).map(lambda t: {"timestamp": t}),
    st.just({"date": "2026-11-28"}),
    st.lists(st.floats(-200, 200), max_size=6).map(lambda b: {"bbox": b}),
    st.just({"type": "Point", "coordinates": [9.9, 51.5]}),
)
JSON_TREES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(st.sampled_from(OPS), st.lists(inner, max_size=3)).map(
            lambda t: {"op": t[0], "args": t[1]}
        ),
        st.lists(inner, max_size=2).map(lambda i: {"interval": i}),
    ),
    max_leaves=8,
)


@given(JSON_TREES)
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_fuzzed_json_filters_are_200_or_400(
    client: InProcessClient, world: World, tree: object
) -> None:
    text = quote(orjson.dumps(tree).decode())
    response = client.get(f"{ITEMS}?filter-lang=cql2-json&filter={text}", headers=world.auth("bob"))
    assert response.status_code in (200, 400), response.text
