"""The webhook rows both databases select alike; each database passes its parameter mark."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from opengeomesh.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, time_of

ENDPOINTS = (
    "SELECT e.id, u.name, e.url, e.created FROM webhook_endpoints e"
    " LEFT JOIN users u ON u.id = e.owner_id"
)
DELIVERIES = (
    "SELECT id, endpoint_id, message_id, event_type, subject, payload, status, attempts,"
    " next_attempt, claimed_until, last_status, last_error, created, updated"
    " FROM webhook_deliveries"
)
# Pending, due, unclaimed, and first of its subject for its endpoint (deliveries in order).
DUE = (
    "d.status = 'pending' AND d.next_attempt <= {p} AND d.claimed_until <= {p}"
    " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.endpoint_id = d.endpoint_id"
    " AND e.subject = d.subject AND e.status = 'pending' AND e.id < d.id)"
)
# The endpoints an event is for: subscribed, and the operator's or the event's user's.
TARGETS = (
    "SELECT e.id FROM webhook_endpoints e JOIN webhook_subscriptions s"
    " ON s.endpoint_id = e.id AND s.event_type = {p}"
    " WHERE (e.owner_id IS NULL OR e.owner_id = {p})"
)
# A waiting delivery of the same subject not yet tried stands for a new one (coalescing).
WAITING_TWIN = (
    "EXISTS (SELECT 1 FROM webhook_deliveries w WHERE w.endpoint_id = {endpoint}"
    " AND w.subject = {p} AND w.event_type = {p} AND w.status = 'pending'"
    " AND w.attempts = 0 AND w.claimed_until <= {p})"
)


def endpoints(rows: Sequence[Any], subscriptions: Sequence[Any]) -> list[WebhookEndpoint]:
    events: dict[int, list[str]] = defaultdict(list)
    for endpoint_id, event_type in subscriptions:
        events[endpoint_id].append(event_type)
    return [
        WebhookEndpoint(
            id=row[0],
            owner=row[1],
            url=row[2],
            events=tuple(sorted(events[row[0]])),
            created=time_of(row[3]),
        )
        for row in rows
    ]


def delivery(row: Sequence[Any]) -> WebhookDelivery:
    return WebhookDelivery(
        id=row[0],
        endpoint_id=row[1],
        message_id=row[2],
        event_type=row[3],
        subject=row[4],
        payload=row[5],
        status=DeliveryStatus(row[6]),
        attempts=row[7],
        next_attempt=row[8],
        claimed_until=row[9],
        last_status=row[10],
        last_error=row[11],
        created=row[12],
        updated=row[13],
    )
