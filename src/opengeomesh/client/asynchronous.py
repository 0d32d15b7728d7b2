"""``AsyncClient``: the management API and feature reading, over an asyncio httpx client.
Its methods are those of ``Client``, awaited."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import IO, Any, TypeVar, Unpack

import httpx

from opengeomesh.client import calls
from opengeomesh.client import models as m
from opengeomesh.client.calls import Body, Call, FeatureQuery

T = TypeVar("T")


class AsyncClient:
    """A server's management API for the user whose personal token is given.

    >>> async with AsyncClient("https://maps.example", token) as ogm:
    ...     for share in await ogm.list_received_shares(): ...
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            **calls.options(base_url, token, timeout, headers), transport=transport
        )

    @property
    def base_url(self) -> httpx.URL:
        return self._http.base_url

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def send(self, call: Call[T]) -> T:
        """Send one described call and read its answer (every method below comes here)."""
        content: Any = call.content
        if content is not None and not isinstance(content, bytes):
            content = _chunks(content)
        try:
            response = await self._http.request(
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

    async def me(self) -> m.Me:
        return await self.send(calls.me())

    async def list_tokens(self, user: str) -> list[m.Token]:
        return await self.send(calls.list_tokens(user))

    async def create_token(self, user: str, label: str = "") -> m.NewToken:
        return await self.send(calls.create_token(user, label))

    async def delete_token(self, user: str, token_id: int) -> None:
        await self.send(calls.delete_token(user, token_id))

    # --- collections --------------------------------------------------------------------------

    async def list_collections(self) -> list[m.Collection]:
        return await self.send(calls.list_collections())

    async def get_collection(self, collection_id: str) -> m.Collection:
        return await self.send(calls.get_collection(collection_id))

    async def create_collection(
        self,
        collection_id: str,
        *,
        title: str = "",
        description: str = "",
        public: bool = False,
        temporal_property: str | None = None,
    ) -> m.Collection:
        call = calls.create_collection(collection_id, title, description, public, temporal_property)
        return await self.send(call)

    async def update_collection(
        self,
        collection_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        public: bool | None = None,
    ) -> m.Collection:
        return await self.send(calls.update_collection(collection_id, title, description, public))

    async def delete_collection(self, collection_id: str) -> None:
        await self.send(calls.delete_collection(collection_id))

    async def import_features(
        self, collection_id: str, data: Body, media_type: str = calls.GEOJSON
    ) -> m.Imported:
        return await self.send(calls.import_features(collection_id, data, media_type))

    async def export_features(self, collection_id: str) -> bytes:
        return await self.send(calls.export_features(collection_id))

    async def list_changes(
        self, collection_id: str, *, limit: int = 100, before: int | None = None
    ) -> list[m.Change]:
        return await self.send(calls.list_changes(collection_id, limit, before))

    async def list_grants(self, collection_id: str) -> list[m.Grant]:
        return await self.send(calls.list_grants(collection_id))

    async def grant(
        self, collection_id: str, subject: str, permission: str = "read"
    ) -> list[m.Grant]:
        return await self.send(calls.grant(collection_id, subject, permission))

    async def ungrant(self, collection_id: str, subject: str) -> None:
        await self.send(calls.ungrant(collection_id, subject))

    # --- features -----------------------------------------------------------------------------

    async def features_page(
        self, collection_id: str, **query: Unpack[FeatureQuery]
    ) -> m.FeaturePage:
        """The first page of features; ``query``: limit, bbox, datetime, filter, filter_lang,
        crs (``FeatureQuery``)."""
        return await self.send(calls.features(collection_id, query))

    async def iter_pages(
        self, collection_id: str, **query: Unpack[FeatureQuery]
    ) -> AsyncIterator[m.FeaturePage]:
        """Every page of features, following ``next`` links."""
        page = await self.features_page(collection_id, **query)
        yield page
        while page.next is not None:
            page = await self.send(calls.next_page(self.base_url, page.next))
            yield page

    async def iter_features(
        self, collection_id: str, **query: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Every feature (GeoJSON), page after page."""
        async for page in self.iter_pages(collection_id, **query):
            for feature in page.features:
                yield feature

    async def describe_collection(self, collection_id: str) -> dict[str, Any]:
        """The OGC API description of a collection (extent, links, numberOfFeatures)."""
        return await self.send(calls.describe_collection(collection_id))

    async def get_feature(self, collection_id: str, feature_id: str | int) -> dict[str, Any]:
        return await self.send(calls.feature(collection_id, feature_id))

    # --- invites, contacts, peers -------------------------------------------------------------

    async def create_invite(self) -> m.NewInvite:
        return await self.send(calls.create_invite())

    async def list_invites(self) -> list[m.Invite]:
        return await self.send(calls.list_invites())

    async def accept_invite(self, invite: str) -> m.AcceptedInvite:
        return await self.send(calls.accept_invite(invite))

    async def list_contacts(self) -> list[m.Contact]:
        return await self.send(calls.list_contacts())

    async def list_peers(self) -> list[m.Peer]:
        return await self.send(calls.list_peers())

    async def set_peer(self, host: str, status: str) -> m.Peer:
        return await self.send(calls.set_peer(host, status))

    # --- shares sent --------------------------------------------------------------------------

    async def create_share(
        self,
        collection_id: str,
        share_with: str,
        *,
        permission: str = "read",
        share_type: str = "user",
    ) -> m.Share:
        return await self.send(
            calls.create_share(collection_id, share_with, permission, share_type)
        )

    async def list_shares(self) -> list[m.Share]:
        return await self.send(calls.list_shares())

    async def get_share(self, share_id: int) -> m.Share:
        return await self.send(calls.get_share(share_id))

    async def update_share(self, share_id: int, permission: str) -> m.Share:
        return await self.send(calls.update_share(share_id, permission))

    async def revoke_share(self, share_id: int) -> None:
        await self.send(calls.revoke_share(share_id))

    # --- shares received ----------------------------------------------------------------------

    async def list_received_shares(self) -> list[m.ReceivedShare]:
        return await self.send(calls.list_received_shares())

    async def get_received_share(self, share_id: int) -> m.ReceivedShare:
        return await self.send(calls.get_received_share(share_id))

    async def accept_share(self, share_id: int) -> m.ReceivedShare:
        return await self.send(calls.decide_share(share_id, accept=True))

    async def decline_share(self, share_id: int) -> m.ReceivedShare:
        return await self.send(calls.decide_share(share_id, accept=False))

    async def access_share(self, share_id: int) -> m.DirectAccess:
        return await self.send(calls.access_share(share_id))

    # --- sharing rules (operators) ------------------------------------------------------------

    async def list_sharing_rules(self, collection_id: str) -> list[m.SharingRule]:
        return await self.send(calls.list_sharing_rules(collection_id))

    async def set_sharing_rule(
        self, collection_id: str, domain: str, permission: str
    ) -> list[m.SharingRule]:
        return await self.send(calls.set_sharing_rule(collection_id, domain, permission))

    async def remove_sharing_rule(self, collection_id: str, domain: str) -> None:
        await self.send(calls.remove_sharing_rule(collection_id, domain))

    # --- webhooks -----------------------------------------------------------------------------

    async def list_webhooks(self) -> list[m.Webhook]:
        """Your webhook endpoints (an operator's token: every endpoint of the server)."""
        return await self.send(calls.list_webhooks())

    async def create_webhook(
        self, url: str, *, events: Sequence[str] = (), server_wide: bool = False
    ) -> m.NewWebhook:
        """Register an endpoint for ``events`` (none given: all); keep ``.secret``, shown
        this once, to verify deliveries (``opengeomesh.client.webhooks.verify``)."""
        return await self.send(calls.create_webhook(url, list(events), server_wide))

    async def get_webhook(self, webhook_id: int) -> m.Webhook:
        return await self.send(calls.get_webhook(webhook_id))

    async def delete_webhook(self, webhook_id: int) -> None:
        await self.send(calls.delete_webhook(webhook_id))

    async def send_webhook_test(self, webhook_id: int) -> m.WebhookDelivery:
        """Send a ``webhook.test`` event to the endpoint now; the delivery as it stands then."""
        return await self.send(calls.send_webhook_test(webhook_id))

    async def list_webhook_deliveries(
        self, webhook_id: int, *, limit: int = 100
    ) -> list[m.WebhookDelivery]:
        """The endpoint's deliveries, newest first."""
        return await self.send(calls.list_webhook_deliveries(webhook_id, limit))


async def _chunks(stream: IO[bytes]) -> AsyncIterator[bytes]:
    """A file's bytes for the async transport (the reads are small and local)."""
    while chunk := stream.read(calls.CHUNK):
        yield chunk
