"""The share store: shares sent with their secrets and access tokens, the operator's sharing
rules, and shares received. The outbox is in test_outbox.py."""

from __future__ import annotations

import time
from datetime import timedelta
from functools import partial

import pytest

from opengeomesh.accounts.models import ShareScope
from opengeomesh.ocm.models import ReceivedState, ShareState, ShareType
from opengeomesh.storage.stores import Stores
from tests.storage.conftest import OpenStores
from tests.storage.racing import race


class Sender:
    """alice (id) owns the collection 'hydrants' (key)."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.alice = stores.accounts.add_user("alice", "Alice", False).id
        self.key = self.collection("hydrants")
        self.count = 0

    def collection(self, name: str) -> int:
        return self.stores.collections.create(
            name,
            title=name.title(),
            description="",
            owner_id=self.alice,
            public=False,
            temporal_property=None,
        ).key

    def share(self, to: str = "bob@b.example", *, key: int | None = None, **changes: str) -> int:
        self.count += 1
        return self.stores.shares.add_share(
            provider_id=changes.get("provider_id", f"p-{self.count}"),
            collection_key=self.key if key is None else key,
            sender_id=self.alice,
            share_with=to,
            share_type=ShareType.USER,
            recipient_host=to.rsplit("@", 1)[1],
            permission=changes.get("permission", "read"),
            secret_hash=f"secret-{self.count}",
            secret_sealed=b"\x00sealed\xff",
        ).id


@pytest.fixture
def sender(stores: Stores) -> Sender:
    return Sender(stores)


def test_a_share_is_recorded_with_its_delivery_queued(sender: Sender) -> None:
    shares = sender.stores.shares
    share_id = sender.share(permission="write")
    share = shares.share(share_id)
    assert share is not None
    assert (share.provider_id, share.collection_key, share.collection_id) == (
        "p-1",
        sender.key,
        "hydrants",
    )
    assert (share.sender, share.share_with, share.share_type) == (
        "alice",
        "bob@b.example",
        ShareType.USER,
    )
    assert (share.recipient_host, share.recipient_name, share.permission) == (
        "b.example",
        "",
        "write",
    )
    assert share.state is ShareState.SENDING and share.problem == ""
    assert share.created == share.updated and share.created.utcoffset() == timedelta(0)
    delivery = shares.delivery_of(share_id)
    assert delivery is not None and delivery.host == "b.example" and delivery.attempts == 0
    assert delivery.notification is None and delivery.claimed_until == 0
    assert shares.share_by_provider_id("p-1") == share
    assert shares.share_for_secret("secret-1") == share
    assert shares.share(999) is None and shares.share_by_provider_id("p-9") is None
    assert shares.share_for_secret("nope") is None


def test_the_sealed_secret_is_kept_until_delivered(sender: Sender) -> None:
    shares = sender.stores.shares
    share_id = sender.share()
    assert shares.sealed_secret(share_id) == b"\x00sealed\xff"
    shares.forget_sealed_secret(share_id)
    assert shares.sealed_secret(share_id) is None
    assert shares.sealed_secret(999) is None


def test_shares_are_listed_per_sender_and_per_collection(sender: Sender) -> None:
    shares = sender.stores.shares
    other = sender.collection("sectors")
    first = sender.share()
    second = sender.share("carol@c.example", key=other)
    third = sender.share("dave@d.example")
    bob = sender.stores.accounts.add_user("bob", "Bob", False)
    assert [s.id for s in shares.shares(sender.alice)] == [first, second, third]
    assert shares.shares(bob.id) == []
    assert [s.id for s in shares.shares(None)] == [first, second, third]
    assert [s.id for s in shares.shares_of_collection(sender.key)] == [first, third]
    assert [s.id for s in shares.shares_of_collection(other)] == [second]


def test_updates_change_only_what_is_given_and_queue_their_notification(sender: Sender) -> None:
    shares = sender.stores.shares
    share_id = sender.share()
    pending = shares.update_share(share_id, state=ShareState.PENDING, recipient_name="Bob B")
    assert pending is not None and pending.state is ShareState.PENDING
    assert pending.recipient_name == "Bob B" and pending.permission == "read"
    changed = shares.update_share(
        share_id, permission="write", notify=("b.example", '{"notificationType":"x"}')
    )
    assert changed is not None and changed.permission == "write"
    assert changed.state is ShareState.PENDING and changed.recipient_name == "Bob B"
    refused = shares.update_share(share_id, state=ShareState.REFUSED, problem="answered 403")
    assert refused is not None and refused.problem == "answered 403"
    notes = [i for i in shares.waiting() if i.notification is not None]
    assert [(i.host, i.notification) for i in notes] == [("b.example", '{"notificationType":"x"}')]
    assert shares.update_share(999, problem="x") is None


def test_deleting_a_share_takes_its_tokens_and_delivery_and_queues_the_notice(
    sender: Sender,
) -> None:
    shares = sender.stores.shares
    share_id = sender.share()
    assert shares.add_token(share_id, "token-1", time.time() + 300)
    assert shares.delete_share(share_id, ("b.example", '{"unshared":1}')) is True
    assert shares.share(share_id) is None and shares.delivery_of(share_id) is None
    assert shares.access_for_token("token-1") is None
    assert [i.notification for i in shares.waiting()] == ['{"unshared":1}']
    assert shares.delete_share(share_id, ("b.example", '{"again":1}')) is False
    assert len(shares.waiting()) == 1  # nothing queued for a share already gone


def test_deleting_a_collection_deletes_its_shares_and_rules(sender: Sender) -> None:
    shares = sender.stores.shares
    share_id = sender.share()
    shares.set_rule(sender.key, "*", "read")
    sender.stores.collections.delete(sender.key)
    assert shares.share(share_id) is None and shares.rules(sender.key) == []
    assert shares.waiting() == []


def test_tokens_open_their_share_until_the_recipient_is_blocked(sender: Sender) -> None:
    shares = sender.stores.shares
    federation = sender.stores.federation
    share_id = sender.share(permission="write")
    expires = time.time() + 300.25
    assert shares.add_token(share_id, "token-1", expires) is True
    scope, until = shares.access_for_token("token-1") or (None, 0.0)
    assert scope == ShareScope(share_id, sender.key, "write", "bob@b.example")
    assert until == expires
    assert shares.access_for_token("other") is None
    federation.set_peer("b.example", blocked=True)
    assert shares.access_for_token("token-1") is None
    federation.set_peer("b.example", blocked=False)
    assert shares.access_for_token("token-1") is not None
    assert shares.add_token(999, "token-2", expires) is False  # no such share


def test_expired_tokens_are_forgotten_when_tokens_are_added(sender: Sender) -> None:
    shares = sender.stores.shares
    share_id = sender.share()
    assert shares.add_token(share_id, "old", time.time() - 1)
    assert shares.access_for_token("old") is not None  # expiry is the caller's to check
    assert shares.add_token(share_id, "new", time.time() + 300)
    assert shares.access_for_token("old") is None
    assert shares.access_for_token("new") is not None


def test_sharing_rules(sender: Sender) -> None:
    shares = sender.stores.shares
    shares.set_rule(sender.key, "*.example.org", "read")
    shares.set_rule(sender.key, "*", "none")
    shares.set_rule(sender.key, "b.example", "read")
    shares.set_rule(sender.key, "b.example", "write")  # replaces
    assert [(r.collection_id, r.domain, r.permission) for r in shares.rules(sender.key)] == [
        ("hydrants", "*", "none"),
        ("hydrants", "*.example.org", "read"),
        ("hydrants", "b.example", "write"),
    ]
    assert shares.remove_rule(sender.key, "*") is True
    assert shares.remove_rule(sender.key, "*") is False
    assert len(shares.rules(sender.key)) == 2
    assert shares.rules(sender.collection("empty")) == []


# --- shares received ----------------------------------------------------------------------


def _fields(**changes: str) -> dict[str, str]:
    fields = {
        "name": "Fire hydrants",
        "description": "Hydrants of A",
        "owner": "alice@a.example",
        "owner_name": "Alice",
        "sender": "alice@a.example",
        "sender_name": "Alice",
        "uri": "https://a.example/collections/hydrants",
        "permission": "read",
    }
    return fields | changes


class Recipient:
    """bob (user id) and the group 'crew' (id), bob a member, at b.example."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.bob = stores.accounts.add_user("bob", "Bob", False).id
        self.carol = stores.accounts.add_user("carol", "Carol", False).id
        self.crew = stores.accounts.add_group("crew").id
        stores.accounts.add_member(self.crew, self.bob)

    def receive(
        self, provider_id: str, *, group: bool = False, secret: bytes = b"s1", **changes: str
    ) -> tuple[int, bool]:
        share, new = self.stores.shares.receive(
            sender_host="a.example",
            provider_id=provider_id,
            user_id=None if group else self.bob,
            group_id=self.crew if group else None,
            fields=_fields(**changes),
            secret=secret,
        )
        return share.id, new


@pytest.fixture
def recipient(stores: Stores) -> Recipient:
    return Recipient(stores)


def test_a_received_share_is_recorded_once_and_updated_by_repeats(recipient: Recipient) -> None:
    shares = recipient.stores.shares
    share_id, new = recipient.receive("p-1")
    assert new is True
    share = shares.received(share_id)
    assert share is not None and share.state is ReceivedState.PENDING
    assert (share.sender_host, share.provider_id, share.share_type, share.recipient) == (
        "a.example",
        "p-1",
        ShareType.USER,
        "bob",
    )
    assert (share.name, share.uri, share.permission) == (
        "Fire hydrants",
        "https://a.example/collections/hydrants",
        "read",
    )
    assert share.mount_id == f"ocm-{share_id}" and share.created.utcoffset() == timedelta(0)
    assert shares.received_secret(share_id) == b"s1"
    assert shares.decide(share_id, ReceivedState.ACCEPTED, None) is not None
    again, new = recipient.receive("p-1", secret=b"s2", name="Hydrants", permission="write")
    assert (again, new) == (share_id, False)
    updated = shares.received(share_id)
    assert updated is not None and updated.state is ReceivedState.ACCEPTED  # kept
    assert (updated.name, updated.permission) == ("Hydrants", "write")
    assert shares.received_secret(share_id) == b"s2"
    assert shares.received_from("a.example", "p-1") == updated
    assert shares.received_from("other.example", "p-1") is None
    assert shares.received(999) is None and shares.received_secret(999) is None


def test_received_shares_are_listed_for_a_user_and_their_groups(recipient: Recipient) -> None:
    shares = recipient.stores.shares
    personal, _ = recipient.receive("p-1")
    for_crew, _ = recipient.receive("p-2", group=True)
    share = shares.received(for_crew)
    assert share is not None and share.share_type is ShareType.GROUP and share.recipient == "crew"
    crew = frozenset({recipient.crew})
    assert [s.id for s in shares.received_for(recipient.bob, crew)] == [personal, for_crew]
    assert [s.id for s in shares.received_for(recipient.bob, frozenset())] == [personal]
    assert shares.received_for(recipient.carol, frozenset()) == []
    assert [s.id for s in shares.received_for(None, frozenset())] == [personal, for_crew]
    assert shares.recipient_of(personal) == (recipient.bob, None)
    assert shares.recipient_of(for_crew) == (None, recipient.crew)
    assert shares.recipient_of(999) == (None, None)


def test_a_share_is_decided_once_and_its_answer_queued_with_it(recipient: Recipient) -> None:
    shares = recipient.stores.shares
    share_id, _ = recipient.receive("p-1")
    accepted = shares.decide(share_id, ReceivedState.ACCEPTED, ("a.example", '{"accepted":1}'))
    assert accepted is not None and accepted.state is ReceivedState.ACCEPTED
    assert shares.decide(share_id, ReceivedState.DECLINED, ("a.example", '{"declined":1}')) is None
    assert [i.notification for i in shares.waiting()] == ['{"accepted":1}']
    assert shares.decide(999, ReceivedState.ACCEPTED, None) is None


def test_received_permission_and_forgetting(recipient: Recipient) -> None:
    shares = recipient.stores.shares
    share_id, _ = recipient.receive("p-1")
    shares.set_received_permission(share_id, "write")
    share = shares.received(share_id)
    assert share is not None and share.permission == "write"
    assert shares.forget_received(share_id) is True
    assert shares.forget_received(share_id) is False
    assert shares.received(share_id) is None


def test_one_share_arriving_at_two_workers_at_once_is_recorded_once(
    open_stores: OpenStores,
) -> None:
    first = Recipient(open_stores())
    workers = [first.stores, open_stores()]
    for round_ in range(5):
        calls = [
            partial(
                workers[n % 2].shares.receive,
                sender_host="a.example",
                provider_id=f"p-{round_}",
                user_id=first.bob,
                group_id=None,
                fields=_fields(name=f"copy {n}"),
                secret=b"s",
            )
            for n in range(4)
        ]
        results = race(*calls)
        assert [new for _, new in results].count(True) == 1
        assert len({share.id for share, _ in results}) == 1
    assert len(first.stores.shares.received_for(None, frozenset())) == 5


def test_two_decisions_racing_one_wins(open_stores: OpenStores) -> None:
    first = Recipient(open_stores())
    workers = [first.stores, open_stores()]
    for round_ in range(5):
        share_id, _ = first.receive(f"p-{round_}")
        calls = [
            partial(
                workers[n % 2].shares.decide,
                share_id,
                ReceivedState.ACCEPTED if n % 2 else ReceivedState.DECLINED,
                ("a.example", f'{{"n":{n}}}'),
            )
            for n in range(4)
        ]
        assert sum(result is not None for result in race(*calls)) == 1
    assert len(first.stores.shares.waiting()) == 5
