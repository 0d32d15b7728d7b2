"""The access rule and the collection gestures, on a real SQLite database."""

import io

import orjson
import pytest

from opengeomesh.accounts.models import ANONYMOUS
from opengeomesh.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from opengeomesh.features.models import Access
from opengeomesh.features.query import ItemsQuery
from tests.conftest import World


def caller(world: World, name: str):  # type: ignore[no-untyped-def]
    return world.services.accounts.caller_for_user(name)


def test_each_caller_sees_what_they_may_read(world: World) -> None:
    catalog = world.services.catalog

    def seen(who):  # type: ignore[no-untyped-def]
        return {c.id: a for c, a in catalog.visible(who)}

    assert seen(caller(world, "alice")) == {"hydrants": Access.MANAGE, "sectors": Access.MANAGE}
    assert seen(caller(world, "bob")) == {"hydrants": Access.READ, "sectors": Access.READ}
    assert seen(caller(world, "carol")) == {"sectors": Access.READ}
    assert seen(ANONYMOUS) == {"sectors": Access.READ}
    assert seen(caller(world, "root")) == {"hydrants": Access.MANAGE, "sectors": Access.MANAGE}


def test_refusals_do_not_leak_existence(world: World) -> None:
    catalog = world.services.catalog
    query = ItemsQuery(limit=10)
    with pytest.raises(NotFound):
        catalog.items(caller(world, "carol"), "hydrants", query)
    with pytest.raises(NotFound):
        catalog.items(caller(world, "carol"), "no-such-layer", query)
    with pytest.raises(Unauthenticated):
        catalog.items(ANONYMOUS, "hydrants", query)
    with pytest.raises(Unauthenticated):
        catalog.items(ANONYMOUS, "no-such-layer", query)


def test_write_and_manage_need_their_grant(world: World) -> None:
    catalog = world.services.catalog
    bob = caller(world, "bob")
    data = io.BytesIO(b'{"type":"FeatureCollection","features":[]}')
    with pytest.raises(Forbidden):
        catalog.import_features(bob, "hydrants", data)
    with pytest.raises(Forbidden):
        catalog.delete(bob, "hydrants")
    catalog.grant(caller(world, "alice"), "hydrants", "user:bob", "write")
    bob = caller(world, "bob")
    assert catalog.access(bob, catalog.get(bob, "hydrants")[0]) is Access.WRITE
    assert catalog.import_features(bob, "hydrants", data) == 0
    with pytest.raises(Forbidden):
        catalog.grant(bob, "hydrants", "user:carol", "read")


def test_grants_by_group_and_their_removal(world: World) -> None:
    catalog = world.services.catalog
    alice = caller(world, "alice")
    assert [g.subject for g in catalog.grants(alice, "hydrants")] == ["group:control-room"]
    catalog.ungrant(alice, "hydrants", "group:control-room")
    with pytest.raises(NotFound):
        catalog.get(caller(world, "bob"), "hydrants")
    with pytest.raises(NotFound):
        catalog.ungrant(alice, "hydrants", "group:control-room")
    with pytest.raises(InvalidInput) as caught:
        catalog.grant(alice, "hydrants", "everyone", "read")
    assert caught.value.field == "subject"
    with pytest.raises(InvalidInput) as caught:
        catalog.grant(alice, "hydrants", "user:bob", "admin")
    assert caught.value.field == "permission"
    with pytest.raises(NotFound):
        catalog.grant(alice, "hydrants", "user:nobody", "read")


def test_create_checks(world: World) -> None:
    catalog = world.services.catalog
    alice = caller(world, "alice")
    with pytest.raises(Conflict):
        catalog.create(alice, "hydrants")
    with pytest.raises(InvalidInput) as caught:
        catalog.create(alice, "../etc")
    assert caught.value.field == "id"
    with pytest.raises(Unauthenticated):
        catalog.create(ANONYMOUS, "mine")


def test_bad_import_keeps_nothing(world: World) -> None:
    catalog = world.services.catalog
    alice = caller(world, "alice")
    before = catalog.get(alice, "hydrants")[0]
    good = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [9, 51]},
        "properties": {},
    }
    bad = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [9]}, "properties": {}}
    features = [good] * 6000 + [bad]  # the bad one sits in the second insert batch
    body = orjson.dumps({"type": "FeatureCollection", "features": features})
    with pytest.raises(InvalidInput) as caught:
        catalog.import_features(alice, "hydrants", io.BytesIO(body))
    assert caught.value.field == "features[6000].geometry.coordinates"
    after = catalog.get(alice, "hydrants")[0]
    assert after.feature_count == before.feature_count == 250
    assert after.bbox == before.bbox


def test_duplicate_ids_are_named(world: World) -> None:
    catalog = world.services.catalog
    alice = caller(world, "alice")
    lines = [
        orjson.dumps({"type": "Feature", "id": f"n{i}", "geometry": None, "properties": {}})
        for i in (1, 2, 3, 2)
    ]
    with pytest.raises(InvalidInput) as caught:
        catalog.import_features(alice, "sectors", io.BytesIO(b"\n".join(lines)))
    assert caught.value.field == "features[3].id"
    taken = orjson.dumps({"type": "Feature", "id": 7, "geometry": None, "properties": {}})
    with pytest.raises(InvalidInput) as caught:
        catalog.import_features(alice, "hydrants", io.BytesIO(taken + b"\n"))
    assert caught.value.field == "features[0].id"
    assert catalog.get(alice, "sectors")[0].feature_count == 5


def test_delete_removes_the_features(world: World) -> None:
    catalog = world.services.catalog
    alice = caller(world, "alice")
    catalog.delete(alice, "hydrants")
    with pytest.raises(NotFound):
        catalog.get(alice, "hydrants")
    catalog.create(alice, "hydrants")
    assert catalog.items(alice, "hydrants", ItemsQuery(limit=5))[1].features == []
