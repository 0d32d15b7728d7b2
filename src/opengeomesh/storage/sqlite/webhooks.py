"""SQLite implementation of the webhook store: endpoints and their deliveries."""

from __future__ import annotations

import time
from typing import Any

from opengeomesh.storage import webhook_rows as rows
from opengeomesh.storage.sqlite.database import Database
from opengeomesh.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

_DUE = rows.DUE.format(p="?")


class SqliteWebhookStore:
    """Webhook endpoints and deliveries in SQLite."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add_endpoint(
        self, owner_id: int | None, url: str, events: tuple[str, ...], secret_sealed: bytes
    ) -> WebhookEndpoint:
        with self._db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO webhook_endpoints(owner_id, url, secret_sealed, created)"
                " VALUES (?, ?, ?, ?)",
                (owner_id, url, secret_sealed, time.time()),
            )
            conn.executemany(
                "INSERT INTO webhook_subscriptions(endpoint_id, event_type) VALUES (?, ?)",
                [(cur.lastrowid, event) for event in events],
            )
            assert cur.lastrowid is not None
            return self._endpoints(conn, "WHERE e.id = ?", (cur.lastrowid,))[0]

    def endpoint(self, endpoint_id: int) -> WebhookEndpoint | None:
        found = self._endpoints(self._db.connection(), "WHERE e.id = ?", (endpoint_id,))
        return found[0] if found else None

    def endpoints(self, owner_id: int | None) -> list[WebhookEndpoint]:
        where, args = ("WHERE e.owner_id = ?", (owner_id,)) if owner_id is not None else ("", ())
        return self._endpoints(self._db.connection(), where, args)

    def _endpoints(self, conn: Any, where: str, args: tuple[Any, ...]) -> list[WebhookEndpoint]:
        found = conn.execute(f"{rows.ENDPOINTS} {where} ORDER BY e.id", args).fetchall()
        if not found:
            return []
        marks = ", ".join("?" * len(found))
        subscriptions = conn.execute(
            "SELECT endpoint_id, event_type FROM webhook_subscriptions"
            f" WHERE endpoint_id IN ({marks})",
            [row[0] for row in found],
        ).fetchall()
        return rows.endpoints(found, subscriptions)

    def sealed_secret(self, endpoint_id: int) -> bytes | None:
        row = (
            self._db.connection()
            .execute("SELECT secret_sealed FROM webhook_endpoints WHERE id = ?", (endpoint_id,))
            .fetchone()
        )
        return None if row is None else bytes(row[0])

    def remove_endpoint(self, endpoint_id: int) -> bool:
        with self._db.transaction() as conn:
            return bool(
                conn.execute("DELETE FROM webhook_endpoints WHERE id = ?", (endpoint_id,)).rowcount
            )

    def queue(
        self,
        *,
        event_type: str,
        user_id: int | None,
        subject: str,
        payload: str,
        message_id: str,
        coalesce: bool = False,
        endpoint_id: int | None = None,
        delay: float = 0.0,
    ) -> list[int]:
        now = time.time()
        with self._db.transaction() as conn:
            if endpoint_id is not None:
                targets = [endpoint_id]
            else:
                found = conn.execute(rows.TARGETS.format(p="?"), (event_type, user_id))
                targets = [row[0] for row in found.fetchall()]
            queued = []
            for target in targets:
                twin = rows.WAITING_TWIN.format(endpoint="?", p="?")
                if (
                    coalesce
                    and conn.execute(
                        f"SELECT {twin}", (target, subject, event_type, now)
                    ).fetchone()[0]
                ):
                    continue
                cur = conn.execute(
                    "INSERT INTO webhook_deliveries(endpoint_id, message_id, event_type, subject,"
                    " payload, next_attempt, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        target,
                        f"{message_id}_{target}",
                        event_type,
                        subject,
                        payload,
                        now + delay,
                        now,
                        now,
                    ),
                )
                assert cur.lastrowid is not None
                queued.append(cur.lastrowid)
        return queued

    def claim_due(self, now: float, lease: float) -> WebhookDelivery | None:
        conn = self._db.connection()
        due = f"SELECT d.id FROM webhook_deliveries d WHERE {_DUE} ORDER BY d.next_attempt, d.id"
        if conn.execute(f"{due} LIMIT 1", (now, now)).fetchone() is None:
            return None  # nothing due: no write lock (every worker's courier looks often)
        with self._db.transaction() as conn:
            for (delivery_id,) in conn.execute(f"{due} LIMIT 5", (now, now)).fetchall():
                if claimed := _claim(conn, delivery_id, now, lease):
                    return claimed
        return None

    def claim(self, delivery_id: int, now: float, lease: float) -> WebhookDelivery | None:
        with self._db.transaction() as conn:
            row = conn.execute(
                f"SELECT d.id FROM webhook_deliveries d WHERE d.id = ? AND {_DUE}",
                (delivery_id, float("inf"), now),
            ).fetchone()
            return None if row is None else _claim(conn, delivery_id, now, lease)

    def finish(
        self,
        item: WebhookDelivery,
        *,
        status: DeliveryStatus,
        http_status: int | None,
        error: str,
        next_attempt: float,
    ) -> bool:
        with self._db.transaction() as conn:
            return bool(
                conn.execute(
                    "UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1,"
                    " next_attempt = ?, claimed_until = 0, last_status = ?, last_error = ?,"
                    " updated = ? WHERE id = ? AND claimed_until = ?",
                    (
                        status.value,
                        next_attempt,
                        http_status,
                        error[:500],
                        time.time(),
                        item.id,
                        item.claimed_until,
                    ),
                ).rowcount
            )

    def prune(self, before: float) -> int:
        with self._db.transaction() as conn:
            return int(
                conn.execute(
                    "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND updated < ?",
                    (before,),
                ).rowcount
            )

    def delivery(self, delivery_id: int) -> WebhookDelivery | None:
        row = (
            self._db.connection()
            .execute(f"{rows.DELIVERIES} WHERE id = ?", (delivery_id,))
            .fetchone()
        )
        return None if row is None else rows.delivery(row)

    def deliveries(self, endpoint_id: int, limit: int = 100) -> list[WebhookDelivery]:
        found = (
            self._db.connection()
            .execute(
                f"{rows.DELIVERIES} WHERE endpoint_id = ? ORDER BY id DESC LIMIT ?",
                (endpoint_id, limit),
            )
            .fetchall()
        )
        return [rows.delivery(row) for row in found]


def _claim(conn: Any, delivery_id: int, now: float, lease: float) -> WebhookDelivery | None:
    """Claim one pending delivery until ``now + lease``, if nobody claimed it since it was
    read (the update is conditional, as the outbox's)."""
    claimed = conn.execute(
        "UPDATE webhook_deliveries SET claimed_until = ?"
        " WHERE id = ? AND status = 'pending' AND claimed_until <= ?",
        (now + lease, delivery_id, now),
    ).rowcount
    if not claimed:
        return None
    return rows.delivery(conn.execute(f"{rows.DELIVERIES} WHERE id = ?", (delivery_id,)).fetchone())
