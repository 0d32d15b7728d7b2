"""What the webhook store holds: endpoints, the events they asked for, and deliveries."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SHARE_RECEIVED = "share.received"
SHARE_ACCEPTED = "share.accepted"
SHARE_DECLINED = "share.declined"
SHARE_REVOKED = "share.revoked"
SHARE_PERMISSION_CHANGED = "share.permission_changed"
INVITE_ACCEPTED = "invite.accepted"
LAYER_CHANGED = "layer.changed"
WEBHOOK_TEST = "webhook.test"  # sent by "test" to one endpoint only; nobody subscribes to it
EVENT_TYPES = (
    SHARE_RECEIVED,
    SHARE_ACCEPTED,
    SHARE_DECLINED,
    SHARE_REVOKED,
    SHARE_PERMISSION_CHANGED,
    INVITE_ACCEPTED,
    LAYER_CHANGED,
)


class DeliveryStatus(enum.StrEnum):
    """Where a delivery stands: waiting for (another) attempt, or done either way."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """Something that happened, for the endpoints of ``user_id`` (None: the operator's only)
    and of the operator. Deliveries with one ``subject`` (a share, a collection) go out in
    order; ``coalesce`` lets a waiting delivery of the same subject stand for this one."""

    type: str
    user_id: int | None
    subject: str
    data: dict[str, Any]
    coalesce: bool = False


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    id: int
    owner: str | None  # a local user name; None: the operator's (every event of the server)
    url: str
    events: tuple[str, ...]
    created: datetime


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event for one endpoint; ``claimed_until`` is a sender's proof of its claim, as in
    the outbox."""

    id: int
    endpoint_id: int
    message_id: str
    event_type: str
    subject: str
    payload: str
    status: DeliveryStatus
    attempts: int
    next_attempt: float
    claimed_until: float
    last_status: int | None
    last_error: str
    created: float
    updated: float

    @property
    def next_attempt_time(self) -> datetime | None:
        if self.status is not DeliveryStatus.PENDING:
            return None
        return datetime.fromtimestamp(self.next_attempt, UTC)


def time_of(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
