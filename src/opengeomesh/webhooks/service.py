"""Webhooks of one server: endpoints registered by users (events about their own shares,
invites and collections) and operators (every event of the server), the events queued for
them, and the deliveries with their status."""

from __future__ import annotations

import ipaddress
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

import orjson

from opengeomesh.accounts.directory import require_admin, require_user
from opengeomesh.accounts.models import Caller
from opengeomesh.errors import InvalidInput, NotFound
from opengeomesh.features.models import Collection
from opengeomesh.ocm.client import address_allowed
from opengeomesh.ocm.secretbox import SecretBox
from opengeomesh.webhooks.delivery import WebhookSender, secret_context
from opengeomesh.webhooks.events import layer_changed_event
from opengeomesh.webhooks.models import (
    EVENT_TYPES,
    WEBHOOK_TEST,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from opengeomesh.webhooks.signing import new_secret
from opengeomesh.webhooks.store import WebhookStore

log = logging.getLogger("opengeomesh")
COALESCE_SECONDS = 2.0  # a coalescing event (layer.changed) waits this long for more like it
MAX_URL = 2000


class Webhooks:
    """Registers endpoints and queues events for them; ``sender`` delivers."""

    def __init__(
        self,
        store: WebhookStore,
        secrets: SecretBox,
        sender: WebhookSender,
        *,
        host: str,
        base_url: str,
        allow_private: bool,
        wake: Callable[[], None],
    ) -> None:
        self._store = store
        self._secrets = secrets
        self.sender = sender
        self._host = host
        self._base_url = base_url
        self._allow_private = allow_private
        self._wake = wake

    # --- endpoints ------------------------------------------------------------------------

    def add(
        self, caller: Caller, url: str, events: Sequence[str] = (), *, server_wide: bool = False
    ) -> tuple[WebhookEndpoint, str]:
        """Register an endpoint for ``events`` (default: all); returns it and its secret,
        which is shown this once. ``server_wide`` (operators only): every event of the
        server, not only the caller's."""
        user = require_user(caller)
        if server_wide:
            require_admin(caller)
        chosen = tuple(dict.fromkeys(events)) or EVENT_TYPES
        for event in chosen:
            if event not in EVENT_TYPES:
                raise InvalidInput("events", f"unknown event type {event!r}")
        self._check_url(url)
        secret = new_secret()
        owner_id = None if server_wide else user.id
        if owner_id is not None and owner_id <= 0:
            raise InvalidInput("server_wide", "the operator's endpoints are server-wide")
        endpoint = self._store.add_endpoint(
            owner_id, url, chosen, self._secrets.seal(secret, secret_context(url))
        )
        return endpoint, secret

    def _check_url(self, url: str) -> None:
        """An http(s) URL the address guard lets through, as it does for peers: https, and
        no loopback or private literal address unless ``allow_private_peers`` (then http
        too). Names are checked again at every delivery, where they are resolved."""
        if len(url) > MAX_URL:
            raise InvalidInput("url", f"longer than {MAX_URL} characters")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise InvalidInput("url", "not a valid URL") from None
        allowed = ("https", "http") if self._allow_private else ("https",)
        if parts.scheme not in allowed:
            raise InvalidInput("url", f"must start with {' or '.join(allowed)}://")
        if not parts.hostname or parts.username is not None or parts.password is not None:
            raise InvalidInput("url", "needs a host name and no user or password")
        host = parts.hostname
        literal = "127.0.0.1" if host == "localhost" or host.endswith(".localhost") else host
        try:
            ipaddress.ip_address(literal)
        except ValueError:
            return
        if not address_allowed(literal, self._allow_private):
            raise InvalidInput("url", f"{host} is not a public address (allow_private_peers)")

    def endpoints(self, caller: Caller) -> list[WebhookEndpoint]:
        """The caller's endpoints; an operator sees every endpoint of the server."""
        user = require_user(caller)
        return self._store.endpoints(None if caller.is_admin else user.id)

    def get(self, caller: Caller, endpoint_id: int) -> WebhookEndpoint:
        user = require_user(caller)
        found = self._store.endpoint(endpoint_id) if 0 < endpoint_id < 2**63 else None
        if found is None or (found.owner != user.name and not caller.is_admin):
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        return found

    def remove(self, caller: Caller, endpoint_id: int) -> None:
        """Forget an endpoint with its deliveries (waiting ones are not sent)."""
        self.get(caller, endpoint_id)
        if not self._store.remove_endpoint(endpoint_id):
            raise NotFound(f"no webhook endpoint {endpoint_id}")

    def deliveries(
        self, caller: Caller, endpoint_id: int, limit: int = 100
    ) -> list[WebhookDelivery]:
        """An endpoint's deliveries, newest first, with their status."""
        self.get(caller, endpoint_id)
        return self._store.deliveries(endpoint_id, limit)

    def test(self, caller: Caller, endpoint_id: int) -> WebhookDelivery:
        """Queue a ``webhook.test`` event for one endpoint and try it at once; the delivery as
        it stands then (pending with the error if the receiver did not take it)."""
        endpoint = self.get(caller, endpoint_id)
        event = WebhookEvent(
            WEBHOOK_TEST,
            None,
            f"test:{uuid.uuid4().hex}",
            {"endpoint": {"id": endpoint.id, "url": endpoint.url}},
        )
        queued = self._queue(event, endpoint_id=endpoint.id)
        delivery = self.sender.deliver(queued[0]) if queued else None
        if delivery is None:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        return delivery

    # --- events -----------------------------------------------------------------------------

    def emit(self, event: WebhookEvent) -> None:
        """Queue ``event`` for the endpoints it is for. Called after the change committed: a
        failure here is logged, never undoes or fails the change."""
        try:
            if self._queue(event):
                self._wake()
        except Exception:
            log.exception("queueing the webhook event %s failed", event.type)

    def layer_changed(self, collection: Collection) -> None:
        """Features of ``collection`` were written or imported."""
        changes = f"{self._base_url}/collections/{collection.id}/changes"
        self.emit(layer_changed_event(collection, changes))

    def _queue(self, event: WebhookEvent, endpoint_id: int | None = None) -> list[int]:
        message_id = f"msg_{uuid.uuid4().hex}"
        payload = {
            "type": event.type,
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "server": self._host,
            "data": event.data,
        }
        return self._store.queue(
            event_type=event.type,
            user_id=event.user_id,
            subject=event.subject,
            payload=orjson.dumps(payload).decode(),
            message_id=message_id,
            coalesce=event.coalesce,
            endpoint_id=endpoint_id,
            delay=COALESCE_SECONDS if event.coalesce else 0.0,
        )
