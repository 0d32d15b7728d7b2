"""OGC API – Features Part 1 resources (OGC 17-069r4): landing page, conformance, collections,
items and single features, in GeoJSON/JSON and HTML.

Every resource refuses unknown query parameters (/req/core/query-param-unknown) and answers
per caller: each sees exactly the collections they may read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import orjson
from fastapi import Request
from starlette.responses import Response

from opengeomesh.accounts.models import Caller
from opengeomesh.api.auth import CurrentCaller, services_of
from opengeomesh.api.negotiation import Format, chosen_format
from opengeomesh.api.page_cache import mark_cacheable
from opengeomesh.errors import InvalidInput
from opengeomesh.features.crs import (
    DEFAULT_CRS,
    STORAGE_CRS,
    SUPPORTED_URIS,
    Crs,
    features_in,
    parse_crs,
)
from opengeomesh.features.encoding import feature_bytes
from opengeomesh.features.filtering import CONFORMANCE as FILTER_CONFORMANCE
from opengeomesh.features.models import (
    Access,
    Collection,
    ItemsPage,
    StoredFeature,
    feature_etag,
)
from opengeomesh.features.query import ITEM_PARAMETERS, ITEMS_PARAMETERS, parse_items_query
from opengeomesh.features.queryables import QUERYABLES_REL, SCHEMA_JSON
from opengeomesh.features.remote import MountedLayer
from opengeomesh.features.timeval import rfc3339
from opengeomesh.features.upstreams import Exposure
from opengeomesh.web.pages import render

GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.0"
EVENT_STREAM = "text/event-stream"
CHANGES_REL = "monitor"  # RFC 5989: "a resource that can be used to monitor changes"
TRS = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/landing-page",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
    # written with /req/ in the draft's table (20-002r1); advertised as written there
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/req/optimistic-locking-etags",
]


class Named(Protocol):
    """What links need of a collection, local or mounted."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...


def base_url(request: Request) -> str:
    """The URL prefix links are built on: the configured public URL, else the request's own."""
    configured = services_of(request).settings.public_url
    return configured or str(request.base_url).rstrip("/")


def check_parameters(request: Request, allowed: Iterable[str]) -> dict[str, str]:
    """The query parameters, refusing unknown and repeated ones."""
    allowed = frozenset(allowed)
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in allowed:
            raise InvalidInput(name, "unknown query parameter")
        if name in params:
            raise InvalidInput(name, "given more than once")
        params[name] = value
    return params


def link(href: str, rel: str, media_type: str, title: str | None = None) -> dict[str, str]:
    entry = {"href": href, "rel": rel, "type": media_type}
    if title:
        entry["title"] = title
    return entry


def _json(body: Any, media_type: str = JSON, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), media_type=media_type, headers=headers)


# --- landing page, conformance -------------------------------------------------------------


def landing_page(request: Request, _: CurrentCaller) -> Response:
    """``GET /``: the links into the API (/req/core/root-success)."""
    fmt = _format(request, {"f"})
    settings = services_of(request).settings
    base = base_url(request)
    body = {
        "title": settings.title,
        "description": f"OGC API – Features of {settings.organisation}, served by OpenGeoMesh",
        "links": [
            link(f"{base}/?f=json", "self" if fmt is Format.JSON else "alternate", JSON),
            link(f"{base}/?f=html", "alternate" if fmt is Format.JSON else "self", HTML),
            link(f"{base}/api", "service-desc", OPENAPI_JSON, "The API definition"),
            link(f"{base}/api.html", "service-doc", HTML, "The API documentation"),
            link(f"{base}/conformance", "conformance", JSON, "Conformance classes"),
            link(f"{base}/collections", "data", JSON, "Collections (map layers)"),
        ],
    }
    if fmt is Format.HTML:
        return render(request, "landing.html", page=body)
    return _json(body)


def conformance(request: Request, _: CurrentCaller) -> Response:
    """``GET /conformance``: the conformance classes implemented (/req/core/conformance-success)."""
    fmt = _format(request, {"f"})
    body = {"conformsTo": CONFORMANCE + FILTER_CONFORMANCE}
    if fmt is Format.HTML:
        return render(request, "conformance.html", page=body)
    return _json(body)


# --- collections ---------------------------------------------------------------------------


def collections(request: Request, caller: CurrentCaller) -> Response:
    """``GET /collections``: the collections this caller may read (/req/core/fc-md-success)."""
    fmt = _format(request, {"f"})
    base = base_url(request)
    services = services_of(request)
    visible = services.catalog.visible(caller)
    mounted = services.mounts.visible(caller)
    body = {
        "links": [
            link(f"{base}/collections?f=json", _rel(fmt, Format.JSON), JSON),
            link(f"{base}/collections?f=html", _rel(fmt, Format.HTML), HTML),
        ],
        "collections": [collection_body(base, c, access) for c, access in visible]
        + [mounted_body(base, layer) for layer in mounted],
    }
    if fmt is Format.HTML:
        return render(request, "collections.html", page=body)
    return _json(body)


def collection(collection_id: str, request: Request, caller: CurrentCaller) -> Response:
    """``GET /collections/{collectionId}`` (/req/core/sfc-md-success)."""
    fmt = _format(request, {"f"})
    services = services_of(request)
    layer = services.mounts.find(caller, collection_id)
    if layer is not None:
        body = mounted_body(base_url(request), layer, fmt, services.mounts.describe(layer))
    else:
        found, access = services.catalog.get(caller, collection_id)
        body = collection_body(base_url(request), found, access, fmt)
        exposed = services.upstream_features.find(collection_id)
        if exposed is not None:  # the features, so their extent and count, are upstream
            described = services.upstream_features.describe(exposed)
            extent = described.get("extent")
            body["extent"] = extent if isinstance(extent, dict) else {}
            body.pop("numberOfFeatures", None)
    if fmt is Format.HTML:
        return render(request, "collection.html", page=body)
    return _json(body)


def collection_body(
    base: str, found: Collection, access: Access, fmt: Format = Format.JSON
) -> dict[str, Any]:
    """A collection's description, as listed and as served alone."""
    body: dict[str, Any] = {
        "id": found.id,
        "title": found.title,
        "description": found.description,
        "itemType": "feature",
        "crs": SUPPORTED_URIS,
        "storageCrs": STORAGE_CRS.uri,
        "links": _collection_links(base, found, fmt),
        "extent": _extent(found),
        "owner": found.owner_name,
        "public": found.public,
        "access": access.name.lower(),
        "numberOfFeatures": found.feature_count,
    }
    return body


def mounted_body(
    base: str,
    layer: MountedLayer,
    fmt: Format = Format.JSON,
    described: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A mounted share's description; ``described`` is the sender's, for extent and count."""
    body: dict[str, Any] = {
        "id": layer.id,
        "title": layer.title,
        "description": layer.description,
        "itemType": "feature",
        "crs": SUPPORTED_URIS,  # asked of the sender, or transformed here if it answers CRS84
        "storageCrs": STORAGE_CRS.uri,
        "links": _collection_links(base, layer, fmt),
        "access": layer.share.permission,
        "sharedBy": layer.shared_by,
    }
    if described is not None:
        extent = described.get("extent")
        body["extent"] = extent if isinstance(extent, dict) else {}
        count = described.get("numberOfFeatures")
        if isinstance(count, int):
            body["numberOfFeatures"] = count
        body["owner"] = layer.share.owner_name or layer.share.owner
    return body


def _collection_links(base: str, found: Named, fmt: Format) -> list[dict[str, str]]:
    url = f"{base}/collections/{found.id}"
    return [
        link(f"{url}?f=json", _rel(fmt, Format.JSON), JSON, found.title),
        link(f"{url}?f=html", _rel(fmt, Format.HTML), HTML, found.title),
        link(f"{url}/items?f=json", "items", GEOJSON, "Features as GeoJSON"),
        link(f"{url}/items?f=html", "items", HTML, "Features as HTML"),
        link(f"{url}/queryables", QUERYABLES_REL, SCHEMA_JSON, "What filters may name"),
        link(f"{url}/changes", CHANGES_REL, JSON, "Its changes, as pages (since=N)"),
        link(f"{url}/changes", CHANGES_REL, EVENT_STREAM, "Its changes as they happen"),
    ]


def _extent(found: Collection) -> dict[str, Any]:
    extent: dict[str, Any] = {}
    if found.bbox is not None:
        extent["spatial"] = {"bbox": [list(found.bbox)], "crs": STORAGE_CRS.uri}
    if found.interval is not None:
        start, end = found.interval
        extent["temporal"] = {"interval": [[rfc3339(start), rfc3339(end)]], "trs": TRS}
    return extent


# --- features ------------------------------------------------------------------------------


def items(collection_id: str, request: Request, caller: CurrentCaller) -> Response:
    """``GET /collections/{collectionId}/items``: one page of features (/req/core/fc-response)."""
    params = check_parameters(request, ITEMS_PARAMETERS)
    fmt = chosen_format(request)
    services = services_of(request)
    layer = services.mounts.find(caller, collection_id)
    exposed = None if layer is not None else services.upstream_features.find(collection_id)
    proxied = layer is not None or exposed is not None
    checked = {k: v for k, v in params.items() if k != "cursor"} if proxied else params
    query = parse_items_query(  # a proxied layer's cursor is the sender's, checked there
        checked,
        default_limit=services.settings.default_limit,
        max_limit=services.settings.max_limit,
    )
    found: Named
    if layer is not None:
        found, page = layer, services.mounts.items(layer, params, query.crs)
        if fmt is not Format.HTML:
            mark_cacheable(request, layer)
        features = page.features  # in query.crs already: the sender's, or made so there
    elif exposed is not None:
        found, page = services.upstream_features.items(caller, exposed, params, query)
        features = page.features  # in query.crs already, as for a mounted layer
    else:
        found, page = services.catalog.items(caller, collection_id, query)
        features = features_in(page.features, query.crs)
        if fmt is not Format.HTML:
            mark_cacheable(request)
    base = base_url(request)
    links = _items_links(base, found, params, page, fmt)
    meta: dict[str, Any] = {}
    if page.number_matched is not None:
        meta["numberMatched"] = page.number_matched
    meta["numberReturned"] = len(features)
    meta["timeStamp"] = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    meta["links"] = links
    headers = {"Content-Crs": query.crs.header}  # /req/crs/ogc-crs-header, CRS84 too
    if fmt is Format.HTML:
        rows = [_html_row(f) for f in features]
        return render(
            request, "items.html", collection=found, page=meta, features=rows, headers=headers
        )
    body = b"".join(
        (
            b'{"type":"FeatureCollection","features":[',
            b",".join(feature_bytes(f) for f in features),
            b"],",
            orjson.dumps(meta)[1:],
        )
    )
    return Response(body, media_type=GEOJSON, headers=headers)


def _items_links(
    base: str, found: Named, params: dict[str, str], page: ItemsPage, fmt: Format
) -> list[dict[str, str]]:
    url = f"{base}/collections/{found.id}/items"
    kept = {k: v for k, v in params.items() if k != "f"}

    def href(changes: dict[str, str | None], f: Format) -> str:
        merged = {**kept, **changes}
        query = {k: v for k, v in merged.items() if v is not None}
        query["f"] = f.value
        return f"{url}?{urlencode(query)}"

    media = {Format.JSON: GEOJSON, Format.HTML: HTML}
    links = [
        link(href({}, Format.JSON), _rel(fmt, Format.JSON), GEOJSON, "This page"),
        link(href({}, Format.HTML), _rel(fmt, Format.HTML), HTML, "This page as HTML"),
        link(f"{base}/collections/{found.id}?f=json", "collection", JSON, found.title),
    ]
    if page.next_cursor:
        changes = {"cursor": page.next_cursor, "offset": None}
        links.append(link(href(changes, fmt), "next", media[fmt], "Next page"))
    if page.prev_cursor:
        changes = {"cursor": page.prev_cursor, "offset": None}
        links.append(link(href(changes, fmt), "prev", media[fmt], "Previous page"))
    elif page.prev_offset is not None:
        changes = {"cursor": None, "offset": str(page.prev_offset) if page.prev_offset else None}
        links.append(link(href(changes, fmt), "prev", media[fmt], "Previous page"))
    return links


def item(
    collection_id: str,
    feature_id: str,
    request: Request,
    caller: CurrentCaller,
) -> Response:
    """``GET /collections/{collectionId}/items/{featureId}`` (/req/core/f-success), with ETag,
    in the CRS of ``crs`` (Part 2 /req/crs/fc-crs-action)."""
    params = check_parameters(request, ITEM_PARAMETERS)
    fmt = chosen_format(request)
    crs = parse_crs(params["crs"], "crs") if "crs" in params else DEFAULT_CRS
    services = services_of(request)
    layer = services.mounts.find(caller, collection_id)
    if layer is not None:
        return _mounted_item(request, layer, feature_id, fmt, crs)
    exposed = services.upstream_features.find(collection_id)
    if exposed is not None:
        return _upstream_item(request, caller, exposed, feature_id, fmt, crs)
    found, feature = services.catalog.item(caller, collection_id, feature_id)
    etag = entity_tag(found, feature, fmt, crs)
    headers = {"ETag": etag}
    matches = _etags(request.headers.get("if-none-match", ""))
    if etag in matches or "*" in matches:
        return Response(status_code=304, headers=headers)
    (feature,) = features_in([feature], crs)
    if fmt is not Format.HTML:
        mark_cacheable(request)
    return feature_response(request, found, feature, fmt, headers | {"Content-Crs": crs.header})


def _mounted_item(
    request: Request, layer: MountedLayer, feature_id: str, fmt: Format, crs: Crs
) -> Response:
    """A feature of a mounted share: asked of the sender, with its ETag (JSON only, as the
    HTML page is made here)."""
    condition = request.headers.get("if-none-match", "") if fmt is Format.JSON else ""
    remote = services_of(request).mounts.item(layer, feature_id, condition, crs)
    headers = {"ETag": remote.etag} if remote.etag and fmt is Format.JSON else {}
    if remote.feature is None:
        return Response(status_code=304, headers=headers)
    headers["Content-Crs"] = crs.header
    if fmt is not Format.HTML:
        mark_cacheable(request, layer)
    return feature_response(request, layer, remote.feature, fmt, headers)


def _upstream_item(
    request: Request, caller: Caller, exposed: Exposure, feature_id: str, fmt: Format, crs: Crs
) -> Response:
    """A feature of a collection exposed from an upstream server, with the upstream's ETag."""
    condition = request.headers.get("if-none-match", "") if fmt is Format.JSON else ""
    found, remote = services_of(request).upstream_features.item(
        caller, exposed, feature_id, condition, crs
    )
    headers = {"ETag": remote.etag} if remote.etag and fmt is Format.JSON else {}
    if remote.feature is None:
        return Response(status_code=304, headers=headers)
    headers["Content-Crs"] = crs.header
    return feature_response(request, found, remote.feature, fmt, headers)


def feature_response(
    request: Request,
    found: Named,
    feature: StoredFeature,
    fmt: Format,
    headers: dict[str, str],
) -> Response:
    feature_id = feature.id
    base = base_url(request)
    url = f"{base}/collections/{found.id}/items/{quote(feature_id, safe='')}"
    links = [
        link(f"{url}?f=json", _rel(fmt, Format.JSON), GEOJSON, "This feature"),
        link(f"{url}?f=html", _rel(fmt, Format.HTML), HTML, "This feature as HTML"),
        link(f"{base}/collections/{found.id}?f=json", "collection", JSON, found.title),
    ]
    if fmt is Format.HTML:
        return render(
            request,
            "item.html",
            collection=found,
            feature=_html_row(feature),
            links=links,
            headers=headers,
        )
    extra = b',"links":' + orjson.dumps(links)
    return Response(feature_bytes(feature, extra), media_type=GEOJSON, headers=headers)


def entity_tag(
    found: Collection, feature: StoredFeature, fmt: Format, crs: Crs = DEFAULT_CRS
) -> str:
    """The ETag of one representation (format, CRS) of a feature (see ``feature_etag``)."""
    variant = "" if crs.is_crs84 else crs.code.rsplit(":", 1)[1]
    if fmt is Format.HTML:
        variant = f"{variant}-html" if variant else "html"
    return feature_etag(found, feature, variant=variant)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def _html_row(feature: StoredFeature) -> dict[str, Any]:
    properties = orjson.loads(feature.properties_json) if feature.properties_json else {}
    geometry = orjson.loads(feature.geometry_json) if feature.geometry_json else None
    return {
        "id": feature.id,
        "properties": properties,
        "geometry_type": geometry["type"] if geometry else "none",
        "geometry": feature.geometry_json or "null",
    }


def _format(request: Request, allowed: set[str]) -> Format:
    check_parameters(request, allowed)
    return chosen_format(request)


def _rel(current: Format, target: Format) -> str:
    return "self" if current is target else "alternate"
