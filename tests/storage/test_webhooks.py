"""The webhook store: endpoints and their subscriptions, deliveries fanned out to the
endpoints an event is for, claimed in order per subject for a lease, and their status."""

from __future__ import annotations

import time
from functools import partial

from opengeomesh.storage.stores import Stores
from opengeomesh.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.storage.conftest import OpenStores
from tests.storage.racing import race

LEASE = 120.0


def _users(stores: Stores) -> tuple[int, int]:
    alice = stores.accounts.add_user("alice", "Alice", False)
    bob = stores.accounts.add_user("bob", "Bob", False)
    return alice.id, bob.id


def _queue(stores: Stores, kind: str, user_id: int | None, subject: str, n: int = 0) -> list[int]:
    return stores.webhooks.queue(
        event_type=kind,
        user_id=user_id,
        subject=subject,
        payload=f'{{"n":{n}}}',
        message_id=f"msg_{kind}_{subject}_{n}",
    )


def _done(stores: Stores, item: WebhookDelivery, status: DeliveryStatus) -> None:
    assert stores.webhooks.finish(
        item, status=status, http_status=200, error="", next_attempt=time.time()
    )


def test_endpoints_keep_owner_url_events_and_sealed_secret(stores: Stores) -> None:
    alice, _ = _users(stores)
    hooks = stores.webhooks
    mine = hooks.add_endpoint(alice, "https://a.example/hook", ("share.received",), b"s1")
    everything = hooks.add_endpoint(None, "https://ops.example/", ("share.revoked", "x.y"), b"s2")
    assert mine.owner == "alice" and mine.url == "https://a.example/hook"
    assert mine.events == ("share.received",)
    assert everything.owner is None and everything.events == ("share.revoked", "x.y")
    assert hooks.endpoint(mine.id) == mine
    assert [e.id for e in hooks.endpoints(None)] == [mine.id, everything.id]
    assert hooks.endpoints(alice) == [mine]
    assert hooks.sealed_secret(everything.id) == b"s2"
    assert hooks.remove_endpoint(mine.id) and not hooks.remove_endpoint(mine.id)
    assert hooks.endpoint(mine.id) is None and hooks.sealed_secret(mine.id) is None


def test_an_event_goes_to_its_users_and_the_operators_subscribed_endpoints(
    stores: Stores,
) -> None:
    alice, bob = _users(stores)
    hooks = stores.webhooks
    a = hooks.add_endpoint(alice, "https://a.example/", ("share.received",), b"s")
    b = hooks.add_endpoint(bob, "https://b.example/", ("share.received",), b"s")
    ops = hooks.add_endpoint(None, "https://ops.example/", ("share.received",), b"s")
    hooks.add_endpoint(None, "https://other.example/", ("share.revoked",), b"s")
    queued = _queue(stores, "share.received", alice, "share:1")
    assert len(queued) == 2
    got = [hooks.delivery(i) for i in queued]
    assert {d.endpoint_id for d in got if d} == {a.id, ops.id}
    first = got[0]
    assert first is not None and first.status is DeliveryStatus.PENDING
    assert first.attempts == 0 and first.last_status is None and first.payload == '{"n":0}'
    assert first.message_id == f"msg_share.received_share:1_0_{first.endpoint_id}"
    assert hooks.deliveries(b.id) == []
    assert [d.id for d in hooks.deliveries(ops.id)] == [queued[1]]
    # an event of nobody's (a group's share) reaches the operator's endpoints only
    assert [
        hooks.delivery(i).endpoint_id for i in _queue(stores, "share.received", None, "s:2")
    ] == [  # type: ignore[union-attr]
        ops.id
    ]
    assert _queue(stores, "layer.changed", alice, "c:1") == []  # nobody asked for it
    hooks.remove_endpoint(ops.id)
    assert hooks.delivery(queued[1]) is None  # an endpoint's deliveries go with it


def test_deliveries_of_one_subject_are_claimed_one_after_another(stores: Stores) -> None:
    alice, _ = _users(stores)
    hooks = stores.webhooks
    hooks.add_endpoint(alice, "https://a.example/", ("share.accepted",), b"s")
    first = _queue(stores, "share.accepted", alice, "share:1", 1)[0]
    second = _queue(stores, "share.accepted", alice, "share:1", 2)[0]
    other = _queue(stores, "share.accepted", alice, "share:2", 3)[0]
    now = time.time() + 1
    one = hooks.claim_due(now, LEASE)
    two = hooks.claim_due(now, LEASE)
    assert one is not None and two is not None and (one.id, two.id) == (first, other)
    assert hooks.claim_due(now, LEASE) is None  # the second of share:1 waits for the first
    assert hooks.claim(second, now, LEASE) is None
    # a retry of the first keeps the second waiting
    assert hooks.finish(
        one,
        status=DeliveryStatus.PENDING,
        http_status=503,
        error="answered 503",
        next_attempt=now + 10,
    )
    assert hooks.claim_due(now, LEASE) is None
    again = hooks.claim_due(now + 10, LEASE)
    assert again is not None and again.id == first and again.attempts == 1
    assert again.last_status == 503 and again.last_error == "answered 503"
    _done(stores, again, DeliveryStatus.FAILED)  # given up: the next may go
    nxt = hooks.claim_due(now + 10, LEASE)
    assert nxt is not None and nxt.id == second
    _done(stores, nxt, DeliveryStatus.DELIVERED)
    got = hooks.delivery(second)
    assert got is not None and got.status is DeliveryStatus.DELIVERED and got.attempts == 1
    assert got.next_attempt_time is None and got.last_status == 200


def test_a_claim_holds_for_its_lease_and_only_its_holder_finishes(stores: Stores) -> None:
    alice, _ = _users(stores)
    stores.webhooks.add_endpoint(alice, "https://a.example/", ("share.accepted",), b"s")
    queued = _queue(stores, "share.accepted", alice, "share:1")[0]
    now = time.time() + 1
    held = stores.webhooks.claim_due(now, LEASE)
    assert held is not None and held.claimed_until == now + LEASE
    assert stores.webhooks.claim_due(now + LEASE - 1, LEASE) is None
    late = stores.webhooks.claim(queued, now + LEASE, LEASE)  # the lease ran out
    assert late is not None
    assert not stores.webhooks.finish(
        held, status=DeliveryStatus.DELIVERED, http_status=200, error="", next_attempt=now
    )
    _done(stores, late, DeliveryStatus.DELIVERED)


def test_coalescing_events_share_one_waiting_delivery(stores: Stores) -> None:
    alice, _ = _users(stores)
    hooks = stores.webhooks
    endpoint = hooks.add_endpoint(alice, "https://a.example/", ("layer.changed",), b"s")
    args = {"event_type": "layer.changed", "user_id": alice, "subject": "collection:1"}
    first = hooks.queue(**args, payload="{}", message_id="msg_1", coalesce=True, delay=60)
    assert len(first) == 1
    assert hooks.queue(**args, payload="{}", message_id="msg_2", coalesce=True) == []
    held = hooks.claim(first[0], time.time() + 60, LEASE)
    assert held is not None  # on its way now: a later change needs a delivery of its own
    later = hooks.queue(**args, payload="{}", message_id="msg_3", coalesce=True)
    assert len(later) == 1
    assert [d.id for d in hooks.deliveries(endpoint.id)] == [later[0], first[0]]


def test_deliveries_done_are_pruned_by_age_waiting_ones_never(stores: Stores) -> None:
    alice, _ = _users(stores)
    hooks = stores.webhooks
    endpoint = hooks.add_endpoint(alice, "https://a.example/", ("share.accepted",), b"s")
    for n in range(3):
        _queue(stores, "share.accepted", alice, f"share:{n}", n)
    now = time.time() + 1
    done = hooks.claim_due(now, LEASE)
    failed = hooks.claim_due(now, LEASE)
    assert done is not None and failed is not None
    _done(stores, done, DeliveryStatus.DELIVERED)
    _done(stores, failed, DeliveryStatus.FAILED)
    assert hooks.prune(time.time() - 60) == 0  # not old enough
    assert hooks.prune(time.time() + 60) == 2
    [left] = hooks.deliveries(endpoint.id)
    assert left.status is DeliveryStatus.PENDING


def test_racing_claimers_never_get_one_delivery_twice(open_stores: OpenStores) -> None:
    setup = open_stores()
    alice, _ = _users(setup)
    setup.webhooks.add_endpoint(alice, "https://a.example/", ("share.accepted",), b"s")
    for n in range(6):
        _queue(setup, "share.accepted", alice, f"share:{n}", n)
    workers = [open_stores() for _ in range(3)]
    now = time.time() + 1

    def claim_all(stores: Stores) -> list[int]:
        got = []
        while (item := stores.webhooks.claim_due(now, LEASE)) is not None:
            got.append(item.id)
        return got

    results = race(*(partial(claim_all, w) for w in workers))
    claimed = [i for r in results for i in r]
    assert len(claimed) == 6 and len(set(claimed)) == 6
