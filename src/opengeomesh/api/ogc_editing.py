"""OGC API – Features Part 4 (draft 20-002r1): ``POST /items``, ``PUT``/``PATCH``/``DELETE
/items/{featureId}`` and ``OPTIONS`` on both, for local collections and, forwarded to the
sending server, for mounted shares."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from opengeomesh.accounts.models import Caller
from opengeomesh.api.auth import CurrentCaller, services_of
from opengeomesh.api.negotiation import Format
from opengeomesh.api.ocm import read_body
from opengeomesh.api.ogc import base_url, check_parameters, entity_tag, feature_response
from opengeomesh.errors import Forbidden, InvalidInput, UnsupportedMediaType
from opengeomesh.features.crs import CRS84, parse_content_crs, to_crs84
from opengeomesh.features.models import Access, Collection, StoredFeature
from opengeomesh.features.remote import MountedLayer
from opengeomesh.features.upstreams import Exposure

FEATURE_TYPES = ("application/geo+json", "application/json")
PATCH_TYPES = ("application/merge-patch+json", "application/json")
FORWARDED = ("content-type", "content-crs")  # to the sender of a mounted share, with If-Match


async def _body(request: Request, accepted: tuple[str, ...]) -> bytes:
    """The request body, of an accepted media type and within the size limit."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in accepted:
        raise UnsupportedMediaType(f"send {' or '.join(accepted)}, not {media or 'nothing'}")
    parse_content_crs(request.headers.get("content-crs"))  # refused before reading the body
    return await read_body(request, services_of(request).settings.max_feature_bytes)


def _json(request: Request, body: bytes) -> Any:
    """The body as JSON, its geometry brought to CRS84 from its ``Content-Crs`` (Part 2 with
    Part 4; with or without angle brackets, as QGIS sends none)."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidInput("body", "not valid JSON") from None
    crs = parse_content_crs(request.headers.get("content-crs"))
    if crs.is_crs84 or not isinstance(parsed, dict) or parsed.get("geometry") is None:
        return parsed
    moved = {k: v for k, v in parsed.items() if k != "bbox"}  # a bbox in the old CRS misleads
    moved["geometry"] = to_crs84(parsed["geometry"], crs)
    return moved


def _location(request: Request, collection_id: str, feature_id: str) -> str:
    return f"{base_url(request)}/collections/{collection_id}/items/{quote(feature_id, safe='')}"


def _written(
    request: Request,
    found: Collection | MountedLayer,
    feature: StoredFeature,
    status: int,
    etag: str | None,
) -> Response:
    headers = {"ETag": etag} if etag else {}
    headers["Content-Crs"] = CRS84.header
    if status == 201:
        headers["Location"] = _location(request, found.id, feature.id)
    response = feature_response(request, found, feature, Format.JSON, headers)
    response.status_code = status
    return response


def _if_match(request: Request) -> str | None:
    """Every ``If-Match`` line as one list (RFC 9110 §5.3), or None."""
    lines = request.headers.getlist("if-match")
    return ", ".join(lines) if lines else None


async def _target(
    request: Request, caller: Caller, collection_id: str
) -> MountedLayer | Exposure | None:
    """The mounted layer or upstream collection written to, or None for a local collection;
    either way the caller's right to write is checked before the body is read."""
    services = services_of(request)
    layer = services.mounts.find(caller, collection_id)
    if layer is not None:
        if layer.share.permission != "write":
            raise Forbidden(f"the share of {layer.title!r} is read-only")
        return layer
    exposed = await run_in_threadpool(services.upstream_features.find, collection_id)
    if exposed is not None:
        await run_in_threadpool(services.upstream_features.check_write, caller, exposed)
        return exposed
    await run_in_threadpool(services.catalog.require, caller, collection_id, Access.WRITE)
    return None


async def _forward(
    request: Request,
    caller: Caller,
    layer: MountedLayer | Exposure,
    feature_id: str | None,
    body: bytes,
) -> Response:
    """A write to a mounted share or an upstream collection, done by the sending or upstream
    server; its answer mapped to ours."""
    headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED}
    if_match = _if_match(request)
    if if_match is not None:
        headers["if-match"] = if_match
    services = services_of(request)
    found: Collection | MountedLayer
    if isinstance(layer, Exposure):
        found = await run_in_threadpool(services.upstream_features.check_write, caller, layer)
        response, feature = await run_in_threadpool(
            services.upstream_features.write,
            caller,
            layer,
            request.method,
            feature_id,
            body,
            headers,
        )
    else:
        found = layer
        try:
            response, feature = await run_in_threadpool(
                services.mounts.write, layer, request.method, feature_id, body, headers
            )
        finally:  # kept answers of the layer are not read again, even if the sender timed out
            services.mount_watch.changed(layer.share.id)
    if feature is not None:
        return _written(request, found, feature, response.status, response.headers.get("etag"))
    if response.status == 201:  # created there, though its answer had no readable feature
        made = response.headers.get("location", "").rsplit("/items/", 1)[-1]
        location = f"{base_url(request)}/collections/{found.id}/items/{made}"
        return Response(status_code=201, headers={"Location": location})
    return Response(status_code=204)


async def create_item(collection_id: str, request: Request, caller: CurrentCaller) -> Response:
    """``POST /collections/{collectionId}/items``: 201 with ``Location`` and ``ETag``."""
    check_parameters(request, ())
    services = services_of(request)
    layer = await _target(request, caller, collection_id)
    body = await _body(request, FEATURE_TYPES)
    if layer is not None:
        return await _forward(request, caller, layer, None, body)
    found, feature = await run_in_threadpool(
        services.editing.create, caller, collection_id, _json(request, body)
    )
    return _written(request, found, feature, 201, entity_tag(found, feature, Format.JSON))


async def replace_item(
    collection_id: str, feature_id: str, request: Request, caller: CurrentCaller
) -> Response:
    """``PUT /collections/{collectionId}/items/{featureId}``: 200 with the feature and ETag."""
    return await _change(request, caller, collection_id, feature_id, replace=True)


async def update_item(
    collection_id: str, feature_id: str, request: Request, caller: CurrentCaller
) -> Response:
    """``PATCH /collections/{collectionId}/items/{featureId}`` with a JSON Merge Patch."""
    return await _change(request, caller, collection_id, feature_id, replace=False)


async def _change(
    request: Request, caller: Caller, collection_id: str, feature_id: str, *, replace: bool
) -> Response:
    check_parameters(request, ())
    services = services_of(request)
    layer = await _target(request, caller, collection_id)
    body = await _body(request, FEATURE_TYPES if replace else PATCH_TYPES)
    if layer is not None:
        return await _forward(request, caller, layer, feature_id, body)
    gesture = services.editing.replace if replace else services.editing.update
    if_match = _if_match(request)
    found, feature = await run_in_threadpool(
        gesture, caller, collection_id, feature_id, _json(request, body), if_match
    )
    return _written(request, found, feature, 200, entity_tag(found, feature, Format.JSON))


async def delete_item(
    collection_id: str, feature_id: str, request: Request, caller: CurrentCaller
) -> Response:
    """``DELETE /collections/{collectionId}/items/{featureId}``: 204."""
    check_parameters(request, ())
    services = services_of(request)
    layer = await _target(request, caller, collection_id)
    if layer is not None:
        return await _forward(request, caller, layer, feature_id, b"")
    if_match = _if_match(request)
    await run_in_threadpool(services.editing.delete, caller, collection_id, feature_id, if_match)
    return Response(status_code=204)


def items_options(collection_id: str, request: Request, caller: CurrentCaller) -> Response:
    """``OPTIONS /collections/{collectionId}/items``: ``Allow`` lists what this caller may do
    now (POST with write access)."""
    return _options(request, caller, collection_id, item=False)


def item_options(
    collection_id: str, feature_id: str, request: Request, caller: CurrentCaller
) -> Response:
    """``OPTIONS`` on one feature, also for one that does not exist (QGIS asks for an
    unknown id of an empty layer)."""
    return _options(request, caller, collection_id, item=True)


def _options(request: Request, caller: Caller, collection_id: str, *, item: bool) -> Response:
    services = services_of(request)
    layer = services.mounts.find(caller, collection_id)
    if layer is not None:
        methods = ["GET", "HEAD", "OPTIONS"]
        if layer.share.permission == "write":
            methods += ["PUT", "PATCH", "DELETE"] if item else ["POST"]
    elif (exposed := services.upstream_features.find(collection_id)) is not None:
        methods = services.upstream_features.allowed(caller, exposed, item=item)
    else:
        methods = services.editing.allowed(caller, collection_id, item=item)
    return Response(status_code=200, headers={"Allow": ", ".join(methods)})
