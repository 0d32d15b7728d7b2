"""The property sampler's queries on PostgreSQL. Types are read from the properties' text as
``json`` (not ``jsonb``, which forgets whether ``2.0`` was written with a fraction), and named
as SQLite's ``json_each`` names them, so the queryables are the same on both databases (a
name holding U+0000 is read with U+0001: no filter can name either)."""

from __future__ import annotations

from opengeomesh.features.models import Collection
from opengeomesh.storage.postgres.database import PgDatabase
from opengeomesh.storage.property_sampler import ORDERS, PropertySampler

_TYPES = (
    "SELECT j.key, CASE json_typeof(j.value)"
    " WHEN 'number' THEN CASE WHEN j.value::text ~ '^-?[0-9]+$' THEN 'integer' ELSE 'real' END"
    " WHEN 'string' THEN 'text' WHEN 'boolean' THEN j.value::text ELSE json_typeof(j.value) END"
    " FROM (SELECT ogm_nul_free(properties_json)::json AS p FROM {table}"
    " ORDER BY fid {order} LIMIT %s) s,"
    " json_each(s.p) j WHERE json_typeof(s.p) = 'object' GROUP BY 1, 2"
)


class PgPropertySampler(PropertySampler):
    def __init__(self, db: PgDatabase) -> None:
        super().__init__()
        self._db = db

    def change_seq(self, collection: Collection) -> int:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT change_seq FROM collections WHERE key = %s", (collection.key,)
            ).fetchone()
        return -1 if row is None else int(row[0])

    def sample(self, collection: Collection, order: str, limit: int | None) -> set[tuple[str, str]]:
        if order not in ORDERS:
            raise ValueError(f"not an order: {order!r}")
        statement = _TYPES.format(table=f"features_{int(collection.key)}", order=order)
        with self._db.connection() as conn:
            return {(name, kind) for name, kind in conn.execute(statement, (limit,))}

    def any_has(self, collection: Collection, name: str) -> bool:
        table = f"features_{int(collection.key)}"
        with self._db.connection() as conn:
            row = conn.execute(
                f"SELECT 1 FROM {table} WHERE properties -> %s IS NOT NULL LIMIT 1", (name,)
            ).fetchone()
        return row is not None
