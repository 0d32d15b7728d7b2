"""Rate limit counts in PostgreSQL: one upsert per key and flush (limits/rates.py)."""

from __future__ import annotations

from collections.abc import Mapping

from opengeomesh.storage.postgres.database import PgDatabase


class PgRateLimitStore:
    def __init__(self, database: PgDatabase) -> None:
        self._db = database

    def add_hits(self, window: int, hits: Mapping[str, int]) -> dict[str, int]:
        totals: dict[str, int] = {}
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM rate_limit_hits WHERE minute < %s", (window,))
            for key, count in sorted(hits.items()):  # one order: no deadlock between workers
                row = conn.execute(
                    "INSERT INTO rate_limit_hits(key, minute, hits) VALUES (%s, %s, %s)"
                    " ON CONFLICT (key, minute)"
                    " DO UPDATE SET hits = rate_limit_hits.hits + excluded.hits RETURNING hits",
                    (key, window, count),
                ).fetchone()
                assert row is not None
                totals[key] = int(row[0])
        return totals
