"""CRSs (OGC API – Features Part 2) through a mounted layer between two real servers: B asks A
for the CRS, passes A's Content-Crs on and transforms nothing twice, so what bob reads through B
is exactly what A answers; GDAL reads the mount in EPSG:25832."""

from typing import Any
from urllib.parse import urlencode

import httpx
import pyogrio.raw
import shapely

from tests.conftest import gdal_env
from tests.e2e.orgs import Org, eventually, token
from tests.e2e.test_sharing import received, sent

UTM32 = "http://www.opengis.net/def/crs/EPSG/0/25832"


def pages(url: str, auth: dict[str, str], query: dict[str, str]) -> list[httpx.Response]:
    """Every page of an items query, following ``next`` links as a client would."""
    answers: list[httpx.Response] = []
    next_url: str | None = f"{url}/items?{urlencode(query)}"
    while next_url:
        answer = httpx.get(next_url, headers=auth)
        assert answer.status_code == 200, answer.text
        answers.append(answer)
        links = answer.json()["links"]
        next_url = next((x["href"] for x in links if x["rel"] == "next"), None)
    return answers


def features(answers: list[httpx.Response]) -> list[dict[str, Any]]:
    return [f for answer in answers for f in answer.json()["features"]]


def mount_hydrants(a: Org, b: Org) -> tuple[str, dict[str, str], dict[str, str]]:
    alice, bob = token(a, "alice"), token(b, "bob")
    made = httpx.post(
        f"{a.url}/manage/shares",
        headers=alice,
        json={"collection": "hydrants", "share_with": f"bob@{b.host}"},
    )
    assert made.status_code == 201, made.text
    pending = next(s for s in received(b, bob) if s["name"] == "hydrants")
    accepted = httpx.post(f"{b.url}/manage/received-shares/{pending['id']}/accept", headers=bob)
    assert accepted.status_code == 200, accepted.text
    assert eventually(lambda: sent(a, alice, made.json()["id"])["state"] == "accepted")
    return accepted.json()["mount_url"], alice, bob


def test_crs_through_the_mount_is_what_a_answers(sharing_orgs: tuple[Org, Org]) -> None:
    a, b = sharing_orgs
    mount_url, alice, bob = mount_hydrants(a, b)
    on_a = f"{a.url}/collections/hydrants"
    described = httpx.get(mount_url, headers=bob).json()
    assert UTM32 in described["crs"] and described["storageCrs"].endswith("/CRS84")

    for query in (
        {"crs": UTM32, "limit": "40"},
        {"crs": "EPSG:4326", "limit": "1000"},
        {"bbox": "562000,5708000,566000,5712000", "bbox-crs": "EPSG:25832", "crs": UTM32},
    ):
        through_b = pages(mount_url, bob, query)
        direct = pages(on_a, alice, {**query, "limit": "1000"})
        assert features(through_b) == features(direct) and features(direct), query
        crs_of_a = {answer.headers["content-crs"] for answer in direct}
        assert {answer.headers["content-crs"] for answer in through_b} == crs_of_a
    paged = pages(mount_url, bob, {"crs": UTM32, "limit": "40"})
    assert len(paged) == 4 and all(a.headers["content-crs"] == f"<{UTM32}>" for a in paged)
    easting = features(paged)[0]["geometry"]["coordinates"][0]
    assert 500_000 < easting < 600_000  # transformed once, at A

    one = httpx.get(f"{mount_url}/items/7?crs=EPSG:25832", headers=bob)
    at_a = httpx.get(f"{on_a}/items/7?crs=EPSG:25832", headers=alice)
    assert one.json()["geometry"] == at_a.json()["geometry"]
    assert one.headers["content-crs"] == at_a.headers["content-crs"] == f"<{UTM32}>"
    assert one.headers["etag"] == at_a.headers["etag"]
    cached = {**bob, "If-None-Match": one.headers["etag"]}
    assert httpx.get(f"{mount_url}/items/7?crs=EPSG:25832", headers=cached).status_code == 304

    refused = httpx.get(f"{mount_url}/items?crs=EPSG:31467", headers=bob)
    assert refused.status_code == 400 and refused.json()["parameter"] == "crs"

    bob_secret = b.cli("token", "create", "bob").stdout.strip()
    with gdal_env(GDAL_HTTP_AUTH="BEARER", GDAL_HTTP_BEARER=bob_secret):
        meta, fids, geometry, _ = pyogrio.raw.read(
            f"OAPIF:{mount_url}", CRS="EPSG:25832", return_fids=True
        )
    assert meta["crs"] == "EPSG:25832"
    by_id = {
        f["id"]: f["geometry"]["coordinates"]
        for f in features(pages(on_a, alice, {"crs": UTM32, "limit": "1000"}))
    }
    read = {fid: list(shapely.from_wkb(g).coords[0]) for fid, g in zip(fids, geometry, strict=True)}
    assert read == by_id and len(read) == 137
