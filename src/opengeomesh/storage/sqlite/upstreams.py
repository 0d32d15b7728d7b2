"""SQLite implementation of the upstream store (registrations, exposures, poll snapshots)."""

from __future__ import annotations

import sqlite3
import time

import orjson

from opengeomesh.errors import Conflict, NotFound
from opengeomesh.features.upstreams import (
    AuthKind,
    Exposure,
    Lease,
    LeaseLost,
    PolledChange,
    Upstream,
)
from opengeomesh.storage.sqlite.database import (
    Database,
    name_taken_is_conflict,
    now_text,
)
from opengeomesh.storage.upstream_rows import (
    EXPOSURES,
    UPSTREAM_COLUMNS,
    exposure_of,
    upstream_of,
)


class SqliteUpstreamStore:
    """Upstream servers and the collections exposed from them, in SQLite."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        name: str,
        *,
        base_url: str,
        auth: AuthKind,
        username: str,
        header_name: str,
        secret: bytes | None,
        allow_private: bool,
        conforms_to: list[str],
    ) -> Upstream:
        taken = name_taken_is_conflict(f"upstream {name!r} exists already")
        with taken, self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO upstreams(name, base_url, auth, username, header_name, secret,"
                " allow_private, conforms_to, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    base_url,
                    auth,
                    username,
                    header_name,
                    secret,
                    int(allow_private),
                    orjson.dumps(conforms_to).decode(),
                    now_text(),
                ),
            )
        found = self.get(name)
        assert found is not None
        return found

    def get(self, name: str) -> Upstream | None:
        row = (
            self._db.connection()
            .execute(f"SELECT {UPSTREAM_COLUMNS} FROM upstreams u WHERE u.name = ?", (name,))
            .fetchone()
        )
        return None if row is None else upstream_of(row)

    def all(self) -> list[Upstream]:
        rows = self._db.connection().execute(
            f"SELECT {UPSTREAM_COLUMNS} FROM upstreams u ORDER BY name"
        )
        return [upstream_of(row) for row in rows.fetchall()]

    def set_conformance(self, key: int, conforms_to: list[str]) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE upstreams SET conforms_to = ? WHERE key = ?",
                (orjson.dumps(conforms_to).decode(), key),
            )

    def remove(self, key: int) -> bool:
        try:
            with self._db.transaction() as conn:
                cur = conn.execute("DELETE FROM upstreams WHERE key = ?", (key,))
        except sqlite3.IntegrityError:
            raise Conflict("collections are still exposed from this upstream") from None
        return cur.rowcount > 0

    def expose(self, collection_key: int, upstream_key: int, remote_id: str) -> None:
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO upstream_collections(collection_key, upstream_key, remote_id)"
                    " VALUES (?, ?, ?)",
                    (collection_key, upstream_key, remote_id),
                )
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc) or "PRIMARY" in str(exc):
                raise Conflict("the collection is exposed already") from None
            raise NotFound("the collection or the upstream is gone") from None

    def exposure(self, collection_id: str) -> Exposure | None:
        row = self._db.connection().execute(f"{EXPOSURES} WHERE c.id = ?", (collection_id,))
        found = row.fetchone()
        return None if found is None else exposure_of(found)

    def exposures(self, upstream_key: int | None = None) -> list[Exposure]:
        if upstream_key is None:
            rows = self._db.connection().execute(f"{EXPOSURES} ORDER BY c.id")
        else:
            rows = self._db.connection().execute(
                f"{EXPOSURES} WHERE e.upstream_key = ? ORDER BY c.id", (upstream_key,)
            )
        return [exposure_of(row) for row in rows.fetchall()]

    def snapshot(self, collection_key: int) -> dict[str, str]:
        rows = self._db.connection().execute(
            "SELECT feature_id, hash FROM upstream_snapshots WHERE collection_key = ?",
            (collection_key,),
        )
        return {row[0]: row[1] for row in rows.fetchall()}

    def record_poll(
        self,
        collection_key: int,
        changes: list[PolledChange],
        actor: str,
        lease: Lease | None = None,
    ) -> int:
        with self._db.transaction() as conn:
            _hold(conn, lease)
            found = conn.execute(
                "SELECT change_seq FROM collections WHERE key = ?", (collection_key,)
            ).fetchone()
            if found is None:
                raise NotFound("the collection was deleted meanwhile")
            seq = int(found[0])
            stamp = now_text()
            for change in changes:
                seq += 1
                conn.execute(
                    "INSERT INTO feature_changes(collection_key, feature_id, action, actor, at,"
                    " version, feature) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        collection_key,
                        change.feature_id,
                        change.action,
                        actor,
                        stamp,
                        seq,
                        change.feature,
                    ),
                )
                if change.hash is None:
                    conn.execute(
                        "DELETE FROM upstream_snapshots WHERE collection_key = ?"
                        " AND feature_id = ?",
                        (collection_key, change.feature_id),
                    )
                else:
                    conn.execute(
                        "INSERT INTO upstream_snapshots(collection_key, feature_id, hash)"
                        " VALUES (?, ?, ?) ON CONFLICT(collection_key, feature_id)"
                        " DO UPDATE SET hash = excluded.hash",
                        (collection_key, change.feature_id, change.hash),
                    )
            conn.execute(
                "UPDATE collections SET change_seq = ?, updated = ? WHERE key = ?",
                (seq, stamp, collection_key),
            )
            conn.execute(
                "UPDATE upstream_collections SET polled = coalesce(polled, ?)"
                " WHERE collection_key = ?",
                (stamp, collection_key),
            )
        return seq

    def polled(self, collection_key: int) -> bool:
        row = (
            self._db.connection()
            .execute(
                "SELECT polled FROM upstream_collections WHERE collection_key = ?",
                (collection_key,),
            )
            .fetchone()
        )
        return row is not None and row[0] is not None

    def take_snapshot(
        self, collection_key: int, hashes: dict[str, str], lease: Lease | None = None
    ) -> None:
        with self._db.transaction() as conn:
            _hold(conn, lease)
            done = conn.execute(
                "UPDATE upstream_collections SET polled = ? WHERE collection_key = ?",
                (now_text(), collection_key),
            )
            if done.rowcount == 0:
                raise NotFound("the collection was deleted meanwhile")
            conn.execute(
                "DELETE FROM upstream_snapshots WHERE collection_key = ?", (collection_key,)
            )
            conn.executemany(
                "INSERT INTO upstream_snapshots(collection_key, feature_id, hash) VALUES (?, ?, ?)",
                [(collection_key, fid, digest) for fid, digest in hashes.items()],
            )

    def claim_lease(self, lease: Lease, now: float, seconds: float) -> bool:
        with self._db.transaction() as conn:
            done = conn.execute(
                "INSERT INTO leases(name, holder, claimed_until) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET holder = excluded.holder,"
                " claimed_until = excluded.claimed_until"
                " WHERE leases.claimed_until <= ? OR leases.holder = excluded.holder",
                (lease.name, lease.holder, now + seconds, now),
            )
        return done.rowcount > 0

    def release_lease(self, lease: Lease) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "DELETE FROM leases WHERE name = ? AND holder = ?", (lease.name, lease.holder)
            )


def _hold(conn: sqlite3.Connection, lease: Lease | None) -> None:
    """Within a write transaction (which SQLite serialises): the lease is still held."""
    if lease is None:
        return
    held = conn.execute(
        "SELECT 1 FROM leases WHERE name = ? AND holder = ? AND claimed_until > ?",
        (lease.name, lease.holder, time.time()),
    ).fetchone()
    if held is None:
        raise LeaseLost
