"""PostgreSQL implementation of the collection store: collection rows, grants, feature tables.

Lists are ordered in the ``"C"`` collation (by code point), as SQLite orders them, whatever the
database's own collation. Times are kept to the second, in UTC.
"""

from __future__ import annotations

from typing import Any

import psycopg

from opengeomesh.errors import Conflict
from opengeomesh.features.models import Access, Collection, Grant, Permission, SubjectKind
from opengeomesh.features.timeval import to_datetime
from opengeomesh.storage.postgres.columns import now, utc
from opengeomesh.storage.postgres.database import PgDatabase
from opengeomesh.storage.postgres.features import create_feature_table, drop_feature_table

_COLUMNS = (
    "c.key, c.id, c.title, c.description, c.owner_id, u.name, c.public, c.temporal_property,"
    " c.minx, c.miny, c.maxx, c.maxy, c.t_min, c.t_max, c.feature_count, c.created, c.updated,"
    " c.change_seq"
)
_FROM = "FROM collections c JOIN users u ON u.id = c.owner_id"


def _collection(row: Any) -> Collection:
    bbox = None if row[8] is None else (row[8], row[9], row[10], row[11])
    interval = None
    if row[12] is not None:
        interval = (to_datetime(row[12]), to_datetime(row[13]))
    return Collection(
        key=row[0],
        id=row[1],
        title=row[2],
        description=row[3],
        owner_id=row[4],
        owner_name=row[5],
        public=row[6],
        temporal_property=row[7],
        bbox=bbox,
        interval=interval,
        feature_count=row[14],
        created=utc(row[15]),
        updated=utc(row[16]),
        change_seq=row[17],
    )


class PgCollectionStore:
    """Collections and local grants in PostgreSQL."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def create(
        self,
        collection_id: str,
        *,
        title: str,
        description: str,
        owner_id: int,
        public: bool,
        temporal_property: str | None,
    ) -> Collection:
        stamp = now()
        values = (collection_id, title, description, owner_id, public, temporal_property)
        try:
            with self._db.transaction() as conn:
                row = conn.execute(
                    "INSERT INTO collections(id, title, description, owner_id, public,"
                    " temporal_property, created, updated) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                    " RETURNING key",
                    (*values, stamp, stamp),
                ).fetchone()
                assert row is not None
                create_feature_table(conn, int(row[0]))
        except psycopg.errors.UniqueViolation:
            raise Conflict(f"collection {collection_id!r} exists already") from None
        created = self.get(collection_id)
        assert created is not None
        return created

    def get(self, collection_id: str) -> Collection | None:
        with self._db.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} {_FROM} WHERE c.id = %s", (collection_id,)
            ).fetchone()
        return None if row is None else _collection(row)

    def all(self) -> list[Collection]:
        with self._db.connection() as conn:
            rows = conn.execute(f'SELECT {_COLUMNS} {_FROM} ORDER BY c.id COLLATE "C"').fetchall()
        return [_collection(row) for row in rows]

    def update(
        self, key: int, *, title: str | None, description: str | None, public: bool | None
    ) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE collections SET title = coalesce(%s, title),"
                " description = coalesce(%s, description), public = coalesce(%s, public),"
                " updated = %s WHERE key = %s",
                (title, description, public, now(), key),
            )

    def delete(self, key: int) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM collections WHERE key = %s", (key,))
            drop_feature_table(conn, key)

    def grants(self, key: int) -> list[Grant]:
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT g.subject_kind, g.subject_id,"
                " (CASE g.subject_kind WHEN 'user' THEN u.name ELSE gr.name END) COLLATE \"C\","
                " g.permission FROM collection_grants g"
                " LEFT JOIN users u ON g.subject_kind = 'user' AND u.id = g.subject_id"
                " LEFT JOIN user_groups gr ON g.subject_kind = 'group' AND gr.id = g.subject_id"
                ' WHERE g.collection_key = %s ORDER BY g.subject_kind COLLATE "C" DESC, 3',
                (key,),
            ).fetchall()
        return [
            Grant(
                kind=SubjectKind(r[0]),
                subject_id=r[1],
                subject_name=r[2],
                permission=Permission(r[3]),
            )
            for r in rows
        ]

    def granted_access(self, user_id: int, group_ids: frozenset[int]) -> dict[int, Access]:
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT collection_key, max(CASE permission WHEN 'write' THEN 2 ELSE 1 END)"
                " FROM collection_grants WHERE (subject_kind = 'user' AND subject_id = %s)"
                " OR (subject_kind = 'group' AND subject_id = ANY(%s)) GROUP BY collection_key",
                (user_id, sorted(group_ids)),
            ).fetchall()
        return {key: Access(level) for key, level in rows}

    def set_grant(
        self, key: int, kind: SubjectKind, subject_id: int, permission: Permission
    ) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO collection_grants(collection_key, subject_kind, subject_id,"
                " permission) VALUES (%s, %s, %s, %s) ON CONFLICT (collection_key, subject_kind,"
                " subject_id) DO UPDATE SET permission = excluded.permission",
                (key, kind.value, subject_id, permission.value),
            )

    def remove_grant(self, key: int, kind: SubjectKind, subject_id: int) -> bool:
        with self._db.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM collection_grants WHERE collection_key = %s AND subject_kind = %s"
                " AND subject_id = %s",
                (key, kind.value, subject_id),
            )
        return cur.rowcount > 0
