"""The management API of webhooks: register endpoints for event types (the secret is shown
once), list and remove them, send a test event, and list deliveries with their status."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import Path, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from opengeomesh.api.auth import CurrentCaller, services_of
from opengeomesh.api.bodies import Body
from opengeomesh.webhooks.models import (
    EVENT_TYPES,
    WebhookDelivery,
    WebhookEndpoint,
    time_of,
)

EndpointId = Path(ge=1, le=2**63 - 1)
EventType = Literal[
    "share.received",
    "share.accepted",
    "share.declined",
    "share.revoked",
    "share.permission_changed",
    "invite.accepted",
    "layer.changed",
]
assert set(EventType.__args__) == set(EVENT_TYPES)  # type: ignore[attr-defined]


class WebhookIn(Body):
    url: str = Field(
        min_length=8,
        max_length=2000,
        description="Where deliveries are POSTed (https; http only with allow_private_peers)",
    )
    events: list[EventType] = Field(
        default_factory=list, max_length=20, description="Event types to send (empty: all)"
    )
    server_wide: bool = Field(
        False, description="Operators only: every event of the server, not only your own"
    )


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    owner: str | None = Field(description="The user whose events it gets; null: every event")
    created: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="whsec_… key of the HMAC signatures (Standard Webhooks); shown this once"
    )


class WebhookDeliveryOut(BaseModel):
    id: int
    message_id: str = Field(description="The webhook-id header; the same on every attempt")
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status: int | None = Field(description="The receiver's last HTTP status, if any")
    last_error: str
    next_attempt: datetime | None = Field(description="When a pending delivery is tried again")
    created: datetime
    updated: datetime


def _endpoint(endpoint: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(
        id=endpoint.id,
        url=endpoint.url,
        events=list(endpoint.events),
        owner=endpoint.owner,
        created=endpoint.created,
    )


def _delivery(delivery: WebhookDelivery) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        id=delivery.id,
        message_id=delivery.message_id,
        event_type=delivery.event_type,
        status=delivery.status.value,
        attempts=delivery.attempts,
        last_status=delivery.last_status,
        last_error=delivery.last_error,
        next_attempt=delivery.next_attempt_time,
        created=time_of(delivery.created),
        updated=time_of(delivery.updated),
    )


def list_webhooks(request: Request, caller: CurrentCaller) -> list[WebhookOut]:
    """Your webhook endpoints; an operator sees every endpoint of the server."""
    return [_endpoint(e) for e in services_of(request).webhooks.endpoints(caller)]


def create_webhook(body: WebhookIn, request: Request, caller: CurrentCaller) -> WebhookCreated:
    """Register an endpoint; the answer carries its signing secret, shown this once."""
    endpoint, secret = services_of(request).webhooks.add(
        caller, body.url, body.events, server_wide=body.server_wide
    )
    return WebhookCreated(**_endpoint(endpoint).model_dump(), secret=secret)


def get_webhook(
    request: Request, caller: CurrentCaller, webhook_id: int = EndpointId
) -> WebhookOut:
    """One of your webhook endpoints."""
    return _endpoint(services_of(request).webhooks.get(caller, webhook_id))


def delete_webhook(
    request: Request, caller: CurrentCaller, webhook_id: int = EndpointId
) -> Response:
    """Remove an endpoint with its deliveries (waiting ones are not sent)."""
    services_of(request).webhooks.remove(caller, webhook_id)
    return Response(status_code=204)


def send_test(
    request: Request, caller: CurrentCaller, webhook_id: int = EndpointId
) -> WebhookDeliveryOut:
    """Send a webhook.test event to the endpoint now; the delivery as it stands afterwards
    (pending with the error, and retried, if the receiver did not take it)."""
    return _delivery(services_of(request).webhooks.test(caller, webhook_id))


def list_deliveries(
    request: Request,
    caller: CurrentCaller,
    webhook_id: int = EndpointId,
    limit: int = Query(100, ge=1, le=1000, description="At most this many, newest first"),
) -> list[WebhookDeliveryOut]:
    """The endpoint's deliveries, newest first: pending, delivered or failed."""
    found = services_of(request).webhooks.deliveries(caller, webhook_id, limit)
    return [_delivery(d) for d in found]
