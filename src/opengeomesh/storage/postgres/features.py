"""PostgreSQL/PostGIS implementation of the feature store.

Each collection has its own table ``features_<key>`` (made and dropped by the collection store
with the collection): ``fid`` (page order), ``id``, the GeoJSON text of geometry and properties
exactly as SQLite keeps it (pages are assembled from it, byte for byte the same), ``geom``
(PostGIS, SRID 4326, 2D, valid; a GIST index from the first write on) for spatial tests,
``properties`` (``jsonb`` generated from the text, U+0000 read as U+0001) for filters,
``t0``/``t1`` and ``version``. A bbox query is ``ST_Intersects`` (``&&`` on the GIST index,
then the exact test); pages are walked by key (``fid``). Imports stream the features in with
``COPY`` in batches, all in one transaction.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

import psycopg
import shapely

from opengeomesh.errors import NotFound
from opengeomesh.features.models import Collection, ItemsPage, NewFeature, StoredFeature
from opengeomesh.features.query import Cursor, ItemsQuery
from opengeomesh.features.store import DuplicateFeatureId
from opengeomesh.storage.feature_rows import Extent, assigned_id, time_end
from opengeomesh.storage.postgres.columns import now
from opengeomesh.storage.postgres.database import PgDatabase
from opengeomesh.storage.postgres.filters import envelope, pyformat, translate
from opengeomesh.storage.postgres.notifications import CHANNEL
from opengeomesh.storage.postgres.properties import PgPropertySampler
from opengeomesh.storage.sql_pieces import Sql, joined, sql

BATCH = 20_000
# An import this large gathers the table's statistics at once (autovacuum would, later): a new
# layer without them gets plans such as sorting every feature a large bbox meets.
ANALYZE_AFTER = 1_000
SELECT = "f.fid, f.id, f.id_numeric, f.geometry, f.properties_json, f.version"
COLUMNS = "fid, id, id_numeric, geometry, geom, properties_json, t0, t1, version"
_POINT = struct.Struct("<BIdd")
_EWKB_POINT = bytes.fromhex("0101000020e6100000")  # little-endian Point with SRID 4326


def table_name(key: int) -> str:
    """The feature table of a collection (its key is an integer: a safe identifier)."""
    return f"features_{int(key)}"


def create_feature_table(conn: psycopg.Connection, key: int) -> None:
    """Create a new collection's feature table and its indexes, but for the spatial one: the
    first write makes it (``spatial_index``), after the rows when it is an import."""
    table = table_name(key)
    conn.execute(
        f'CREATE TABLE {table} (fid bigint PRIMARY KEY, id text COLLATE "C" NOT NULL UNIQUE,'
        " id_numeric boolean NOT NULL, geometry text, geom geometry(Geometry, 4326),"
        " properties_json text,"
        " properties jsonb GENERATED ALWAYS AS (ogm_nul_free(properties_json)::jsonb) STORED,"
        " t0 double precision, t1 double precision, version bigint NOT NULL)"
    )
    conn.execute(f"CREATE INDEX {table}_t0 ON {table} (t0)")


def has_spatial_index(conn: psycopg.Connection, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", (f"{table}_geom",)).fetchone()
    return row is not None and row[0] is not None


def spatial_index(conn: psycopg.Connection, table: str) -> None:
    """Make the GIST index of a table that has none yet (only ever empty before its first
    write). Building it after an import's rows is a third faster at a million points than
    keeping it up row by row, and readers are not held up meanwhile (a SHARE lock)."""
    conn.execute(f"CREATE INDEX IF NOT EXISTS {table}_geom ON {table} USING gist (geom)")


def drop_feature_table(conn: psycopg.Connection, key: int) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {table_name(key)}")


def stored(row: Any) -> StoredFeature:
    return StoredFeature(
        id=row[1],
        id_is_number=row[2],
        geometry_json=row[3],
        properties_json=row[4],
        version=row[5],
        key=row[0],
    )


def ewkb(wkb: bytes | None) -> str | None:
    """A feature's geometry as hex EWKB with SRID 4326, in 2D (heights stay in the GeoJSON).
    The WKB is already valid (``geojson.parse_feature``): PostGIS's GEOS fails on some tests
    of invalid geometries. 2D points, most features, are rewritten without shapely."""
    if wkb is None:
        return None
    if len(wkb) == _POINT.size and wkb[:5] == b"\x01\x01\x00\x00\x00":
        return (_EWKB_POINT + wkb[5:]).hex()
    geometry = shapely.set_srid(shapely.from_wkb(wkb), 4326)
    return str(shapely.to_wkb(geometry, hex=True, output_dimension=2, include_srid=True))


def feature_row(fid: int, feature: NewFeature, seq: int) -> tuple[Any, ...]:
    """The values of ``COLUMNS`` for a new feature."""
    return (
        fid,
        assigned_id(feature),
        feature.id_is_number,
        feature.geometry_json,
        ewkb(feature.wkb),
        feature.properties_json,
        feature.t0,
        time_end(feature),
        seq,
    )


def notify(conn: psycopg.Connection, collection: Collection, seq: int) -> None:
    """Tell listeners (``notifications.ChangeListener`` in every worker) of a write, once
    it commits: ``'<collection key>:<change number>'``."""
    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{collection.key}:{seq}"))


class PgFeatureStore:
    """Features of every collection in PostgreSQL."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db
        self._properties = PgPropertySampler(db)

    def property_types(self, collection: Collection) -> dict[str, frozenset[str]]:
        return self._properties.types(collection)

    def has_property(self, collection: Collection, name: str) -> bool:
        return self._properties.has(collection, name)

    def page(self, collection: Collection, query: ItemsQuery, *, count_limit: int) -> ItemsPage:
        conditions = _selection(query, collection)
        cursor = query.cursor
        limit = query.limit
        if cursor is not None:
            conditions.append(sql("f.fid > {}" if cursor.forward else "f.fid < {}", cursor.key))
        order = "ASC" if cursor is None or cursor.forward else "DESC"
        text, args = pyformat(_where(conditions))
        statement = (
            f"SELECT {SELECT} FROM {table_name(collection.key)} f{text}"
            f" ORDER BY f.fid {order} LIMIT %s OFFSET %s"
        )
        # Only a filtered page may need a second statement (its count): an unfiltered one is
        # a single statement and needs no read transaction (three round trips fewer per page).
        with self._db.snapshot() if query.filtered else self._db.connection() as conn:
            rows = conn.execute(statement, (*args, limit + 1, query.offset)).fetchall()
            if cursor is None and len(rows) <= limit and (rows or query.offset == 0):
                matched: int | None = query.offset + len(rows)  # the last page: no count needed
            else:
                matched = self._count(conn, collection, query, count_limit)
        more = len(rows) > limit
        rows = rows[:limit]
        if cursor is not None and not cursor.forward:
            rows.reverse()
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
            features=[stored(row) for row in rows],
            number_matched=matched,
            next_cursor=next_cursor,
            prev_cursor=prev_cursor,
            prev_offset=prev_offset,
        )

    def _count(
        self, conn: psycopg.Connection, collection: Collection, query: ItemsQuery, count_limit: int
    ) -> int | None:
        if not query.filtered:
            return collection.feature_count
        text, args = pyformat(_where(_selection(query, collection)))
        statement = (
            f"SELECT count(*) FROM (SELECT 1 FROM {table_name(collection.key)} f{text}"
            " LIMIT %s) matches"
        )
        row = conn.execute(statement, (*args, count_limit + 1)).fetchone()
        assert row is not None
        return None if row[0] > count_limit else int(row[0])

    def get(self, collection: Collection, feature_id: str) -> StoredFeature | None:
        with self._db.connection() as conn:
            row = conn.execute(
                f"SELECT {SELECT} FROM {table_name(collection.key)} f WHERE f.id = %s",
                (feature_id,),
            ).fetchone()
        return None if row is None else stored(row)

    def add_many(
        self,
        collection: Collection,
        features: Iterable[NewFeature],
        progress: Callable[[int], None] | None = None,
    ) -> int:
        table = table_name(collection.key)
        added = 0
        extent = Extent()
        with self._db.transaction() as conn:
            found = conn.execute(
                "UPDATE collections SET change_seq = change_seq + 1 WHERE key = %s"
                " RETURNING change_seq, minx, miny, maxx, maxy, t_min, t_max",
                (collection.key,),
            ).fetchone()
            if found is None:
                raise NotFound(f"collection {collection.id!r} was deleted meanwhile")
            seq, *bounds = found
            extent.load(bounds)
            row = conn.execute(f"SELECT coalesce(max(fid), 0) FROM {table}").fetchone()
            fid = int(row[0]) if row is not None else 0
            indexed = has_spatial_index(conn, table)
            iterator = iter(features)
            while batch := list(islice(iterator, BATCH)):
                rows = []
                for feature in batch:
                    fid += 1
                    rows.append(feature_row(fid, feature, seq))
                    extent.add(feature)
                _copy(conn, table, rows, added)
                added += len(batch)
                if progress is not None:
                    progress(added)
            if not indexed:
                spatial_index(conn, table)
            conn.execute(
                "UPDATE collections SET feature_count = feature_count + %s, minx = %s,"
                " miny = %s, maxx = %s, maxy = %s, t_min = %s, t_max = %s, updated = %s"
                " WHERE key = %s",
                (added, *extent.values(), now(), collection.key),
            )
            if added >= ANALYZE_AFTER:
                conn.execute(f"ANALYZE {table}")
            notify(conn, collection, seq)
        return added

    def scan(self, collection: Collection) -> Iterator[StoredFeature]:
        table = table_name(collection.key)
        last = 0
        while True:
            with self._db.connection() as conn:
                rows = conn.execute(
                    f"SELECT {SELECT} FROM {table} f WHERE f.fid > %s ORDER BY f.fid LIMIT %s",
                    (last, BATCH),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield stored(row)
            last = rows[-1][0]


def _copy(conn: psycopg.Connection, table: str, rows: list[tuple[Any, ...]], before: int) -> None:
    """Stream one batch in with ``COPY``; a reused id names its feature (``before``: how many
    features of the import came earlier)."""
    try:
        with (
            conn.transaction(),  # a savepoint: the batch or nothing
            conn.cursor() as cursor,
            cursor.copy(f"COPY {table} ({COLUMNS}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    except psycopg.errors.UniqueViolation:
        raise _duplicate(conn, table, rows, before) from None


def _duplicate(
    conn: psycopg.Connection, table: str, rows: list[tuple[Any, ...]], before: int
) -> DuplicateFeatureId:
    """Find which feature of a failed batch reused an id, to name it in the error."""
    ids = [row[1] for row in rows]
    taken = {
        found for (found,) in conn.execute(f"SELECT id FROM {table} WHERE id = ANY(%s)", (ids,))
    }
    seen: set[str] = set()
    for position, feature_id in enumerate(ids):
        if feature_id in taken or feature_id in seen:
            return DuplicateFeatureId(feature_id, before + position)
        seen.add(feature_id)
    return DuplicateFeatureId(ids[0], before)


def _where(conditions: list[Sql]) -> Sql:
    return sql(" WHERE {}", joined(" AND ", conditions)) if conditions else Sql("")


def _selection(query: ItemsQuery, collection: Collection) -> list[Sql]:
    """The conditions that select the features a query matches."""
    conditions: list[Sql] = []
    # ST_Intersects adds ``f.geom && box`` for the GIST index by itself (PostGIS 3); written
    # twice, the planner would count its selectivity twice
    boxes = [sql("ST_Intersects(f.geom, {})", envelope(box)) for box in query.bboxes]
    if len(boxes) == 1:
        conditions.append(boxes[0])
    elif boxes:
        conditions.append(sql("({})", joined(" OR ", boxes)))
    if query.interval is not None:
        start, end = query.interval
        if start is not None:
            conditions.append(sql("f.t1 >= {}", start))
        if end is not None:
            conditions.append(sql("f.t0 <= {}", end))
    if query.filter is not None:
        conditions.append(translate(query.filter, temporal_property=collection.temporal_property))
    return conditions
