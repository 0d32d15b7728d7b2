"""Mounted layers and CRSs (Part 2), against scripted senders: ``crs`` and ``bbox-crs`` go to the
sender, its ``Content-Crs`` is believed, and features are never transformed twice."""

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from pyproj import Transformer

from opengeomesh.errors import InvalidInput
from opengeomesh.features.crs import CRS84, UTM32, WEB_MERCATOR
from opengeomesh.features.models import StoredFeature
from opengeomesh.features.remote import MountedLayer, RemoteLayers, wrap_cursor
from opengeomesh.ocm.client import OutboundClient, PeerUnavailable
from opengeomesh.ocm.models import ReceivedShare, ReceivedState, ShareType

URI = "https://a.example/collections/hydrants"
POINT = [9.935, 51.534]


class Tokens:
    """What RemoteLayers needs of the inbox: a token for the share."""

    def access_token(self, share: ReceivedShare, *, fresh: bool) -> tuple[str, None]:
        return "token", None


def layer() -> MountedLayer:
    now = datetime.now(UTC)
    share = ReceivedShare(
        id=1,
        sender_host="a.example",
        provider_id="p",
        share_type=ShareType("user"),
        recipient="bob",
        name="hydrants",
        description="",
        owner="alice@a.example",
        owner_name="Alice",
        sender="alice@a.example",
        sender_name="Alice",
        uri=URI,
        permission="read",
        state=next(iter(ReceivedState)),
        created=now,
        updated=now,
    )
    return MountedLayer(id="ocm-1", title="hydrants", description="", share=share)


def in_utm() -> list[float]:
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True).transform(*POINT)
    return [round(x, 3), round(y, 3)]


def sender(seen: list[httpx.Request], answer: Any) -> RemoteLayers:
    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)  # type: ignore[no-any-return]

    client = OutboundClient(allow_private=True, transport=httpx.MockTransport(respond))
    return RemoteLayers(Tokens(), client, max_page_bytes=1 << 20)  # type: ignore[arg-type]


def page(coordinates: list[float], headers: dict[str, str]) -> httpx.Response:
    body = {
        "type": "FeatureCollection",
        "features": [feature(coordinates)],
        "links": [{"rel": "next", "href": f"{URI}/items?crs=x&cursor=abc&f=json"}],
    }
    return httpx.Response(200, json=body, headers=headers)


def feature(coordinates: list[float]) -> dict[str, Any]:
    geometry = {"type": "Point", "coordinates": coordinates}
    return {"type": "Feature", "id": 1, "geometry": geometry, "properties": {}}


def coordinates(found: StoredFeature) -> list[float]:
    return list(orjson.loads(found.geometry_json or "")["coordinates"])


def honest(request: httpx.Request) -> httpx.Response:
    """A Part 2 sender: the CRS asked for, and a Content-Crs saying so."""
    if "crs" in request.url.params:
        return page(in_utm(), {"Content-Crs": f"<{request.url.params['crs']}>"})
    return page(POINT, {"Content-Crs": CRS84.header})


def test_a_part_2_sender_answers_in_the_crs_and_nothing_is_done_twice() -> None:
    seen: list[httpx.Request] = []
    utm = in_utm()
    mounts = sender(seen, honest)
    params = {"crs": "EPSG:25832", "bbox-crs": "[EPSG:25832]", "bbox": "1,2,3,4", "f": "html"}
    result = mounts.items(layer(), params, UTM32)
    assert coordinates(result.features[0]) == utm
    sent = parse_qs(urlsplit(str(seen[0].url)).query)
    assert sent == {"crs": [UTM32.uri], "bbox-crs": [UTM32.uri], "bbox": ["1,2,3,4"]}
    assert result.next_cursor is not None

    # following our next link, the CRS asked for now is the one sent, not the cursor's
    mounts.items(layer(), {"cursor": result.next_cursor}, CRS84)
    assert parse_qs(urlsplit(str(seen[1].url)).query) == {"cursor": ["abc"]}
    mounts.items(layer(), {"cursor": wrap_cursor({"cursor": "abc"})}, UTM32)
    assert parse_qs(urlsplit(str(seen[2].url)).query)["crs"] == [UTM32.uri]


def test_a_sender_answering_crs84_is_transformed_here() -> None:
    seen: list[httpx.Request] = []
    mounts = sender(seen, lambda _: page(POINT, {}))  # no Content-Crs: CRS84 (Part 1)
    result = mounts.items(layer(), {"crs": UTM32.uri}, UTM32)
    assert coordinates(result.features[0]) == in_utm()

    single = sender([], lambda _: httpx.Response(200, json=feature(POINT), headers={"ETag": '"1"'}))
    remote = single.item(layer(), "1", "", UTM32)
    assert remote.feature is not None and coordinates(remote.feature) == in_utm()
    assert remote.etag is None  # the sender's tag is of its CRS84 answer


def test_the_single_feature_asks_for_the_crs_and_keeps_the_etag() -> None:
    seen: list[httpx.Request] = []
    utm = in_utm()
    mounts = sender(
        seen,
        lambda _: httpx.Response(
            200, json=feature(utm), headers={"ETag": '"7"', "Content-Crs": UTM32.header}
        ),
    )
    remote = mounts.item(layer(), "1", "", UTM32)
    assert remote.feature is not None and coordinates(remote.feature) == utm
    assert remote.etag == '"7"'
    assert (
        str(seen[0].url)
        == f"{URI}/items/1?crs=http%3A%2F%2Fwww.opengis.net%2Fdef%2Fcrs%2FEPSG%2F0%2F25832"
    )


@pytest.mark.parametrize("header", [WEB_MERCATOR.header, "<urn:ogc:def:crs:EPSG::31467>"])
def test_a_sender_answering_in_another_crs_is_a_bad_gateway(header: str) -> None:
    mounts = sender([], lambda _: page([1.0, 2.0], {"Content-Crs": header}))
    with pytest.raises(PeerUnavailable):
        mounts.items(layer(), {"crs": UTM32.uri}, UTM32)


def test_the_senders_refusal_names_its_parameter() -> None:
    refusal = {"status": 400, "detail": "crs: unknown query parameter", "parameter": "crs"}
    mounts = sender([], lambda _: httpx.Response(400, json=refusal))
    with pytest.raises(InvalidInput) as caught:
        mounts.items(layer(), {"crs": UTM32.uri}, UTM32)
    assert caught.value.field == "crs" and "a.example" in caught.value.reason
    odd = sender([], lambda _: httpx.Response(400, json={"parameter": "password"}))
    with pytest.raises(InvalidInput) as caught:
        odd.items(layer(), {}, CRS84)
    assert caught.value.field == "query"
