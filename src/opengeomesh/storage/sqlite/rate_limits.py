"""Rate limit counts in SQLite: one upsert per key and flush (limits/rates.py)."""

from __future__ import annotations

from collections.abc import Mapping

from opengeomesh.storage.sqlite.database import Database


class SqliteRateLimitStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def add_hits(self, window: int, hits: Mapping[str, int]) -> dict[str, int]:
        totals: dict[str, int] = {}
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM rate_limit_hits WHERE minute < ?", (window,))
            for key, count in hits.items():
                row = conn.execute(
                    "INSERT INTO rate_limit_hits(key, minute, hits) VALUES (?, ?, ?)"
                    " ON CONFLICT(key, minute) DO UPDATE SET hits = hits + excluded.hits"
                    " RETURNING hits",
                    (key, window, count),
                ).fetchone()
                totals[key] = int(row[0])
        return totals
