"""Every operation of the client, described once: the request to send and how to read the
answer. The two transports (``Client``, ``AsyncClient``) only send these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Generic, TypedDict, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter

from opengeomesh import __version__
from opengeomesh.client import models as m
from opengeomesh.client.errors import ClientError, ServerUnreachable, error_for

T = TypeVar("T")
GEOJSON = "application/geo+json"
Body = bytes | IO[bytes]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and the reading of its answer."""

    method: str
    url: str
    read: Callable[[httpx.Response], T]
    params: dict[str, str | int] = field(default_factory=dict)
    json: Any = None
    content: Body | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def unreachable(self, base_url: httpx.URL, exc: httpx.TransportError) -> ServerUnreachable:
        """The error for a request that got no answer, naming the URL it went to."""
        url = (
            self.url if "://" in self.url else f"{str(base_url).rstrip('/')}/{self.url.lstrip('/')}"
        )
        return ServerUnreachable(f"{self.method} {url}: {exc or type(exc).__name__}")

    def result(self, response: httpx.Response) -> T:
        """The answer read, or the error it stands for."""
        if not response.is_success:
            raise error_for(response)
        return self.read(response)


def options(
    base_url: str,
    token: str | None,
    timeout: float,
    headers: dict[str, str] | None,
) -> dict[str, Any]:
    """The settings both transports give httpx."""
    sent = {"User-Agent": f"opengeomesh-client/{__version__}", "Accept": "application/json"}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    sent.update(headers or {})
    return {"base_url": base_url.rstrip("/"), "headers": sent, "timeout": timeout}


CHUNK = 1 << 16


def _one(model: type[T]) -> Callable[[httpx.Response], T]:
    adapter = TypeAdapter(model)
    return lambda response: adapter.validate_json(response.content)


def _many(model: type[T]) -> Callable[[httpx.Response], list[T]]:
    adapter = TypeAdapter(list[model])  # type: ignore[valid-type]
    return lambda response: adapter.validate_json(response.content)


def _nothing(_: httpx.Response) -> None:
    return None


def _json(response: httpx.Response) -> dict[str, Any]:
    found = response.json()
    if not isinstance(found, dict):
        raise ClientError(f"expected a JSON object from {response.request.url}")
    return found


def _seg(value: str | int) -> str:
    """A path segment, escaped."""
    return quote(str(value), safe="")


def _set(**values: Any) -> dict[str, Any]:
    """The members given (not None): for PATCH bodies and optional parameters."""
    return {k: v for k, v in values.items() if v is not None}


# --- the signed-in user and their tokens -----------------------------------------------------


def me() -> Call[m.Me]:
    return Call("GET", "/manage/me", _one(m.Me))


def list_tokens(user: str) -> Call[list[m.Token]]:
    return Call("GET", f"/manage/users/{_seg(user)}/tokens", _many(m.Token))


def create_token(user: str, label: str) -> Call[m.NewToken]:
    url = f"/manage/users/{_seg(user)}/tokens"
    return Call("POST", url, _one(m.NewToken), json={"label": label})


def delete_token(user: str, token_id: int) -> Call[None]:
    return Call("DELETE", f"/manage/users/{_seg(user)}/tokens/{token_id}", _nothing)


# --- collections ------------------------------------------------------------------------------


def list_collections() -> Call[list[m.Collection]]:
    return Call("GET", "/manage/collections", _many(m.Collection))


def get_collection(collection_id: str) -> Call[m.Collection]:
    return Call("GET", f"/manage/collections/{_seg(collection_id)}", _one(m.Collection))


def create_collection(
    collection_id: str,
    title: str,
    description: str,
    public: bool,
    temporal_property: str | None,
) -> Call[m.Collection]:
    body = {"id": collection_id, "title": title, "description": description, "public": public}
    body.update(_set(temporal_property=temporal_property))
    return Call("POST", "/manage/collections", _one(m.Collection), json=body)


def update_collection(
    collection_id: str, title: str | None, description: str | None, public: bool | None
) -> Call[m.Collection]:
    body = _set(title=title, description=description, public=public)
    url = f"/manage/collections/{_seg(collection_id)}"
    return Call("PATCH", url, _one(m.Collection), json=body)


def delete_collection(collection_id: str) -> Call[None]:
    return Call("DELETE", f"/manage/collections/{_seg(collection_id)}", _nothing)


def import_features(collection_id: str, data: Body, media_type: str) -> Call[m.Imported]:
    url = f"/manage/collections/{_seg(collection_id)}/import"
    headers = {"Content-Type": media_type}
    return Call("POST", url, _one(m.Imported), content=data, headers=headers)


def export_features(collection_id: str) -> Call[bytes]:
    url = f"/manage/collections/{_seg(collection_id)}/export"
    return Call("GET", url, lambda response: response.content, headers={"Accept": GEOJSON})


def list_changes(collection_id: str, limit: int, before: int | None) -> Call[list[m.Change]]:
    url = f"/manage/collections/{_seg(collection_id)}/changes"
    params: dict[str, str | int] = {"limit": limit, **_set(before=before)}
    return Call("GET", url, _many(m.Change), params=params)


def list_grants(collection_id: str) -> Call[list[m.Grant]]:
    return Call("GET", f"/manage/collections/{_seg(collection_id)}/grants", _many(m.Grant))


def grant(collection_id: str, subject: str, permission: str) -> Call[list[m.Grant]]:
    url = f"/manage/collections/{_seg(collection_id)}/grants"
    body = {"subject": subject, "permission": permission}
    return Call("PUT", url, _many(m.Grant), json=body)


def ungrant(collection_id: str, subject: str) -> Call[None]:
    url = f"/manage/collections/{_seg(collection_id)}/grants/{_seg(subject)}"
    return Call("DELETE", url, _nothing)


# --- features (OGC API – Features) ------------------------------------------------------------


class FeatureQuery(TypedDict, total=False):
    """The parameters of an items request (OGC API – Features Parts 1 to 3)."""

    limit: int
    bbox: tuple[float, ...]  # 4 or 6 numbers
    datetime: str  # an instant or interval, RFC 3339, '..' open
    filter: str  # CQL2
    filter_lang: str  # cql2-text (the default) or cql2-json
    crs: str  # the CRS of the answer's coordinates


def features(collection_id: str, query: FeatureQuery) -> Call[m.FeaturePage]:
    """The first page of a collection's features (``/collections/{id}/items``)."""
    unknown = set(query) - set(FeatureQuery.__annotations__)
    if unknown:
        raise TypeError(f"not a parameter of items: {', '.join(sorted(unknown))}")
    params: dict[str, str | int] = {}
    if (limit := query.get("limit")) is not None:
        params["limit"] = limit
    if (bbox := query.get("bbox")) is not None:
        params["bbox"] = ",".join(str(v) for v in bbox)
    for name, text in (
        ("datetime", query.get("datetime")),
        ("filter", query.get("filter")),
        ("filter-lang", query.get("filter_lang")),
        ("crs", query.get("crs")),
    ):
        if text is not None:
            params[name] = text
    url = f"/collections/{_seg(collection_id)}/items"
    return Call("GET", url, _one(m.FeaturePage), params=params, headers=_GEOJSON_FIRST)


_GEOJSON_FIRST = {"Accept": f"{GEOJSON}, application/json;q=0.9"}


def next_page(base_url: httpx.URL, url: str) -> Call[m.FeaturePage]:
    """The page a ``next`` link names. It must lead to the same server: the token is not sent
    anywhere else."""
    target = httpx.URL(url)
    if (target.scheme, target.host, target.port) != (base_url.scheme, base_url.host, base_url.port):
        raise ClientError(f"the next page is on another server ({target.host}); not followed")
    return Call("GET", url, _one(m.FeaturePage), headers=_GEOJSON_FIRST)


def describe_collection(collection_id: str) -> Call[dict[str, Any]]:
    """The OGC API description of a collection: also of a share received and mounted (ocm-N),
    which the management API does not list."""
    return Call("GET", f"/collections/{_seg(collection_id)}", _json)


def feature(collection_id: str, feature_id: str | int) -> Call[dict[str, Any]]:
    url = f"/collections/{_seg(collection_id)}/items/{_seg(feature_id)}"
    return Call("GET", url, _json, headers=_GEOJSON_FIRST)


# --- invites, contacts, peers -----------------------------------------------------------------


def create_invite() -> Call[m.NewInvite]:
    return Call("POST", "/manage/invites", _one(m.NewInvite))


def list_invites() -> Call[list[m.Invite]]:
    return Call("GET", "/manage/invites", _many(m.Invite))


def accept_invite(invite: str) -> Call[m.AcceptedInvite]:
    body = {"invite": invite}
    return Call("POST", "/manage/invites/accept", _one(m.AcceptedInvite), json=body)


def list_contacts() -> Call[list[m.Contact]]:
    return Call("GET", "/manage/contacts", _many(m.Contact))


def list_peers() -> Call[list[m.Peer]]:
    return Call("GET", "/manage/peers", _many(m.Peer))


def set_peer(host: str, status: str) -> Call[m.Peer]:
    return Call("PUT", f"/manage/peers/{_seg(host)}", _one(m.Peer), json={"status": status})


# --- shares sent ------------------------------------------------------------------------------


def create_share(
    collection_id: str, share_with: str, permission: str, share_type: str
) -> Call[m.Share]:
    body = {
        "collection": collection_id,
        "share_with": share_with,
        "permission": permission,
        "share_type": share_type,
    }
    return Call("POST", "/manage/shares", _one(m.Share), json=body)


def list_shares() -> Call[list[m.Share]]:
    return Call("GET", "/manage/shares", _many(m.Share))


def get_share(share_id: int) -> Call[m.Share]:
    return Call("GET", f"/manage/shares/{share_id}", _one(m.Share))


def update_share(share_id: int, permission: str) -> Call[m.Share]:
    body = {"permission": permission}
    return Call("PATCH", f"/manage/shares/{share_id}", _one(m.Share), json=body)


def revoke_share(share_id: int) -> Call[None]:
    return Call("DELETE", f"/manage/shares/{share_id}", _nothing)


# --- shares received --------------------------------------------------------------------------


def list_received_shares() -> Call[list[m.ReceivedShare]]:
    return Call("GET", "/manage/received-shares", _many(m.ReceivedShare))


def get_received_share(share_id: int) -> Call[m.ReceivedShare]:
    return Call("GET", f"/manage/received-shares/{share_id}", _one(m.ReceivedShare))


def decide_share(share_id: int, accept: bool) -> Call[m.ReceivedShare]:
    url = f"/manage/received-shares/{share_id}/{'accept' if accept else 'decline'}"
    return Call("POST", url, _one(m.ReceivedShare))


def access_share(share_id: int) -> Call[m.DirectAccess]:
    url = f"/manage/received-shares/{share_id}/access"
    return Call("POST", url, _one(m.DirectAccess))


# --- the operator's sharing rules -------------------------------------------------------------


def list_sharing_rules(collection_id: str) -> Call[list[m.SharingRule]]:
    url = f"/manage/collections/{_seg(collection_id)}/sharing-rules"
    return Call("GET", url, _many(m.SharingRule))


def set_sharing_rule(collection_id: str, domain: str, permission: str) -> Call[list[m.SharingRule]]:
    url = f"/manage/collections/{_seg(collection_id)}/sharing-rules/{_seg(domain)}"
    return Call("PUT", url, _many(m.SharingRule), json={"permission": permission})


def remove_sharing_rule(collection_id: str, domain: str) -> Call[None]:
    url = f"/manage/collections/{_seg(collection_id)}/sharing-rules/{_seg(domain)}"
    return Call("DELETE", url, _nothing)


# --- webhooks ---------------------------------------------------------------------------------


def list_webhooks() -> Call[list[m.Webhook]]:
    return Call("GET", "/manage/webhooks", _many(m.Webhook))


def create_webhook(url: str, events: list[str], server_wide: bool) -> Call[m.NewWebhook]:
    body = {"url": url, "events": events, "server_wide": server_wide}
    return Call("POST", "/manage/webhooks", _one(m.NewWebhook), json=body)


def get_webhook(webhook_id: int) -> Call[m.Webhook]:
    return Call("GET", f"/manage/webhooks/{webhook_id}", _one(m.Webhook))


def delete_webhook(webhook_id: int) -> Call[None]:
    return Call("DELETE", f"/manage/webhooks/{webhook_id}", _nothing)


def send_webhook_test(webhook_id: int) -> Call[m.WebhookDelivery]:
    url = f"/manage/webhooks/{webhook_id}/test"
    return Call("POST", url, _one(m.WebhookDelivery))


def list_webhook_deliveries(webhook_id: int, limit: int) -> Call[list[m.WebhookDelivery]]:
    url = f"/manage/webhooks/{webhook_id}/deliveries"
    return Call("GET", url, _many(m.WebhookDelivery), params={"limit": limit})
