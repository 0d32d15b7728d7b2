"""SQLite implementation of the collection store: collection rows, grants, feature tables."""

from __future__ import annotations

from typing import Any

from opengeomesh.features.models import Access, Collection, Grant, Permission, SubjectKind
from opengeomesh.features.timeval import to_datetime
from opengeomesh.storage.sqlite.database import (
    Database,
    name_taken_is_conflict,
    now_text,
    parse_time,
)
from opengeomesh.storage.sqlite.features import create_feature_tables, drop_feature_tables

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
    created, updated = parse_time(row[15]), parse_time(row[16])
    assert created is not None and updated is not None
    return Collection(
        key=row[0],
        id=row[1],
        title=row[2],
        description=row[3],
        owner_id=row[4],
        owner_name=row[5],
        public=bool(row[6]),
        temporal_property=row[7],
        bbox=bbox,
        interval=interval,
        feature_count=row[14],
        created=created,
        updated=updated,
        change_seq=row[17],
    )


class SqliteCollectionStore:
    """Collections and local grants in SQLite."""

    def __init__(self, db: Database) -> None:
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
        stamp = now_text()
        taken = name_taken_is_conflict(f"collection {collection_id!r} exists already")
        with taken, self._db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO collections(id, title, description, owner_id, public,"
                " temporal_property, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    collection_id,
                    title,
                    description,
                    owner_id,
                    int(public),
                    temporal_property,
                    stamp,
                    stamp,
                ),
            )
            create_feature_tables(conn, int(cur.lastrowid or 0))
        created = self.get(collection_id)
        assert created is not None
        return created

    def get(self, collection_id: str) -> Collection | None:
        row = (
            self._db.connection()
            .execute(f"SELECT {_COLUMNS} {_FROM} WHERE c.id = ?", (collection_id,))
            .fetchone()
        )
        return None if row is None else _collection(row)

    def all(self) -> list[Collection]:
        rows = self._db.connection().execute(f"SELECT {_COLUMNS} {_FROM} ORDER BY c.id").fetchall()
        return [_collection(row) for row in rows]

    def update(
        self, key: int, *, title: str | None, description: str | None, public: bool | None
    ) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE collections SET title = coalesce(?, title),"
                " description = coalesce(?, description), public = coalesce(?, public),"
                " updated = ? WHERE key = ?",
                (title, description, None if public is None else int(public), now_text(), key),
            )

    def delete(self, key: int) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM collections WHERE key = ?", (key,))
            drop_feature_tables(conn, key)

    def grants(self, key: int) -> list[Grant]:
        rows = (
            self._db.connection()
            .execute(
                "SELECT g.subject_kind, g.subject_id,"
                " CASE g.subject_kind WHEN 'user' THEN u.name ELSE gr.name END, g.permission"
                " FROM collection_grants g"
                " LEFT JOIN users u ON g.subject_kind = 'user' AND u.id = g.subject_id"
                " LEFT JOIN user_groups gr ON g.subject_kind = 'group' AND gr.id = g.subject_id"
                " WHERE g.collection_key = ? ORDER BY g.subject_kind DESC, 3",
                (key,),
            )
            .fetchall()
        )
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
        marks = ",".join("?" * len(group_ids))
        group_clause = f" OR (subject_kind = 'group' AND subject_id IN ({marks}))" if marks else ""
        rows = (
            self._db.connection()
            .execute(
                "SELECT collection_key, max(CASE permission WHEN 'write' THEN 2 ELSE 1 END)"
                " FROM collection_grants WHERE (subject_kind = 'user' AND subject_id = ?)"
                f"{group_clause} GROUP BY collection_key",
                (user_id, *sorted(group_ids)),
            )
            .fetchall()
        )
        return {key: Access(level) for key, level in rows}

    def set_grant(
        self, key: int, kind: SubjectKind, subject_id: int, permission: Permission
    ) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO collection_grants(collection_key, subject_kind, subject_id,"
                " permission) VALUES (?, ?, ?, ?) ON CONFLICT(collection_key, subject_kind,"
                " subject_id) DO UPDATE SET permission = excluded.permission",
                (key, kind.value, subject_id, permission.value),
            )

    def remove_grant(self, key: int, kind: SubjectKind, subject_id: int) -> bool:
        with self._db.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM collection_grants WHERE collection_key = ? AND subject_kind = ?"
                " AND subject_id = ?",
                (key, kind.value, subject_id),
            )
        return cur.rowcount > 0
