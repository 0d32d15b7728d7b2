"""The upstream store: registrations with sealed secrets, exposed collections, and the
poller's record of differences in the change feed."""

from __future__ import annotations

import threading
import time

import orjson
import pytest

from opengeomesh.errors import Busy, Conflict
from opengeomesh.features.upstreams import PART3_FILTER, Lease, LeaseLost, PolledChange
from opengeomesh.storage.postgres.database import PgDatabase
from opengeomesh.storage.sqlite.database import Database
from opengeomesh.storage.stores import Stores
from tests.storage.conftest import OpenStores


def _collection(stores: Stores, name: str) -> int:
    owner = stores.accounts.add_user(f"owner-{name}", "Owner", False).id
    return stores.collections.create(
        name, title=name, description="", owner_id=owner, public=False, temporal_property=None
    ).key


def _add(stores: Stores, name: str = "pygeoapi") -> int:
    return stores.upstreams.add(
        name,
        base_url="http://127.0.0.1:5000",
        auth="header",
        username="",
        header_name="X-Api-Key",
        secret=b"\x00sealed\xff",
        allow_private=True,
        conforms_to=["http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter"],
    ).key


def test_registrations_are_kept_with_their_sealed_secret(stores: Stores) -> None:
    _add(stores)
    found = stores.upstreams.get("pygeoapi")
    assert found is not None
    assert (found.auth, found.header_name, found.secret) == (
        "header",
        "X-Api-Key",
        b"\x00sealed\xff",
    )
    assert found.allow_private and found.declares(PART3_FILTER)
    assert [u.name for u in stores.upstreams.all()] == ["pygeoapi"]
    with pytest.raises(Conflict):
        _add(stores)
    stores.upstreams.set_conformance(found.key, [])
    refreshed = stores.upstreams.get("pygeoapi")
    assert refreshed is not None and not refreshed.declares(PART3_FILTER)


def test_an_upstream_with_exposed_collections_cannot_be_removed(stores: Stores) -> None:
    key = _add(stores)
    collection = _collection(stores, "lakes")
    stores.upstreams.expose(collection, key, "lakes-upstream")
    exposure = stores.upstreams.exposure("lakes")
    assert exposure is not None
    assert (exposure.remote_id, exposure.upstream.name) == ("lakes-upstream", "pygeoapi")
    assert exposure.url == "http://127.0.0.1:5000/collections/lakes-upstream"
    assert [e.collection_id for e in stores.upstreams.exposures(key)] == ["lakes"]
    assert stores.upstreams.exposure("other") is None
    with pytest.raises(Conflict):
        stores.upstreams.expose(collection, key, "again")
    with pytest.raises(Conflict):
        stores.upstreams.remove(key)
    stores.collections.delete(collection)
    assert stores.upstreams.exposures() == []
    assert stores.upstreams.remove(key)
    assert stores.upstreams.get("pygeoapi") is None


def test_polled_differences_enter_the_change_feed_in_order(stores: Stores) -> None:
    key = _add(stores)
    collection = _collection(stores, "lakes")
    stores.upstreams.expose(collection, key, "lakes")
    feature = orjson.dumps({"type": "Feature", "id": "a", "geometry": None, "properties": {}})
    first = [
        PolledChange("a", "create", feature.decode(), "h1"),
        PolledChange("b", "create", feature.decode(), "h2"),
    ]
    assert stores.upstreams.record_poll(collection, first, "upstream pygeoapi") == 2
    assert stores.upstreams.snapshot(collection) == {"a": "h1", "b": "h2"}
    second = [
        PolledChange("a", "update", feature.decode(), "h3"),
        PolledChange("b", "delete", None, None),
    ]
    assert stores.upstreams.record_poll(collection, second, "upstream pygeoapi") == 4
    assert stores.upstreams.snapshot(collection) == {"a": "h3"}
    rows = _changes(stores, collection)
    assert rows == [(1, "a", "create"), (2, "b", "create"), (3, "a", "update"), (4, "b", "delete")]


def _changes(stores: Stores, key: int) -> list[tuple[int, str, str]]:
    """The recorded changes, read with plain SQL (the PostgreSQL feature writer is written on
    another branch)."""
    sql = "SELECT version, feature_id, action FROM feature_changes WHERE collection_key = {}"
    db = stores.database
    if isinstance(db, PgDatabase):
        with db.connection() as conn:
            rows = conn.execute(sql.format("%s") + " ORDER BY version", (key,)).fetchall()
    else:
        assert isinstance(db, Database)
        rows = db.connection().execute(sql.format("?") + " ORDER BY version", (key,)).fetchall()
    return [(int(r[0]), r[1], r[2]) for r in rows]


def test_of_two_claimers_of_the_poll_lease_one_wins(open_stores: OpenStores) -> None:
    first, second = open_stores(), open_stores()  # two processes on one database
    one, other = Lease("upstream-poller", "host-a:1"), Lease("upstream-poller", "host-b:2")
    now = time.time()
    assert first.upstreams.claim_lease(one, now, 60)
    assert not second.upstreams.claim_lease(other, now, 60)
    assert first.upstreams.claim_lease(one, now + 1, 60)  # renewed by its holder
    second.upstreams.release_lease(other)  # not its lease: nothing happens
    assert not second.upstreams.claim_lease(other, now + 2, 60)
    assert second.upstreams.claim_lease(other, now + 62, 60)  # ran out: the other takes it
    assert not first.upstreams.claim_lease(one, now + 63, 60)
    second.upstreams.release_lease(other)
    assert first.upstreams.claim_lease(one, now + 64, 60)


def test_of_racing_claimers_exactly_one_wins(open_stores: OpenStores) -> None:
    claimers = [open_stores() for _ in range(4)]
    now = time.time()
    won: list[bool] = []
    barrier = threading.Barrier(len(claimers))

    def claim(n: int) -> None:
        barrier.wait()
        for _ in range(20):
            try:
                won.append(claimers[n].upstreams.claim_lease(Lease("race", f"p{n}"), now, 60))
                return
            except Busy:
                time.sleep(0.05)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(len(claimers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False, False, False, True]


def test_a_poll_is_recorded_only_while_its_lease_is_held(stores: Stores) -> None:
    key = _add(stores)
    collection = _collection(stores, "lakes")
    stores.upstreams.expose(collection, key, "lakes")
    lease = Lease("upstream-poller", "host-a:1")
    assert not stores.upstreams.polled(collection)
    with pytest.raises(LeaseLost):
        stores.upstreams.take_snapshot(collection, {"a": "h1"}, lease)
    assert not stores.upstreams.polled(collection)
    assert stores.upstreams.claim_lease(lease, time.time(), 60)
    stores.upstreams.take_snapshot(collection, {"a": "h1", "b": "h2"}, lease)
    assert stores.upstreams.polled(collection)
    assert stores.upstreams.snapshot(collection) == {"a": "h1", "b": "h2"}
    gone = [PolledChange("b", "delete", None, None)]
    assert stores.upstreams.record_poll(collection, gone, "upstream pygeoapi", lease) == 1
    stores.upstreams.release_lease(lease)
    with pytest.raises(LeaseLost):
        stores.upstreams.record_poll(
            collection, [PolledChange("a", "delete", None, None)], "x", lease
        )
    assert stores.upstreams.snapshot(collection) == {"a": "h1"}
    assert _changes(stores, collection) == [(1, "b", "delete")]
    stores.upstreams.take_snapshot(collection, {"c": "h3"})  # without a lease: as told
    assert stores.upstreams.snapshot(collection) == {"c": "h3"}
