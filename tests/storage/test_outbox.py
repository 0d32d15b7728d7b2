"""The outbox: messages to other servers, claimed for a lease so that no two senders (threads,
worker processes, hosts) ever send one at once, and retried later with backoff."""

from __future__ import annotations

import time
from functools import partial

from opengeomesh.ocm.models import OutboxItem, ShareType
from opengeomesh.storage.stores import Stores
from tests.storage.conftest import OpenStores
from tests.storage.racing import race

LEASE = 120.0


def _share(stores: Stores, provider_id: str = "p-1") -> int:
    accounts = stores.accounts
    alice = accounts.get_user("alice") or accounts.add_user("alice", "Alice", False)
    collection = stores.collections.get("hydrants") or stores.collections.create(
        "hydrants",
        title="Hydrants",
        description="",
        owner_id=alice.id,
        public=False,
        temporal_property=None,
    )
    return stores.shares.add_share(
        provider_id=provider_id,
        collection_key=collection.key,
        sender_id=alice.id,
        share_with="bob@b.example",
        share_type=ShareType.USER,
        recipient_host="b.example",
        permission="read",
        secret_hash=f"hash-{provider_id}",
        secret_sealed=b"sealed",
    ).id


def test_due_messages_are_claimed_in_order_for_a_lease(stores: Stores) -> None:
    shares = stores.shares
    for n in range(5):
        shares.enqueue(f"host{n}.example", f'{{"n":{n}}}')
    now = time.time() + 1
    claimed = shares.claim_due(now, LEASE, limit=3)
    assert [i.notification for i in claimed] == ['{"n":0}', '{"n":1}', '{"n":2}']
    assert [i.host for i in claimed] == ["host0.example", "host1.example", "host2.example"]
    assert all(i.attempts == 0 and i.share_id is None and i.last_error == "" for i in claimed)
    rest = shares.claim_due(now, LEASE)
    assert [i.notification for i in rest] == ['{"n":3}', '{"n":4}']
    assert shares.claim_due(now + LEASE - 1, LEASE) == []  # all leased
    waiting = shares.waiting()
    assert [i.id for i in waiting] == sorted(i.id for i in claimed + rest)
    assert {i.claimed_until for i in waiting} == {now + LEASE}
    again = shares.claim_due(now + LEASE, LEASE)  # the leases ran out: claimable again
    assert len(again) == 5


def test_messages_not_yet_due_wait(stores: Stores) -> None:
    shares = stores.shares
    shares.enqueue("b.example", "{}")
    assert shares.claim_due(time.time() - 60, LEASE) == []


def test_a_failed_attempt_is_retried_after_its_backoff(stores: Stores) -> None:
    shares = stores.shares
    shares.enqueue("b.example", '{"x":1}')
    now = time.time() + 1
    (item,) = shares.claim_due(now, LEASE)
    shares.retry_later(item, now + 60, "answered 503: " + "busy " * 200)
    (waiting,) = shares.waiting()
    assert waiting.attempts == 1 and waiting.claimed_until == 0  # released at once
    assert waiting.last_error.startswith("answered 503: busy") and len(waiting.last_error) == 500
    assert shares.claim_due(now + 59, LEASE) == []
    (retried,) = shares.claim_due(now + 60, LEASE)
    assert retried.id == item.id and retried.attempts == 1
    assert not shares.retry_later(item, now + 90, "stale")  # an old claim changes nothing
    assert shares.retry_later(retried, now + 180, "answered 502: \x00 bad \x00 body")
    (waiting,) = shares.waiting()  # a peer's error text with NUL is stored (PostgreSQL: U+FFFD)
    assert waiting.attempts == 2 and waiting.last_error.startswith("answered 502: ")
    assert waiting.last_error.endswith(" body") and len(waiting.last_error) == 26
    (last,) = shares.claim_due(now + 180, LEASE)
    assert not shares.sent(retried) and shares.sent(last)
    assert shares.waiting() == [] and shares.claim_due(now + 1000, LEASE) == []


def test_a_share_delivery_is_claimed_by_one_sender_at_a_time(stores: Stores) -> None:
    shares = stores.shares
    share_id = _share(stores)
    other = _share(stores, "p-2")
    now = time.time() + 1
    item = shares.claim_share_delivery(share_id, now, LEASE)
    assert item is not None and item.share_id == share_id and item.host == "b.example"
    assert item.notification is None
    assert shares.claim_share_delivery(share_id, now, LEASE) is None  # leased
    delivery = shares.delivery_of(share_id)
    assert delivery is not None and delivery.claimed_until == now + LEASE
    assert [i.share_id for i in shares.claim_due(now, LEASE)] == [other]  # not the leased one
    shares.retry_later(item, now + 30, "no answer")
    again = shares.claim_share_delivery(share_id, now, LEASE)  # a gesture may try before due
    assert again is not None and again.attempts == 1
    assert shares.sent(again)
    assert shares.claim_share_delivery(share_id, now, LEASE) is None
    assert shares.delivery_of(share_id) is None
    assert shares.claim_share_delivery(999, now, LEASE) is None


def _drain(stores: Stores, now: float, limit: int) -> list[int]:
    """Claim until nothing is left, as a courier does; the ids claimed."""
    claimed: list[int] = []
    while items := stores.shares.claim_due(now, LEASE, limit=limit):
        claimed.extend(item.id for item in items)
    return claimed


def test_concurrent_claimers_never_get_the_same_message(open_stores: OpenStores) -> None:
    """Two workers (each its own connections), two claiming threads each."""
    workers = [open_stores(), open_stores()]
    for n in range(120):
        workers[n % 2].shares.enqueue("b.example", f'{{"n":{n}}}')
    expected = {item.id for item in workers[0].shares.waiting()}
    now = time.time() + 1
    results = race(*(partial(_drain, workers[n % 2], now, 1 + n) for n in range(4)))
    claimed = [item_id for result in results for item_id in result]
    assert sorted(claimed) == sorted(expected)  # every message, none twice
    assert len(set(claimed)) == len(claimed)


def test_a_share_delivery_raced_by_gesture_and_courier_is_claimed_once(
    open_stores: OpenStores,
) -> None:
    workers = [open_stores(), open_stores()]
    now = time.time() + 1
    for round_ in range(5):
        share_id = _share(workers[0], f"p-{round_}")
        calls = [
            partial(workers[0].shares.claim_share_delivery, share_id, now, LEASE),
            partial(workers[1].shares.claim_share_delivery, share_id, now, LEASE),
            partial(workers[0].shares.claim_due, now, LEASE),
            partial(workers[1].shares.claim_due, now, LEASE),
        ]
        results = race(*calls)
        items: list[OutboxItem] = []
        for result in results:
            if isinstance(result, list):
                items.extend(result)
            elif result is not None:
                items.append(result)
        assert len(items) == 1, items


def test_a_message_given_up_on_is_kept_failed_and_can_be_sent_again(stores: Stores) -> None:
    shares = stores.shares
    share_id = _share(stores, "p-failed")
    shares.enqueue("c.example", '{"x":1}')
    now = time.time() + 1
    delivery = shares.claim_share_delivery(share_id, now, LEASE)
    assert delivery is not None
    assert shares.retry_later(delivery, now, "answered 503: busy")
    (delivery,) = (i for i in shares.claim_due(now, LEASE) if i.share_id == share_id)
    assert shares.give_up(delivery, "answered 503: still busy", now)
    assert not shares.give_up(delivery, "stale claim", now)  # only once, only by its claimer
    failed = shares.delivery_of(share_id)
    assert failed is not None and failed.failed_at == now and failed.attempts == 2
    assert failed.last_error == "answered 503: still busy" and failed.claimed_until == 0
    # never claimed again, by either path, however late
    later = now + 10 * LEASE
    assert [i.share_id for i in shares.claim_due(later, LEASE)] == [None]  # the notification
    assert shares.claim_share_delivery(share_id, later, LEASE) is None
    assert [i.failed_at is not None for i in shares.waiting()] == [True, False]
    # sent again by hand: due at once, attempts afresh; a message that did not fail is refused
    waiting_note = next(i for i in shares.waiting() if i.share_id is None)
    assert shares.retry_failed(waiting_note.id, later) is None
    again = shares.retry_failed(failed.id, later)
    assert again is not None and again.failed_at is None and again.attempts == 0
    assert shares.retry_failed(failed.id, later) is None
    claimed = shares.claim_share_delivery(share_id, later, LEASE)
    assert claimed is not None and claimed.id == failed.id
