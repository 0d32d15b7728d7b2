"""The outbox in PostgreSQL: messages to other servers, claimed by any worker of any host.

A claim is one statement that locks the rows it takes with ``FOR UPDATE SKIP LOCKED``: two
claimers never wait for each other and never get the same message; a claimer that read a row
before another's claim committed re-checks it and leaves it.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from opengeomesh.ocm.models import OutboxItem
from opengeomesh.storage.postgres import columns
from opengeomesh.storage.postgres.database import PgDatabase

_COLUMNS = "id, host, share_id, notification, attempts, last_error, claimed_until, failed_at"


def enqueue(conn: psycopg.Connection[Any], host: str, body: str) -> None:
    """Queue a notification in the caller's transaction."""
    conn.execute(
        "INSERT INTO outbox(host, notification, next_attempt, created) VALUES (%s, %s, %s, %s)",
        (host, body, time.time(), columns.now()),
    )


def _claim(conn: psycopg.Connection[Any], where: str, args: tuple[Any, ...], until: float) -> Any:
    """Claim the rows ``where`` picks (unlocked ones only) until ``until``, in due order. The
    claim's end is the item's proof of its claim: ``sent`` and ``retry_later`` act only while
    the row still carries it."""
    rows = conn.execute(
        f"WITH due AS (SELECT id, claimed_until, next_attempt FROM outbox WHERE {where}"
        " FOR UPDATE SKIP LOCKED)"
        " UPDATE outbox o SET claimed_until = %s FROM due WHERE o.id = due.id"
        " RETURNING o.id, o.host, o.share_id, o.notification, o.attempts, o.last_error,"
        " o.claimed_until, due.next_attempt",
        (*args, until),
    ).fetchall()
    return sorted(rows, key=lambda row: (row[7], row[0]))


class PgOutbox:
    """The outbox part of the share store."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def enqueue(self, host: str, body: str) -> None:
        """Queue a notification for another server."""
        with self._db.connection() as conn:
            enqueue(conn, host, body)

    def claim_due(self, now: float, lease: float, limit: int = 20) -> list[OutboxItem]:
        """Messages due now, each claimed for ``lease`` seconds so that no other process,
        thread or host sends it meanwhile."""
        with self._db.connection() as conn:
            rows = _claim(
                conn,
                "next_attempt <= %s AND claimed_until <= %s AND failed_at IS NULL"
                " ORDER BY next_attempt, id LIMIT %s",
                (now, now, limit),
                now + lease,
            )
        return [OutboxItem(*row[:7]) for row in rows]

    def claim_share_delivery(self, share_id: int, now: float, lease: float) -> OutboxItem | None:
        """The delivery of one share, claimed, if it is waiting and nobody is sending it."""
        with self._db.connection() as conn:
            rows = _claim(
                conn,
                "share_id = %s AND claimed_until <= %s AND failed_at IS NULL LIMIT 1",
                (share_id, now),
                now + lease,
            )
        return OutboxItem(*rows[0][:7]) if rows else None

    def delivery_of(self, share_id: int) -> OutboxItem | None:
        with self._db.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE share_id = %s", (share_id,)
            ).fetchone()
        return None if row is None else OutboxItem(*row)

    def sent(self, item: OutboxItem) -> bool:
        """Done with a message (delivered or given up), if its claim is still ``item``'s."""
        with self._db.connection() as conn:
            done = conn.execute(
                "DELETE FROM outbox WHERE id = %s AND claimed_until = %s",
                (item.id, item.claimed_until),
            )
            return bool(done.rowcount)

    def retry_later(self, item: OutboxItem, next_attempt: float, error: str) -> bool:
        """Release a message for another attempt at ``next_attempt``, if its claim is still
        ``item``'s (a claim that ran out may be another sender's by now)."""
        with self._db.connection() as conn:
            done = conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt = %s,"
                " claimed_until = 0, last_error = %s WHERE id = %s AND claimed_until = %s",
                (next_attempt, columns.free_text(error[:500]), item.id, item.claimed_until),
            )
            return bool(done.rowcount)

    def waiting(self) -> list[OutboxItem]:
        with self._db.connection() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM outbox ORDER BY id").fetchall()
        return [OutboxItem(*row) for row in rows]

    def give_up(self, item: OutboxItem, error: str, now: float) -> bool:
        """Keep a message the outbox gave up on as failed, if its claim is still ``item``'s."""
        with self._db.connection() as conn:
            done = conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, failed_at = %s, claimed_until = 0,"
                " last_error = %s WHERE id = %s AND claimed_until = %s",
                (now, columns.free_text(error[:500]), item.id, item.claimed_until),
            )
            return bool(done.rowcount)

    def retry_failed(self, item_id: int, now: float) -> OutboxItem | None:
        """Make a failed message due again, its attempts counted afresh; None if no such
        message failed."""
        with self._db.connection() as conn:
            row = conn.execute(
                "UPDATE outbox SET failed_at = NULL, attempts = 0, next_attempt = %s"
                f" WHERE id = %s AND failed_at IS NOT NULL RETURNING {_COLUMNS}",
                (now, item_id),
            ).fetchone()
        return None if row is None else OutboxItem(*row)
