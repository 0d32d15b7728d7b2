"""What the webhooks need of storage (implemented for SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Protocol

from opengeomesh.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint


class WebhookStore(Protocol):
    def add_endpoint(
        self, owner_id: int | None, url: str, events: tuple[str, ...], secret_sealed: bytes
    ) -> WebhookEndpoint: ...
    def endpoint(self, endpoint_id: int) -> WebhookEndpoint | None: ...
    def endpoints(self, owner_id: int | None) -> list[WebhookEndpoint]:
        """One user's endpoints, or every endpoint (``None``)."""
        ...

    def sealed_secret(self, endpoint_id: int) -> bytes | None: ...
    def remove_endpoint(self, endpoint_id: int) -> bool: ...
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
        """Queue a delivery for every endpoint the event is for (or only ``endpoint_id``),
        in one transaction; the new deliveries' ids. Each delivery's message id is
        ``message_id`` and the endpoint's id."""
        ...

    def claim_due(self, now: float, lease: float) -> WebhookDelivery | None:
        """A pending delivery that is due and has no earlier pending delivery of its subject
        to its endpoint, claimed until ``now + lease``."""
        ...

    def claim(self, delivery_id: int, now: float, lease: float) -> WebhookDelivery | None:
        """One delivery, claimed, if it is pending, unclaimed and first of its subject."""
        ...

    def finish(
        self,
        item: WebhookDelivery,
        *,
        status: DeliveryStatus,
        http_status: int | None,
        error: str,
        next_attempt: float,
    ) -> bool:
        """Record an attempt, if ``item``'s claim still holds: delivered, failed for good, or
        pending again until ``next_attempt``."""
        ...

    def prune(self, before: float) -> int:
        """Forget deliveries done (delivered or failed) before ``before``; how many."""
        ...

    def delivery(self, delivery_id: int) -> WebhookDelivery | None: ...
    def deliveries(self, endpoint_id: int, limit: int = 100) -> list[WebhookDelivery]:
        """An endpoint's deliveries, newest first."""
        ...
