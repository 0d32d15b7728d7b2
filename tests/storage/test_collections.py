"""The collection store on both databases: rows, order, updates, deletion with the features,
grants to users and groups."""

from __future__ import annotations

import pytest

from opengeomesh.errors import Conflict
from opengeomesh.features.models import Access, Permission, SubjectKind
from tests.storage.layers import Layers, add_group, add_user, point


def test_create_get_list_update_delete(stores_layers: Layers) -> None:
    layers = stores_layers
    collections = layers.stores.collections
    assert layers.owner.user is not None
    owner = layers.owner.user.id
    made = collections.create(
        "hydrants",
        title="Hydrants",
        description="d",
        owner_id=owner,
        public=False,
        temporal_property=None,
    )
    assert (made.id, made.title, made.description, made.owner_name) == (
        "hydrants",
        "Hydrants",
        "d",
        "alice",
    )
    assert (made.public, made.bbox, made.interval, made.feature_count) == (False, None, None, 0)
    assert made.created.tzinfo is not None and made.created.microsecond == 0
    assert made.created == made.updated
    names = ["b", "B", "a", "_x", "a.b", "a-b", "Z9"]
    for name in names:
        collections.create(
            name, title=name, description="", owner_id=owner, public=True, temporal_property="t"
        )
    # by code point, as SQLite orders text, whatever the database's collation
    assert [c.id for c in collections.all()] == sorted(
        ["hydrants", "b", "B", "a", "_x", "a.b", "a-b", "Z9"]
    )
    with pytest.raises(Conflict):
        collections.create(
            "a", title="", description="", owner_id=owner, public=False, temporal_property=None
        )
    collections.update(made.key, title="Fire hydrants", description=None, public=True)
    changed = collections.get("hydrants")
    assert changed is not None
    assert (changed.title, changed.description, changed.public) == ("Fire hydrants", "d", True)
    collections.update(made.key, title=None, description="", public=None)
    again = collections.get("hydrants")
    assert again is not None and (again.title, again.description, again.public) == (
        "Fire hydrants",
        "",
        True,
    )
    assert collections.get("nothing") is None
    found = collections.get("a")
    assert found is not None and found.temporal_property == "t" and found.public


def test_deleting_a_collection_deletes_its_features(stores_layers: Layers) -> None:
    layers = stores_layers
    first = layers.create("layer", [point("a", 1, 1), point("b", 2, 2)])
    assert layers.collection("layer").feature_count == 2
    layers.catalog.delete(layers.owner, "layer")
    assert layers.stores.collections.get("layer") is None
    second = layers.create("layer", [point("c", 3, 3)])
    assert second.key != first.key  # keys are never reused, so ETags are not either
    assert layers.ids("layer", {}) == ["c"]
    assert second.bbox == (3, 3, 3, 3) and second.feature_count == 1


def test_grants(stores_layers: Layers) -> None:
    layers = stores_layers
    collections = layers.stores.collections
    bob, carol = add_user(layers.stores, "bob"), add_user(layers.stores, "carol")
    assert bob.user is not None and carol.user is not None
    room = add_group(layers.stores, "control-room", bob)
    night = add_group(layers.stores, "night-shift", carol)
    hydrants = layers.create("hydrants", [])
    sectors = layers.create("sectors", [])
    collections.set_grant(hydrants.key, SubjectKind.GROUP, room, Permission.READ)
    collections.set_grant(hydrants.key, SubjectKind.USER, bob.user.id, Permission.WRITE)
    collections.set_grant(hydrants.key, SubjectKind.USER, carol.user.id, Permission.READ)
    collections.set_grant(sectors.key, SubjectKind.GROUP, night, Permission.READ)
    collections.set_grant(sectors.key, SubjectKind.GROUP, night, Permission.WRITE)  # replaces
    assert [(g.subject, g.permission) for g in collections.grants(hydrants.key)] == [
        ("user:bob", Permission.WRITE),
        ("user:carol", Permission.READ),
        ("group:control-room", Permission.READ),
    ]
    assert [(g.subject, g.permission) for g in collections.grants(sectors.key)] == [
        ("group:night-shift", Permission.WRITE)
    ]
    assert collections.granted_access(bob.user.id, frozenset({room})) == {
        hydrants.key: Access.WRITE
    }
    assert collections.granted_access(carol.user.id, frozenset({night})) == {
        hydrants.key: Access.READ,
        sectors.key: Access.WRITE,
    }
    assert collections.granted_access(carol.user.id, frozenset()) == {hydrants.key: Access.READ}
    assert collections.remove_grant(hydrants.key, SubjectKind.USER, bob.user.id)
    assert not collections.remove_grant(hydrants.key, SubjectKind.USER, bob.user.id)
    assert collections.granted_access(bob.user.id, frozenset({room})) == {hydrants.key: Access.READ}
    layers.catalog.delete(layers.owner, "hydrants")
    assert collections.granted_access(bob.user.id, frozenset({room})) == {}
