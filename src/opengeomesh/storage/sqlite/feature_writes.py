"""SQLite implementation of single-feature writes (OGC API – Features Part 4): each write is
one transaction that changes the feature, its R*Tree entry, the collection's count, extent and
change number, and records who did it and the feature as written (the change feed). The
feature's version is the collection's change number at its last write, so ETags change with
every write. Writes take the change number under SQLite's one write lock, held to the commit,
so change numbers become visible in ascending order: a reader never sees N+1 without N."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from opengeomesh.errors import NotFound
from opengeomesh.features.encoding import feature_bytes
from opengeomesh.features.models import (
    ChangeAction,
    Collection,
    FeatureChange,
    NewFeature,
    StoredFeature,
)
from opengeomesh.features.store import DuplicateFeatureId, VersionMismatch
from opengeomesh.storage.feature_rows import Extent, time_end
from opengeomesh.storage.sqlite.database import Database, now_text, parse_time
from opengeomesh.storage.sqlite.features import (
    _SELECT,
    _row,
    _rtree_box,
    _stored,
    _tables,
)


class SqliteFeatureWriter:
    """Writes one feature at a time."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def insert(self, collection: Collection, feature: NewFeature, actor: str) -> StoredFeature:
        table, rtree = _tables(collection.key)
        with self._db.transaction() as conn:
            seq = _next_change(conn, collection, feature)
            fid = conn.execute(f"SELECT coalesce(max(fid), 0) + 1 FROM {table}").fetchone()[0]
            row = _row(fid, feature, seq)
            try:
                conn.execute(f"INSERT INTO {table} VALUES (?,?,?,?,?,?,?,?,?)", row)
            except sqlite3.IntegrityError:
                raise DuplicateFeatureId(row[1], 0) from None
            if feature.bbox is not None:
                conn.execute(
                    f"INSERT INTO {rtree} VALUES (?,?,?,?,?)", (fid, *_rtree_box(feature.bbox))
                )
            conn.execute(
                "UPDATE collections SET feature_count = feature_count + 1 WHERE key = ?",
                (collection.key,),
            )
            stored = _stored(
                conn.execute(f"SELECT {_SELECT} FROM {table} f WHERE f.fid = ?", (fid,)).fetchone()
            )
            _record(conn, collection, stored.id, ChangeAction.CREATE, actor, seq, stored)
            return stored

    def replace(
        self,
        collection: Collection,
        feature_id: str,
        feature: NewFeature,
        *,
        expected: int | None,
        actor: str,
        action: ChangeAction,
    ) -> StoredFeature | None:
        return self.update(
            collection, feature_id, lambda _: feature, expected=expected, actor=actor, action=action
        )

    def update(
        self,
        collection: Collection,
        feature_id: str,
        change: Callable[[StoredFeature], NewFeature],
        *,
        expected: int | None,
        actor: str,
        action: ChangeAction = ChangeAction.UPDATE,
    ) -> StoredFeature | None:
        """Write ``change(current)`` in one transaction with the read of ``current``, so a
        merge never undoes a write that came in between."""
        table, rtree = _tables(collection.key)
        with self._db.transaction() as conn:
            fid = _current(conn, table, feature_id, expected)
            if fid is None:
                return None
            row = conn.execute(f"SELECT {_SELECT} FROM {table} f WHERE f.fid = ?", (fid,))
            feature = change(_stored(row.fetchone()))
            seq = _next_change(conn, collection, feature)
            conn.execute(
                f"UPDATE {table} SET geometry = ?, wkb = ?, properties = ?, t0 = ?, t1 = ?,"
                " version = ? WHERE fid = ?",
                (
                    feature.geometry_json,
                    feature.wkb,
                    feature.properties_json,
                    feature.t0,
                    time_end(feature),
                    seq,
                    fid,
                ),
            )
            conn.execute(f"DELETE FROM {rtree} WHERE fid = ?", (fid,))
            if feature.bbox is not None:
                conn.execute(
                    f"INSERT INTO {rtree} VALUES (?,?,?,?,?)", (fid, *_rtree_box(feature.bbox))
                )
            stored = _stored(
                conn.execute(f"SELECT {_SELECT} FROM {table} f WHERE f.fid = ?", (fid,)).fetchone()
            )
            _record(conn, collection, feature_id, action, actor, seq, stored)
            return stored

    def delete(
        self, collection: Collection, feature_id: str, *, expected: int | None, actor: str
    ) -> bool:
        table, rtree = _tables(collection.key)
        with self._db.transaction() as conn:
            fid = _current(conn, table, feature_id, expected)
            if fid is None:
                return False
            seq = _next_change(conn, collection, None)
            conn.execute(f"DELETE FROM {table} WHERE fid = ?", (fid,))
            conn.execute(f"DELETE FROM {rtree} WHERE fid = ?", (fid,))
            conn.execute(
                "UPDATE collections SET feature_count = feature_count - 1 WHERE key = ?",
                (collection.key,),
            )
            _record(conn, collection, feature_id, ChangeAction.DELETE, actor, seq, None)
        return True

    def changes(
        self, collection: Collection, *, limit: int, before: int | None
    ) -> list[tuple[int, FeatureChange]]:
        rows = (
            self._db.connection()
            .execute(
                "SELECT id, feature_id, action, actor, at, version, NULL FROM feature_changes"
                " WHERE collection_key = ? AND id < ? ORDER BY id DESC LIMIT ?",
                (collection.key, before if before is not None else 2**63 - 1, limit),
            )
            .fetchall()
        )
        return [(row[0], _change(row)) for row in rows]

    def changes_since(self, collection: Collection, since: int, limit: int) -> list[FeatureChange]:
        rows = self._db.connection().execute(CHANGES_SINCE, (collection.key, since, limit))
        return [_change(row) for row in rows.fetchall()]


CHANGES_SINCE = (  # plain SQL; on PostgreSQL the same with %s for ?
    "SELECT id, feature_id, action, actor, at, version, feature FROM feature_changes"
    " WHERE collection_key = ? AND version > ? ORDER BY version LIMIT ?"
)


def _change(row: Any) -> FeatureChange:
    at = parse_time(row[4])
    assert at is not None
    return FeatureChange(
        feature_id=row[1],
        action=ChangeAction(row[2]),
        actor=row[3],
        at=at,
        version=row[5],
        feature=row[6],
    )


def _current(
    conn: sqlite3.Connection, table: str, feature_id: str, expected: int | None
) -> int | None:
    """The feature's row key, checking the version the writer expects."""
    try:
        row = conn.execute(
            f"SELECT fid, version FROM {table} WHERE id = ?", (feature_id,)
        ).fetchone()
    except sqlite3.OperationalError:  # the collection's table went with the collection
        raise NotFound("the collection was deleted meanwhile") from None
    if row is None:
        return None
    if expected is not None and row[1] != expected:
        raise VersionMismatch(feature_id)
    return int(row[0])


def _next_change(
    conn: sqlite3.Connection, collection: Collection, feature: NewFeature | None
) -> int:
    """Take the collection's next change number and widen its extent to cover ``feature``
    (extents only grow with single writes: shrinking would mean a full scan)."""
    found = conn.execute(
        "SELECT change_seq + 1, minx, miny, maxx, maxy, t_min, t_max FROM collections"
        " WHERE key = ?",
        (collection.key,),
    ).fetchone()
    if found is None:
        raise NotFound(f"collection {collection.id!r} was deleted meanwhile")
    seq, *bounds = found
    extent = Extent()
    extent.load(bounds)
    if feature is not None:
        extent.add(feature)
    conn.execute(
        "UPDATE collections SET change_seq = ?, minx = ?, miny = ?, maxx = ?, maxy = ?,"
        " t_min = ?, t_max = ?, updated = ? WHERE key = ?",
        (seq, *extent.values(), now_text(), collection.key),
    )
    return int(seq)


def _record(
    conn: sqlite3.Connection,
    collection: Collection,
    feature_id: str,
    action: ChangeAction,
    actor: str,
    version: int,
    written: StoredFeature | None,
) -> None:
    """Record a write with the feature as written (None for a delete), for the change feed."""
    feature = None if written is None else feature_bytes(written).decode()
    conn.execute(
        "INSERT INTO feature_changes(collection_key, feature_id, action, actor, at, version,"
        " feature) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (collection.key, feature_id, action.value, actor, now_text(), version, feature),
    )
