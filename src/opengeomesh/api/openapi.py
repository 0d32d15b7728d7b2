"""The ``/api`` document: OpenAPI 3.0 for the OGC API (/req/oas30/*) and the management API.

The OGC part is written out here, with every query parameter, since clients (QGIS, GDAL) and
validators read it; the management part is generated from the route models and brought down
from OpenAPI 3.1 to 3.0.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
from fastapi import Request
from fastapi.openapi.utils import get_openapi
from starlette.responses import Response

from opengeomesh import __version__
from opengeomesh.api.auth import CurrentCaller
from opengeomesh.api.negotiation import Format, chosen_format
from opengeomesh.api.ogc import OPENAPI_JSON, base_url, check_parameters
from opengeomesh.api.openapi_editing import (
    CHANGES_PATHS,
    CHANGES_SCHEMAS,
    EDITING_PATHS,
    EDITING_RESPONSES,
)
from opengeomesh.api.openapi_ocm import OCM_PATHS, OCM_SCHEMAS
from opengeomesh.api.openapi_parts import MOUNTED, PROBLEM_REF
from opengeomesh.api.openapi_parts import problem as _problem
from opengeomesh.api.openapi_parts import ref as _ref
from opengeomesh.errors import InvalidInput
from opengeomesh.features.crs import SUPPORTED_URIS
from opengeomesh.web.pages import render

DOCUMENT_CACHE = 8
RESPONSES = {
    "BadRequest": _problem("A parameter or body field is not valid; `parameter` names it"),
    "Unauthorized": _problem("A bearer token is needed, or the one sent is not valid"),
    "Forbidden": _problem("The caller may not do this"),
    "NotFound": _problem("No such resource, or not one the caller may read"),
    "Conflict": _problem("The request clashes with the current state"),
    "TooLarge": _problem("The request body is over the limit"),
    "PeerFailed": _problem("Another server could not be reached or answered unusably"),
    "PeerTimeout": _problem("Another server did not answer in time"),
    "Busy": {
        **_problem("Busy with other work; try again after Retry-After seconds"),
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 0}}},
    },
}


PARAMETERS: dict[str, Any] = {
    "f": {
        "name": "f",
        "in": "query",
        "required": False,
        "description": "Representation: json (the default) or html",
        "schema": {"type": "string", "enum": ["json", "html"]},
    },
    "collectionId": {
        "name": "collectionId",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "Id of a collection; ocm-N is a share received from another server,"
        " read through this one",
    },
    "featureId": {
        "name": "featureId",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "Id of a feature",
    },
    "limit": {
        "name": "limit",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "description": "Features per page; larger values are reduced to the maximum",
        "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100},
    },
    "bbox": {
        "name": "bbox",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "description": "Features meeting this box: minLon,minLat,maxLon,maxLat (CRS84), or the"
        " lower and upper corner in bbox-crs, in its axis order",
        "schema": {
            "type": "array",
            "minItems": 4,
            "maxItems": 6,
            "items": {"type": "number"},
        },
    },
    "datetime": {
        "name": "datetime",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "description": "Features whose time meets this instant or interval (RFC 3339, '..' open)",
        "schema": {"type": "string", "minLength": 10},
    },
    "crs": {
        "name": "crs",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "description": "CRS of the coordinates in the answer (OGC API – Features Part 2), in its"
        " authority's axis order (EPSG:4326: latitude first); short forms such as EPSG:25832"
        " are accepted too. Default CRS84",
        "schema": {"type": "string", "format": "uri", "enum": SUPPORTED_URIS},
    },
    "bbox-crs": {
        "name": "bbox-crs",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "description": "CRS of the bbox parameter (Part 2); short forms such as EPSG:25832 are"
        " accepted too. Default CRS84",
        "schema": {"type": "string", "format": "uri", "enum": SUPPORTED_URIS},
    },
    "filter": {
        "name": "filter",
        "in": "query",
        "required": False,
        "description": "A CQL2 filter (OGC API – Features Part 3) in filter-lang, AND-combined with"
        " bbox and datetime. Properties as listed in the collection's queryables, the feature"
        " geometry as 'geometry'. Supported: AND, OR, NOT, comparisons, IS NULL, LIKE, BETWEEN,"
        " IN, the S_ spatial functions with WKT (text) or GeoJSON (JSON) literals and BBOX, the"
        " T_ temporal functions with TIMESTAMP, DATE and INTERVAL",
        "schema": {"type": "string", "maxLength": 20000},
    },
    "filter-lang": {
        "name": "filter-lang",
        "in": "query",
        "required": False,
        "description": "The language of filter; cql2-json is URL-encoded JSON",
        "schema": {"type": "string", "enum": ["cql2-text", "cql2-json"], "default": "cql2-text"},
    },
    "filter-crs": {
        "name": "filter-crs",
        "in": "query",
        "required": False,
        "description": "The CRS of the coordinates in filter geometries",
        "schema": {
            "type": "string",
            "format": "uri",
            "enum": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
            "default": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
        },
    },
    "offset": {
        "name": "offset",
        "in": "query",
        "required": False,
        "description": "Features to skip before the page starts",
        "schema": {"type": "integer", "minimum": 0, "default": 0},
    },
    "cursor": {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": "Position of a page, as given in next and prev links",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{2,32}$"},
    },
}

LINK = {
    "type": "object",
    "required": ["href", "rel"],
    "properties": {
        "href": {"type": "string"},
        "rel": {"type": "string"},
        "type": {"type": "string"},
        "title": {"type": "string"},
    },
}
LINKS = {"type": "array", "items": _ref("schemas", "Link")}

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "Problem details (RFC 9457): why a request failed",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "parameter": {"type": "string"},
        },
    },
    "Link": LINK,
    "LandingPage": {
        "type": "object",
        "required": ["links"],
        "properties": {
            "title": {"type": "string"},
            "description": {"type": "string"},
            "links": LINKS,
        },
    },
    "ConfClasses": {
        "type": "object",
        "required": ["conformsTo"],
        "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}},
    },
    "Extent": {
        "type": "object",
        "properties": {
            "spatial": {
                "type": "object",
                "properties": {
                    "bbox": {
                        "type": "array",
                        "items": {
                            "type": "array",
                            "minItems": 4,
                            "maxItems": 6,
                            "items": {"type": "number"},
                        },
                    },
                    "crs": {"type": "string"},
                },
            },
            "temporal": {
                "type": "object",
                "properties": {
                    "interval": {
                        "type": "array",
                        "items": {
                            "type": "array",
                            "minItems": 2,
                            "maxItems": 2,
                            "items": {"type": "string", "format": "date-time", "nullable": True},
                        },
                    },
                    "trs": {"type": "string"},
                },
            },
        },
    },
    "Collection": {
        "type": "object",
        "required": ["id", "links"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "links": LINKS,
            "extent": _ref("schemas", "Extent"),
            "itemType": {"type": "string"},
            "crs": {"type": "array", "items": {"type": "string"}},
            "storageCrs": {"type": "string"},
            "owner": {"type": "string"},
            "public": {"type": "boolean"},
            "access": {"type": "string", "enum": ["read", "write", "manage"]},
            "numberOfFeatures": {"type": "integer"},
        },
    },
    "Collections": {
        "type": "object",
        "required": ["links", "collections"],
        "properties": {
            "links": LINKS,
            "collections": {"type": "array", "items": _ref("schemas", "Collection")},
        },
    },
    "Geometry": {
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {
                "type": "string",
                "enum": [
                    "Point",
                    "MultiPoint",
                    "LineString",
                    "MultiLineString",
                    "Polygon",
                    "MultiPolygon",
                    "GeometryCollection",
                ],
            }
        },
    },
    "Feature": {
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "geometry": {"allOf": [_ref("schemas", "Geometry")], "nullable": True},
            "properties": {"type": "object", "nullable": True},
            "links": LINKS,
        },
    },
    "FeatureCollection": {
        "type": "object",
        "required": ["type", "features"],
        "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {"type": "array", "items": _ref("schemas", "Feature")},
            "links": LINKS,
            "timeStamp": {"type": "string", "format": "date-time"},
            "numberMatched": {"type": "integer", "minimum": 0},
            "numberReturned": {"type": "integer", "minimum": 0},
        },
    },
}


def _ok(description: str, schema: str, media: str = "application/json") -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            media: {"schema": _ref("schemas", schema)},
            "text/html": {"schema": {"type": "string"}},
        },
    }


CONTENT_CRS = {
    "description": "The CRS of the coordinates, as <URI> (Part 2)",
    "schema": {"type": "string"},
}


def _ogc_get(
    summary: str, op_id: str, params: list[str], ok: dict[str, Any], errors: list[str]
) -> dict[str, Any]:
    responses = {"200": ok, "400": _ref("responses", "BadRequest")}
    codes = {
        "Unauthorized": "401",
        "Forbidden": "403",
        "NotFound": "404",
        "PeerFailed": "502",
        "Busy": "503",
        "PeerTimeout": "504",
    }
    for name in errors:
        responses[codes[name]] = _ref("responses", name)
    if "featureId" in params:
        responses["304"] = {"description": "Not modified (If-None-Match matched the ETag)"}
    return {
        "get": {
            "summary": summary,
            "operationId": op_id,
            "tags": ["OGC API – Features"],
            "parameters": [_ref("parameters", p) for p in params],
            "security": [{}, {"bearerAuth": []}],
            "responses": responses,
        }
    }


OGC_PATHS: dict[str, Any] = {
    "/": _ogc_get(
        "Landing page",
        "getLandingPage",
        ["f"],
        _ok("Links to the API definition, conformance and collections", "LandingPage"),
        ["Unauthorized"],
    ),
    "/conformance": _ogc_get(
        "Conformance classes",
        "getConformance",
        ["f"],
        _ok("The conformance classes implemented", "ConfClasses"),
        ["Unauthorized"],
    ),
    "/api": {
        "get": {
            "summary": "This API definition",
            "operationId": "getApi",
            "tags": ["OGC API – Features"],
            "parameters": [_ref("parameters", "f")],
            "security": [{}, {"bearerAuth": []}],
            "responses": {
                "200": {
                    "description": "The OpenAPI 3.0 document (f=html: the readable page)",
                    "content": {
                        OPENAPI_JSON: {"schema": {"type": "object"}},
                        "text/html": {"schema": {"type": "string"}},
                    },
                },
                "400": _ref("responses", "BadRequest"),
                "401": _ref("responses", "Unauthorized"),
            },
        }
    },
    "/collections": _ogc_get(
        "Collections you may read",
        "getCollections",
        ["f"],
        _ok("The collections this caller may read", "Collections"),
        ["Unauthorized"],
    ),
    "/collections/{collectionId}": _ogc_get(
        "One collection",
        "describeCollection",
        ["collectionId", "f"],
        _ok("The collection", "Collection"),
        ["Unauthorized", "NotFound", *MOUNTED],
    ),
    "/collections/{collectionId}/queryables": _ogc_get(
        "Properties a filter may name",
        "getQueryables",
        ["collectionId", "f"],
        {
            "description": "The queryables as JSON Schema 2020-12 (Part 3)",
            "content": {
                "application/schema+json": {"schema": {"type": "object"}},
                "text/html": {"schema": {"type": "string"}},
            },
        },
        ["Unauthorized", "NotFound", *MOUNTED],
    ),
    "/collections/{collectionId}/items": _ogc_get(
        "Features of a collection",
        "getFeatures",
        [
            "collectionId",
            "f",
            "limit",
            "bbox",
            "bbox-crs",
            "datetime",
            "filter",
            "filter-lang",
            "filter-crs",
            "offset",
            "cursor",
            "crs",
        ],
        {
            **_ok("A page of features", "FeatureCollection", "application/geo+json"),
            "headers": {"Content-Crs": CONTENT_CRS},
        },
        ["Unauthorized", "NotFound", *MOUNTED],
    ),
    "/collections/{collectionId}/items/{featureId}": _ogc_get(
        "One feature",
        "getFeature",
        ["collectionId", "featureId", "f", "crs"],
        {
            **_ok("The feature", "Feature", "application/geo+json"),
            "headers": {"ETag": {"schema": {"type": "string"}}, "Content-Crs": CONTENT_CRS},
        },
        ["Unauthorized", "NotFound", *MOUNTED],
    ),
}


def build_document(app_routes: list[Any], server_url: str, title: str) -> dict[str, Any]:
    """The whole OpenAPI 3.0 document for a server reached at ``server_url``."""

    generated = get_openapi(title=title, version=__version__, routes=app_routes)
    managed = downgrade(generated)
    schemas = {
        **managed.get("components", {}).get("schemas", {}),
        **SCHEMAS,
        **OCM_SCHEMAS,
        **CHANGES_SCHEMAS,
    }
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    paths = {**OGC_PATHS, **CHANGES_PATHS, **OCM_PATHS, **managed.get("paths", {})}
    for path, operations in EDITING_PATHS.items():
        paths[path] = {**paths[path], **operations}
    _with_limits(paths)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": title,
            "version": __version__,
            "description": "OGC API – Features (Part 1) and the management API of OpenGeoMesh."
            " Send personal tokens as 'Authorization: Bearer <token>'.",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "parameters": PARAMETERS,
            "schemas": schemas,
            "responses": {**RESPONSES, **EDITING_RESPONSES},
        },
    }


def _with_limits(paths: dict[str, Any]) -> None:
    """Every operation that authenticates (declares 401) may be refused by a rate limit (429
    with Retry-After), every one that takes a body by the body limit (413); docs/security.md."""
    retry = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
    for path, operations in paths.items():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if "401" not in responses:
                continue
            body: Any
            if path == "/ocm/token":
                body = {"type": "object", "properties": {"error": {"type": "string"}}}
                media = "application/json"
            elif path.startswith("/ocm/"):
                body, media = _ref("schemas", "OcmError"), "application/json"
            else:
                body, media = PROBLEM_REF, "application/problem+json"
            responses.setdefault(
                "429",
                {
                    "description": "Too many requests a minute; try again after Retry-After",
                    "headers": retry,
                    "content": {media: {"schema": body}},
                },
            )
            if operation.get("requestBody") and not path.startswith("/ocm/"):
                responses.setdefault("413", _ref("responses", "TooLarge"))


# Management operations that wait for another server (a share is delivered from the outbox,
# so creating one answers 201 even when its recipient's server is down).
CALLS_PEERS = ("accept_invite", "access_received")


def downgrade(document: dict[str, Any]) -> dict[str, Any]:
    """Bring a generated OpenAPI 3.1 document down to 3.0 and use our problem responses."""
    result: dict[str, Any] = _schema_30(copy.deepcopy(document))
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses["400"] = _ref("responses", "BadRequest")
            responses["401"] = _ref("responses", "Unauthorized")
            responses["403"] = _ref("responses", "Forbidden")
            responses["404"] = _ref("responses", "NotFound")
            if operation.get("requestBody"):
                responses["409"] = _ref("responses", "Conflict")
            if operation.get("operationId", "").startswith("import_features"):
                responses["413"] = _ref("responses", "TooLarge")
            if operation.get("operationId", "").startswith(CALLS_PEERS):
                responses["502"] = _ref("responses", "PeerFailed")
                responses["504"] = _ref("responses", "PeerTimeout")
            responses["503"] = _ref("responses", "Busy")
            operation["security"] = [{"bearerAuth": []}]
    return result


def _schema_30(node: Any) -> Any:
    """Rewrite JSON Schema 2020-12 forms that OpenAPI 3.0 does not know."""
    if isinstance(node, list):
        return [_schema_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _schema_30(value) for key, value in node.items()}
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            del node[key]
            if len(rest) == 1 and "$ref" not in rest[0]:
                node.update(rest[0])
            elif len(rest) == 1:
                node["allOf"] = rest
            else:
                node[key] = rest
            node["nullable"] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if isinstance(node.get("examples"), list) and "properties" not in node:
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    if isinstance(node.get("type"), list):
        types = [t for t in node["type"] if t != "null"]
        node["nullable"] = len(types) < len(node["type"])
        node["type"] = types[0]
    return node


def api_document(request: Request, _: CurrentCaller) -> Response:
    """``GET /api``: the OpenAPI document (``f=html`` gives the readable page)."""
    check_parameters(request, {"f"})
    if chosen_format(request) is Format.HTML:
        return render(request, "api.html", doc=_document(request))
    return Response(orjson.dumps(_document(request)), media_type=OPENAPI_JSON)


def api_page(request: Request, _: CurrentCaller) -> Response:
    """``GET /api.html``: the API definition as a page (``service-doc``)."""
    if check_parameters(request, {"f"}).get("f", "html") != "html":
        raise InvalidInput("f", "this page is HTML only; the JSON document is at /api")
    return render(request, "api.html", doc=_document(request))


def _document(request: Request) -> dict[str, Any]:
    url = base_url(request)
    cache: dict[str, dict[str, Any]] = request.app.state.api_documents
    if url not in cache:
        if len(cache) >= DOCUMENT_CACHE:  # one per Host header seen: keep it bounded
            cache.pop(next(iter(cache)))
        title = request.app.state.services.settings.title
        cache[url] = build_document(request.app.routes, url, title)
    return cache[url]
