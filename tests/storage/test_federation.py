"""The federation store: peers, invites (accepted once only), contacts, and the replay cache
of signatures that every worker shares. Also the trust policy, which reads the peers."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from opengeomesh.ocm.models import Contact, TrustMode
from opengeomesh.ocm.trust import TrustPolicy, Untrusted
from opengeomesh.storage.stores import Stores
from tests.storage.conftest import OpenStores
from tests.storage.racing import race

MOMENT = datetime(2025, 1, 1, tzinfo=UTC)


def _contact(address: str, name: str = "Bob", email: str = "bob@b.example") -> Contact:
    return Contact("alice", address, name, email, MOMENT)


def test_peers_change_only_what_is_given(stores: Stores) -> None:
    federation = stores.federation
    assert federation.peer("b.example") is None
    new = federation.set_peer("b.example")
    assert (new.organisation, new.trusted, new.blocked, new.invited) == ("", False, False, False)
    assert new.updated.utcoffset() == timedelta(0)
    federation.set_peer("b.example", organisation="Brigade B", trusted=True)
    changed = federation.set_peer("b.example", blocked=True)
    assert (changed.organisation, changed.trusted, changed.blocked) == ("Brigade B", True, True)
    assert federation.peer("b.example") == changed
    federation.set_peer("a.example:8443", trusted=False)
    federation.set_peer("a-z.example")
    assert [p.host for p in federation.peers()] == ["a-z.example", "a.example:8443", "b.example"]


def test_invites_are_found_by_hash_and_listed_per_user(stores: Stores) -> None:
    alice = stores.accounts.add_user("alice", "Alice", False)
    bob = stores.accounts.add_user("bob", "Bob", False)
    federation = stores.federation
    expires = datetime.now(UTC) + timedelta(days=7)
    invite = federation.add_invite(alice.id, "hash-a", expires)
    federation.add_invite(bob.id, "hash-b", expires)
    second = federation.add_invite(alice.id, "hash-c", expires)
    assert invite.user_name == "alice" and invite.accepted is None and invite.accepted_by is None
    assert invite.expires == expires.replace(microsecond=0)
    assert invite.created.utcoffset() == timedelta(0)
    assert federation.invite_by_hash("hash-a") == (invite, alice.id)
    assert federation.invite_by_hash("nope") is None
    assert federation.invites_of(alice.id) == [invite, second]


def test_accepting_an_invite_records_the_contact_and_the_peer_once(stores: Stores) -> None:
    alice = stores.accounts.add_user("alice", "Alice", False)
    federation = stores.federation
    invite = federation.add_invite(alice.id, "hash", datetime.now(UTC) + timedelta(days=1))
    accept = partial(
        federation.accept_invite,
        invite.id,
        user_id=alice.id,
        peer_host="b.example",
        organisation="Brigade B",
    )
    assert accept(by="bob@b.example", contact=_contact("bob@b.example")) is True
    assert accept(by="eve@e.example", contact=_contact("eve@e.example", "Eve")) is False
    found = federation.invite_by_hash("hash")
    assert found is not None
    accepted = found[0]
    assert accepted.accepted_by == "bob@b.example" and accepted.accepted is not None
    assert [c.address for c in federation.contacts_of(alice.id)] == ["bob@b.example"]
    peer = federation.peer("b.example")
    assert peer is not None and peer.invited and peer.organisation == "Brigade B"
    assert not peer.trusted and not peer.blocked
    assert federation.peer("e.example") is None


def test_an_invite_raced_by_two_acceptances_is_accepted_once(open_stores: OpenStores) -> None:
    """Two workers (each with its own connections), each on two threads."""
    workers = [open_stores(), open_stores()]
    alice = workers[0].accounts.add_user("alice", "Alice", False)
    expires = datetime.now(UTC) + timedelta(days=1)
    for round_ in range(5):
        invite = workers[0].federation.add_invite(alice.id, f"hash-{round_}", expires)
        calls = [
            partial(
                workers[n % 2].federation.accept_invite,
                invite.id,
                by=f"user{n}@peer{n}.example",
                contact=_contact(f"user{n}@peer{n}.example"),
                user_id=alice.id,
                peer_host=f"peer{n}.example",
                organisation="",
            )
            for n in range(4)
        ]
        results = race(*calls)
        assert results.count(True) == 1, results
        winner = results.index(True)
        found = workers[1].federation.invite_by_hash(f"hash-{round_}")
        assert found is not None and found[0].accepted_by == f"user{winner}@peer{winner}.example"
    contacts = workers[1].federation.contacts_of(alice.id)
    assert len(contacts) == len({c.address for c in contacts}) <= 5
    assert sum(p.invited for p in workers[1].federation.peers()) == len(contacts)


def test_the_invited_side_records_contact_and_peer(stores: Stores) -> None:
    bob = stores.accounts.add_user("bob", "Bob", False)
    federation = stores.federation
    federation.set_peer("a.example", trusted=True)
    federation.record_acceptance(
        contact=_contact("alice@a.example", "Alice", "alice@a.example"),
        user_id=bob.id,
        peer_host="a.example",
        organisation="Agency A",
    )
    federation.record_acceptance(  # again, with new details: one contact, updated
        contact=_contact("alice@a.example", "Alice A.", "a@a.example"),
        user_id=bob.id,
        peer_host="a.example",
        organisation="Agency A",
    )
    federation.record_acceptance(
        contact=_contact("a-z@a.example", "Zed"),
        user_id=bob.id,
        peer_host="a.example",
        organisation="Agency A",
    )
    contacts = federation.contacts_of(bob.id)
    assert [(c.user_name, c.address, c.name, c.email) for c in contacts] == [
        ("bob", "a-z@a.example", "Zed", "bob@b.example"),
        ("bob", "alice@a.example", "Alice A.", "a@a.example"),
    ]
    assert contacts[0].created.utcoffset() == timedelta(0)
    peer = federation.peer("a.example")
    assert peer is not None and peer.invited and peer.trusted  # trust is kept


def test_a_signature_is_new_once(stores: Stores) -> None:
    federation = stores.federation
    later = time.time() + 600
    assert federation.remember_signature("sig-1", later) is True
    assert federation.remember_signature("sig-1", later) is False
    assert federation.remember_signature("sig-2", later) is True
    # an entry past its expiry is forgotten: the verifier refuses so old a signature anyway
    assert federation.remember_signature("old", time.time() - 1) is True
    assert federation.remember_signature("old", later) is True
    assert federation.remember_signature("old", later) is False


def test_a_replay_racing_across_workers_is_new_to_one_only(open_stores: OpenStores) -> None:
    workers = [open_stores(), open_stores()]
    later = time.time() + 600
    for round_ in range(10):
        calls = [
            partial(workers[n % 2].federation.remember_signature, f"sig-{round_}", later)
            for n in range(6)
        ]
        assert race(*calls).count(True) == 1


def test_trust_modes(stores: Stores) -> None:
    store = stores.federation
    store.set_peer("known.example", trusted=True)
    store.set_peer("blocked.example", blocked=True)
    for mode in TrustMode:
        policy = TrustPolicy(mode, store, accept_unsigned=False)
        policy.check("known.example")
        with pytest.raises(Untrusted, match="blocked"):
            policy.check("blocked.example", invite=True)
    TrustPolicy(TrustMode.OPEN, store, accept_unsigned=False).check("new.example")
    TrustPolicy(TrustMode.INVITE_ONLY, store, accept_unsigned=False).check(
        "new.example", invite=True
    )
    with pytest.raises(Untrusted, match="invite"):
        TrustPolicy(TrustMode.INVITE_ONLY, store, accept_unsigned=False).check("new.example")
    with pytest.raises(Untrusted, match="allowlist"):
        TrustPolicy(TrustMode.ALLOWLIST, store, accept_unsigned=False).check(
            "new.example", invite=True
        )
    criteria = TrustPolicy(TrustMode.ALLOWLIST, store, accept_unsigned=False).criteria()
    assert set(criteria) == {"must-use-http-sig", "allowlist", "denylist"}
