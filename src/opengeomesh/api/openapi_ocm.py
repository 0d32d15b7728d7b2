"""The API document's part for the OCM endpoints (draft-ietf-ocm): discovery, keys, invites,
shares, notifications and the token endpoint, with their OCM and OAuth error bodies."""

from __future__ import annotations

from typing import Any

from opengeomesh.api.openapi_parts import ref as _ref

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
            "error": {
                "type": "string",
                "enum": [*OAUTH_ERRORS, "server_error", "temporarily_unavailable"],
            },
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
                "503": _oauth_error(
                    "temporarily_unavailable: the database is busy; try again",
                    ["temporarily_unavailable"],
                ),
            },
        }
    },
}
