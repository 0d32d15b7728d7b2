"""``Client``: the management API and feature reading, over a blocking httpx client."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import IO, Any, TypeVar, Unpack

import httpx

from opengeomesh.client import calls
from opengeomesh.client import models as m
from opengeomesh.client.calls import Body, Call, FeatureQuery

T = TypeVar("T")


class Client:
    """A server's management API for the user whose personal token is given.

    >>> with Client("https://maps.example", token) as ogm:
    ...     for share in ogm.list_received_shares(): ...
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            **calls.options(base_url, token, timeout, headers), transport=transport
        )

    @property
    def base_url(self) -> httpx.URL:
        return self._http.base_url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def send(self, call: Call[T]) -> T:
        """Send one described call and read its answer (every method below comes here)."""
        content: Any = call.content
        if content is not None and not isinstance(content, bytes):
            content = _chunks(content)
        try:
            response = self._http.request(
                call.method,
                call.url,
                params=call.params or None,
                json=call.json,
                content=content,
                headers=call.headers,
            )
        except httpx.TransportError as exc:
            raise call.unreachable(self.base_url, exc) from exc
        return call.result(response)

    # --- the signed-in user -------------------------------------------------------------------

    def me(self) -> m.Me:
        return self.send(calls.me())

    def list_tokens(self, user: str) -> list[m.Token]:
        return self.send(calls.list_tokens(user))

    def create_token(self, user: str, label: str = "") -> m.NewToken:
        return self.send(calls.create_token(user, label))

    def delete_token(self, user: str, token_id: int) -> None:
        self.send(calls.delete_token(user, token_id))

    # --- collections --------------------------------------------------------------------------

    def list_collections(self) -> list[m.Collection]:
        return self.send(calls.list_collections())

    def get_collection(self, collection_id: str) -> m.Collection:
        return self.send(calls.get_collection(collection_id))

    def create_collection(
        self,
        collection_id: str,
        *,
        title: str = "",
        description: str = "",
        public: bool = False,
        temporal_property: str | None = None,
    ) -> m.Collection:
        call = calls.create_collection(collection_id, title, description, public, temporal_property)
        return self.send(call)

    def update_collection(
        self,
        collection_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        public: bool | None = None,
    ) -> m.Collection:
        return self.send(calls.update_collection(collection_id, title, description, public))

    def delete_collection(self, collection_id: str) -> None:
        self.send(calls.delete_collection(collection_id))

    def import_features(
        self, collection_id: str, data: Body, media_type: str = calls.GEOJSON
    ) -> m.Imported:
        return self.send(calls.import_features(collection_id, data, media_type))

    def export_features(self, collection_id: str) -> bytes:
        return self.send(calls.export_features(collection_id))

    def list_changes(
        self, collection_id: str, *, limit: int = 100, before: int | None = None
    ) -> list[m.Change]:
        return self.send(calls.list_changes(collection_id, limit, before))

    def list_grants(self, collection_id: str) -> list[m.Grant]:
        return self.send(calls.list_grants(collection_id))

    def grant(self, collection_id: str, subject: str, permission: str = "read") -> list[m.Grant]:
        return self.send(calls.grant(collection_id, subject, permission))

    def ungrant(self, collection_id: str, subject: str) -> None:
        self.send(calls.ungrant(collection_id, subject))

    # --- features -----------------------------------------------------------------------------

    def features_page(self, collection_id: str, **query: Unpack[FeatureQuery]) -> m.FeaturePage:
        """The first page of features; ``query``: limit, bbox, datetime, filter, filter_lang,
        crs (``FeatureQuery``)."""
        return self.send(calls.features(collection_id, query))

    def iter_pages(
        self, collection_id: str, **query: Unpack[FeatureQuery]
    ) -> Iterator[m.FeaturePage]:
        """Every page of features, following ``next`` links."""
        page = self.features_page(collection_id, **query)
        yield page
        while page.next is not None:
            page = self.send(calls.next_page(self.base_url, page.next))
            yield page

    def iter_features(
        self, collection_id: str, **query: Unpack[FeatureQuery]
    ) -> Iterator[dict[str, Any]]:
        """Every feature (GeoJSON), page after page."""
        for page in self.iter_pages(collection_id, **query):
            yield from page.features

    def describe_collection(self, collection_id: str) -> dict[str, Any]:
        """The OGC API description of a collection (extent, links, numberOfFeatures)."""
        return self.send(calls.describe_collection(collection_id))

    def get_feature(self, collection_id: str, feature_id: str | int) -> dict[str, Any]:
        return self.send(calls.feature(collection_id, feature_id))

    # --- invites, contacts, peers -------------------------------------------------------------

    def create_invite(self) -> m.NewInvite:
        return self.send(calls.create_invite())

    def list_invites(self) -> list[m.Invite]:
        return self.send(calls.list_invites())

    def accept_invite(self, invite: str) -> m.AcceptedInvite:
        return self.send(calls.accept_invite(invite))

    def list_contacts(self) -> list[m.Contact]:
        return self.send(calls.list_contacts())

    def list_peers(self) -> list[m.Peer]:
        return self.send(calls.list_peers())

    def set_peer(self, host: str, status: str) -> m.Peer:
        return self.send(calls.set_peer(host, status))

    # --- shares sent --------------------------------------------------------------------------

    def create_share(
        self,
        collection_id: str,
        share_with: str,
        *,
        permission: str = "read",
        share_type: str = "user",
    ) -> m.Share:
        return self.send(calls.create_share(collection_id, share_with, permission, share_type))

    def list_shares(self) -> list[m.Share]:
        return self.send(calls.list_shares())

    def get_share(self, share_id: int) -> m.Share:
        return self.send(calls.get_share(share_id))

    def update_share(self, share_id: int, permission: str) -> m.Share:
        return self.send(calls.update_share(share_id, permission))

    def revoke_share(self, share_id: int) -> None:
        self.send(calls.revoke_share(share_id))

    # --- shares received ----------------------------------------------------------------------

    def list_received_shares(self) -> list[m.ReceivedShare]:
        return self.send(calls.list_received_shares())

    def get_received_share(self, share_id: int) -> m.ReceivedShare:
        return self.send(calls.get_received_share(share_id))

    def accept_share(self, share_id: int) -> m.ReceivedShare:
        return self.send(calls.decide_share(share_id, accept=True))

    def decline_share(self, share_id: int) -> m.ReceivedShare:
        return self.send(calls.decide_share(share_id, accept=False))

    def access_share(self, share_id: int) -> m.DirectAccess:
        return self.send(calls.access_share(share_id))

    # --- sharing rules (operators) ------------------------------------------------------------

    def list_sharing_rules(self, collection_id: str) -> list[m.SharingRule]:
        return self.send(calls.list_sharing_rules(collection_id))

    def set_sharing_rule(
        self, collection_id: str, domain: str, permission: str
    ) -> list[m.SharingRule]:
        return self.send(calls.set_sharing_rule(collection_id, domain, permission))

    def remove_sharing_rule(self, collection_id: str, domain: str) -> None:
        self.send(calls.remove_sharing_rule(collection_id, domain))

    # --- webhooks -----------------------------------------------------------------------------

    def list_webhooks(self) -> list[m.Webhook]:
        """Your webhook endpoints (an operator's token: every endpoint of the server)."""
        return self.send(calls.list_webhooks())

    def create_webhook(
        self, url: str, *, events: Sequence[str] = (), server_wide: bool = False
    ) -> m.NewWebhook:
        """Register an endpoint for ``events`` (none given: all); keep ``.secret``, shown
        this once, to verify deliveries (``opengeomesh.client.webhooks.verify``)."""
        return self.send(calls.create_webhook(url, list(events), server_wide))

    def get_webhook(self, webhook_id: int) -> m.Webhook:
        return self.send(calls.get_webhook(webhook_id))

    def delete_webhook(self, webhook_id: int) -> None:
        self.send(calls.delete_webhook(webhook_id))

    def send_webhook_test(self, webhook_id: int) -> m.WebhookDelivery:
        """Send a ``webhook.test`` event to the endpoint now; the delivery as it stands then."""
        return self.send(calls.send_webhook_test(webhook_id))

    def list_webhook_deliveries(
        self, webhook_id: int, *, limit: int = 100
    ) -> list[m.WebhookDelivery]:
        """The endpoint's deliveries, newest first."""
        return self.send(calls.list_webhook_deliveries(webhook_id, limit))


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(calls.CHUNK):
        yield chunk
