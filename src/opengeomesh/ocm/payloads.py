"""The bodies of OCM share, notification and token messages for the ``ogcapi`` protocol
(docs/protocol.md): built for sending, and read tolerantly but strictly checked on receipt.

Inbound problems raise ``InvalidInput`` naming the field (OCM 400 ``validationErrors``) or
``Unsupported`` (OCM 501); token requests raise ``OAuthError`` (RFC 6749 §5.2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import orjson

from opengeomesh.errors import InvalidInput, OpenGeoMeshError
from opengeomesh.ocm.addresses import OcmAddress, host_of_url
from opengeomesh.ocm.discovery import PROTOCOL, RESOURCE_TYPE
from opengeomesh.ocm.models import ShareType

REQUIREMENT = "must-exchange-token"
KNOWN_REQUIREMENTS = frozenset({REQUIREMENT})
GRANT_TYPES = frozenset({"authorization_code", "ocm_authorization_code", "ocm_share"})
SHARE_ACCEPTED = "SHARE_ACCEPTED"
SHARE_DECLINED = "SHARE_DECLINED"
SHARE_UNSHARED = "SHARE_UNSHARED"
SHARE_CHANGE_PERMISSION = "SHARE_CHANGE_PERMISSION"
NOTIFICATION_TYPES = frozenset(
    {SHARE_ACCEPTED, SHARE_DECLINED, SHARE_UNSHARED, SHARE_CHANGE_PERMISSION}
)
MAX_TEXT = 4000


class Unsupported(OpenGeoMeshError):
    """A resource type, share type, protocol or notification this server does not implement."""


class OAuthError(OpenGeoMeshError):
    """A refused token request: an RFC 6749 §5.2 error code, its description and status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.status = status


def permissions_of(permission: str) -> list[str]:
    """The OCM ``permissions`` list of a share's permission: write includes read."""
    return ["read", "write"] if permission == "write" else ["read"]


def share_body(
    *,
    share_with: str,
    share_type: ShareType,
    provider_id: str,
    name: str,
    description: str,
    owner: OcmAddress,
    owner_name: str,
    sender: OcmAddress,
    sender_name: str,
    uri: str,
    secret: str,
    permission: str,
) -> dict[str, Any]:
    """A ``NewShare`` (draft-ietf-ocm §"Share Creation Notification") with protocol ogcapi."""
    return {
        "shareWith": share_with,
        "name": name,
        "description": description,
        "providerId": provider_id,
        "owner": str(owner),
        "sender": str(sender),
        "ownerDisplayName": owner_name,
        "senderDisplayName": sender_name,
        "shareType": share_type.value,
        "resourceType": RESOURCE_TYPE,
        "protocol": {
            "name": "multi",
            PROTOCOL: {
                "uri": uri,
                "sharedSecret": secret,
                "permissions": permissions_of(permission),
                "requirements": [REQUIREMENT],
            },
        },
    }


def notification_body(kind: str, provider_id: str, details: dict[str, Any]) -> str:
    """A ``NewNotification`` about one share, as JSON text for the outbox."""
    return orjson.dumps(
        {
            "notificationType": kind,
            "resourceType": RESOURCE_TYPE,
            "providerId": provider_id,
            "notification": details,
        }
    ).decode()


# --- receiving ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncomingShare:
    """A checked ``NewShare`` for this server."""

    recipient: str  # local user or group name
    share_type: ShareType
    sender_host: str
    provider_id: str
    name: str
    description: str
    owner: str
    owner_name: str
    sender: str
    sender_name: str
    uri: str  # absolute, on the sender's host
    secret: str
    permission: str


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidInput("body", "INVALID_JSON: the body is not JSON") from None
    if not isinstance(payload, dict):
        raise InvalidInput("body", "INVALID_JSON: the body is not a JSON object")
    return payload


def parse_share(
    payload: dict[str, Any],
    our_host: str,
    prefix_of: Callable[[str], str | None],
    *,
    allow_http: bool = False,
) -> IncomingShare:
    """Check a ``NewShare`` addressed to this server; ``prefix_of(host)`` gives the sender's
    discovered ``protocols.ogcapi`` URL, asked only for a relative ``uri``; plain http URLs
    only with ``allow_http`` (the development switch)."""
    text = {name: _text(payload, name) for name in ("shareWith", "providerId", "owner", "sender")}
    resource_type = _text(payload, "resourceType")
    if resource_type != RESOURCE_TYPE:
        raise Unsupported(f"RESOURCE_TYPE_UNSUPPORTED: only {RESOURCE_TYPE} is received here")
    share_type_text = _text(payload, "shareType")
    if share_type_text not in ("user", "group"):
        raise Unsupported("SHARE_TYPE_UNSUPPORTED: only user and group shares are received")
    recipient = OcmAddress.parse(text["shareWith"].removeprefix("acct:"), "shareWith")
    if recipient.host != our_host:
        raise InvalidInput("shareWith", f"NOT_FOUND: {recipient.host} is not this server")
    sender = OcmAddress.parse(text["sender"], "sender")
    owner = OcmAddress.parse(text["owner"], "owner")
    if owner.host != sender.host:
        raise InvalidInput("owner", "INVALID: the owner must be at the sender's server")
    protocol = _ogcapi(payload.get("protocol"))
    uri = _uri(protocol, sender.host, prefix_of)
    if not allow_http and not uri.startswith("https://"):
        raise InvalidInput(f"protocol.{PROTOCOL}.uri", "INVALID: must be an https URL")
    secret = protocol.get("sharedSecret")
    if not isinstance(secret, str) or not 16 <= len(secret) <= 512:
        raise InvalidInput("protocol.ogcapi.sharedSecret", "INVALID: 16-512 characters")
    requirements = protocol.get("requirements", [])
    if (
        not isinstance(requirements, list)
        or ("requirements" in protocol and not requirements)
        or not all(isinstance(r, str) for r in requirements)
    ):
        raise InvalidInput("protocol.ogcapi.requirements", "INVALID: a non-empty list of names")
    unknown = [r for r in requirements if r not in KNOWN_REQUIREMENTS]
    if unknown:
        raise InvalidInput(
            "protocol.ogcapi.requirements", f"UNSUPPORTED_REQUIREMENT: {unknown[0]!r}"
        )
    return IncomingShare(
        recipient=recipient.identifier,
        share_type=ShareType(share_type_text),
        sender_host=sender.host,
        provider_id=text["providerId"],
        name=_text(payload, "name", limit=200),
        description=_text(payload, "description", required=False),
        owner=str(owner),
        owner_name=_text(payload, "ownerDisplayName", required=False, limit=200),
        sender=str(sender),
        sender_name=_text(payload, "senderDisplayName", required=False, limit=200),
        uri=uri,
        secret=secret,
        permission=_permission(protocol.get("permissions")),
    )


def _ogcapi(protocol: Any) -> dict[str, Any]:
    if protocol is None:
        raise InvalidInput("protocol", "MISSING: required")
    if not isinstance(protocol, dict):
        raise InvalidInput("protocol", "INVALID: must be an object")
    found = protocol.get(PROTOCOL)
    if found is None and protocol.get("name") == PROTOCOL:
        found = protocol.get("options")
    if found is None:
        raise Unsupported(f"PROTOCOL_UNSUPPORTED: this server takes {PROTOCOL} shares only")
    if not isinstance(found, dict):
        raise InvalidInput(f"protocol.{PROTOCOL}", "INVALID: must be an object")
    return found


def _uri(protocol: dict[str, Any], sender_host: str, prefix_of: Callable[[str], str | None]) -> str:
    """The collection URL: absolute on the sender's host, or relative to its ogcapi prefix."""
    field = f"protocol.{PROTOCOL}.uri"
    value = protocol.get("uri", protocol.get("url"))  # some servers say url
    if not isinstance(value, str) or not value or len(value) > 2000:
        raise InvalidInput(field, "MISSING: required, at most 2000 characters")
    if "://" not in value:
        prefix = prefix_of(sender_host)
        if prefix is None:
            raise InvalidInput(field, "INVALID: relative, and the sender has no ogcapi prefix")
        value = urljoin(prefix.rstrip("/") + "/", value.lstrip("/"))
    try:
        parts = urlsplit(value)
        host = host_of_url(value)
    except (ValueError, InvalidInput):
        raise InvalidInput(field, "INVALID: not a URL") from None
    if parts.scheme not in ("http", "https") or parts.query or parts.fragment:
        raise InvalidInput(field, "INVALID: an http(s) URL without query or fragment")
    if "@" in parts.netloc:
        raise InvalidInput(field, "INVALID: a URL without user information")
    if host != sender_host:
        raise InvalidInput(field, "INVALID: the collection must be on the sender's server")
    return value.rstrip("/")


def _permission(value: Any) -> str:
    field = f"protocol.{PROTOCOL}.permissions"
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InvalidInput(field, "INVALID: a non-empty list such as ['read']")
    if "read" not in value:
        raise InvalidInput(field, "INVALID: must include read")
    return "write" if "write" in value else "read"


def _text(
    payload: dict[str, Any], name: str, *, required: bool = True, limit: int = MAX_TEXT
) -> str:
    value = payload.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInput(name, "MISSING: required")
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(name, f"INVALID: a string of at most {limit} characters")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
        raise InvalidInput(name, "INVALID: must not hold control characters")
    return value


@dataclass(frozen=True, slots=True)
class IncomingNotification:
    kind: str
    provider_id: str
    details: dict[str, Any]


def parse_notification(payload: dict[str, Any]) -> IncomingNotification:
    """Check a ``NewNotification``; ``resourceType`` may be missing (older senders)."""
    kind = _text(payload, "notificationType", limit=100)
    provider_id = _text(payload, "providerId", limit=200)
    resource_type = payload.get("resourceType", RESOURCE_TYPE)
    if resource_type != RESOURCE_TYPE:
        raise Unsupported(f"RESOURCE_TYPE_UNSUPPORTED: only {RESOURCE_TYPE} is handled here")
    if kind not in NOTIFICATION_TYPES:
        raise Unsupported(f"NOTIFICATION_TYPE_UNSUPPORTED: {kind} is not handled here")
    details = payload.get("notification", {})
    if not isinstance(details, dict):
        raise InvalidInput("notification", "INVALID: must be an object")
    return IncomingNotification(kind, provider_id, details)


# --- token requests ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenRequest:
    client_id: str
    code: str


def parse_token_request(media_type: str, body: bytes) -> TokenRequest:
    """A token request (draft-ietf-ocm §"Code Flow"): form-encoded, or JSON from older peers."""
    fields: dict[str, Any]
    if media_type == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise OAuthError("invalid_request", "the body is not UTF-8") from None
        fields = {}
        for name, value in pairs:
            if name in fields:
                raise OAuthError("invalid_request", f"{name} is given more than once")
            fields[name] = value
    elif media_type == "application/json":
        try:
            fields = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise OAuthError("invalid_request", "the body is not JSON") from None
        if not isinstance(fields, dict):
            raise OAuthError("invalid_request", "the body is not a JSON object")
    else:
        raise OAuthError(
            "invalid_request", "send application/x-www-form-urlencoded (or application/json)"
        )
    for name in ("grant_type", "client_id", "code"):
        if not isinstance(fields.get(name), str) or not fields[name]:
            raise OAuthError("invalid_request", f"{name} is missing")
    if fields["grant_type"] not in GRANT_TYPES:
        raise OAuthError(
            "unsupported_grant_type", "use grant_type=authorization_code with the share's secret"
        )
    return TokenRequest(client_id=fields["client_id"], code=fields["code"])
