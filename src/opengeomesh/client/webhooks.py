"""Receiving webhooks: check a delivery's signature after Standard Webhooks (standardwebhooks.com,
§"Verifying webhook authenticity") and read its event (docs/webhooks.md). Written for
receivers, apart from the server's signing code, with the standard library and pydantic."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import datetime
from email.message import Message
from typing import Any

from pydantic import Field

from opengeomesh.client.errors import ClientError
from opengeomesh.client.models import Model

TOLERANCE = 300  # seconds a timestamp may be off this clock: the specification's advice
SHARE_EVENTS = (
    "share.received",
    "share.accepted",
    "share.declined",
    "share.revoked",
    "share.permission_changed",
)
EVENT_TYPES = (*SHARE_EVENTS, "invite.accepted", "layer.changed")


class InvalidSignature(ClientError):
    """A delivery whose signature or timestamp does not check out, or whose body is no event:
    answer it with 4xx and ignore it."""


class EventShare(Model):
    """The share a share event is about, as the sending server sees it. ``direction`` sent
    (``collection`` is the local layer, ``share_with`` the recipient) or received
    (``collection`` is its mount here once accepted, ``sender`` who sent it)."""

    id: int
    provider_id: str = Field(alias="providerId")
    direction: str
    collection: str
    owner: str
    share_type: str = Field(alias="shareType")
    peer: str = Field(description="The other server's host")
    permission: str
    state: str
    name: str = ""  # received only
    sender: str = ""  # received only
    recipient: str = ""  # received only
    share_with: str = Field("", alias="shareWith")  # sent only


class Event(Model):
    """A webhook event: ``type`` (``share.received``, …), when it happened, the host of the
    server that sent it and its ``data``; ``message_id`` is the ``webhook-id`` header, the
    same on every attempt (drop repeats by it)."""

    message_id: str
    type: str
    timestamp: datetime
    server: str
    data: dict[str, Any]

    @property
    def share(self) -> EventShare | None:
        """The share of a ``share.*`` event."""
        found = self.data.get("share")
        return EventShare.model_validate(found) if isinstance(found, dict) else None


def verify(
    secret: str,
    headers: Mapping[str, str] | Message,
    body: bytes,
    *,
    tolerance: float = TOLERANCE,
    now: float | None = None,
) -> Event:
    """The event of a delivery whose signature checks out; raises :class:`InvalidSignature`
    otherwise. ``secret``: the endpoint's ``whsec_…`` secret; ``headers``: the request's (any
    case); ``body``: the bytes as received, not parsed and serialised again."""
    message_id = verify_signature(secret, headers, body, tolerance=tolerance, now=now)
    try:
        parsed = json.loads(body)
        return Event.model_validate({**parsed, "message_id": message_id})
    except (ValueError, TypeError):  # pydantic's ValidationError is a ValueError
        raise InvalidSignature("signed, but the body is not a webhook event") from None


def verify_signature(
    secret: str,
    headers: Mapping[str, str] | Message,
    body: bytes,
    *,
    tolerance: float = TOLERANCE,
    now: float | None = None,
) -> str:
    """Check the signature alone (any body) and return the ``webhook-id``: the specification's
    steps. The timestamp must be within ``tolerance`` seconds of ``now`` (default: this
    clock), one of the space-separated ``v1,`` signatures must match."""
    key = _key(secret)
    found = {name.lower(): str(value) for name, value in headers.items()}
    message_id = found.get("webhook-id", "")
    stamp = found.get("webhook-timestamp", "")
    offered = found.get("webhook-signature", "")
    if not message_id or not stamp or not offered:
        raise InvalidSignature("webhook-id, webhook-timestamp or webhook-signature missing")
    if not stamp.isascii() or not stamp.isdigit():
        raise InvalidSignature(f"webhook-timestamp is not a number of seconds: {stamp[:40]!r}")
    off = int(stamp) - (time.time() if now is None else now)
    if off < -tolerance:
        raise InvalidSignature("webhook-timestamp too old (a replay?)")
    if off > tolerance:
        raise InvalidSignature("webhook-timestamp in the future")
    signed = f"{message_id}.{stamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for entry in offered.split(" "):
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return message_id
    raise InvalidSignature("no v1 signature matches (another secret, or a changed body)")


def _key(secret: str) -> bytes:
    """The HMAC key: the bytes of the base64 after ``whsec_`` (the prefix may be left off)."""
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not a webhook secret: expected whsec_ and base64") from None
