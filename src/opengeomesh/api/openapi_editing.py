"""The API document's part for editing features (OGC API – Features Part 4, draft 20-002r1):
the write operations added to the items paths, and the responses they use."""

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
