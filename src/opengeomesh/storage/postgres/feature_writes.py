"""PostgreSQL implementation of single-feature writes (OGC API – Features Part 4): each write is
one transaction that changes the feature, the collection's count, extent and change number, and
records who did it and the feature as written (the change feed). The feature's version is the
collection's change number at its last write.

Writers of one collection serialise on its row in ``collections``: they lock it before they read
the feature they change (so a version check cannot race another write) and take the next change
number with ``UPDATE … RETURNING``, so commits come in change-number order, which a live change
feed relies on. Each write also sends ``NOTIFY ogm_changes, '<key>:<change number>'``, delivered
when it commits. A write waits at most ``LOCK_WAIT`` for another one of its collection (a long
import, say) and is then ``Busy``, as SQLite's busy timeout has it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from opengeomesh.errors import Busy, NotFound
from opengeomesh.features.encoding import feature_bytes
from opengeomesh.features.models import (
    ChangeAction,
    Collection,
    FeatureChange,
    NewFeature,
    StoredFeature,
)
from opengeomesh.features.store import DuplicateFeatureId, VersionMismatch
from opengeomesh.storage.feature_rows import time_end
from opengeomesh.storage.postgres.columns import now, utc
from opengeomesh.storage.postgres.database import PgDatabase
from opengeomesh.storage.postgres.features import (
    COLUMNS,
    SELECT,
    ewkb,
    feature_row,
    has_spatial_index,
    notify,
    spatial_index,
    stored,
    table_name,
)

_RETURNING = "RETURNING fid, id, id_numeric, geometry, properties_json, version"
LOCK_WAIT = 10.0  # seconds, as SQLite's busy timeout


@contextmanager
def _writing(db: PgDatabase) -> Iterator[psycopg.Connection]:
    """A write transaction that waits at most ``LOCK_WAIT`` for locks."""
    try:
        with db.transaction() as conn:
            conn.execute(f"SET LOCAL lock_timeout = {int(LOCK_WAIT * 1000)}")
            yield conn
    except psycopg.errors.LockNotAvailable:
        raise Busy("the collection is busy with another write; try again shortly") from None


class PgFeatureWriter:
    """Writes one feature at a time."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def insert(self, collection: Collection, feature: NewFeature, actor: str) -> StoredFeature:
        table = table_name(collection.key)
        with _writing(self._db) as conn:
            seq = _next_change(conn, collection, feature, count=1)
            found = conn.execute(f"SELECT coalesce(max(fid), 0) + 1 FROM {table}").fetchone()
            assert found is not None
            row = feature_row(int(found[0]), feature, seq)
            try:
                written = conn.execute(
                    f"INSERT INTO {table} ({COLUMNS}) VALUES"
                    f" (%s, %s, %s, %s, %s::geometry, %s, %s, %s, %s) {_RETURNING}",
                    row,
                ).fetchone()
            except psycopg.errors.UniqueViolation:
                raise DuplicateFeatureId(row[1], 0) from None
            if not has_spatial_index(conn, table):
                spatial_index(conn, table)
            made = stored(written)
            _record(conn, collection, made.id, ChangeAction.CREATE, actor, seq, made)
            notify(conn, collection, seq)
            return made

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
        table = table_name(collection.key)
        with _writing(self._db) as conn:
            current = _current(conn, collection, feature_id, expected)
            if current is None:
                return None
            feature = change(current)
            seq = _next_change(conn, collection, feature, count=0)
            written = conn.execute(
                f"UPDATE {table} SET geometry = %s, geom = %s::geometry, properties_json = %s,"
                f" t0 = %s, t1 = %s, version = %s WHERE fid = %s {_RETURNING}",
                (
                    feature.geometry_json,
                    ewkb(feature.wkb),
                    feature.properties_json,
                    feature.t0,
                    time_end(feature),
                    seq,
                    current.key,
                ),
            ).fetchone()
            changed = stored(written)
            _record(conn, collection, feature_id, action, actor, seq, changed)
            notify(conn, collection, seq)
            return changed

    def delete(
        self, collection: Collection, feature_id: str, *, expected: int | None, actor: str
    ) -> bool:
        table = table_name(collection.key)
        with _writing(self._db) as conn:
            current = _current(conn, collection, feature_id, expected)
            if current is None:
                return False
            seq = _next_change(conn, collection, None, count=-1)
            conn.execute(f"DELETE FROM {table} WHERE fid = %s", (current.key,))
            _record(conn, collection, feature_id, ChangeAction.DELETE, actor, seq, None)
            notify(conn, collection, seq)
        return True

    def changes(
        self, collection: Collection, *, limit: int, before: int | None
    ) -> list[tuple[int, FeatureChange]]:
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT id, feature_id, action, actor, at, version, NULL FROM feature_changes"
                " WHERE collection_key = %s AND id < %s ORDER BY id DESC LIMIT %s",
                (collection.key, before if before is not None else 2**63 - 1, limit),
            ).fetchall()
        return [(row[0], _change(row)) for row in rows]

    def changes_since(self, collection: Collection, since: int, limit: int) -> list[FeatureChange]:
        """Readers see change numbers in ascending order: writers take them under the
        collection's row lock, held until they commit."""
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT id, feature_id, action, actor, at, version, feature FROM feature_changes"
                " WHERE collection_key = %s AND version > %s ORDER BY version LIMIT %s",
                (collection.key, since, limit),
            ).fetchall()
        return [_change(row) for row in rows]


def _change(row: Any) -> FeatureChange:
    return FeatureChange(
        feature_id=row[1],
        action=ChangeAction(row[2]),
        actor=row[3],
        at=utc(row[4]),
        version=row[5],
        feature=row[6],
    )


def _current(
    conn: psycopg.Connection, collection: Collection, feature_id: str, expected: int | None
) -> StoredFeature | None:
    """The feature as it is, checking the version the writer expects; first the collection's
    row is locked, so no other write of the collection comes in between."""
    locked = conn.execute(
        "SELECT 1 FROM collections WHERE key = %s FOR NO KEY UPDATE", (collection.key,)
    ).fetchone()
    if locked is None:
        raise NotFound(f"collection {collection.id!r} was deleted meanwhile")
    row = conn.execute(
        f"SELECT {SELECT} FROM {table_name(collection.key)} f WHERE f.id = %s", (feature_id,)
    ).fetchone()
    if row is None:
        return None
    found = stored(row)
    if expected is not None and found.version != expected:
        raise VersionMismatch(feature_id)
    return found


def _next_change(
    conn: psycopg.Connection, collection: Collection, feature: NewFeature | None, *, count: int
) -> int:
    """Take the collection's next change number, change its count by ``count`` and widen its
    extent to cover ``feature`` (extents only grow with single writes: shrinking would mean a
    full scan). ``LEAST`` and ``GREATEST`` pass over NULLs: an empty extent takes the
    feature's, a feature without geometry or time leaves it."""
    bbox = feature.bbox if feature is not None and feature.bbox is not None else (None,) * 4
    t0 = feature.t0 if feature is not None else None
    t1 = time_end(feature) if feature is not None else None
    found = conn.execute(
        "UPDATE collections SET change_seq = change_seq + 1,"
        " feature_count = feature_count + %s,"
        " minx = LEAST(minx, %s::double precision), miny = LEAST(miny, %s::double precision),"
        " maxx = GREATEST(maxx, %s::double precision),"
        " maxy = GREATEST(maxy, %s::double precision),"
        " t_min = LEAST(t_min, %s::double precision),"
        " t_max = GREATEST(t_max, %s::double precision), updated = %s"
        " WHERE key = %s RETURNING change_seq",
        (count, *bbox, t0, t1, now(), collection.key),
    ).fetchone()
    if found is None:
        raise NotFound(f"collection {collection.id!r} was deleted meanwhile")
    return int(found[0])


def _record(
    conn: psycopg.Connection,
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
        " feature) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (collection.key, feature_id, action.value, actor, now(), version, feature),
    )
