"""SQLite implementation of the share store: shares sent and their tokens, sharing rules,
shares received, and the outbox."""

from __future__ import annotations

import time
from typing import Any

from opengeomesh.accounts.models import ShareScope
from opengeomesh.ocm.models import (
    OutboxItem,
    ReceivedShare,
    ReceivedState,
    SentShare,
    ShareState,
    ShareType,
    SharingRule,
)
from opengeomesh.storage.ocm_rows import RECEIVED, SENT, received_share, sent_share
from opengeomesh.storage.sqlite.database import Database, now_text, stored_time

_OUTBOX = (
    "SELECT id, host, share_id, notification, attempts, last_error, claimed_until, failed_at"
    " FROM outbox"
)


class SqliteShareStore:
    """Shares and the outbox in SQLite."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # --- shares sent -------------------------------------------------------------------------

    def add_share(
        self,
        *,
        provider_id: str,
        collection_key: int,
        sender_id: int,
        share_with: str,
        share_type: ShareType,
        recipient_host: str,
        permission: str,
        secret_hash: str,
        secret_sealed: bytes,
    ) -> SentShare:
        """Record a share and queue its delivery, in one transaction."""
        now = now_text()
        with self._db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO shares_sent(provider_id, collection_key, sender_id, share_with,"
                " share_type, recipient_host, permission, secret_hash, secret_sealed, state,"
                " created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'sending', ?, ?)",
                (
                    provider_id,
                    collection_key,
                    sender_id,
                    share_with,
                    share_type.value,
                    recipient_host,
                    permission,
                    secret_hash,
                    secret_sealed,
                    now,
                    now,
                ),
            )
            conn.execute(
                "INSERT INTO outbox(host, share_id, next_attempt, created) VALUES (?, ?, ?, ?)",
                (recipient_host, cur.lastrowid, time.time(), now),
            )
            row = conn.execute(f"{SENT} WHERE s.id = ?", (cur.lastrowid,)).fetchone()
        return sent_share(row, stored_time)

    def share(self, share_id: int) -> SentShare | None:
        row = self._db.connection().execute(f"{SENT} WHERE s.id = ?", (share_id,)).fetchone()
        return None if row is None else sent_share(row, stored_time)

    def share_by_provider_id(self, provider_id: str) -> SentShare | None:
        row = (
            self._db.connection()
            .execute(f"{SENT} WHERE s.provider_id = ?", (provider_id,))
            .fetchone()
        )
        return None if row is None else sent_share(row, stored_time)

    def shares(self, sender_id: int | None) -> list[SentShare]:
        """The shares one user sent, or every share (``None``)."""
        where, args = ("WHERE s.sender_id = ?", (sender_id,)) if sender_id is not None else ("", ())
        rows = self._db.connection().execute(f"{SENT} {where} ORDER BY s.id", args).fetchall()
        return [sent_share(row, stored_time) for row in rows]

    def shares_of_collection(self, collection_key: int) -> list[SentShare]:
        rows = (
            self._db.connection()
            .execute(f"{SENT} WHERE s.collection_key = ? ORDER BY s.id", (collection_key,))
            .fetchall()
        )
        return [sent_share(row, stored_time) for row in rows]

    def sealed_secret(self, share_id: int) -> bytes | None:
        """The share's secret, sealed, as long as the share waits to be delivered."""
        row = (
            self._db.connection()
            .execute("SELECT secret_sealed FROM shares_sent WHERE id = ?", (share_id,))
            .fetchone()
        )
        return None if row is None or row[0] is None else bytes(row[0])

    def forget_sealed_secret(self, share_id: int) -> None:
        """Once delivered, only the secret's hash is kept."""
        with self._db.transaction() as conn:
            conn.execute("UPDATE shares_sent SET secret_sealed = NULL WHERE id = ?", (share_id,))

    def update_share(
        self,
        share_id: int,
        *,
        state: ShareState | None = None,
        problem: str | None = None,
        recipient_name: str | None = None,
        permission: str | None = None,
        notify: tuple[str, str] | None = None,
    ) -> SentShare | None:
        """Change a share; ``notify`` (host, JSON body) queues a notification with it."""
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE shares_sent SET state = coalesce(?, state),"
                " problem = coalesce(?, problem), recipient_name = coalesce(?, recipient_name),"
                " permission = coalesce(?, permission), updated = ? WHERE id = ?",
                (
                    state.value if state else None,
                    problem,
                    recipient_name,
                    permission,
                    now_text(),
                    share_id,
                ),
            )
            if notify is not None:
                _enqueue(conn, *notify)
            row = conn.execute(f"{SENT} WHERE s.id = ?", (share_id,)).fetchone()
        return None if row is None else sent_share(row, stored_time)

    def delete_share(self, share_id: int, notify: tuple[str, str] | None) -> bool:
        """Delete a share with its tokens and pending delivery; queue ``notify`` with it."""
        with self._db.transaction() as conn:
            deleted = conn.execute("DELETE FROM shares_sent WHERE id = ?", (share_id,)).rowcount
            if deleted and notify is not None:
                _enqueue(conn, *notify)
        return bool(deleted)

    def share_for_secret(self, secret_hash: str) -> SentShare | None:
        row = (
            self._db.connection()
            .execute(f"{SENT} WHERE s.secret_hash = ?", (secret_hash,))
            .fetchone()
        )
        return None if row is None else sent_share(row, stored_time)

    def add_token(self, share_id: int, token_hash: str, expires: float) -> bool:
        """Record an access token, unless the share is gone meanwhile (False); forget expired
        tokens of every share on the way."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM share_tokens WHERE expires < ?", (time.time(),))
            return bool(
                conn.execute(
                    "INSERT INTO share_tokens(token_hash, share_id, expires)"
                    " SELECT ?, id, ? FROM shares_sent WHERE id = ?",
                    (token_hash, expires, share_id),
                ).rowcount
            )

    def access_for_token(self, token_hash: str) -> tuple[ShareScope, float] | None:
        """What a live share's token opens, and when the token expires; nothing once the
        recipient's server is blocked."""
        row = (
            self._db.connection()
            .execute(
                "SELECT s.id, s.collection_key, s.permission, s.share_with, t.expires"
                " FROM share_tokens t"
                " JOIN shares_sent s ON s.id = t.share_id WHERE t.token_hash = ?"
                " AND NOT EXISTS (SELECT 1 FROM peers p"
                " WHERE p.host = s.recipient_host AND p.blocked = 1)",
                (token_hash,),
            )
            .fetchone()
        )
        if row is None:
            return None
        scope = ShareScope(
            share_id=row[0], collection_key=row[1], permission=row[2], recipient=row[3]
        )
        return scope, row[4]

    # --- sharing rules -----------------------------------------------------------------------

    def rules(self, collection_key: int) -> list[SharingRule]:
        rows = (
            self._db.connection()
            .execute(
                "SELECT c.id, r.domain, r.permission FROM sharing_rules r"
                " JOIN collections c ON c.key = r.collection_key WHERE r.collection_key = ?"
                " ORDER BY r.domain",
                (collection_key,),
            )
            .fetchall()
        )
        return [SharingRule(row[0], row[1], row[2]) for row in rows]

    def set_rule(self, collection_key: int, domain: str, permission: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO sharing_rules(collection_key, domain, permission) VALUES (?, ?, ?)"
                " ON CONFLICT(collection_key, domain) DO UPDATE SET permission = ?",
                (collection_key, domain, permission, permission),
            )

    def remove_rule(self, collection_key: int, domain: str) -> bool:
        with self._db.transaction() as conn:
            return bool(
                conn.execute(
                    "DELETE FROM sharing_rules WHERE collection_key = ? AND domain = ?",
                    (collection_key, domain),
                ).rowcount
            )

    # --- shares received ---------------------------------------------------------------------

    def receive(
        self,
        *,
        sender_host: str,
        provider_id: str,
        user_id: int | None,
        group_id: int | None,
        fields: dict[str, str],
        secret: bytes,
    ) -> tuple[ReceivedShare, bool]:
        """Record a share from another server; a repeat (same sender and providerId) updates
        the one recorded, keeping its state. True if the share is new."""
        now = now_text()
        names = ("name", "description", "owner", "owner_name", "sender", "sender_name")
        values = [fields[n] for n in names]
        with self._db.transaction() as conn:
            existing = conn.execute(
                "SELECT id FROM shares_received WHERE sender_host = ? AND provider_id = ?",
                (sender_host, provider_id),
            ).fetchone()
            if existing is None:
                cur = conn.execute(
                    "INSERT INTO shares_received(sender_host, provider_id, user_id, group_id,"
                    f" {', '.join(names)}, uri, permission, secret, state, created, updated)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                    (
                        sender_host,
                        provider_id,
                        user_id,
                        group_id,
                        *values,
                        fields["uri"],
                        fields["permission"],
                        secret,
                        now,
                        now,
                    ),
                )
                share_id = cur.lastrowid
            else:
                share_id = existing[0]
                conn.execute(
                    f"UPDATE shares_received SET {', '.join(f'{n} = ?' for n in names)},"
                    " uri = ?, permission = ?, secret = ?, updated = ? WHERE id = ?",
                    (*values, fields["uri"], fields["permission"], secret, now, share_id),
                )
            row = conn.execute(f"{RECEIVED} WHERE r.id = ?", (share_id,)).fetchone()
        return received_share(row, stored_time), existing is None

    def received(self, share_id: int) -> ReceivedShare | None:
        row = self._db.connection().execute(f"{RECEIVED} WHERE r.id = ?", (share_id,)).fetchone()
        return None if row is None else received_share(row, stored_time)

    def received_from(self, sender_host: str, provider_id: str) -> ReceivedShare | None:
        row = (
            self._db.connection()
            .execute(
                f"{RECEIVED} WHERE r.sender_host = ? AND r.provider_id = ?",
                (sender_host, provider_id),
            )
            .fetchone()
        )
        return None if row is None else received_share(row, stored_time)

    def received_for(self, user_id: int | None, group_ids: frozenset[int]) -> list[ReceivedShare]:
        """Shares for one user and their groups, or every share (``user_id`` None)."""
        if user_id is None:
            rows = self._db.connection().execute(f"{RECEIVED} ORDER BY r.id").fetchall()
        else:
            marks = ", ".join("?" * len(group_ids))
            in_groups = f" OR r.group_id IN ({marks})" if group_ids else ""
            rows = (
                self._db.connection()
                .execute(
                    f"{RECEIVED} WHERE r.user_id = ?{in_groups} ORDER BY r.id",
                    (user_id, *group_ids),
                )
                .fetchall()
            )
        return [received_share(row, stored_time) for row in rows]

    def recipient_of(self, share_id: int) -> tuple[int | None, int | None]:
        """The user id or group id a received share is for."""
        row = (
            self._db.connection()
            .execute("SELECT user_id, group_id FROM shares_received WHERE id = ?", (share_id,))
            .fetchone()
        )
        return (None, None) if row is None else (row[0], row[1])

    def received_secret(self, share_id: int) -> bytes | None:
        row = (
            self._db.connection()
            .execute("SELECT secret FROM shares_received WHERE id = ?", (share_id,))
            .fetchone()
        )
        return None if row is None else bytes(row[0])

    def decide(
        self, share_id: int, state: ReceivedState, notify: tuple[str, str] | None
    ) -> ReceivedShare | None:
        """Accept or decline a pending share, queueing the notification with it; None if the
        share is gone or no longer pending."""
        with self._db.transaction() as conn:
            changed = conn.execute(
                "UPDATE shares_received SET state = ?, updated = ?"
                " WHERE id = ? AND state = 'pending'",
                (state.value, now_text(), share_id),
            ).rowcount
            if not changed:
                return None
            if notify is not None:
                _enqueue(conn, *notify)
            row = conn.execute(f"{RECEIVED} WHERE r.id = ?", (share_id,)).fetchone()
        return received_share(row, stored_time)

    def set_received_permission(self, share_id: int, permission: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE shares_received SET permission = ?, updated = ? WHERE id = ?",
                (permission, now_text(), share_id),
            )

    def forget_received(self, share_id: int) -> bool:
        with self._db.transaction() as conn:
            return bool(
                conn.execute("DELETE FROM shares_received WHERE id = ?", (share_id,)).rowcount
            )

    # --- outbox ------------------------------------------------------------------------------

    def enqueue(self, host: str, body: str) -> None:
        """Queue a notification for another server."""
        with self._db.transaction() as conn:
            _enqueue(conn, host, body)

    def claim_due(self, now: float, lease: float, limit: int = 20) -> list[OutboxItem]:
        """Messages due now, each claimed until ``now + lease`` so that no other process or
        thread sends it meanwhile (see ``_claim``)."""
        conn = self._db.connection()
        due = "WHERE next_attempt <= ? AND claimed_until <= ? AND failed_at IS NULL"
        if conn.execute(f"SELECT 1 FROM outbox {due} LIMIT 1", (now, now)).fetchone() is None:
            return []  # nothing due: no write lock (every worker's courier looks often)
        with self._db.transaction() as conn:
            rows = conn.execute(
                f"{_OUTBOX} {due} ORDER BY next_attempt, id LIMIT ?", (now, now, limit)
            ).fetchall()
            return [item for row in rows if (item := _claim(conn, row, now, lease))]

    def claim_share_delivery(self, share_id: int, now: float, lease: float) -> OutboxItem | None:
        """The delivery of one share, claimed, if it is waiting and nobody is sending it."""
        with self._db.transaction() as conn:
            row = conn.execute(
                f"{_OUTBOX} WHERE share_id = ? AND claimed_until <= ? AND failed_at IS NULL",
                (share_id, now),
            ).fetchone()
            return None if row is None else _claim(conn, row, now, lease)

    def delivery_of(self, share_id: int) -> OutboxItem | None:
        row = self._db.connection().execute(f"{_OUTBOX} WHERE share_id = ?", (share_id,)).fetchone()
        return None if row is None else OutboxItem(*row)

    def sent(self, item: OutboxItem) -> bool:
        """Done with a message (delivered or given up), if its claim is still ``item``'s."""
        with self._db.transaction() as conn:
            return bool(
                conn.execute(
                    "DELETE FROM outbox WHERE id = ? AND claimed_until = ?",
                    (item.id, item.claimed_until),
                ).rowcount
            )

    def retry_later(self, item: OutboxItem, next_attempt: float, error: str) -> bool:
        """Release a message for another attempt at ``next_attempt``, if its claim is still
        ``item``'s (a claim that ran out may be another sender's by now)."""
        with self._db.transaction() as conn:
            return bool(
                conn.execute(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?,"
                    " claimed_until = 0, last_error = ? WHERE id = ? AND claimed_until = ?",
                    (next_attempt, error[:500], item.id, item.claimed_until),
                ).rowcount
            )

    def waiting(self) -> list[OutboxItem]:
        rows = self._db.connection().execute(f"{_OUTBOX} ORDER BY id").fetchall()
        return [OutboxItem(*row) for row in rows]

    def give_up(self, item: OutboxItem, error: str, now: float) -> bool:
        """Keep a message the outbox gave up on as failed, if its claim is still ``item``'s."""
        with self._db.transaction() as conn:
            return bool(
                conn.execute(
                    "UPDATE outbox SET attempts = attempts + 1, failed_at = ?, claimed_until = 0,"
                    " last_error = ? WHERE id = ? AND claimed_until = ?",
                    (now, error[:500], item.id, item.claimed_until),
                ).rowcount
            )

    def retry_failed(self, item_id: int, now: float) -> OutboxItem | None:
        """Make a failed message due again, its attempts counted afresh; None if no such
        message failed."""
        with self._db.transaction() as conn:
            done = conn.execute(
                "UPDATE outbox SET failed_at = NULL, attempts = 0, next_attempt = ?"
                " WHERE id = ? AND failed_at IS NOT NULL",
                (now, item_id),
            ).rowcount
            row = conn.execute(f"{_OUTBOX} WHERE id = ?", (item_id,)).fetchone()
        return OutboxItem(*row) if done and row else None


def _claim(conn: Any, row: Any, now: float, lease: float) -> OutboxItem | None:
    """Claim one outbox row until ``now + lease``. The update is conditional (the row must
    still be unclaimed), so a row another process claimed since it was read is skipped
    whatever isolation the database gives. The claim's end, ``claimed_until``, is the item's
    proof of its claim: :meth:`SqliteShareStore.sent` and ``retry_later`` act only while the
    row still carries it."""
    until = now + lease
    claimed = conn.execute(
        "UPDATE outbox SET claimed_until = ? WHERE id = ? AND claimed_until <= ?",
        (until, row[0], now),
    ).rowcount
    if not claimed:
        return None
    return OutboxItem(
        id=row[0],
        host=row[1],
        share_id=row[2],
        notification=row[3],
        attempts=row[4],
        last_error=row[5],
        claimed_until=until,
    )


def _enqueue(conn: Any, host: str, body: str) -> None:
    conn.execute(
        "INSERT INTO outbox(host, notification, next_attempt, created) VALUES (?, ?, ?, ?)",
        (host, body, time.time(), now_text()),
    )
