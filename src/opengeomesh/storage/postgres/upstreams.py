"""PostgreSQL implementation of the upstream store (registrations, exposures, poll snapshots)."""

from __future__ import annotations

import time
from typing import Any

import orjson
import psycopg

from opengeomesh.errors import Conflict, NotFound
from opengeomesh.features.upstreams import (
    AuthKind,
    Exposure,
    Lease,
    LeaseLost,
    PolledChange,
    Upstream,
)
from opengeomesh.storage.postgres.columns import now
from opengeomesh.storage.postgres.database import PgDatabase
from opengeomesh.storage.postgres.notifications import CHANNEL
from opengeomesh.storage.upstream_rows import (
    EXPOSURES,
    UPSTREAM_COLUMNS,
    exposure_of,
    upstream_of,
)


class PgUpstreamStore:
    """Upstream servers and the collections exposed from them, in PostgreSQL."""

    def __init__(self, db: PgDatabase) -> None:
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
        try:
            with self._db.transaction() as conn:
                row = conn.execute(
                    "INSERT INTO upstreams AS u (name, base_url, auth, username, header_name,"
                    " secret, allow_private, conforms_to, created)"
                    f" VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {UPSTREAM_COLUMNS}",
                    (
                        name,
                        base_url,
                        auth,
                        username,
                        header_name,
                        secret,
                        allow_private,
                        orjson.dumps(conforms_to).decode(),
                        now(),
                    ),
                ).fetchone()
        except psycopg.errors.UniqueViolation:
            raise Conflict(f"upstream {name!r} exists already") from None
        return upstream_of(row)

    def get(self, name: str) -> Upstream | None:
        with self._db.connection() as conn:
            row = conn.execute(
                f"SELECT {UPSTREAM_COLUMNS} FROM upstreams u WHERE u.name = %s", (name,)
            ).fetchone()
        return None if row is None else upstream_of(row)

    def all(self) -> list[Upstream]:
        with self._db.connection() as conn:
            rows = conn.execute(
                f'SELECT {UPSTREAM_COLUMNS} FROM upstreams u ORDER BY u.name COLLATE "C"'
            ).fetchall()
        return [upstream_of(row) for row in rows]

    def set_conformance(self, key: int, conforms_to: list[str]) -> None:
        with self._db.connection() as conn:
            conn.execute(
                "UPDATE upstreams SET conforms_to = %s WHERE key = %s",
                (orjson.dumps(conforms_to).decode(), key),
            )

    def remove(self, key: int) -> bool:
        try:
            with self._db.transaction() as conn:
                cur = conn.execute("DELETE FROM upstreams WHERE key = %s", (key,))
        except psycopg.errors.ForeignKeyViolation:
            raise Conflict("collections are still exposed from this upstream") from None
        return cur.rowcount > 0

    def expose(self, collection_key: int, upstream_key: int, remote_id: str) -> None:
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO upstream_collections(collection_key, upstream_key, remote_id)"
                    " VALUES (%s, %s, %s)",
                    (collection_key, upstream_key, remote_id),
                )
        except psycopg.errors.UniqueViolation:
            raise Conflict("the collection is exposed already") from None
        except psycopg.errors.ForeignKeyViolation:
            raise NotFound("the collection or the upstream is gone") from None

    def exposure(self, collection_id: str) -> Exposure | None:
        with self._db.connection() as conn:
            row = conn.execute(f"{EXPOSURES} WHERE c.id = %s", (collection_id,)).fetchone()
        return None if row is None else exposure_of(row)

    def exposures(self, upstream_key: int | None = None) -> list[Exposure]:
        with self._db.connection() as conn:
            if upstream_key is None:
                rows = conn.execute(f'{EXPOSURES} ORDER BY c.id COLLATE "C"').fetchall()
            else:
                rows = conn.execute(
                    f'{EXPOSURES} WHERE e.upstream_key = %s ORDER BY c.id COLLATE "C"',
                    (upstream_key,),
                ).fetchall()
        return [exposure_of(row) for row in rows]

    def snapshot(self, collection_key: int) -> dict[str, str]:
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT feature_id, hash FROM upstream_snapshots WHERE collection_key = %s",
                (collection_key,),
            ).fetchall()
        return {row[0]: row[1] for row in rows}

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
                "SELECT change_seq FROM collections WHERE key = %s FOR UPDATE", (collection_key,)
            ).fetchone()
            if found is None:
                raise NotFound("the collection was deleted meanwhile")
            seq = int(found[0])
            stamp = now()
            for change in changes:
                seq += 1
                conn.execute(
                    "INSERT INTO feature_changes(collection_key, feature_id, action, actor, at,"
                    " version, feature) VALUES (%s, %s, %s, %s, %s, %s, %s)",
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
                        "DELETE FROM upstream_snapshots WHERE collection_key = %s"
                        " AND feature_id = %s",
                        (collection_key, change.feature_id),
                    )
                else:
                    conn.execute(
                        "INSERT INTO upstream_snapshots(collection_key, feature_id, hash)"
                        " VALUES (%s, %s, %s) ON CONFLICT (collection_key, feature_id)"
                        " DO UPDATE SET hash = excluded.hash",
                        (collection_key, change.feature_id, change.hash),
                    )
            conn.execute(
                "UPDATE collections SET change_seq = %s, updated = %s WHERE key = %s",
                (seq, stamp, collection_key),
            )
            conn.execute(
                "UPDATE upstream_collections SET polled = coalesce(polled, %s)"
                " WHERE collection_key = %s",
                (stamp, collection_key),
            )
            if changes:
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{collection_key}:{seq}"))
        return seq

    def polled(self, collection_key: int) -> bool:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT polled FROM upstream_collections WHERE collection_key = %s",
                (collection_key,),
            ).fetchone()
        return row is not None and row[0] is not None

    def take_snapshot(
        self, collection_key: int, hashes: dict[str, str], lease: Lease | None = None
    ) -> None:
        with self._db.transaction() as conn:
            _hold(conn, lease)
            done = conn.execute(
                "UPDATE upstream_collections SET polled = %s WHERE collection_key = %s",
                (now(), collection_key),
            )
            if done.rowcount == 0:
                raise NotFound("the collection was deleted meanwhile")
            conn.execute(
                "DELETE FROM upstream_snapshots WHERE collection_key = %s", (collection_key,)
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO upstream_snapshots(collection_key, feature_id, hash)"
                    " VALUES (%s, %s, %s)",
                    [(collection_key, fid, digest) for fid, digest in hashes.items()],
                )

    def claim_lease(self, lease: Lease, now: float, seconds: float) -> bool:
        with self._db.transaction() as conn:
            done = conn.execute(
                "INSERT INTO leases(name, holder, claimed_until) VALUES (%s, %s, %s)"
                " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
                " claimed_until = excluded.claimed_until"
                " WHERE leases.claimed_until <= %s OR leases.holder = excluded.holder",
                (lease.name, lease.holder, now + seconds, now),
            )
        return done.rowcount > 0

    def release_lease(self, lease: Lease) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "DELETE FROM leases WHERE name = %s AND holder = %s", (lease.name, lease.holder)
            )


def _hold(conn: psycopg.Connection[Any], lease: Lease | None) -> None:
    """Within the write transaction: the lease is still held, and stays so until the commit
    (``FOR SHARE`` makes a claimer's upsert of the row wait for it)."""
    if lease is None:
        return
    held = conn.execute(
        "SELECT 1 FROM leases WHERE name = %s AND holder = %s AND claimed_until > %s FOR SHARE",
        (lease.name, lease.holder, time.time()),
    ).fetchone()
    if held is None:
        raise LeaseLost
