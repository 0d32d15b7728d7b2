"""Single-feature writes (Part 4) on both databases: versions are the collection's change
numbers, a stale version or a taken id changes nothing, every write is recorded, counts and
extents follow, concurrent writers serialise, and a write to a deleted collection is NotFound."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson
import psycopg
import pytest

from opengeomesh.errors import Busy, NotFound
from opengeomesh.features.geojson import parse_feature
from opengeomesh.features.models import ChangeAction, Collection, NewFeature, StoredFeature
from opengeomesh.features.store import DuplicateFeatureId, VersionMismatch
from opengeomesh.storage.postgres import feature_writes
from opengeomesh.storage.postgres.notifications import CHANNEL
from tests.postgres import fresh_database_url
from tests.storage.layers import Layers, layers_on, opened, point

R = TypeVar("R")


def new(feature_id: str | int | None, x: float, y: float, **properties: Any) -> NewFeature:
    return parse_feature(point(feature_id, x, y, **properties), temporal_property="t")


def race(calls: list[Callable[[], R]]) -> list[R | Exception]:
    """Run the calls on their own threads, released together; results or exceptions."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], R]) -> R | Exception:
        start.wait(timeout=10)
        try:
            return call()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.fixture
def edits(stores_layers: Layers) -> tuple[Layers, Collection]:
    """'edits' with two imported features (change number 1), temporal property 't'."""
    features = [point("a", 1, 1, n=1), point("b", 2, 2, n=2)]
    return stores_layers, stores_layers.create("edits", features, temporal_property="t")


def test_versions_are_change_numbers(edits: tuple[Layers, Collection]) -> None:
    layers, collection = edits
    writer = layers.stores.feature_writes
    a = layers.stores.features.get(collection, "a")
    assert a is not None and a.version == 1  # the import took change number 1
    inserted = writer.insert(collection, new("c", 3, 3), "alice")
    assert (inserted.id, inserted.version, inserted.id_is_number) == ("c", 2, False)
    assert inserted.geometry_json == '{"type":"Point","coordinates":[3,3]}'
    assert inserted.properties_json == "{}"
    replaced = writer.replace(
        collection, "a", new("a", 1, 1, n=10), expected=1, actor="bob", action=ChangeAction.REPLACE
    )
    assert replaced is not None and replaced.version == 3 and replaced.key == a.key
    assert replaced.properties_json == '{"n":10}'
    numeric = writer.insert(collection, new(42, 4, 4), "alice")
    assert (numeric.id, numeric.id_is_number, numeric.version) == ("42", True, 4)
    made_up = writer.insert(collection, new(None, 5, 5), "alice")
    assert len(made_up.id) == 32 and made_up.version == 5
    assert layers.collection("edits").feature_count == 5


def test_records_of_changes(edits: tuple[Layers, Collection]) -> None:
    layers, collection = edits
    writer = layers.stores.feature_writes
    writer.insert(collection, new("c", 3, 3), "alice")
    writer.update(collection, "c", lambda current: new("c", 3, 4), expected=None, actor="bob")
    writer.replace(
        collection, "a", new("a", 0, 0), expected=None, actor="carol", action=ChangeAction.REPLACE
    )
    assert writer.delete(collection, "b", expected=1, actor="dave")
    changes = writer.changes(collection, limit=10, before=None)
    assert [(c.feature_id, c.action, c.actor, c.version) for _, c in changes] == [
        ("b", ChangeAction.DELETE, "dave", 5),
        ("a", ChangeAction.REPLACE, "carol", 4),
        ("c", ChangeAction.UPDATE, "bob", 3),
        ("c", ChangeAction.CREATE, "alice", 2),
    ]
    numbers = [number for number, _ in changes]
    assert numbers == sorted(numbers, reverse=True)
    assert all(c.at.tzinfo is not None and c.at.microsecond == 0 for _, c in changes)
    older = writer.changes(collection, limit=2, before=numbers[1])
    assert [number for number, _ in older] == numbers[2:4]
    assert writer.changes(collection, limit=1, before=None)[0][0] == numbers[0]


def test_the_change_feed_reads_writes_in_order(edits: tuple[Layers, Collection]) -> None:
    """``changes_since``: each write with the feature as written, in change-number order, a
    delete without a feature, the import left out; the collection carries its number."""
    layers, collection = edits
    writer = layers.stores.feature_writes
    writer.insert(collection, new("c", 3, 3, n=3), "alice")
    writer.update(collection, "c", lambda current: new("c", 4, 4, n=4), expected=2, actor="bob")
    writer.delete(collection, "a", expected=None, actor="carol")
    feed = writer.changes_since(collection, 0, 10)
    assert [(c.version, c.action, c.feature_id, c.actor) for c in feed] == [
        (2, ChangeAction.CREATE, "c", "alice"),
        (3, ChangeAction.UPDATE, "c", "bob"),
        (4, ChangeAction.DELETE, "a", "carol"),
    ]
    assert feed[0].feature is not None and orjson.loads(feed[0].feature) == {
        "type": "Feature",
        "id": "c",
        "geometry": {"type": "Point", "coordinates": [3, 3]},
        "properties": {"n": 3},
    }
    assert feed[1].feature is not None and '"n":4' in feed[1].feature
    assert feed[2].feature is None
    assert [c.version for c in writer.changes_since(collection, 2, 1)] == [3]
    assert writer.changes_since(collection, 4, 10) == []
    assert layers.collection("edits").change_seq == 4


def test_stale_versions_and_taken_ids_change_nothing(edits: tuple[Layers, Collection]) -> None:
    layers, collection = edits
    writer = layers.stores.feature_writes
    with pytest.raises(DuplicateFeatureId) as caught:
        writer.insert(collection, new("a", 9, 9), "alice")
    assert caught.value.feature_id == "a"
    with pytest.raises(VersionMismatch):
        writer.replace(
            collection, "a", new("a", 9, 9), expected=7, actor="x", action=ChangeAction.REPLACE
        )
    with pytest.raises(VersionMismatch):
        writer.delete(collection, "b", expected=2, actor="x")
    assert (
        writer.replace(
            collection, "zz", new("zz", 9, 9), expected=None, actor="x", action=ChangeAction.REPLACE
        )
        is None
    )
    assert (
        writer.update(collection, "zz", lambda c: new("zz", 9, 9), expected=None, actor="x") is None
    )
    assert not writer.delete(collection, "zz", expected=None, actor="x")
    after = layers.collection("edits")
    assert after.feature_count == 2 and after.bbox == (1, 1, 2, 2)
    assert writer.changes(collection, limit=10, before=None) == []
    assert writer.insert(collection, new("c", 3, 3), "alice").version == 2  # nothing was taken


def test_update_reads_the_current_feature(edits: tuple[Layers, Collection]) -> None:
    layers, collection = edits
    seen: list[StoredFeature] = []

    def bump(current: StoredFeature) -> NewFeature:
        seen.append(current)
        n = orjson.loads(current.properties_json or "{}")["n"]
        return new("b", 2, 2, n=n + 1)

    updated = layers.stores.feature_writes.update(collection, "b", bump, expected=1, actor="bob")
    assert updated is not None and updated.properties_json == '{"n":3}' and updated.version == 2
    assert seen[0].version == 1 and seen[0].id == "b"


def test_counts_extents_and_times_follow_writes(edits: tuple[Layers, Collection]) -> None:
    layers, collection = edits
    writer = layers.stores.feature_writes
    writer.insert(collection, new("c", -5, 10, t="2026-11-28T06:00:00Z"), "alice")
    grown = layers.collection("edits")
    assert grown.bbox == (-5, 1, 2, 10) and grown.feature_count == 3
    assert grown.interval is not None and grown.interval[0] is not None
    assert grown.interval[0].isoformat() == "2026-11-28T06:00:00+00:00"
    writer.replace(
        collection,
        "c",
        new("c", 0, 0, t="2026-11-29"),
        expected=None,
        actor="x",
        action=ChangeAction.REPLACE,
    )
    writer.delete(collection, "a", expected=None, actor="x")
    after = layers.collection("edits")
    assert after.bbox == (-5, 0, 2, 10)  # extents only grow with single writes
    assert after.interval is not None and after.interval[1] is not None
    assert after.interval[1].isoformat() == "2026-11-29T23:59:59.999000+00:00"
    assert after.feature_count == 2
    assert layers.ids("edits", {"datetime": "2026-11-29"}) == ["c"]
    assert layers.ids("edits", {"bbox": "-1,-1,0.5,0.5"}) == ["c"]


def test_deleted_features_leave_pages_and_keys_go_on(edits: tuple[Layers, Collection]) -> None:
    layers, collection = edits
    writer = layers.stores.feature_writes
    c = writer.insert(collection, new("c", 3, 3), "alice")
    assert writer.delete(collection, "b", expected=None, actor="x")
    assert layers.stores.features.get(collection, "b") is None
    assert not writer.delete(collection, "b", expected=None, actor="x")
    assert layers.ids("edits", {}) == ["a", "c"]
    d = writer.insert(collection, new("d", 4, 4), "alice")
    assert d.key > c.key


def test_writes_to_a_deleted_collection_are_not_found(edits: tuple[Layers, Collection]) -> None:
    layers, collection = edits
    layers.catalog.delete(layers.owner, "edits")
    writer = layers.stores.feature_writes
    with pytest.raises(NotFound):
        writer.insert(collection, new("c", 3, 3), "alice")
    with pytest.raises(NotFound):
        writer.update(collection, "a", lambda c: new("a", 0, 0), expected=None, actor="x")
    with pytest.raises(NotFound):
        writer.delete(collection, "a", expected=None, actor="x")


def test_concurrent_writers_serialise(edits: tuple[Layers, Collection]) -> None:
    """Inserts racing each other get distinct change numbers, recorded in their order;
    replacements racing with the same expected version: one wins, the others are stale."""
    layers, collection = edits
    writer = layers.stores.feature_writes
    inserted = race(
        [(lambda n=n: writer.insert(collection, new(f"n{n}", n, n), "alice")) for n in range(8)]
    )
    versions = sorted(f.version for f in inserted if isinstance(f, StoredFeature))
    assert versions == list(range(2, 10))
    recorded = [c.version for _, c in reversed(writer.changes(collection, limit=20, before=None))]
    assert recorded == versions

    def replace(n: int) -> StoredFeature | None:
        feature = new("a", 1, 1, n=100 + n)
        action = ChangeAction.REPLACE
        return writer.replace(collection, "a", feature, expected=1, actor="x", action=action)

    results = race([(lambda n=n: replace(n)) for n in range(6)])
    won = [r for r in results if isinstance(r, StoredFeature)]
    assert len(won) == 1 and won[0].version == 10
    assert all(isinstance(r, VersionMismatch) for r in results if r is not won[0])
    assert layers.collection("edits").feature_count == 10


def test_postgres_writes_notify_listeners(tmp_path: Any) -> None:
    """Each write, and each import, sends '<collection key>:<change number>' on commit."""
    with opened("postgresql", tmp_path) as stores:
        layers = layers_on(stores)
        collection = layers.create("edits", [point("a", 1, 1)])
        url = stores.database.url  # type: ignore[attr-defined]
        with psycopg.connect(url, autocommit=True) as listener:
            listener.execute(f"LISTEN {CHANNEL}")
            writer = stores.feature_writes
            writer.insert(collection, new("b", 2, 2), "alice")
            writer.delete(collection, "a", expected=None, actor="alice")
            with pytest.raises(DuplicateFeatureId):  # rolled back: no notification
                writer.insert(collection, new("b", 2, 2), "alice")
            layers.catalog.import_features(
                layers.owner, "edits", io.BytesIO(orjson.dumps(point("c", 3, 3)))
            )
            got = [n.payload for n in listener.notifies(timeout=2, stop_after=3)]
    key = collection.key
    assert got == [f"{key}:2", f"{key}:3", f"{key}:4"]


def test_postgres_writes_wait_for_others_only_so_long(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write behind a long one of the same collection (an import) is Busy after a while, as
    on SQLite; other collections are not held up."""
    monkeypatch.setattr(feature_writes, "LOCK_WAIT", 0.3)
    with opened("postgresql", tmp_path) as stores:
        layers = layers_on(stores)
        held, other = layers.create("held", [point("a", 1, 1)]), layers.create("other", [])
        url = stores.database.url  # type: ignore[attr-defined]
        with psycopg.connect(url) as importing:  # holds the row as an import does
            importing.execute("SELECT 1 FROM collections WHERE key = %s FOR UPDATE", (held.key,))
            with pytest.raises(Busy):
                stores.feature_writes.insert(held, new("b", 2, 2), "alice")
            with pytest.raises(Busy):
                stores.feature_writes.delete(held, "a", expected=None, actor="alice")
            assert stores.feature_writes.insert(other, new("b", 2, 2), "alice").version == 1
        assert stores.feature_writes.insert(held, new("b", 2, 2), "alice").version == 2


def test_fresh_database_url_is_usable() -> None:
    with fresh_database_url() as url, psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
