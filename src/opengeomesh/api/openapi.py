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
from opengeomesh.errors import InvalidInput
from opengeomesh.web.pages import render

DOCUMENT_CACHE = 8
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": PROBLEM_REF}},
    }


RESPONSES = {
    "BadRequest": _problem("A parameter or body field is not valid; `parameter` names it"),
    "Unauthorized": _problem("A bearer token is needed, or the one sent is not valid"),
    "Forbidden": _problem("The caller may not do this"),
    "NotFound": _problem("No such resource, or not one the caller may read"),
    "Conflict": _problem("The request clashes with the current state"),
    "TooLarge": _problem("The request body is over the limit"),
    "PeerFailed": _problem("Another server could not be reached or answered unusably"),
    "Busy": _problem("Busy with other work; try again after Retry-After seconds"),
}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


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
        "description": "Id of a collection",
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
        "description": "Features meeting this box: minLon,minLat,maxLon,maxLat (CRS84)",
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


def _ogc_get(
    summary: str, op_id: str, params: list[str], ok: dict[str, Any], errors: list[str]
) -> dict[str, Any]:
    responses = {"200": ok, "400": _ref("responses", "BadRequest")}
    codes = {"Unauthorized": "401", "NotFound": "404"}
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
        ["Unauthorized", "NotFound"],
    ),
    "/collections/{collectionId}/items": _ogc_get(
        "Features of a collection",
        "getFeatures",
        ["collectionId", "f", "limit", "bbox", "datetime", "offset", "cursor"],
        _ok("A page of features", "FeatureCollection", "application/geo+json"),
        ["Unauthorized", "NotFound"],
    ),
    "/collections/{collectionId}/items/{featureId}": _ogc_get(
        "One feature",
        "getFeature",
        ["collectionId", "featureId", "f"],
        {
            **_ok("The feature", "Feature", "application/geo+json"),
            "headers": {"ETag": {"schema": {"type": "string"}}},
        },
        ["Unauthorized", "NotFound"],
    ),
}


def _ocm_error(description: str, validation: bool = False) -> dict[str, Any]:
    schema = "OcmValidationError" if validation else "OcmError"
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref("schemas", schema)}},
    }


def _ocm_get(summary: str, op_id: str, schema: str, media: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "operationId": op_id,
            "tags": ["OpenCloudMesh"],
            "security": [{}],
            "responses": {
                "200": {
                    "description": summary,
                    "content": {media: {"schema": _ref("schemas", schema)}},
                }
            },
        }
    }


OCM_SCHEMAS: dict[str, Any] = {
    "OcmDiscovery": {
        "type": "object",
        "required": ["enabled", "apiVersion", "endPoint", "resourceTypes"],
        "description": "OCM discovery (spec.yaml Discovery)",
        "properties": {
            "enabled": {"type": "boolean"},
            "apiVersion": {"type": "string"},
            "endPoint": {"type": "string"},
            "provider": {"type": "string"},
            "resourceTypes": {"type": "array", "items": {"type": "object"}},
            "capabilities": {"type": "array", "items": {"type": "string"}},
            "criteria": {"type": "array", "items": {"type": "string"}},
            "jwksUri": {"type": "string"},
            "inviteAcceptDialog": {"type": "string"},
        },
    },
    "JwkSet": {
        "type": "object",
        "required": ["keys"],
        "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
    },
    "AcceptedInvite": {
        "type": "object",
        "required": ["recipientProvider", "token", "userID", "email", "name"],
        "properties": {
            name: {"type": "string", "maxLength": 1000}
            for name in ("recipientProvider", "token", "userID", "email", "name")
        },
    },
    "AcceptedInviteResponse": {
        "type": "object",
        "required": ["userID", "email", "name"],
        "properties": {name: {"type": "string"} for name in ("userID", "email", "name")},
    },
    "OcmError": {
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": "string"}, "detail": {"type": "string"}},
    },
    "OcmValidationError": {
        "allOf": [
            _ref("schemas", "OcmError"),
            {
                "type": "object",
                "properties": {
                    "validationErrors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        },
                    }
                },
            },
        ],
    },
}

OCM_PATHS: dict[str, Any] = {
    "/.well-known/ocm": _ocm_get(
        "OCM discovery", "getOcmDiscovery", "OcmDiscovery", "application/json"
    ),
    "/ocm-provider": _ocm_get(
        "OCM discovery (legacy path)", "getOcmProvider", "OcmDiscovery", "application/json"
    ),
    "/ocm/jwks": _ocm_get(
        "Keys this server signs with", "getJwks", "JwkSet", "application/jwk-set+json"
    ),
    "/ocm/invite-accepted": {
        "post": {
            "summary": "Another server tells us one of our invites was accepted",
            "description": 'Signed with RFC 9421 HTTP Message Signatures (tag="ocm").',
            "operationId": "inviteAccepted",
            "tags": ["OpenCloudMesh"],
            "security": [{}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("schemas", "AcceptedInvite")}},
            },
            "responses": {
                "200": {
                    "description": "The inviting user",
                    "content": {
                        "application/json": {"schema": _ref("schemas", "AcceptedInviteResponse")}
                    },
                },
                "400": _ocm_error("Unknown or expired token, or a field is wrong", validation=True),
                "401": _ocm_error("The signature is missing, wrong or cannot be checked"),
                "403": _ocm_error("This server does not trust the sending server"),
                "409": _ocm_error("The invite was accepted already"),
                "413": _ocm_error("The body is too large"),
                "415": _ocm_error("The body is not JSON"),
                "503": _ocm_error("Busy; try again"),
            },
        }
    },
}


def build_document(app_routes: list[Any], server_url: str, title: str) -> dict[str, Any]:
    """The whole OpenAPI 3.0 document for a server reached at ``server_url``."""
    generated = get_openapi(title=title, version=__version__, routes=app_routes)
    managed = downgrade(generated)
    schemas = {**managed.get("components", {}).get("schemas", {}), **SCHEMAS, **OCM_SCHEMAS}
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    paths = {**OGC_PATHS, **OCM_PATHS, **managed.get("paths", {})}
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
            "responses": RESPONSES,
        },
    }


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
            if operation.get("operationId", "").startswith("accept_invite"):
                responses["502"] = _ref("responses", "PeerFailed")
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
