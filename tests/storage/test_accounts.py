"""The account store: users, groups and personal tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opengeomesh.storage.stores import Stores


def test_users_are_kept_and_listed_by_name(stores: Stores) -> None:
    accounts = stores.accounts
    before = datetime.now(UTC).replace(microsecond=0)
    added = accounts.add_user("zed", "Zed Z", True, "zed@example.org")
    for name in ("a_b", "a-b", "a.b", "a1", "b"):
        accounts.add_user(name, name.upper(), False)
    assert added.name == "zed" and added.display_name == "Zed Z"
    assert added.is_admin is True and added.email == "zed@example.org"
    assert added.created.tzinfo is not None and added.created.utcoffset() == timedelta(0)
    assert added.created.microsecond == 0  # stored to the second on both databases
    assert before <= added.created <= datetime.now(UTC)
    assert accounts.get_user("zed") == added
    assert accounts.get_user("nobody") is None
    found = accounts.get_user("b")
    assert found is not None and found.is_admin is False and found.email == ""
    # names in code point order, whatever the database's collation
    assert [u.name for u in accounts.list_users()] == ["a-b", "a.b", "a1", "a_b", "b", "zed"]


def test_groups_and_members(stores: Stores) -> None:
    accounts = stores.accounts
    bob = accounts.add_user("bob", "Bob", False)
    alice = accounts.add_user("alice", "Alice", False)
    room = accounts.add_group("control-room")
    crew = accounts.add_group("crew")
    assert room.members == ()
    assert accounts.add_member(room.id, bob.id) is True
    assert accounts.add_member(room.id, alice.id) is True
    assert accounts.add_member(room.id, alice.id) is False  # already a member
    assert accounts.add_member(crew.id, bob.id) is True
    found = accounts.get_group("control-room")
    assert found is not None and found.id == room.id and found.members == ("alice", "bob")
    assert accounts.get_group("nobody") is None
    assert [(g.name, g.members) for g in accounts.list_groups()] == [
        ("control-room", ("alice", "bob")),
        ("crew", ("bob",)),
    ]
    assert accounts.group_ids_of(bob.id) == frozenset({room.id, crew.id})
    assert accounts.group_ids_of(alice.id) == frozenset({room.id})
    assert accounts.group_ids_of(999) == frozenset()


def test_tokens_are_found_by_hash_and_deleted_by_their_owner(stores: Stores) -> None:
    accounts = stores.accounts
    alice = accounts.add_user("alice", "Alice", False)
    bob = accounts.add_user("bob", "Bob", True)
    first = accounts.add_token(alice.id, "laptop", "hash-1")
    second = accounts.add_token(alice.id, "qgis", "hash-2")
    accounts.add_token(bob.id, "", "hash-3")
    assert (first.user_name, first.label, first.last_used) == ("alice", "laptop", None)
    assert first.created.utcoffset() == timedelta(0)
    assert accounts.user_for_token("hash-1") == alice
    assert accounts.user_for_token("hash-3") == bob
    assert accounts.user_for_token("unknown") is None
    assert accounts.list_tokens(alice.id) == [first, second]
    assert accounts.delete_token(bob.id, first.id) is False  # not bob's
    assert accounts.delete_token(alice.id, first.id) is True
    assert accounts.delete_token(alice.id, first.id) is False
    assert accounts.user_for_token("hash-1") is None
    assert [t.label for t in accounts.list_tokens(alice.id)] == ["qgis"]
