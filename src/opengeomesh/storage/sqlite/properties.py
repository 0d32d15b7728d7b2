"""The property sampler's queries on SQLite (``json_each`` over the stored JSON text)."""

from __future__ import annotations

from opengeomesh.features.models import Collection
from opengeomesh.storage.property_sampler import ORDERS, PropertySampler
from opengeomesh.storage.sqlite.database import Database

_TYPES = (
    "SELECT j.key, j.type FROM (SELECT properties FROM {table} ORDER BY fid {order} LIMIT ?) s,"
    " json_each(s.properties) j WHERE json_type(s.properties) = 'object' GROUP BY 1, 2"
)


class SqlitePropertySampler(PropertySampler):
    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db

    def change_seq(self, collection: Collection) -> int:
        row = (
            self._db.connection()
            .execute("SELECT change_seq FROM collections WHERE key = ?", (collection.key,))
            .fetchone()
        )
        return -1 if row is None else int(row[0])

    def sample(self, collection: Collection, order: str, limit: int | None) -> set[tuple[str, str]]:
        if order not in ORDERS:
            raise ValueError(f"not an order: {order!r}")
        sql = _TYPES.format(table=f"features_{int(collection.key)}", order=order)
        rows = self._db.connection().execute(sql, (-1 if limit is None else limit,))
        return {(name, kind) for name, kind in rows}

    def any_has(self, collection: Collection, name: str) -> bool:
        table = f"features_{int(collection.key)}"
        row = (
            self._db.connection()
            .execute(
                f"SELECT 1 FROM {table} WHERE json_type(properties, ?) IS NOT NULL LIMIT 1",
                (f'$."{name}"',),
            )
            .fetchone()
        )
        return row is not None
