"""The API document's part for editing features (OGC API – Features Part 4, draft 20-002r1):
the write operations added to the items paths, and the responses they use; and the change
feed of those writes (``/collections/{collectionId}/changes``), its parameters and schemas."""

from __future__ import annotations

from typing import Any

from opengeomesh.api.openapi_parts import MOUNTED
from opengeomesh.api.openapi_parts import problem as _problem
from opengeomesh.api.openapi_parts import ref as _ref

TAG = "OGC API – Features"
EDITING_RESPONSES = {
    "PreconditionFailed": _problem("If-Match named another version: the feature changed"),
    "UnsupportedMediaType": _problem("The body is of a media type this operation does not take"),
}
ETAG = {"ETag": {"description": "The feature's new version", "schema": {"type": "string"}}}
FEATURE = _ref("schemas", "Feature")
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "The ETag the client saw: the write happens only over that version (412)",
    "schema": {"type": "string"},
}
CONTENT_CRS = {
    "name": "Content-Crs",
    "in": "header",
    "required": False,
    "description": "The body's CRS, with or without angle brackets",
    "schema": {"type": "string"},
}
ALLOW = {
    "200": {
        "description": "What this caller may do now, in Allow (also for an unknown feature id)",
        "headers": {"Allow": {"schema": {"type": "string"}}},
    }
}


def _errors(*names: str) -> dict[str, Any]:
    codes = {
        "BadRequest": "400",
        "Unauthorized": "401",
        "Forbidden": "403",
        "NotFound": "404",
        "Conflict": "409",
        "PreconditionFailed": "412",
        "TooLarge": "413",
        "UnsupportedMediaType": "415",
        "PeerFailed": "502",
        "Busy": "503",
        "PeerTimeout": "504",
    }
    return {codes[name]: _ref("responses", name) for name in names}


def _write(
    summary: str,
    op_id: str,
    params: list[dict[str, Any]],
    body: dict[str, Any] | None,
    ok: dict[str, Any],
    errors: tuple[str, ...],
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "operationId": op_id,
        "tags": [TAG],
        "parameters": params,
        "security": [{"bearerAuth": []}],
        "responses": {**ok, **_errors(*errors, *MOUNTED)},
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": body}
    return operation


COMMON = ("BadRequest", "Unauthorized", "NotFound")
FEATURE_BODY = {
    media: {"schema": FEATURE} for media in ("application/geo+json", "application/json")
}
PATCH_BODY = {"application/merge-patch+json": {"schema": {"type": "object"}}}
WRITTEN = {"content": {"application/geo+json": {"schema": FEATURE}}, "headers": ETAG}
COLLECTION_ID = _ref("parameters", "collectionId")
FEATURE_ID = _ref("parameters", "featureId")

EDITING_PATHS: dict[str, dict[str, Any]] = {
    "/collections/{collectionId}/items": {
        "post": _write(
            "Add a feature",
            "createFeature",
            [COLLECTION_ID, CONTENT_CRS],
            FEATURE_BODY,
            {
                "201": {
                    "description": "Created; Location ends in /items/{featureId}",
                    **WRITTEN,
                    "headers": {**ETAG, "Location": {"schema": {"type": "string"}}},
                }
            },
            (*COMMON, "Conflict", "TooLarge", "UnsupportedMediaType"),
        ),
        "options": _write(
            "What you may do with the features",
            "itemsOptions",
            [COLLECTION_ID],
            None,
            ALLOW,
            COMMON,
        ),
    },
    "/collections/{collectionId}/items/{featureId}": {
        "put": _write(
            "Replace a feature",
            "replaceFeature",
            [COLLECTION_ID, FEATURE_ID, IF_MATCH, CONTENT_CRS],
            FEATURE_BODY,
            {"200": {"description": "Replaced", **WRITTEN}},
            (*COMMON, "PreconditionFailed", "TooLarge", "UnsupportedMediaType"),
        ),
        "patch": _write(
            "Change a feature (JSON Merge Patch, RFC 7396)",
            "updateFeature",
            [COLLECTION_ID, FEATURE_ID, IF_MATCH, CONTENT_CRS],
            PATCH_BODY,
            {"200": {"description": "Changed", **WRITTEN}},
            (*COMMON, "PreconditionFailed", "TooLarge", "UnsupportedMediaType"),
        ),
        "delete": _write(
            "Delete a feature",
            "deleteFeature",
            [COLLECTION_ID, FEATURE_ID, IF_MATCH],
            None,
            {"204": {"description": "Deleted"}},
            (*COMMON, "PreconditionFailed"),
        ),
        "options": _write(
            "What you may do with a feature",
            "featureOptions",
            [COLLECTION_ID, FEATURE_ID],
            None,
            ALLOW,
            COMMON,
        ),
    },
}


CHANGE_PARAMETERS = [
    COLLECTION_ID,
    {
        "name": "since",
        "in": "query",
        "required": False,
        "description": "The changes after this change number (default 0: from the start; for a"
        " stream, without since or Last-Event-ID, only what happens from now)",
        "schema": {"type": "integer", "minimum": 0},
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "Changes per page (a stream reads at most this many at once)",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    },
    {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "description": "A reconnecting stream's last change number; wins over since",
        "schema": {"type": "string"},
    },
]
CHANGES_PATHS: dict[str, dict[str, Any]] = {
    "/collections/{collectionId}/changes": {
        "get": {
            "summary": "The changes of a collection's features, as pages or as they happen",
            "description": "Single-feature writes in change-number order, each a CloudEvent"
            " (types org.ogc.api.collection.item.create|update|delete). With Accept:"
            " text/event-stream, Server-Sent Events: id is the change number, data the"
            " CloudEvent; ': keep-alive' comments in silence. Imports are not in the feed.",
            "operationId": "getChanges",
            "tags": [TAG],
            "parameters": CHANGE_PARAMETERS,
            "security": [{}, {"bearerAuth": []}],
            "responses": {
                "200": {
                    "description": "A page of changes, or the stream of them",
                    "content": {
                        "application/json": {"schema": _ref("schemas", "ChangesPage")},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                },
                **_errors(*COMMON, *MOUNTED),
            },
        }
    }
}
CHANGES_SCHEMAS: dict[str, Any] = {
    "ChangeEvent": {
        "type": "object",
        "description": "CloudEvents 1.0 (JSON format), OGC API – Publish-Subscribe types",
        "required": ["specversion", "type", "source", "subject", "id", "changenumber"],
        "properties": {
            "specversion": {"type": "string", "enum": ["1.0"]},
            "type": {
                "type": "string",
                "enum": [
                    "org.ogc.api.collection.item.create",
                    "org.ogc.api.collection.item.update",
                    "org.ogc.api.collection.item.delete",
                ],
            },
            "source": {"type": "string", "format": "uri", "description": "The collection"},
            "subject": {"type": "string", "description": "The feature id"},
            "id": {"type": "string", "description": "{collectionId}:{changenumber}"},
            "time": {"type": "string", "format": "date-time"},
            "changenumber": {"type": "integer", "minimum": 1},
            "datacontenttype": {"type": "string", "enum": ["application/geo+json", "text/plain"]},
            "data": {
                "description": "The feature as written; for a delete its id",
                "oneOf": [FEATURE, {"type": "string"}],
            },
        },
    },
    "ChangesPage": {
        "type": "object",
        "required": ["events", "numberReturned", "lastChange", "currentChange", "links"],
        "properties": {
            "events": {"type": "array", "items": _ref("schemas", "ChangeEvent")},
            "numberReturned": {"type": "integer", "minimum": 0},
            "lastChange": {
                "type": "integer",
                "description": "The highest change number in the page (since when it is empty):"
                " ask since=lastChange next",
            },
            "currentChange": {
                "type": "integer",
                "description": "The collection's change number when read; higher than"
                " lastChange without a next link when an import (not in the feed) came since",
            },
            "timeStamp": {"type": "string", "format": "date-time"},
            "links": {"type": "array", "items": _ref("schemas", "Link")},
        },
    },
}
