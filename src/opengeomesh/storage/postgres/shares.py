"""PostgreSQL implementation of the share store: shares sent and their tokens, sharing rules,
shares received, and the outbox (``outbox.py``)."""

from __future__ import annotations

import time

import psycopg

from opengeomesh.accounts.models import ShareScope
from opengeomesh.ocm.models import (
    ReceivedShare,
    ReceivedState,
    SentShare,
    ShareState,
    ShareType,
    SharingRule,
)
from opengeomesh.storage.ocm_rows import RECEIVED, SENT, received_share, sent_share
from opengeomesh.storage.postgres.columns import free_text, now, utc
from opengeomesh.storage.postgres.outbox import PgOutbox, enqueue

_RECEIVED_FIELDS = ("name", "description", "owner", "owner_name", "sender", "sender_name")


class PgShareStore(PgOutbox):
    """Shares in PostgreSQL; the outbox methods come from :class:`PgOutbox`."""

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
        stamp = now()
        with self._db.transaction() as conn:
            inserted = conn.execute(
                "INSERT INTO shares_sent(provider_id, collection_key, sender_id, share_with,"
                " share_type, recipient_host, permission, secret_hash, secret_sealed, state,"
                " created, updated)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'sending', %s, %s) RETURNING id",
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
                    stamp,
                    stamp,
                ),
            ).fetchone()
            assert inserted is not None
            conn.execute(
                "INSERT INTO outbox(host, share_id, next_attempt, created) VALUES (%s, %s, %s, %s)",
                (recipient_host, inserted[0], time.time(), stamp),
            )
            row = conn.execute(f"{SENT} WHERE s.id = %s", (inserted[0],)).fetchone()
        return sent_share(row, utc)

    def share(self, share_id: int) -> SentShare | None:
        return self._one_sent("s.id", share_id)

    def share_by_provider_id(self, provider_id: str) -> SentShare | None:
        return self._one_sent("s.provider_id", provider_id)

    def share_for_secret(self, secret_hash: str) -> SentShare | None:
        return self._one_sent("s.secret_hash", secret_hash)

    def _one_sent(self, column: str, value: object) -> SentShare | None:
        with self._db.connection() as conn:
            row = conn.execute(f"{SENT} WHERE {column} = %s", (value,)).fetchone()
        return None if row is None else sent_share(row, utc)

    def shares(self, sender_id: int | None) -> list[SentShare]:
        """The shares one user sent, or every share (``None``)."""
        with self._db.connection() as conn:
            if sender_id is None:
                rows = conn.execute(f"{SENT} ORDER BY s.id").fetchall()
            else:
                rows = conn.execute(
                    f"{SENT} WHERE s.sender_id = %s ORDER BY s.id", (sender_id,)
                ).fetchall()
        return [sent_share(row, utc) for row in rows]

    def shares_of_collection(self, collection_key: int) -> list[SentShare]:
        with self._db.connection() as conn:
            rows = conn.execute(
                f"{SENT} WHERE s.collection_key = %s ORDER BY s.id", (collection_key,)
            ).fetchall()
        return [sent_share(row, utc) for row in rows]

    def sealed_secret(self, share_id: int) -> bytes | None:
        """The share's secret, sealed, as long as the share waits to be delivered."""
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT secret_sealed FROM shares_sent WHERE id = %s", (share_id,)
            ).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def forget_sealed_secret(self, share_id: int) -> None:
        """Once delivered, only the secret's hash is kept."""
        with self._db.connection() as conn:
            conn.execute("UPDATE shares_sent SET secret_sealed = NULL WHERE id = %s", (share_id,))

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
                "UPDATE shares_sent SET state = coalesce(%s, state),"
                " problem = coalesce(%s, problem),"
                " recipient_name = coalesce(%s, recipient_name),"
                " permission = coalesce(%s, permission), updated = %s WHERE id = %s",
                (
                    state.value if state else None,
                    free_text(problem),
                    free_text(recipient_name),
                    permission,
                    now(),
                    share_id,
                ),
            )
            if notify is not None:
                enqueue(conn, *notify)
            row = conn.execute(f"{SENT} WHERE s.id = %s", (share_id,)).fetchone()
        return None if row is None else sent_share(row, utc)

    def delete_share(self, share_id: int, notify: tuple[str, str] | None) -> bool:
        """Delete a share with its tokens and pending delivery; queue ``notify`` with it."""
        with self._db.transaction() as conn:
            deleted = conn.execute("DELETE FROM shares_sent WHERE id = %s", (share_id,)).rowcount
            if deleted and notify is not None:
                enqueue(conn, *notify)
        return bool(deleted)

    def add_token(self, share_id: int, token_hash: str, expires: float) -> bool:
        """Record an access token, unless the share is gone meanwhile (False); forget expired
        tokens of every share on the way."""
        with self._db.connection() as conn:
            conn.execute(
                "DELETE FROM share_tokens WHERE token_hash IN (SELECT token_hash"
                " FROM share_tokens WHERE expires < %s LIMIT 500 FOR UPDATE SKIP LOCKED)",
                (time.time(),),
            )
            try:
                cur = conn.execute(
                    "INSERT INTO share_tokens(token_hash, share_id, expires)"
                    " SELECT %s, id, %s FROM shares_sent WHERE id = %s",
                    (token_hash, expires, share_id),
                )
            except psycopg.errors.ForeignKeyViolation:  # the share was deleted meanwhile
                return False
            return cur.rowcount > 0

    def access_for_token(self, token_hash: str) -> tuple[ShareScope, float] | None:
        """What a live share's token opens, and when the token expires; nothing once the
        recipient's server is blocked."""
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT s.id, s.collection_key, s.permission, s.share_with, t.expires"
                " FROM share_tokens t JOIN shares_sent s ON s.id = t.share_id"
                " WHERE t.token_hash = %s AND NOT EXISTS (SELECT 1 FROM peers p"
                " WHERE p.host = s.recipient_host AND p.blocked)",
                (token_hash,),
            ).fetchone()
        if row is None:
            return None
        scope = ShareScope(
            share_id=row[0], collection_key=row[1], permission=row[2], recipient=row[3]
        )
        return scope, row[4]

    # --- sharing rules -----------------------------------------------------------------------

    def rules(self, collection_key: int) -> list[SharingRule]:
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT c.id, r.domain, r.permission FROM sharing_rules r"
                " JOIN collections c ON c.key = r.collection_key WHERE r.collection_key = %s"
                ' ORDER BY r.domain COLLATE "C"',
                (collection_key,),
            ).fetchall()
        return [SharingRule(row[0], row[1], row[2]) for row in rows]

    def set_rule(self, collection_key: int, domain: str, permission: str) -> None:
        with self._db.connection() as conn:
            conn.execute(
                "INSERT INTO sharing_rules(collection_key, domain, permission)"
                " VALUES (%s, %s, %s) ON CONFLICT (collection_key, domain)"
                " DO UPDATE SET permission = excluded.permission",
                (collection_key, domain, permission),
            )

    def remove_rule(self, collection_key: int, domain: str) -> bool:
        with self._db.connection() as conn:
            cur = conn.execute(
                "DELETE FROM sharing_rules WHERE collection_key = %s AND domain = %s",
                (collection_key, domain),
            )
            return cur.rowcount > 0

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
        the one recorded, keeping its recipient and state. True if the share is new. One
        statement, so that a repeat arriving at another worker at once cannot fail."""
        stamp = now()
        values = [fields[n] for n in _RECEIVED_FIELDS]
        columns = ", ".join(_RECEIVED_FIELDS)
        updates = ", ".join(f"{n} = excluded.{n}" for n in _RECEIVED_FIELDS)
        with self._db.transaction() as conn:
            upserted = conn.execute(
                "INSERT INTO shares_received(sender_host, provider_id, user_id, group_id,"
                f" {columns}, uri, permission, secret, state, created, updated)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending', %s, %s)"
                f" ON CONFLICT (sender_host, provider_id) DO UPDATE SET {updates},"
                " uri = excluded.uri, permission = excluded.permission,"
                " secret = excluded.secret, updated = excluded.updated"
                " RETURNING id, xmax = 0",
                (
                    sender_host,
                    provider_id,
                    user_id,
                    group_id,
                    *values,
                    fields["uri"],
                    fields["permission"],
                    secret,
                    stamp,
                    stamp,
                ),
            ).fetchone()
            assert upserted is not None
            row = conn.execute(f"{RECEIVED} WHERE r.id = %s", (upserted[0],)).fetchone()
        return received_share(row, utc), bool(upserted[1])

    def received(self, share_id: int) -> ReceivedShare | None:
        with self._db.connection() as conn:
            row = conn.execute(f"{RECEIVED} WHERE r.id = %s", (share_id,)).fetchone()
        return None if row is None else received_share(row, utc)

    def received_from(self, sender_host: str, provider_id: str) -> ReceivedShare | None:
        with self._db.connection() as conn:
            row = conn.execute(
                f"{RECEIVED} WHERE r.sender_host = %s AND r.provider_id = %s",
                (sender_host, provider_id),
            ).fetchone()
        return None if row is None else received_share(row, utc)

    def received_for(self, user_id: int | None, group_ids: frozenset[int]) -> list[ReceivedShare]:
        """Shares for one user and their groups, or every share (``user_id`` None)."""
        with self._db.connection() as conn:
            if user_id is None:
                rows = conn.execute(f"{RECEIVED} ORDER BY r.id").fetchall()
            else:
                rows = conn.execute(
                    f"{RECEIVED} WHERE r.user_id = %s OR r.group_id = ANY(%s) ORDER BY r.id",
                    (user_id, sorted(group_ids)),
                ).fetchall()
        return [received_share(row, utc) for row in rows]

    def recipient_of(self, share_id: int) -> tuple[int | None, int | None]:
        """The user id or group id a received share is for."""
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT user_id, group_id FROM shares_received WHERE id = %s", (share_id,)
            ).fetchone()
        return (None, None) if row is None else (row[0], row[1])

    def received_secret(self, share_id: int) -> bytes | None:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT secret FROM shares_received WHERE id = %s", (share_id,)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def decide(
        self, share_id: int, state: ReceivedState, notify: tuple[str, str] | None
    ) -> ReceivedShare | None:
        """Accept or decline a pending share, queueing the notification with it; None if the
        share is gone or no longer pending (a concurrent decision waits for the row, then
        finds it decided)."""
        with self._db.transaction() as conn:
            changed = conn.execute(
                "UPDATE shares_received SET state = %s, updated = %s"
                " WHERE id = %s AND state = 'pending'",
                (state.value, now(), share_id),
            ).rowcount
            if not changed:
                return None
            if notify is not None:
                enqueue(conn, *notify)
            row = conn.execute(f"{RECEIVED} WHERE r.id = %s", (share_id,)).fetchone()
        return received_share(row, utc)

    def set_received_permission(self, share_id: int, permission: str) -> None:
        with self._db.connection() as conn:
            conn.execute(
                "UPDATE shares_received SET permission = %s, updated = %s WHERE id = %s",
                (permission, now(), share_id),
            )

    def forget_received(self, share_id: int) -> bool:
        with self._db.connection() as conn:
            cur = conn.execute("DELETE FROM shares_received WHERE id = %s", (share_id,))
            return cur.rowcount > 0
