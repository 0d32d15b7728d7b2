"""PostgreSQL implementation of the webhook store: endpoints and their deliveries. Claims
lock the row they take with ``FOR UPDATE SKIP LOCKED``, as the outbox's do."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from opengeomesh.storage import webhook_rows as rows
from opengeomesh.storage.postgres import columns
from opengeomesh.storage.postgres.database import PgDatabase
from opengeomesh.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

_DUE = rows.DUE.format(p="%s")


class PgWebhookStore:
    """Webhook endpoints and deliveries in PostgreSQL."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def add_endpoint(
        self, owner_id: int | None, url: str, events: tuple[str, ...], secret_sealed: bytes
    ) -> WebhookEndpoint:
        with self._db.transaction() as conn:
            row = conn.execute(
                "INSERT INTO webhook_endpoints(owner_id, url, secret_sealed, created)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                (owner_id, url, secret_sealed, time.time()),
            ).fetchone()
            assert row is not None
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO webhook_subscriptions(endpoint_id, event_type) VALUES (%s, %s)",
                    [(row[0], event) for event in events],
                )
            return _endpoints(conn, "WHERE e.id = %s", (row[0],))[0]

    def endpoint(self, endpoint_id: int) -> WebhookEndpoint | None:
        with self._db.connection() as conn:
            found = _endpoints(conn, "WHERE e.id = %s", (endpoint_id,))
        return found[0] if found else None

    def endpoints(self, owner_id: int | None) -> list[WebhookEndpoint]:
        where, args = ("WHERE e.owner_id = %s", (owner_id,)) if owner_id is not None else ("", ())
        with self._db.connection() as conn:
            return _endpoints(conn, where, args)

    def sealed_secret(self, endpoint_id: int) -> bytes | None:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT secret_sealed FROM webhook_endpoints WHERE id = %s", (endpoint_id,)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def remove_endpoint(self, endpoint_id: int) -> bool:
        with self._db.transaction() as conn:
            done = conn.execute("DELETE FROM webhook_endpoints WHERE id = %s", (endpoint_id,))
            return bool(done.rowcount)

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
                found = conn.execute(rows.TARGETS.format(p="%s"), (event_type, user_id))
                targets = [row[0] for row in found.fetchall()]
            queued = []
            for target in targets:
                if coalesce:
                    # one coalescing queuer of a subject at a time, so two never both skip
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (subject,))
                    twin = rows.WAITING_TWIN.format(endpoint="%s", p="%s")
                    waiting = conn.execute(f"SELECT {twin}", (target, subject, event_type, now))
                    if (found_twin := waiting.fetchone()) is not None and found_twin[0]:
                        continue
                row = conn.execute(
                    "INSERT INTO webhook_deliveries(endpoint_id, message_id, event_type, subject,"
                    " payload, next_attempt, created, updated)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (
                        target,
                        f"{message_id}_{target}",
                        event_type,
                        subject,
                        columns.free_text(payload),
                        now + delay,
                        now,
                        now,
                    ),
                ).fetchone()
                assert row is not None
                queued.append(row[0])
        return queued

    def claim_due(self, now: float, lease: float) -> WebhookDelivery | None:
        with self._db.connection() as conn:
            row = conn.execute(
                f"WITH due AS (SELECT d.id FROM webhook_deliveries d WHERE {_DUE}"
                " ORDER BY d.next_attempt, d.id LIMIT 1 FOR UPDATE SKIP LOCKED)"
                " UPDATE webhook_deliveries w SET claimed_until = %s FROM due"
                " WHERE w.id = due.id RETURNING w.id",
                (now, now, now + lease),
            ).fetchone()
            if row is None:
                return None
            found = conn.execute(f"{rows.DELIVERIES} WHERE id = %s", (row[0],)).fetchone()
        return None if found is None else rows.delivery(found)

    def claim(self, delivery_id: int, now: float, lease: float) -> WebhookDelivery | None:
        with self._db.connection() as conn:
            row = conn.execute(
                f"WITH due AS (SELECT d.id FROM webhook_deliveries d WHERE d.id = %s AND {_DUE}"
                " FOR UPDATE SKIP LOCKED)"
                " UPDATE webhook_deliveries w SET claimed_until = %s FROM due"
                " WHERE w.id = due.id RETURNING w.id",
                (delivery_id, float("inf"), now, now + lease),
            ).fetchone()
            if row is None:
                return None
            found = conn.execute(f"{rows.DELIVERIES} WHERE id = %s", (row[0],)).fetchone()
        return None if found is None else rows.delivery(found)

    def finish(
        self,
        item: WebhookDelivery,
        *,
        status: DeliveryStatus,
        http_status: int | None,
        error: str,
        next_attempt: float,
    ) -> bool:
        with self._db.connection() as conn:
            done = conn.execute(
                "UPDATE webhook_deliveries SET status = %s, attempts = attempts + 1,"
                " next_attempt = %s, claimed_until = 0, last_status = %s, last_error = %s,"
                " updated = %s WHERE id = %s AND claimed_until = %s",
                (
                    status.value,
                    next_attempt,
                    http_status,
                    columns.free_text(error[:500]),
                    time.time(),
                    item.id,
                    item.claimed_until,
                ),
            )
            return bool(done.rowcount)

    def prune(self, before: float) -> int:
        with self._db.connection() as conn:
            done = conn.execute(
                "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND updated < %s",
                (before,),
            )
            return int(done.rowcount)

    def delivery(self, delivery_id: int) -> WebhookDelivery | None:
        with self._db.connection() as conn:
            row = conn.execute(f"{rows.DELIVERIES} WHERE id = %s", (delivery_id,)).fetchone()
        return None if row is None else rows.delivery(row)

    def deliveries(self, endpoint_id: int, limit: int = 100) -> list[WebhookDelivery]:
        with self._db.connection() as conn:
            found = conn.execute(
                f"{rows.DELIVERIES} WHERE endpoint_id = %s ORDER BY id DESC LIMIT %s",
                (endpoint_id, limit),
            ).fetchall()
        return [rows.delivery(row) for row in found]


def _endpoints(
    conn: psycopg.Connection[Any], where: str, args: tuple[Any, ...]
) -> list[WebhookEndpoint]:
    found = conn.execute(f"{rows.ENDPOINTS} {where} ORDER BY e.id", args).fetchall()
    if not found:
        return []
    subscriptions = conn.execute(
        "SELECT endpoint_id, event_type FROM webhook_subscriptions WHERE endpoint_id = ANY(%s)",
        ([row[0] for row in found],),
    ).fetchall()
    return rows.endpoints(found, subscriptions)
