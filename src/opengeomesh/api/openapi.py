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
from opengeomesh.features.crs import SUPPORTED_URIS
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
    "PeerTimeout": _problem("Another server did not answer in time"),
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

# What a mounted share (ocm-N) can answer besides: the sender refused access, failed or was
# slow, or too many calls to other servers are under way.
MOUNTED = ["Forbidden", "PeerFailed", "Busy", "PeerTimeout"]


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


SIGNED = (
    "Server to server: the request must be signed with RFC 9421 HTTP Message Signatures"
    ' (tag="ocm", keys at the sending server\'s jwksUri), as draft-ietf-ocm profiles them.'
)
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
NO_STORE = {
    "Cache-Control": {"schema": {"type": "string", "enum": ["no-store"]}},
    "Pragma": {"schema": {"type": "string", "enum": ["no-cache"]}},
}
OAUTH_ERRORS = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
]


def _ocm_error(description: str, validation: bool = False) -> dict[str, Any]:
    schema = "OcmValidationError" if validation else "OcmError"
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref("schemas", schema)}},
    }


def _ocm_failures(unsigned: str, untrusted: str) -> dict[str, Any]:
    """The OCM error answers all our signed POSTs share (besides 400 and 501)."""
    return {
        "401": _ocm_error(unsigned),
        "403": _ocm_error(untrusted),
        "413": _ocm_error("The body is too large"),
        "415": _ocm_error("The body is not JSON (send application/json)"),
        "500": _ocm_error("An unexpected error (INTERNAL_ERROR), now logged"),
        "503": {**_ocm_error("Busy; try again"), "headers": RETRY_AFTER},
    }


def _oauth_error(description: str, codes: list[str], challenge: bool = False) -> dict[str, Any]:
    """An RFC 6749 §5.2 error answer of the token endpoint, narrowed to ``codes``."""
    headers: dict[str, Any] = dict(NO_STORE)
    if challenge:
        headers["WWW-Authenticate"] = {
            "description": 'Signature realm="ocm"',
            "schema": {"type": "string"},
        }
    narrowed = {"type": "object", "properties": {"error": {"type": "string", "enum": codes}}}
    return {
        "description": description,
        "headers": headers,
        "content": {
            "application/json": {"schema": {"allOf": [_ref("schemas", "OAuthError"), narrowed]}}
        },
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


def _ocm_post(summary: str, op_id: str, body: str, responses: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "description": SIGNED,
            "operationId": op_id,
            "tags": ["OpenCloudMesh"],
            "security": [{}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("schemas", body)}},
            },
            "responses": responses,
        }
    }


def _text(limit: int, description: str, required: bool = True) -> dict[str, Any]:
    """A text member of an OCM body as payloads.py reads it: a string of at most ``limit``
    characters without control characters (tab and newline aside); empty counts as missing."""
    schema: dict[str, Any] = {"type": "string", "maxLength": limit, "description": description}
    if required:
        schema["minLength"] = 1
    return schema


ADDRESS = "OCM address, identifier@host"
OCM_SCHEMAS: dict[str, Any] = {
    "OcmDiscovery": {
        "type": "object",
        "required": ["enabled", "apiVersion", "endPoint", "resourceTypes"],
        "description": "OCM discovery (spec.yaml Discovery); this server sends every member",
        "properties": {
            "enabled": {"type": "boolean"},
            "apiVersion": {"type": "string", "example": "1.4.0"},
            "endPoint": {"type": "string", "format": "uri", "description": "{base}/ocm"},
            "provider": {"type": "string", "description": "The organisation's name"},
            "resourceTypes": {"type": "array", "items": _ref("schemas", "OcmResourceType")},
            "capabilities": {
                "type": "array",
                "items": {"type": "string"},
                "example": [
                    "exchange-token",
                    "http-sig",
                    "invites",
                    "notifications",
                    "protocol-object",
                ],
            },
            "criteria": {
                "type": "array",
                "items": {"type": "string"},
                "description": "From the trust policy: any of must-use-http-sig, allowlist,"
                " must-invite, denylist",
                "example": ["must-invite", "must-use-http-sig"],
            },
            "tokenEndPoint": {
                "type": "string",
                "format": "uri",
                "description": "{base}/ocm/token: POST /ocm/token",
            },
            "jwksUri": {"type": "string", "format": "uri", "description": "{base}/ocm/jwks"},
            "inviteAcceptDialog": {
                "type": "string",
                "description": "A path on this server: {path}/ocm/accept-invite",
            },
        },
    },
    "OcmResourceType": {
        "type": "object",
        "required": ["name", "shareTypes", "protocols"],
        "properties": {
            "name": {"type": "string", "example": "feature-collection"},
            "shareTypes": {
                "type": "array",
                "items": {"type": "string", "enum": ["user", "group", "federation"]},
                "example": ["user", "group"],
            },
            "protocols": {
                "type": "object",
                "description": "ogcapi: the OGC API landing page's path, as a prefix (sending);"
                " ogcapi-receive: {} (receiving); docs/protocol.md §2",
                "properties": {
                    "ogcapi": {"type": "string", "example": "/"},
                    "ogcapi-receive": {"type": "object"},
                },
            },
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
    "NewShare": {
        "type": "object",
        "description": "spec.yaml NewShare, as this server takes it: a feature-collection"
        " shared over the ogcapi protocol (docs/protocol.md §3). The signing server must be"
        " the host of sender and owner. Other members are ignored.",
        "required": [
            "shareWith",
            "name",
            "providerId",
            "owner",
            "sender",
            "shareType",
            "resourceType",
            "protocol",
        ],
        "properties": {
            "shareWith": _text(
                4000, f"{ADDRESS} of a user or group of this server; acct: may precede it"
            ),
            "name": _text(200, "The collection's title"),
            "description": _text(4000, "The collection's description", required=False),
            "providerId": _text(4000, "Opaque, unique per share at the sending server"),
            "owner": _text(4000, f"{ADDRESS} of the owner, at the sending server"),
            "sender": _text(4000, f"{ADDRESS} of the user who shares, at the sending server"),
            "ownerDisplayName": _text(200, "The owner's name", required=False),
            "senderDisplayName": _text(200, "The sender's name", required=False),
            "shareType": {
                "type": "string",
                "enum": ["user", "group"],
                "description": "Other types answer 501 SHARE_TYPE_UNSUPPORTED",
            },
            "resourceType": {
                "type": "string",
                "enum": ["feature-collection"],
                "description": "Other types answer 501 RESOURCE_TYPE_UNSUPPORTED",
            },
            "protocol": _ref("schemas", "NewShareProtocol"),
        },
    },
    "NewShareProtocol": {
        "type": "object",
        "description": 'The multi form {"name": "multi", "ogcapi": {...}}; the older'
        ' {"name": "ogcapi", "options": {...}} is read too. Without ogcapi the share answers'
        " 501 PROTOCOL_UNSUPPORTED; other protocols are ignored.",
        "properties": {
            "name": {"type": "string", "example": "multi"},
            "ogcapi": _ref("schemas", "OgcapiProtocol"),
            "options": _ref("schemas", "OgcapiProtocol"),
        },
    },
    "OgcapiProtocol": {
        "type": "object",
        "description": "protocol.ogcapi (docs/protocol.md §3.2); uri or url is required",
        "required": ["sharedSecret", "permissions"],
        "anyOf": [{"required": ["uri"]}, {"required": ["url"]}],
        "properties": {
            "uri": {
                "type": "string",
                "minLength": 1,
                "maxLength": 2000,
                "description": "The collection: an http(s) URL without query or fragment on"
                " the signing server, or a path relative to its protocols.ogcapi prefix",
            },
            "url": {"type": "string", "maxLength": 2000, "description": "Read in place of uri"},
            "sharedSecret": {
                "type": "string",
                "minLength": 16,
                "maxLength": 512,
                "description": "The code of the token exchange (POST /ocm/token)",
            },
            "permissions": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string"},
                "description": "Must include read; write adds editing; others are ignored",
                "example": ["read", "write"],
            },
            "requirements": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "enum": ["must-exchange-token"]},
                "description": "Another requirement answers 400 UNSUPPORTED_REQUIREMENT",
            },
        },
    },
    "NewShareResponse": {
        "type": "object",
        "required": ["recipientDisplayName"],
        "properties": {"recipientDisplayName": {"type": "string"}},
    },
    "NewNotification": {
        "type": "object",
        "description": "spec.yaml NewNotification about a feature-collection share; the"
        " providerId must be of a share whose other party is the signing server.",
        "required": ["notificationType", "providerId"],
        "properties": {
            "notificationType": {
                "type": "string",
                "enum": [
                    "SHARE_ACCEPTED",
                    "SHARE_DECLINED",
                    "SHARE_UNSHARED",
                    "SHARE_CHANGE_PERMISSION",
                ],
                "description": "Accepted and declined about shares sent from here, unshared"
                " and changed permissions about shares received here; other types answer 501",
            },
            "resourceType": {
                "type": "string",
                "enum": ["feature-collection"],
                "description": "May be left out (older senders); another answers 501",
            },
            "providerId": _text(200, "The share's providerId"),
            "notification": {
                "type": "object",
                "description": "SHARE_CHANGE_PERMISSION: permissions, the whole new list",
                "properties": {
                    "permissions": {
                        "type": "array",
                        "items": {"type": "string"},
                        "example": ["read"],
                    }
                },
            },
        },
    },
    "TokenRequest": {
        "type": "object",
        "description": "spec.yaml TokenRequest (draft-ietf-ocm Code Flow); each field once",
        "required": ["grant_type", "client_id", "code"],
        "properties": {
            "grant_type": {
                "type": "string",
                "enum": ["authorization_code", "ocm_authorization_code", "ocm_share"],
                "description": "authorization_code; the other two for older peers",
            },
            "client_id": {
                "type": "string",
                "minLength": 1,
                "description": "host[:port] of the receiving server, the one that signs",
            },
            "code": {"type": "string", "minLength": 1, "description": "The share's sharedSecret"},
            "redirect_uri": {"type": "string", "description": "Ignored"},
        },
    },
    "TokenResponse": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {
                "type": "string",
                "description": "A bearer token for the shared collection only",
            },
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": {"type": "integer", "description": "Seconds"},
        },
    },
    "OAuthError": {
        "type": "object",
        "description": "RFC 6749 §5.2 error body",
        "required": ["error", "error_description"],
        "properties": {
            "error": {"type": "string", "enum": [*OAUTH_ERRORS, "server_error"]},
            "error_description": {"type": "string"},
        },
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

UNSIGNED = (
    "The signature is missing (SIGNATURE_REQUIRED), wrong (SIGNATURE_REFUSED) or cannot be"
    " checked (SIGNATURE_UNVERIFIABLE)"
)
NOT_TRUSTED = "This server's trust policy refuses the sending server (SERVER_NOT_TRUSTED)"
TOKEN_BODY = {"schema": _ref("schemas", "TokenRequest")}

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
    "/ocm/invite-accepted": _ocm_post(
        "Another server tells us one of our invites was accepted",
        "inviteAccepted",
        "AcceptedInvite",
        {
            "200": {
                "description": "The inviting user",
                "content": {
                    "application/json": {"schema": _ref("schemas", "AcceptedInviteResponse")}
                },
            },
            "400": _ocm_error("Unknown or expired token, or a field is wrong", validation=True),
            "409": _ocm_error("The invite was accepted already"),
            **_ocm_failures(UNSIGNED, "This server does not trust the sending server"),
        },
    ),
    "/ocm/shares": _ocm_post(
        "Another server shares a collection with a user or group here",
        "createOcmShare",
        "NewShare",
        {
            "201": {
                "description": "The share is kept, pending until the recipient accepts it; a"
                " repeat (same sending server and providerId) updates it and answers 201 too",
                "content": {"application/json": {"schema": _ref("schemas", "NewShareResponse")}},
            },
            "400": _ocm_error(
                "A field is missing (MISSING) or wrong (INVALID), the user or group is not"
                " here (NOT_FOUND), or a requirement is unknown (UNSUPPORTED_REQUIREMENT);"
                " validationErrors names the field",
                validation=True,
            ),
            "501": _ocm_error(
                "RESOURCE_TYPE_UNSUPPORTED, SHARE_TYPE_UNSUPPORTED or PROTOCOL_UNSUPPORTED"
            ),
            **_ocm_failures(UNSIGNED + ", or not by the sender's server", NOT_TRUSTED),
        },
    ),
    "/ocm/notifications": _ocm_post(
        "News about a share, from the server at its other end",
        "createOcmNotification",
        "NewNotification",
        {
            "201": {
                "description": "Done, or done before (notifications are idempotent)",
                "content": {"application/json": {"schema": {"type": "object", "maxProperties": 0}}},
            },
            "400": _ocm_error(
                "A field is missing or wrong, or no share with the signing server has this"
                " providerId (NOT_FOUND); validationErrors names the field",
                validation=True,
            ),
            "501": _ocm_error("NOTIFICATION_TYPE_UNSUPPORTED or RESOURCE_TYPE_UNSUPPORTED"),
            **_ocm_failures(UNSIGNED + "; notifications must always be signed", NOT_TRUSTED),
        },
    ),
    "/ocm/token": {
        "post": {
            "summary": "A share's secret for an access token (our tokenEndPoint)",
            "description": f"{SIGNED} The signer must be client_id and the share's recipient"
            " server. Errors are OAuth 2.0 bodies (RFC 6749 §5.2), not OCM ones.",
            "operationId": "exchangeOcmToken",
            "tags": ["OpenCloudMesh"],
            "security": [{}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": TOKEN_BODY,
                    "application/json": TOKEN_BODY,
                },
            },
            "responses": {
                "200": {
                    "description": "An access token for the shared collection",
                    "headers": NO_STORE,
                    "content": {"application/json": {"schema": _ref("schemas", "TokenResponse")}},
                },
                "400": _oauth_error(
                    "invalid_request: a field is missing or repeated, client_id is not a host,"
                    " or the body is unreadable or of another type; unsupported_grant_type;"
                    " invalid_grant: code is not the secret of a live share for client_id, or"
                    " the share was declined; unauthorized_client: the trust policy refuses"
                    " the client's server",
                    [code for code in OAUTH_ERRORS if code != "invalid_client"],
                ),
                "401": _oauth_error(
                    "invalid_client: the signature is missing, wrong or cannot be checked, or"
                    " client_id is not the server that signed",
                    ["invalid_client"],
                    challenge=True,
                ),
                "413": _oauth_error("invalid_request: the body is too large", ["invalid_request"]),
                "500": _oauth_error(
                    "server_error: an unexpected error, now logged", ["server_error"]
                ),
            },
        }
    },
}


def build_document(app_routes: list[Any], server_url: str, title: str) -> dict[str, Any]:
    """The whole OpenAPI 3.0 document for a server reached at ``server_url``."""
    from opengeomesh.api.openapi_editing import EDITING_PATHS, EDITING_RESPONSES

    generated = get_openapi(title=title, version=__version__, routes=app_routes)
    managed = downgrade(generated)
    schemas = {**managed.get("components", {}).get("schemas", {}), **SCHEMAS, **OCM_SCHEMAS}
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    paths = {**OGC_PATHS, **OCM_PATHS, **managed.get("paths", {})}
    for path, operations in EDITING_PATHS.items():
        paths[path] = {**paths[path], **operations}
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
