"""SQLite implementation of the feature store.

Each collection has its own table ``features_<key>`` and an R*Tree ``features_<key>_rtree`` on
the features' bounding boxes. A bbox query takes its candidates from the R*Tree and confirms each
with an exact test (``ogm_intersects``); pages are walked by key (``fid``), so deep pages cost
the same as the first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import fields
from itertools import islice
from typing import Any

from opengeomesh.features.models import (
    BBox,
    Collection,
    ItemsPage,
    NewFeature,
    StoredFeature,
)
from opengeomesh.features.query import Cursor, ItemsQuery
from opengeomesh.features.store import DuplicateFeatureId
from opengeomesh.storage.feature_rows import Extent, assigned_id, time_end
from opengeomesh.storage.sqlite.database import Database, now_text
from opengeomesh.storage.sqlite.filters import translate
from opengeomesh.storage.sqlite.properties import SqlitePropertySampler

BATCH = 5000
_SELECT = "f.fid, f.id, f.id_numeric, f.geometry, f.properties, f.version"


def _tables(key: int) -> tuple[str, str]:
    return f"features_{int(key)}", f"features_{int(key)}_rtree"


def create_feature_tables(conn: sqlite3.Connection, key: int) -> None:
    """Create a new collection's feature table, R*Tree and time index."""
    table, rtree = _tables(key)
    conn.execute(
        f"CREATE TABLE {table} (fid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
        " id_numeric INTEGER NOT NULL, geometry TEXT, wkb BLOB, properties TEXT,"
        " t0 REAL, t1 REAL, version INTEGER NOT NULL)"
    )
    conn.execute(f"CREATE VIRTUAL TABLE {rtree} USING rtree(fid, minx, maxx, miny, maxy)")
    conn.execute(f"CREATE INDEX {table}_t0 ON {table}(t0)")


def drop_feature_tables(conn: sqlite3.Connection, key: int) -> None:
    table, rtree = _tables(key)
    conn.execute(f"DROP TABLE IF EXISTS {rtree}")
    conn.execute(f"DROP TABLE IF EXISTS {table}")


_new = object.__new__
# The slots' own setters: a page builds a hundred features or more, and a frozen dataclass's
# __init__ (object.__setattr__ by name, per field) costs twice as much as setting them so.
_SLOTS: Mapping[str, Any] = vars(StoredFeature)
_FIELDS = ("id", "id_is_number", "geometry_json", "properties_json", "version", "key")
assert tuple(f.name for f in fields(StoredFeature)) == _FIELDS, "set every field below"
_set_id = _SLOTS["id"].__set__
_set_is_number = _SLOTS["id_is_number"].__set__
_set_geometry = _SLOTS["geometry_json"].__set__
_set_properties = _SLOTS["properties_json"].__set__
_set_version = _SLOTS["version"].__set__
_set_key = _SLOTS["key"].__set__


def _stored(row: Any) -> StoredFeature:
    """A feature of a row of ``_SELECT``; the same as ``StoredFeature(...)``, built faster."""
    feature: StoredFeature = _new(StoredFeature)
    _set_id(feature, row[1])
    _set_is_number(feature, bool(row[2]))
    _set_geometry(feature, row[3])
    _set_properties(feature, row[4])
    _set_version(feature, row[5])
    _set_key(feature, row[0])
    return feature


class SqliteFeatureStore:
    """Features of every collection in SQLite."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._properties = SqlitePropertySampler(db)

    def property_types(self, collection: Collection) -> dict[str, frozenset[str]]:
        return self._properties.types(collection)

    def has_property(self, collection: Collection, name: str) -> bool:
        return self._properties.has(collection, name)

    def page(self, collection: Collection, query: ItemsQuery, *, count_limit: int) -> ItemsPage:
        table, rtree = _tables(collection.key)
        source, where, args = _selection(table, rtree, query, collection)
        cursor = query.cursor
        limit = query.limit
        if cursor is not None:
            where.append("f.fid > ?" if cursor.forward else "f.fid < ?")
            args.append(cursor.key)
        order = "ASC" if cursor is None or cursor.forward else "DESC"
        sql = f"SELECT {_SELECT} {source}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY f.fid {order} LIMIT ? OFFSET ?"
        # Only a filtered page may need a second statement (its count): an unfiltered one is
        # a single statement and needs no read transaction (two statements fewer per page).
        reading = self._db.snapshot() if query.filtered else nullcontext(self._db.connection())
        with reading as conn:
            rows = conn.execute(sql, (*args, limit + 1, query.offset)).fetchall()
            if cursor is None and len(rows) <= limit and (rows or query.offset == 0):
                matched: int | None = query.offset + len(rows)  # the last page: no count needed
            else:
                matched = self._count(conn, collection, query, count_limit)
        more = len(rows) > limit
        rows = rows[:limit]
        if cursor is not None and not cursor.forward:
            rows.reverse()
        features = [_stored(row) for row in rows]
        next_cursor = prev_cursor = prev_offset = None
        if rows:
            first, last = rows[0][0], rows[-1][0]
            backwards = cursor is not None and not cursor.forward
            if more or backwards:
                next_cursor = Cursor(forward=True, key=last).encode()
            if (more and backwards) or (cursor is not None and cursor.forward):
                prev_cursor = Cursor(forward=False, key=first).encode()
        if cursor is None and query.offset > 0:
            prev_offset = max(0, query.offset - limit)
        return ItemsPage(
            features=features,
            number_matched=matched,
            next_cursor=next_cursor,
            prev_cursor=prev_cursor,
            prev_offset=prev_offset,
        )

    def _count(
        self, conn: sqlite3.Connection, collection: Collection, query: ItemsQuery, count_limit: int
    ) -> int | None:
        if not query.filtered:
            return collection.feature_count
        table, rtree = _tables(collection.key)
        source, where, args = _selection(table, rtree, query, collection)
        sql = f"SELECT 1 {source} WHERE {' AND '.join(where)} LIMIT ?"
        count = conn.execute(f"SELECT count(*) FROM ({sql})", (*args, count_limit + 1)).fetchone()
        return None if count[0] > count_limit else int(count[0])

    def get(self, collection: Collection, feature_id: str) -> StoredFeature | None:
        table, _ = _tables(collection.key)
        row = (
            self._db.connection()
            .execute(f"SELECT {_SELECT} FROM {table} f WHERE f.id = ?", (feature_id,))
            .fetchone()
        )
        return None if row is None else _stored(row)

    def add_many(
        self,
        collection: Collection,
        features: Iterable[NewFeature],
        progress: Callable[[int], None] | None = None,
    ) -> int:
        table, rtree = _tables(collection.key)
        added = 0
        extent = Extent()
        with self._db.transaction() as conn:
            seq, *bounds = conn.execute(
                "SELECT change_seq + 1, minx, miny, maxx, maxy, t_min, t_max"
                " FROM collections WHERE key = ?",
                (collection.key,),
            ).fetchone()
            extent.load(bounds)
            fid = conn.execute(f"SELECT coalesce(max(fid), 0) FROM {table}").fetchone()[0]
            iterator = iter(features)
            while batch := list(islice(iterator, BATCH)):
                rows, boxes = [], []
                for feature in batch:
                    fid += 1
                    rows.append(_row(fid, feature, seq))
                    if feature.bbox is not None:
                        boxes.append((fid, *_rtree_box(feature.bbox)))
                    extent.add(feature)
                try:
                    conn.executemany(f"INSERT INTO {table} VALUES (?,?,?,?,?,?,?,?,?)", rows)
                except sqlite3.IntegrityError:
                    raise _duplicate(conn, table, rows, added) from None
                conn.executemany(f"INSERT INTO {rtree} VALUES (?,?,?,?,?)", boxes)
                added += len(batch)
                if progress is not None:
                    progress(added)
            conn.execute(
                "UPDATE collections SET feature_count = feature_count + ?, change_seq = ?,"
                " minx = ?, miny = ?, maxx = ?, maxy = ?, t_min = ?, t_max = ?, updated = ?"
                " WHERE key = ?",
                (added, seq, *extent.values(), now_text(), collection.key),
            )
        return added

    def scan(self, collection: Collection) -> Iterator[StoredFeature]:
        table, _ = _tables(collection.key)
        last = 0
        while True:
            rows = (
                self._db.connection()
                .execute(
                    f"SELECT {_SELECT} FROM {table} f WHERE f.fid > ? ORDER BY f.fid LIMIT ?",
                    (last, BATCH),
                )
                .fetchall()
            )
            if not rows:
                return
            for row in rows:
                yield _stored(row)
            last = rows[-1][0]


def _selection(
    table: str, rtree: str, query: ItemsQuery, collection: Collection
) -> tuple[str, list[str], list[Any]]:
    """The FROM clause, conditions and arguments that select the features a query matches."""
    where: list[str] = []
    args: list[Any] = []
    source = f"FROM {table} f"
    translated = None
    if query.filter is not None:
        translated = translate(
            query.filter,
            rtree=rtree,
            temporal_property=collection.temporal_property,
            extent=collection.bbox,
        )
    boxes = query.bboxes
    if not boxes and translated is not None and translated.driving is not None:
        boxes = (translated.driving,)  # the filter's spatial predicate starts from the R*Tree
    if len(boxes) == 1:
        source = f"FROM {rtree} r JOIN {table} f ON f.fid = r.fid"
        west, south, east, north = boxes[0]
        where.append("r.minx <= ? AND r.maxx >= ? AND r.miny <= ? AND r.maxy >= ?")
        args += [east, west, north, south]
        if query.bboxes:
            where.append("ogm_intersects(f.wkb, ?, ?, ?, ?)")
            args += [west, south, east, north]
    elif boxes:
        parts = []
        for west, south, east, north in boxes:
            parts.append(
                f"f.fid IN (SELECT fid FROM {rtree} WHERE minx <= ? AND maxx >= ?"
                " AND miny <= ? AND maxy >= ?) AND ogm_intersects(f.wkb, ?, ?, ?, ?)"
            )
            args += [east, west, north, south, west, south, east, north]
        where.append("((" + ") OR (".join(parts) + "))")
    if query.interval is not None:
        start, end = query.interval
        if start is not None:
            where.append("f.t1 >= ?")
            args.append(start)
        if end is not None:
            where.append("f.t0 <= ?")
            args.append(end)
    if translated is not None:
        where.append(translated.where.text)
        args += translated.where.args
    return source, where, args


def _row(fid: int, feature: NewFeature, seq: int) -> tuple[Any, ...]:
    return (
        fid,
        assigned_id(feature),
        int(feature.id_is_number),
        feature.geometry_json,
        feature.wkb,
        feature.properties_json,
        feature.t0,
        time_end(feature),
        seq,
    )


def _rtree_box(bbox: BBox) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = bbox
    return minx, maxx, miny, maxy


def _duplicate(
    conn: sqlite3.Connection, table: str, rows: list[tuple[Any, ...]], before: int
) -> DuplicateFeatureId:
    """Find which feature of a failed batch reused an id, to name it in the error."""
    seen: set[str] = set()
    for position, row in enumerate(rows):
        feature_id = row[1]
        taken = conn.execute(
            f"SELECT 1 FROM {table} WHERE id = ? AND fid < ?", (feature_id, rows[0][0])
        ).fetchone()
        if taken or feature_id in seen:
            return DuplicateFeatureId(feature_id, before + position)
        seen.add(feature_id)
    return DuplicateFeatureId(rows[0][1], before)
