"""CQL2 filters (Part 3) through a mounted layer between two real servers: B forwards filter,
filter-lang and filter-crs to A, pages with A's links, and shows A's queryables."""

from urllib.parse import quote, urlencode

import httpx
import orjson

from tests.e2e.orgs import Org, token


def mount(a: Org, b: Org, collection: str) -> str:
    """Share ``collection`` from alice on A with bob on B; B's URL of the mounted layer."""
    alice, bob = token(a, "alice"), token(b, "bob")
    created = httpx.post(
        f"{a.url}/manage/shares",
        headers=alice,
        json={"collection": collection, "share_with": f"bob@{b.host}", "permission": "read"},
    )
    assert created.status_code == 201, created.text
    pending = httpx.get(f"{b.url}/manage/received-shares", headers=bob).json()
    share = next(s for s in pending if s["name"] == collection and s["state"] == "pending")
    accepted = httpx.post(f"{b.url}/manage/received-shares/{share['id']}/accept", headers=bob)
    assert accepted.status_code == 200, accepted.text
    return str(accepted.json()["mount_url"])


def features(url: str, auth: dict[str, str], query: dict[str, str]) -> list[object]:
    found: list[object] = []
    next_url: str | None = f"{url}/items?{urlencode({**query, 'limit': '10'})}"
    while next_url:
        body = httpx.get(next_url, headers=auth).json()
        found += body["features"]
        next_url = next((x["href"] for x in body["links"] if x["rel"] == "next"), None)
        assert next_url is None or (next_url.startswith(url) and "filter" in next_url)
    return found


def test_filters_through_the_mount(sharing_orgs: tuple[Org, Org]) -> None:
    a, b = sharing_orgs
    mount_url = mount(a, b, "hydrants")
    alice, bob = token(a, "alice"), token(b, "bob")
    on_a = f"{a.url}/collections/hydrants"
    spatial = {
        "op": "and",
        "args": [
            {
                "op": "s_intersects",
                "args": [{"property": "geometry"}, {"bbox": [9.9, 51.5, 9.96, 51.56]}],
            },
            {"op": "in", "args": [{"property": "diameter_mm"}, [80, 150]]},
        ],
    }
    for query in (
        {"filter": "kind = 'underground' AND flow_l_min > 1500"},
        {"filter": orjson.dumps(spatial).decode(), "filter-lang": "cql2-json"},
        {
            "filter": "NOT (diameter_mm = 100)",
            "filter-crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
        },
    ):
        through_b = features(mount_url, bob, query)
        assert through_b == features(on_a, alice, query) and through_b
        assert len(through_b) > 10  # more than one page

    queryables = httpx.get(f"{mount_url}/queryables", headers=bob)
    assert queryables.status_code == 200
    assert queryables.headers["content-type"] == "application/schema+json"
    body = queryables.json()
    assert body["$id"] == f"{mount_url}/queryables"
    direct = httpx.get(f"{on_a}/queryables", headers=alice).json()
    assert body["properties"] == direct["properties"] and body["additionalProperties"] is False

    bad_syntax = httpx.get(f"{mount_url}/items?filter={quote('kind =')}", headers=bob)
    assert bad_syntax.status_code == 400 and bad_syntax.json()["parameter"] == "filter"
    unknown = httpx.get(f"{mount_url}/items?filter={quote('nope = 1')}", headers=bob)
    assert unknown.status_code == 400 and "'nope' is not a queryable" in unknown.json()["detail"]
