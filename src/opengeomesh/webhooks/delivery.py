"""Delivery of webhook events: the webhook part of the outbox, worked through by the outbox's
courier with the same claims, backoff and limit (ocm/outbox.py), and sent through the one
outbound client with its address guard."""

from __future__ import annotations

import logging
import random
import time

from opengeomesh.errors import Busy
from opengeomesh.ocm.client import AddressRefused, OutboundClient, PeerUnavailable
from opengeomesh.ocm.outbox import LEASE, MAX_ATTEMPTS, MAX_DELAY, SEND_MARGIN
from opengeomesh.ocm.secretbox import SecretBox
from opengeomesh.webhooks.models import DeliveryStatus, WebhookDelivery
from opengeomesh.webhooks.signing import signed_headers
from opengeomesh.webhooks.store import WebhookStore

log = logging.getLogger("opengeomesh")
KEEP_SECONDS = 30 * 86400  # deliveries done are listed this long, then forgotten
PRUNE_EVERY = 3600.0


def secret_context(url: str) -> bytes:
    """What an endpoint's sealed secret is bound to (its id is not known before it is kept)."""
    return f"webhook {url}".encode()


class WebhookSender:
    """Sends the webhook deliveries that are due, one claim at a time."""

    def __init__(
        self,
        store: WebhookStore,
        secrets: SecretBox,
        client: OutboundClient,
        *,
        retry_seconds: float,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._store = store
        self._secrets = secrets
        self._client = client
        self._retry = retry_seconds
        self._max_attempts = max_attempts
        self._lease = max(LEASE, 2 * client.timeout + SEND_MARGIN)
        self._pruned = 0.0

    def deliver_due(self) -> int:
        """Send every delivery that is due; the number tried."""
        if time.monotonic() - self._pruned > PRUNE_EVERY or not self._pruned:
            self._pruned = time.monotonic()
            self._store.prune(time.time() - KEEP_SECONDS)
        tried = 0
        while (item := self._store.claim_due(time.time(), self._lease)) is not None:
            self._attempt(item)
            tried += 1
        return tried

    def deliver(self, delivery_id: int) -> WebhookDelivery | None:
        """Try one delivery now, unless another process is sending it or an earlier one of
        its subject waits; the delivery as it stands afterwards."""
        item = self._store.claim(delivery_id, time.time(), self._lease)
        if item is not None:
            self._attempt(item)
        return self._store.delivery(delivery_id)

    def _attempt(self, item: WebhookDelivery) -> None:
        try:
            status = self._post(item)
        except AddressRefused as exc:  # for good: the address guard refuses the target
            self._finish(item, DeliveryStatus.FAILED, None, exc.detail)
            return
        except (PeerUnavailable, Busy) as exc:
            self._later(item, None, exc.detail)
            return
        except Exception as exc:  # a defect must not stop the courier; the delivery waits
            log.exception("sending webhook delivery %s failed", item.id)
            self._later(item, None, f"internal error: {exc}")
            return
        if 200 <= status < 300:
            self._finish(item, DeliveryStatus.DELIVERED, status, "")
        else:
            self._later(item, status, f"answered {status}")

    def _post(self, item: WebhookDelivery) -> int:
        endpoint = self._store.endpoint(item.endpoint_id)
        sealed = self._store.sealed_secret(item.endpoint_id)
        secret = None
        if sealed is not None and endpoint is not None:
            secret = self._secrets.open(sealed, secret_context(endpoint.url))
        if endpoint is None or secret is None:
            raise PeerUnavailable("the endpoint's secret cannot be read here (key file changed?)")
        body = item.payload.encode()
        headers = {"Content-Type": "application/json"}
        headers |= signed_headers(secret, item.message_id, body, time.time())
        request = self._client.build("POST", endpoint.url, content=body, headers=headers)
        if item.claimed_until - time.time() < self._client.timeout + SEND_MARGIN:
            raise PeerUnavailable("the attempt ran out of time before sending; tried again")
        return self._client.send(request).status

    def _later(self, item: WebhookDelivery, status: int | None, error: str) -> None:
        if item.attempts + 1 >= self._max_attempts:
            log.warning("giving up on webhook delivery %s: %s", item.id, error)
            self._finish(item, DeliveryStatus.FAILED, status, f"gave up: {error}")
            return
        delay = min(MAX_DELAY, self._retry * 2**item.attempts) * random.uniform(0.8, 1.2)
        self._store.finish(
            item,
            status=DeliveryStatus.PENDING,
            http_status=status,
            error=error,
            next_attempt=time.time() + delay,
        )

    def _finish(
        self, item: WebhookDelivery, status: DeliveryStatus, http_status: int | None, error: str
    ) -> None:
        self._store.finish(
            item, status=status, http_status=http_status, error=error, next_attempt=time.time()
        )
