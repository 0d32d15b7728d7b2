"""The record of single-feature writes as the change feed reads it: the feature as written,
ascending change numbers, deletes without a feature, imports left out, and the migration of a
database that already had changes."""

import io
import sqlite3
from importlib import resources
from pathlib import Path

import orjson

from opengeomesh.features.models import ChangeAction
from opengeomesh.services import Services
from opengeomesh.storage.sqlite.database import Database


def point(x: float, **properties: object) -> dict[str, object]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [x, 51.5]},
        "properties": properties,
    }


def test_writes_are_in_the_feed_with_their_feature(services: Services) -> None:
    services.accounts.add_user("alice")
    alice = services.accounts.caller_for_user("alice")
    services.catalog.create(alice, "layer")
    source = io.BytesIO(orjson.dumps({"type": "FeatureCollection", "features": [point(1.0)]}))
    services.catalog.import_features(alice, "layer", source)
    editing = services.editing
    _, made = editing.create(alice, "layer", {**point(2.0, n=1), "id": "f1"})
    editing.update(alice, "layer", "f1", {"properties": {"n": 2}}, None)
    editing.replace(alice, "layer", "f1", point(3.0, n=3), None)
    editing.create(alice, "layer", {**point(4.0), "id": 7})
    editing.delete(alice, "layer", "f1", None)

    collection = services.stores.collections.get("layer")
    assert collection is not None and collection.change_seq == 6  # the import took number 1
    writer = services.stores.feature_writes
    feed = writer.changes_since(collection, 0, 100)
    assert [c.version for c in feed] == [2, 3, 4, 5, 6]
    assert [c.action for c in feed] == [
        ChangeAction.CREATE,
        ChangeAction.UPDATE,
        ChangeAction.REPLACE,
        ChangeAction.CREATE,
        ChangeAction.DELETE,
    ]
    assert made.version == 2
    assert feed[0].feature is not None
    assert orjson.loads(feed[0].feature) == {**point(2.0, n=1), "id": "f1"}
    assert feed[1].feature is not None and orjson.loads(feed[1].feature)["properties"] == {"n": 2}
    assert feed[3].feature is not None and orjson.loads(feed[3].feature)["id"] == 7
    assert feed[4].feature is None and feed[4].feature_id == "f1"
    assert [c.version for c in writer.changes_since(collection, 3, 2)] == [4, 5]
    assert writer.changes_since(collection, 6, 10) == []
    # the management log keeps its order (newest first) and does not carry the features
    log = writer.changes(collection, limit=10, before=None)
    assert [c.version for _, c in log] == [6, 5, 4, 3, 2]
    assert all(c.feature is None for _, c in log)


def test_a_database_with_changes_migrates(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    scripts = resources.files("opengeomesh.storage.sqlite.migrations")
    for name in ("0001_initial", "0002_federation", "0003_shares", "0004_feature_changes"):
        conn.executescript(f"BEGIN;\n{scripts.joinpath(name + '.sql').read_text()}\nCOMMIT;")
    conn.execute("PRAGMA user_version = 4")  # made before alembic
    conn.execute("INSERT INTO users(name, display_name, created) VALUES ('a', 'A', 'now')")
    conn.execute(
        "INSERT INTO collections(id, title, owner_id, created, updated, change_seq)"
        " VALUES ('c', 'C', 1, 'now', 'now', 1)"
    )
    conn.execute(
        "INSERT INTO feature_changes(collection_key, feature_id, action, actor, at, version)"
        " VALUES (1, 'f', 'create', 'a', '2026-01-01T00:00:00Z', 1)"
    )
    conn.close()
    database = Database(path)
    assert database.migrate() >= "0005"
    row = database.connection().execute("SELECT version, feature FROM feature_changes").fetchone()
    assert row == (1, None)
    database.close()
