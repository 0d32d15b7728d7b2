"""The change feed's domain: CloudEvents without the author, the hub's wake-ups from other
threads, followers that get concurrent writes in order and none twice, find writes they were
not told of by polling, send keep-alives, and stop when the caller's access ends."""

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
import pytest

from opengeomesh.accounts.models import Caller
from opengeomesh.errors import InvalidInput
from opengeomesh.features.changes import (
    ChangeEvent,
    ChangeFeed,
    ChangeHub,
    KeepAlive,
    Position,
    check_limit,
    check_position,
    read_cloud_event,
)
from opengeomesh.features.editing import Editing
from opengeomesh.features.models import ChangeAction, FeatureChange
from opengeomesh.features.remote import MountedLayer
from opengeomesh.features.remote_changes import _page
from opengeomesh.ocm.client import PeerUnavailable
from opengeomesh.ocm.models import ReceivedShare, ReceivedState, ShareType
from opengeomesh.services import Services


def change(action: ChangeAction, feature: str | None, version: int = 7) -> FeatureChange:
    return FeatureChange(
        feature_id="f1",
        action=action,
        actor="bob@leitstelle.example (share 3)",
        at=datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
        version=version,
        feature=feature,
    )


def test_cloud_events_have_the_pubsub_shape_and_no_author() -> None:
    written = '{"type":"Feature","id":"f1","geometry":null,"properties":{"a":1}}'
    source = "https://a.example/collections/hydrants"
    made = ChangeEvent.of(change(ChangeAction.CREATE, written)).cloud_event(source, "hydrants")
    assert made == {
        "specversion": "1.0",
        "type": "org.ogc.api.collection.item.create",
        "source": source,
        "subject": "f1",
        "id": "hydrants:7",
        "time": "2026-05-01T12:00:00Z",
        "changenumber": 7,
        "datacontenttype": "application/geo+json",
        "data": orjson.loads(written),
    }
    for action in (ChangeAction.REPLACE, ChangeAction.UPDATE):
        event = ChangeEvent.of(change(action, written)).cloud_event(source, "hydrants")
        assert event["type"] == "org.ogc.api.collection.item.update"
    deleted = ChangeEvent.of(change(ChangeAction.DELETE, None)).cloud_event(source, "hydrants")
    assert deleted["type"] == "org.ogc.api.collection.item.delete"
    assert deleted["datacontenttype"] == "text/plain" and deleted["data"] == "f1"
    assert b"bob" not in orjson.dumps([made, deleted]) and b"leitstelle" not in orjson.dumps(made)
    # a write recorded before the feed kept features has no data
    old = ChangeEvent.of(change(ChangeAction.UPDATE, None)).cloud_event(source, "hydrants")
    assert "data" not in old and "datacontenttype" not in old
    # another server's events are read back to the same change
    assert read_cloud_event(made) == ChangeEvent.of(change(ChangeAction.CREATE, written))
    assert read_cloud_event(deleted).data == "f1"


@pytest.mark.parametrize(
    "raw",
    [
        [],
        {"type": "org.ogc.api.collection.item.create", "subject": "f"},
        {"changenumber": True, "type": "org.ogc.api.collection.item.create", "subject": "f"},
        {"changenumber": 1, "type": "org.example.other", "subject": "f"},
        {"changenumber": 1, "type": "org.ogc.api.collection.item.create", "subject": ""},
        {
            "changenumber": 1,
            "type": "org.ogc.api.collection.item.update",
            "subject": "f",
            "data": {"type": "FeatureCollection"},
        },
    ],
)
def test_odd_events_of_other_servers_are_refused(raw: Any) -> None:
    with pytest.raises(ValueError):
        read_cloud_event(raw)


def test_positions_and_limits() -> None:
    assert check_position(None, "since") is None
    assert check_position(" 42 ", "since") == 42
    for bad in ("-1", "x", "1.5", "²", "9" * 30, ""):
        with pytest.raises(InvalidInput) as refused:
            check_position(bad, "Last-Event-ID")
        assert refused.value.field == "Last-Event-ID"
    assert check_limit(None) == 100 and check_limit("1000") == 1000
    for bad in ("0", "1001", "-5", "9" * 5000):
        with pytest.raises(InvalidInput):
            check_limit(bad)


def test_the_hub_wakes_waiters_from_other_threads() -> None:
    hub = ChangeHub()

    async def main() -> None:
        with hub.watch(5) as waiter, hub.watch(6) as other:
            assert hub.waiting == 2
            waiter.arm()
            assert not await waiter.wait(0.01)
            threading.Thread(target=hub.wake, args=(5,)).start()
            assert await waiter.wait(5)
            other.arm()
            assert not await other.wait(0.01)  # woken for its own collection only
            waiter.arm()
            hub.wake(5)  # a wake-up before the wait is not lost
            assert await waiter.wait(1)
        assert hub.waiting == 0

    anyio.run(main)
    hub.wake(5)  # nobody waits: nothing happens


def follow(
    feed: ChangeFeed,
    services: Services,
    who: Callable[[], Caller],
    collection_id: str,
    during: Callable[[], None],
    *,
    until: Callable[[list[Any]], bool],
    seconds: float = 10,
) -> tuple[list[Any], bool]:
    """Follow a collection while ``during`` runs in a thread; the items seen, and whether the
    stream ended by itself."""
    items: list[Any] = []

    async def main() -> bool:
        collection, since = await anyio.to_thread.run_sync(feed.start, who(), collection_id, None)
        stream = feed.follow(collection, since, who, batch=7)
        worker = threading.Thread(target=during)
        try:
            async with asyncio.timeout(seconds):
                async for item in stream:
                    items.append(item)
                    if len(items) == 1:
                        worker.start()
                    if until(items):
                        return False
                return True
        finally:
            await stream.aclose()
            worker.join()

    return items, anyio.run(main)


def feature(n: int) -> dict[str, Any]:
    return {"type": "Feature", "geometry": None, "properties": {"n": n}}


def test_concurrent_writes_arrive_in_order_and_once(services: Services) -> None:
    services.accounts.add_user("alice")
    alice = services.accounts.caller_for_user("alice")
    services.catalog.create(alice, "layer")
    feed = ChangeFeed(
        services.catalog,
        services.stores.feature_writes,
        services.changes.hub,
        poll_seconds=60,  # only the hub's wake-ups make this test fast
        keepalive_seconds=60,
    )

    def edits() -> None:
        threads = [
            threading.Thread(target=services.editing.create, args=(alice, "layer", feature(n)))
            for n in range(40)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    items, ended = follow(
        feed,
        services,
        lambda: alice,
        "layer",
        edits,
        until=lambda seen: sum(isinstance(i, ChangeEvent) for i in seen) >= 40,
    )
    assert not ended and items[0] == Position(0)
    events = [i for i in items if isinstance(i, ChangeEvent)]
    assert [e.seq for e in events] == list(range(1, 41))
    assert sorted(e.data["properties"]["n"] for e in events) == list(range(40))
    assert services.changes.hub.waiting == 0


def test_writes_of_another_process_arrive_by_polling(services: Services) -> None:
    services.accounts.add_user("alice")
    alice = services.accounts.caller_for_user("alice")
    services.catalog.create(alice, "layer")
    unheard = Editing(services.catalog, services.stores.features, services.stores.feature_writes)
    feed = ChangeFeed(
        services.catalog,
        services.stores.feature_writes,
        ChangeHub(),
        poll_seconds=0.05,
        keepalive_seconds=0.2,
    )
    items, _ = follow(
        feed,
        services,
        lambda: alice,
        "layer",
        lambda: [unheard.create(alice, "layer", feature(n)) for n in range(3)],
        until=lambda seen: (
            sum(isinstance(i, ChangeEvent) for i in seen) >= 3 and isinstance(seen[-1], KeepAlive)
        ),
    )
    assert [i.seq for i in items if isinstance(i, ChangeEvent)] == [1, 2, 3]
    assert isinstance(items[-1], KeepAlive)


def test_a_stream_ends_when_access_ends(services: Services) -> None:
    for name in ("alice", "bob"):
        services.accounts.add_user(name)
    alice = services.accounts.caller_for_user("alice")
    services.catalog.create(alice, "layer")
    services.catalog.grant(alice, "layer", "user:bob", "read")
    feed = ChangeFeed(
        services.catalog,
        services.stores.feature_writes,
        services.changes.hub,
        poll_seconds=60,  # the grant's removal wakes the stream
        keepalive_seconds=60,
    )

    def then_ungrant() -> None:
        services.editing.create(alice, "layer", feature(1))
        services.catalog.ungrant(alice, "layer", "user:bob")
        services.editing.create(alice, "layer", feature(2))

    items, ended = follow(
        feed,
        services,
        lambda: services.accounts.caller_for_user("bob"),
        "layer",
        then_ungrant,
        until=lambda seen: False,
    )
    assert ended
    assert [i.seq for i in items if isinstance(i, ChangeEvent)] in ([], [1])


def test_a_stream_ends_when_its_collection_is_deleted(services: Services) -> None:
    services.accounts.add_user("alice")
    alice = services.accounts.caller_for_user("alice")
    services.catalog.create(alice, "layer")
    feed = ChangeFeed(
        services.catalog,
        services.stores.feature_writes,
        services.changes.hub,
        poll_seconds=0.05,
        keepalive_seconds=60,
    )
    items, ended = follow(
        feed,
        services,
        lambda: alice,
        "layer",
        lambda: services.catalog.delete(alice, "layer"),
        until=lambda seen: False,
    )
    assert ended and items == [Position(0)]


def mounted() -> MountedLayer:
    moment = datetime(2026, 5, 1, tzinfo=UTC)
    share = ReceivedShare(
        id=1,
        sender_host="a.example",
        provider_id="p",
        share_type=ShareType.USER,
        recipient="bob",
        name="units",
        description="",
        owner="alice@a.example",
        owner_name="Alice",
        sender="alice@a.example",
        sender_name="Alice",
        uri="https://a.example/collections/units",
        permission="read",
        state=ReceivedState.ACCEPTED,
        created=moment,
        updated=moment,
    )
    return MountedLayer(id="ocm-1", title="units", description="", share=share)


def test_a_senders_pages_are_checked() -> None:
    def event(n: int) -> dict[str, Any]:
        return {"changenumber": n, "type": "org.ogc.api.collection.item.delete", "subject": "x"}

    layer = mounted()
    page = _page(
        {"events": [event(3), event(4)], "currentChange": 9, "links": [{"rel": "next"}]}, layer, 2
    )
    assert [e.seq for e in page.events] == [3, 4] and page.more and page.current == 9
    assert _page({"events": [], "currentChange": "x"}, layer, 5).current == 5
    for odd in (
        {"events": [event(4), event(3)]},
        {"events": [event(3), event(3)]},
        {"events": [event(2)]},  # not after since
        {"events": [{"changenumber": 3}]},
        {"items": []},
    ):
        with pytest.raises(PeerUnavailable):
            _page(odd, layer, 2)
