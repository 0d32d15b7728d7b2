"""Delivery of shares and notifications to other servers, with retries: each message waits in
the outbox (stored with the change that caused it) until the peer answers, so nothing is lost
while a peer is down.

Every worker of a server runs a courier, and CLI commands send what they queued, so several
processes work through one outbox. A message is claimed before sending, for a lease, so that
two processes never send it at once: the claim is atomic in the store, a message is posted
only while its claim has time left for the whole exchange, and a sender whose claim ran out
cannot finish or release the message (it may be another's by then). Delivery is at least once
all the same (a peer's answer may be lost, or recording it may fail): the receiver treats a
repeated share (same providerId) as the same share, and a repeated notification is refused
harmlessly."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from opengeomesh.errors import Busy, InvalidInput
from opengeomesh.ocm.client import AddressRefused, OutboundClient, PeerResponse, PeerUnavailable
from opengeomesh.ocm.discovery import DiscoveryClient
from opengeomesh.ocm.models import OutboxItem
from opengeomesh.ocm.payloads import SHARE_UNSHARED, notification_body
from opengeomesh.ocm.sharing import Sharing
from opengeomesh.ocm.signatures import RequestSigner
from opengeomesh.ocm.store import ShareStore
from opengeomesh.ocm.trust import TrustPolicy, Untrusted

log = logging.getLogger("opengeomesh")
LEASE = 120.0  # seconds a claimed message is left to its sender (more with a long peer_timeout)
SEND_MARGIN = 30.0  # seconds a claim must have left beyond the exchange itself to post
MAX_DELAY = 3600.0  # the longest wait between two attempts
MAX_ATTEMPTS = 40  # about a day and a half at the longest wait; then the message is failed
TRANSIENT = frozenset({401, 408, 425, 429})  # and every 5xx: worth another try later


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one attempt went: the peer's status, or why it could not be asked."""

    status: int | None
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Outbox:
    """Sends what waits in the outbox: now, or when it is due again."""

    def __init__(
        self,
        *,
        store: ShareStore,
        client: OutboundClient,
        discovery: DiscoveryClient,
        signer: RequestSigner,
        sharing: Sharing,
        policy: TrustPolicy,
        retry_seconds: float,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._policy = policy
        self._store = store
        self._client = client
        self._discovery = discovery
        self._signer = signer
        self._sharing = sharing
        self._retry = retry_seconds
        self._max_attempts = max_attempts
        # Discovery may take a few exchanges before the one that sends.
        self._lease = max(LEASE, 4 * client.timeout + SEND_MARGIN)
        self.on_waiting: Callable[[], None] | None = None  # set by a running courier

    def wake(self) -> None:
        """A gesture queued a message: let the courier send it now rather than next round."""
        if self.on_waiting is not None:
            self.on_waiting()

    def deliver_due(self) -> int:
        """Send every message that is due, claiming one at a time (so that a claim never
        outlives its lease); the number tried."""
        tried = 0
        while items := self._store.claim_due(time.time(), self._lease, limit=1):
            self._attempt(items[0])
            tried += 1
        return tried

    def deliver_share(self, share_id: int) -> Attempt | None:
        """Try to deliver one share now (the sharing gesture waits for it); None if another
        process is sending it already."""
        item = self._store.claim_share_delivery(share_id, time.time(), self._lease)
        return None if item is None else self._attempt(item)

    def retry(self, item_id: int) -> OutboxItem | None:
        """Send a failed message again (the operator's gesture): due now, attempts counted
        afresh, its share back to sending; None if no message of that id failed."""
        item = self._store.retry_failed(item_id, time.time())
        if item is not None:
            if item.share_id is not None:
                self._sharing.sending_again(item.share_id)
            self.wake()
        return item

    def _attempt(self, item: OutboxItem) -> Attempt:
        try:
            self._policy.refuse_blocked(item.host)
            if item.share_id is not None:
                attempt = self._send_share(item, item.share_id)
            else:
                attempt = self._send_notification(item)
        except (Untrusted, AddressRefused) as exc:  # for good: blocked, or a forbidden address
            attempt = self._give_up(item, exc.detail)
        except (PeerUnavailable, Busy) as exc:
            attempt = Attempt(None, exc.detail)
        except InvalidInput as exc:  # we cannot sign (public_url changed): the operator must act
            log.warning("cannot send outbox message %s: %s", item.id, exc.detail)
            attempt = Attempt(None, exc.detail)
        except Exception as exc:  # a defect must not stop the outbox; the message waits
            log.exception("sending outbox message %s failed", item.id)
            attempt = Attempt(None, f"internal error: {exc}")
        if attempt.status is None or attempt.status in TRANSIENT or attempt.status >= 500:
            self._later(item, attempt)
        return attempt

    def _give_up(self, item: OutboxItem, reason: str) -> Attempt:
        log.warning("dropping outbox message %s to %s: %s", item.id, item.host, reason)
        if item.share_id is not None:
            self._sharing.refused(item.share_id, reason)
        self._store.sent(item)
        return Attempt(403, reason)

    def _send_share(self, item: OutboxItem, share_id: int) -> Attempt:
        try:
            self._sharing.check_recipient(share_id)
            message = self._sharing.share_message(share_id)
        except InvalidInput as exc:
            self._sharing.refused(share_id, exc.detail)
            self._store.sent(item)
            return Attempt(400, exc.detail)
        if message is None:  # the share is gone
            self._store.sent(item)
            return Attempt(410, "the share no longer exists")
        response = self._post(item, "shares", orjson.dumps(message))
        if response.status not in TRANSIENT and response.status < 500:
            kept = self._sharing.delivered(share_id, response.status, response.body)
            if not kept and 200 <= response.status < 300:  # revoked while on its way
                body = notification_body(SHARE_UNSHARED, message["providerId"], {})
                self._store.enqueue(item.host, body)
            self._store.sent(item)
        return Attempt(response.status, _said(response))

    def _send_notification(self, item: OutboxItem) -> Attempt:
        assert item.notification is not None
        response = self._post(item, "notifications", item.notification.encode())
        if response.status not in TRANSIENT and response.status < 500:
            if not 200 <= response.status < 300:
                log.warning(
                    "%s refused a notification (%s): %s",
                    item.host,
                    response.status,
                    _said(response),
                )
            self._store.sent(item)
        return Attempt(response.status, _said(response))

    def _post(self, item: OutboxItem, path: str, body: bytes) -> PeerResponse:
        server = self._discovery.discover(item.host)
        request = self._client.build(
            "POST",
            f"{server.end_point}/{path}",
            content=body,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        signed = self._signer.sign(request)
        if item.claimed_until - time.time() < self._client.timeout + SEND_MARGIN:
            # another process may claim the message before this exchange ends: not now
            raise PeerUnavailable("the attempt ran out of time before sending; tried again")
        return self._client.send(signed)

    def _later(self, item: OutboxItem, attempt: Attempt) -> None:
        error = attempt.error or f"answered {attempt.status}"
        if item.attempts + 1 >= self._max_attempts:
            # kept as failed, for the sharer and the operator to see and send again
            log.warning(
                "gave up on outbox message %s to %s after %s attempts: %s",
                item.id,
                item.host,
                item.attempts + 1,
                error,
            )
            if item.share_id is not None:
                reason = f"not delivered after {item.attempts + 1} attempts: {error}"
                self._sharing.refused(item.share_id, reason[:500])
            self._store.give_up(item, error, time.time())
            return
        delay = min(MAX_DELAY, self._retry * 2**item.attempts) * random.uniform(0.8, 1.2)
        self._store.retry_later(item, time.time() + delay, error)


def _said(response: PeerResponse) -> str:
    if 200 <= response.status < 300:
        return ""
    return f"answered {response.status}: {response.body[:300].decode('utf-8', 'replace')}"


class Courier:
    """A background thread of the server that works through the outbox."""

    def __init__(
        self, outbox: Outbox, interval: float, *, more: Sequence[Callable[[], int]] = ()
    ) -> None:
        self._outbox = outbox
        self._more = tuple(more)  # other parts of the outbox (webhooks): each sends what is due
        self._interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ogm-outbox", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def _round(self) -> int:
        return self._outbox.deliver_due() + sum(deliver() for deliver in self._more)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while self._round() and not self._stop.is_set():
                    pass
            except Exception:  # the database may be busy; try again next round
                log.exception("the outbox round failed")
            self._wake.wait(self._interval)
            self._wake.clear()
