"""The upstream poller against a fake upstream OGC API (httpx's MockTransport through the
outbound client, as the proxy's tests do), over real SQLite stores: first poll as a snapshot,
creates, updates and deletes across pages, the feature cap, an upstream that is down, and two
pollers of which one polls."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from opengeomesh.accounts.directory import AccountDirectory
from opengeomesh.features.catalog import Catalog
from opengeomesh.features.upstream import UpstreamFeatures
from opengeomesh.features.upstream_poller import UpstreamPoller
from opengeomesh.features.upstreams import Upstreams
from opengeomesh.ocm.client import OutboundClient
from opengeomesh.ocm.secretbox import SecretBox
from opengeomesh.storage.sqlite.stores import open_sqlite
from opengeomesh.storage.stores import Stores

BASE = "http://upstream.test/api"


class FakeUpstream:
    """An OGC API collection ``hydrants`` paged by ``offset``; ``down`` answers 503."""

    def __init__(self) -> None:
        self.features: dict[str, dict[str, Any]] = {}
        self.down = False
        self.requests: list[httpx.Request] = []

    def put(self, fid: str, name: str, x: float = 9.9) -> None:
        self.features[fid] = {
            "type": "Feature",
            "id": fid,
            "geometry": {"type": "Point", "coordinates": [x, 51.5]},
            "properties": {"name": name},
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            return httpx.Response(503, json={"detail": "maintenance"})
        assert request.url.path == "/api/collections/hydrants/items"
        query = {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}
        limit, offset = int(query["limit"]), int(query.get("offset", "0"))
        listed = list(self.features.values())
        links = []
        if offset + limit < len(listed):
            href = f"{BASE}/collections/hydrants/items?limit={limit}&offset={offset + limit}"
            links.append({"rel": "next", "href": href, "type": "application/geo+json"})
        body = {
            "type": "FeatureCollection",
            "features": listed[offset : offset + limit],
            "numberMatched": len(listed),
            "links": links,
        }
        return httpx.Response(
            200, content=orjson.dumps(body), headers={"Content-Type": "application/geo+json"}
        )


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    stores = open_sqlite(tmp_path / "poller.sqlite")
    yield stores
    stores.database.close()


@pytest.fixture
def upstream() -> FakeUpstream:
    fake = FakeUpstream()
    for n in range(1, 6):
        fake.put(str(n), f"Hydrant {n}")
    return fake


def _features(stores: Stores, fake: FakeUpstream, tmp_path: Path) -> tuple[UpstreamFeatures, int]:
    accounts = AccountDirectory(stores.accounts)
    catalog = Catalog(stores.collections, stores.features, accounts, count_limit=1000)
    client = OutboundClient(allow_private=True, transport=httpx.MockTransport(fake))
    upstreams = Upstreams(stores.upstreams, catalog, SecretBox(tmp_path / "keys"), lambda _: client)
    owner = stores.accounts.add_user("alice", "Alice", False).id
    collection = stores.collections.create(
        "hydrants", title="", description="", owner_id=owner, public=False, temporal_property=None
    ).key
    key = stores.upstreams.add(
        "fake",
        base_url=BASE,
        auth="none",
        username="",
        header_name="",
        secret=None,
        allow_private=True,
        conforms_to=[],
    ).key
    stores.upstreams.expose(collection, key, "hydrants")
    return UpstreamFeatures(upstreams, catalog, max_page_bytes=1 << 20), collection


def _poller(
    stores: Stores, features: UpstreamFeatures, woken: list[int], **kw: Any
) -> UpstreamPoller:
    options: dict[str, Any] = {"interval": 1, "max_features": 100, "page_size": 2} | kw
    return UpstreamPoller(stores.upstreams, features, woken.append, **options)


def _feed(stores: Stores, key: int) -> list[tuple[int, str, str, Any]]:
    rows = stores.database.connection().execute(  # type: ignore[union-attr]
        "SELECT version, feature_id, action, feature FROM feature_changes"
        " WHERE collection_key = ? ORDER BY version",
        (key,),
    )
    return [
        (r[0], r[1], r[2], None if r[3] is None else orjson.loads(r[3])) for r in rows.fetchall()
    ]


def test_the_first_poll_takes_the_snapshot_then_differences_are_published(
    stores: Stores, upstream: FakeUpstream, tmp_path: Path
) -> None:
    features, key = _features(stores, upstream, tmp_path)
    woken: list[int] = []
    poller = _poller(stores, features, woken)
    assert poller.poll_round()
    assert _feed(stores, key) == [] and woken == []  # no flood of creates
    assert len(stores.upstreams.snapshot(key)) == 5
    assert len(upstream.requests) == 3  # all pages, 2 features each

    assert poller.poll_round()  # nothing changed upstream: nothing recorded
    assert _feed(stores, key) == [] and woken == []

    upstream.put("6", "Hydrant 6")
    upstream.put("2", "Hydrant 2 (moved)", x=9.8)
    del upstream.features["4"]
    assert poller.poll_round()
    feed = _feed(stores, key)
    assert [(v, fid, action) for v, fid, action, _ in feed] == [
        (1, "2", "update"),
        (2, "6", "create"),
        (3, "4", "delete"),
    ]
    assert feed[0][3] == upstream.features["2"] and feed[2][3] is None
    assert woken == [key]
    assert stores.collections.get("hydrants").change_seq == 3  # type: ignore[union-attr]
    assert sorted(stores.upstreams.snapshot(key)) == ["1", "2", "3", "5", "6"]


def test_a_collection_over_the_cap_is_skipped_with_a_warning(
    stores: Stores, upstream: FakeUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    features, key = _features(stores, upstream, tmp_path)
    poller = _poller(stores, features, [], max_features=4)
    with caplog.at_level(logging.WARNING):
        poller.poll_round()
    assert "more than 4 features" in caplog.text
    assert not stores.upstreams.polled(key) and stores.upstreams.snapshot(key) == {}
    del upstream.features["5"]  # within the cap again: polled
    poller.poll_round()
    assert stores.upstreams.polled(key)


def test_an_upstream_that_is_down_is_tried_again_next_round(
    stores: Stores, upstream: FakeUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    features, key = _features(stores, upstream, tmp_path)
    poller = _poller(stores, features, [])
    poller.poll_round()
    upstream.down = True
    del upstream.features["1"]
    with caplog.at_level(logging.WARNING):
        assert poller.poll_round()  # logged, not raised
    assert "not polled" in caplog.text and "upstream 'fake'" in caplog.text
    assert _feed(stores, key) == []  # an error is not "everything was deleted"
    upstream.down = False
    poller.poll_round()
    assert [(fid, action) for _, fid, action, _ in _feed(stores, key)] == [("1", "delete")]


def test_of_two_pollers_one_polls_and_no_change_is_recorded_twice(
    stores: Stores, upstream: FakeUpstream, tmp_path: Path
) -> None:
    features, key = _features(stores, upstream, tmp_path)
    first = _poller(stores, features, [], holder="host-a:1")
    second = _poller(stores, features, [], holder="host-b:2")
    assert first.poll_round() and not second.poll_round()
    upstream.put("7", "Hydrant 7")
    assert not second.poll_round() and first.poll_round()
    assert [(fid, action) for _, fid, action, _ in _feed(stores, key)] == [("7", "create")]
    first.stop()  # releases the lease (its thread never started)
    upstream.put("8", "Hydrant 8")
    assert second.poll_round() and not first.poll_round()
    assert [fid for _, fid, _, _ in _feed(stores, key)] == ["7", "8"]


def test_the_poller_thread_runs_and_stops(
    stores: Stores, upstream: FakeUpstream, tmp_path: Path
) -> None:
    features, key = _features(stores, upstream, tmp_path)
    poller = _poller(stores, features, [], interval=0.05)
    poller.start()
    try:
        for _ in range(100):
            if stores.upstreams.polled(key):
                break
            time.sleep(0.05)
    finally:
        poller.stop()
    assert stores.upstreams.polled(key)
    other = _poller(stores, features, [], holder="later:1")
    assert other.poll_round()  # the stopped poller's lease was given up
