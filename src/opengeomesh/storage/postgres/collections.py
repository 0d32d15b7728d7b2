"""TEMPORARY SHIM, not for merge: the real module is written on another branch and replaces
this file whole. It creates and deletes collection rows (no feature tables) so that the share
store's contract tests have collections to share; everything else raises NotImplementedError."""

from __future__ import annotations

from typing import Any

from opengeomesh.features.models import Collection
from opengeomesh.storage.postgres.columns import now, utc
from opengeomesh.storage.postgres.database import PgDatabase


class PgCollectionStore:
    """Placeholder with ``create``, ``get`` and ``delete`` only."""

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
        with self._db.connection() as conn:
            conn.execute(
                "INSERT INTO collections(id, title, description, owner_id, public,"
                " temporal_property, created, updated) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    collection_id,
                    title,
                    description,
                    owner_id,
                    public,
                    temporal_property,
                    stamp,
                    stamp,
                ),
            )
        found = self.get(collection_id)
        assert found is not None
        return found

    def get(self, collection_id: str) -> Collection | None:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT c.key, c.id, c.title, c.description, c.owner_id, u.name, c.public,"
                " c.temporal_property, c.feature_count, c.created, c.updated"
                " FROM collections c JOIN users u ON u.id = c.owner_id WHERE c.id = %s",
                (collection_id,),
            ).fetchone()
        if row is None:
            return None
        return Collection(
            key=row[0],
            id=row[1],
            title=row[2],
            description=row[3],
            owner_id=row[4],
            owner_name=row[5],
            public=row[6],
            temporal_property=row[7],
            bbox=None,
            interval=None,
            feature_count=row[8],
            created=utc(row[9]),
            updated=utc(row[10]),
        )

    def delete(self, key: int) -> None:
        with self._db.connection() as conn:
            conn.execute("DELETE FROM collections WHERE key = %s", (key,))

    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(f"PgCollectionStore.{name} is written on another branch")
