"""Mounted remote layers: each accepted share appears as a collection of this server's OGC API,
read live from the sending server with the share's access token. Pages, filters and single
features are asked of the sender; its answers are checked and its links replaced by ours.

A CRS (OGC API – Features Part 2) is asked of the sender too: ``crs`` and ``bbox-crs`` go along,
and the sender's ``Content-Crs`` says what came back. Features are never transformed twice: only
an answer in CRS84 (a sender that does not do Part 2 says nothing, which means CRS84) is
transformed here; an answer in yet another CRS is the sender's fault (502)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import orjson

from opengeomesh.accounts.models import Caller
from opengeomesh.errors import (
    Busy,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OpenGeoMeshError,
    PayloadTooLarge,
    PreconditionFailed,
    UnsupportedMediaType,
)
from opengeomesh.features.crs import CRS84, Crs, features_in, parse_content_crs, parse_crs
from opengeomesh.features.models import MOUNT_ID_PATTERN, ItemsPage, StoredFeature
from opengeomesh.features.query import ITEMS_PARAMETERS
from opengeomesh.ocm.client import OutboundClient, PeerResponse, PeerUnavailable
from opengeomesh.ocm.inbox import Inbox
from opengeomesh.ocm.models import ReceivedShare

GEOJSON = "application/geo+json"
MAX_CURSOR = 4000


@dataclass(frozen=True, slots=True)
class MountedLayer:
    """A mounted share as the OGC API shows it."""

    id: str
    title: str
    description: str
    share: ReceivedShare

    @property
    def shared_by(self) -> str:
        who = self.share.sender_name or self.share.sender
        return f"{who} ({self.share.sender_host})"


@dataclass(frozen=True, slots=True)
class RemoteFeature:
    """One feature from the sender, or ``not_modified`` when the client's ETag still holds."""

    feature: StoredFeature | None
    etag: str | None

    @property
    def not_modified(self) -> bool:
        return self.feature is None


class RemoteLayers:
    """The mounted layers of this server's users."""

    def __init__(self, inbox: Inbox, client: OutboundClient, *, max_page_bytes: int) -> None:
        self._inbox = inbox
        self._client = client
        self._max = max_page_bytes

    def visible(self, caller: Caller) -> list[MountedLayer]:
        return [_layer(s) for s in self._inbox.mounted(caller)]

    def find(self, caller: Caller, collection_id: str) -> MountedLayer | None:
        """The caller's mounted layer of that id, if it is one (ids look like ``ocm-7``)."""
        if not MOUNT_ID_PATTERN.match(collection_id):
            return None
        share = self._inbox.mount(caller, collection_id)
        return None if share is None else _layer(share)

    def read(self, layer: MountedLayer, path: str, query: dict[str, str]) -> dict[str, Any]:
        """A JSON object from below the shared collection's URL (``path`` such as
        ``/changes``), asked with the share's token; the sender's refusals become ours (a 400
        names the parameter of ``query`` the sender names)."""
        url = layer.share.uri + path + (f"?{urlencode(query)}" if query else "")
        response = self._call(layer, "GET", url, {}, b"")
        if response.status == 200:
            return _object(response, layer)
        raise _refusal(layer, response, "query", known=frozenset(query))

    def describe(self, layer: MountedLayer) -> dict[str, Any]:
        """The sender's description of the collection (extent, feature count)."""
        answer = _object(self._get(layer, "", {}), layer)
        return answer

    def queryables(self, layer: MountedLayer) -> dict[str, Any]:
        """The sender's queryables (Part 3), reduced to the members a JSON Schema of
        queryables has; ``$id`` is left for the caller to set to its own URL."""
        answer = _object(self._get(layer, "/queryables", {}), layer)
        properties = answer.get("properties")
        if not isinstance(properties, dict):
            raise PeerUnavailable(
                f"{layer.share.sender_host} answered queryables without properties"
            )
        kept = {k: v for k, v in properties.items() if isinstance(k, str) and isinstance(v, dict)}
        additional = answer.get("additionalProperties")
        return {
            "$schema": answer.get("$schema", "https://json-schema.org/draft/2020-12/schema"),
            "type": "object",
            "title": layer.title,
            "properties": kept,
            "additionalProperties": additional if isinstance(additional, bool) else True,
        }

    def items(self, layer: MountedLayer, params: dict[str, str], crs: Crs = CRS84) -> ItemsPage:
        """One page from the sender, its features in ``crs``; ``params`` are the client's checked
        items parameters. A ``cursor`` here wraps the query of the sender's own next or previous
        link, whatever its paging (cursor, offset, startindex), so following our links follows
        the sender's; the CRS asked for now replaces the one in it."""
        query = {k: v for k, v in params.items() if k != "f"}
        if "cursor" in query:
            query = unwrap_cursor(query["cursor"])
        elif "bbox-crs" in query:  # the URI, which any Part 2 server knows, for the short forms
            query["bbox-crs"] = parse_crs(query["bbox-crs"], "bbox-crs").uri
        query.pop("crs", None)
        if not crs.is_crs84:
            query["crs"] = crs.uri
        response = self._get(layer, "/items", query)
        return page_from(response, layer.share.sender_host, crs)

    def item(
        self, layer: MountedLayer, feature_id: str, if_none_match: str, crs: Crs = CRS84
    ) -> RemoteFeature:
        """One feature from the sender, in ``crs``; its ETag, unless the feature had to be
        transformed here (then the sender's tag is of another representation)."""
        headers = {"If-None-Match": if_none_match} if if_none_match else {}
        path = f"/items/{quote(feature_id, safe='')}"
        response = self._get(layer, path, {} if crs.is_crs84 else {"crs": crs.uri}, headers)
        etag = response.headers.get("etag")
        if response.status == 304:
            return RemoteFeature(None, etag)
        feature = peer_feature(_object(response, layer), layer.share.sender_host)
        answered = answered_crs(response, layer.share.sender_host)
        (feature,) = in_crs([feature], answered, crs, layer.share.sender_host)
        return RemoteFeature(feature, etag if answered == crs else None)

    def _get(
        self,
        layer: MountedLayer,
        path: str,
        query: dict[str, str],
        headers: dict[str, str] | None = None,
    ) -> PeerResponse:
        """GET below the shared collection's URL with the share's token, renewing the token
        once if the sender refuses it; the sender's refusals become ours."""
        url = layer.share.uri + path + (f"?{urlencode(query)}" if query else "")
        response = self._call(layer, "GET", url, headers or {}, b"")
        if response.status in (200, 304):
            return response
        raise _refusal(layer, response, "query")

    def write(
        self,
        layer: MountedLayer,
        method: str,
        feature_id: str | None,
        body: bytes,
        headers: dict[str, str],
    ) -> tuple[PeerResponse, StoredFeature | None]:
        """Forward a write (OGC API – Features Part 4) to the sender with the share's token;
        the answer and the feature it carries, as this server serves features."""
        if layer.share.permission != "write":
            raise Forbidden(f"the share of {layer.title!r} is read-only")
        path = "/items" if feature_id is None else f"/items/{quote(feature_id, safe='')}"
        response = self._call(layer, method, layer.share.uri + path, headers, body)
        if response.status not in (200, 201, 204):
            raise _refusal(layer, response, "body")
        if response.status == 204 or not response.body:
            return response, None
        try:
            return response, peer_feature(_object(response, layer), layer.share.sender_host)
        except PeerUnavailable:
            if response.status == 201:  # it was made there: say so, not 502 (no duplicates)
                return response, None
            raise

    def _call(
        self, layer: MountedLayer, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> PeerResponse:
        """One request with the share's token, renewed once if the sender refuses it."""
        response = self._send(layer, method, url, headers, body, fresh=False)
        if response.status == 401:
            response = self._send(layer, method, url, headers, body, fresh=True)
        return response

    def _send(
        self,
        layer: MountedLayer,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes,
        *,
        fresh: bool,
    ) -> PeerResponse:
        token, _ = self._inbox.access_token(layer.share, fresh=fresh)
        request = self._client.build(
            method,
            url,
            headers={"Accept": f"{GEOJSON}, application/json", **headers},
            content=body or None,
        )
        request.headers["Authorization"] = f"Bearer {token}"
        return self._client.send(request, max_bytes=self._max)


def _layer(share: ReceivedShare) -> MountedLayer:
    return MountedLayer(
        id=share.mount_id, title=share.name, description=share.description, share=share
    )


def _object(response: PeerResponse, layer: MountedLayer) -> dict[str, Any]:
    answer = response.json()
    if not isinstance(answer, dict):
        raise PeerUnavailable(f"{layer.share.sender_host} answered with something not an object")
    return answer


def peer_feature(raw: Any, host: str) -> StoredFeature:
    """A feature of a peer's answer (``host`` names it in errors), as this server serves
    features."""
    if not isinstance(raw, dict) or raw.get("type") != "Feature":
        raise PeerUnavailable(f"{host} answered with something that is not a feature")
    fid = raw.get("id")
    if isinstance(fid, bool) or not isinstance(fid, (str, int, float)):
        raise PeerUnavailable(f"{host} answered with a feature without a usable id")
    geometry, properties = raw.get("geometry"), raw.get("properties")
    if geometry is not None and not isinstance(geometry, dict):
        raise PeerUnavailable(f"{host} answered with a feature whose geometry is not an object")
    if properties is not None and not isinstance(properties, dict):
        raise PeerUnavailable(f"{host} answered with a feature whose properties are odd")
    is_number = not isinstance(fid, str)
    return StoredFeature(
        id=orjson.dumps(fid).decode() if is_number else str(fid),
        id_is_number=is_number,
        geometry_json=None if geometry is None else orjson.dumps(geometry).decode(),
        properties_json=None if properties is None else orjson.dumps(properties).decode(),
        version=0,
        key=0,
    )


def page_from(response: PeerResponse, host: str, crs: Crs) -> ItemsPage:
    """A peer's items answer as one of our pages: features checked and in ``crs``, its next
    and previous links' queries wrapped in our cursors (whatever its paging)."""
    answer = response.json()
    if not isinstance(answer, dict):
        raise PeerUnavailable(f"{host} answered with something not an object")
    raw = answer.get("features")
    if answer.get("type") != "FeatureCollection" or not isinstance(raw, list):
        raise PeerUnavailable(f"{host} answered without features")
    matched = answer.get("numberMatched")
    links = answer.get("links")
    links = links if isinstance(links, list) else []
    following = link_query(links, "next")
    preceding = link_query(links, "prev")
    features = [peer_feature(f, host) for f in raw]
    return ItemsPage(
        features=in_crs(features, answered_crs(response, host), crs, host),
        number_matched=matched if isinstance(matched, int) else None,
        next_cursor=wrap_cursor(following) if following else None,
        prev_cursor=wrap_cursor(preceding) if preceding else None,
        prev_offset=None,
    )


def answered_crs(response: PeerResponse, host: str) -> Crs:
    """The CRS of a peer's features, from its ``Content-Crs`` (CRS84 when it says none)."""
    try:
        return parse_content_crs(response.headers.get("content-crs"))
    except InvalidInput:
        raise PeerUnavailable(f"{host} answered in a CRS this server does not know") from None


def in_crs(
    features: list[StoredFeature], answered: Crs, asked: Crs, host: str
) -> list[StoredFeature]:
    """A peer's features in the CRS asked for: as they came, or transformed from CRS84."""
    if answered == asked:
        return features
    if answered.is_crs84:
        return features_in(features, asked)
    raise PeerUnavailable(f"{host} answered in {answered.code}, not in {asked.code} as asked")


def link_query(links: list[Any], rel: str) -> dict[str, str]:
    """The query parameters of the sender's link of ``rel`` (its paging state), without the
    format, which is ours to choose."""
    for entry in links:
        if (
            isinstance(entry, dict)
            and entry.get("rel") == rel
            and isinstance(entry.get("href"), str)
        ):
            query = dict(parse_qsl(urlsplit(entry["href"]).query))
            query.pop("f", None)
            return query
    return {}


def wrap_cursor(query: dict[str, str]) -> str:
    """Our cursor for a page of a mounted layer: the sender's query for that page."""
    return "r" + base64.urlsafe_b64encode(orjson.dumps(query)).decode().rstrip("=")


def unwrap_cursor(text: str) -> dict[str, str]:
    """The sender's query carried in one of our cursors."""
    try:
        if not text.startswith("r") or len(text) > MAX_CURSOR:
            raise ValueError(text)
        raw = base64.urlsafe_b64decode(text[1:] + "=" * (-len(text[1:]) % 4))
        query = orjson.loads(raw)
        if not isinstance(query, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in query.items()
        ):
            raise ValueError(text)
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidInput("cursor", "not a cursor of this server; follow the links") from None
    return query


def _refusal(
    layer: MountedLayer,
    response: PeerResponse,
    field: str,
    known: frozenset[str] = ITEMS_PARAMETERS,
) -> Exception:
    """The sender's refusal, as this server's own error."""
    return refusal(layer.share.sender_host, response, field, known)


def refusal(
    host: str,
    response: PeerResponse,
    field: str,
    known: frozenset[str] = ITEMS_PARAMETERS,
) -> Exception:
    """A peer's refusal, as this server's own error (a 400 names our parameter it names)."""
    detail = _detail(response)
    status = response.status
    if status == 404:
        return NotFound(f"{host} has no such feature or collection (any more)")
    if status == 400:
        named = _parameter(response, known) if field == "query" else field
        return InvalidInput(named, f"{host} refused the request: {detail}")
    if status in (401, 403):
        return Forbidden(f"{host} refused: {detail}")
    kinds: dict[int, type[OpenGeoMeshError]] = {
        503: Busy,
        409: Conflict,
        412: PreconditionFailed,
        413: PayloadTooLarge,
        415: UnsupportedMediaType,
    }
    if status in kinds:
        return kinds[status](f"{host}: {detail}")
    return PeerUnavailable(f"{host} answered {status}: {detail}")


def _parameter(response: PeerResponse, known: frozenset[str]) -> str:
    """The parameter the sender's 400 names, if it is one we sent; else ``query``."""
    try:
        named = orjson.loads(response.body).get("parameter")
    except (orjson.JSONDecodeError, AttributeError):
        return "query"
    return named if isinstance(named, str) and named in known else "query"


def _detail(response: PeerResponse) -> str:
    try:
        answer = orjson.loads(response.body)
        said = answer.get("detail") or answer.get("description") or answer.get("title")
        return str(said or response.status)[:300]  # problem details, or pygeoapi's shape
    except (orjson.JSONDecodeError, AttributeError):
        return str(response.status)
