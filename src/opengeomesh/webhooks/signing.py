"""Signatures of webhook deliveries after Standard Webhooks (standardwebhooks.com,
spec §"Signature scheme"): ``webhook-signature: v1,<base64 HMAC-SHA256>`` over
``{webhook-id}.{webhook-timestamp}.{body}``, keyed with the endpoint's ``whsec_`` secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

SECRET_PREFIX = "whsec_"
TOLERANCE = 300  # seconds a receiver accepts a timestamp off its own clock (the spec's advice)


class BadSignature(ValueError):
    """A delivery whose signature or timestamp does not check out."""


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1`` signature of one delivery attempt."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, message_id: str, body: bytes, now: float) -> dict[str, str]:
    """The three headers of a delivery attempt, signed at ``now``."""
    timestamp = int(now)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }


def verify(secret: str, headers: dict[str, str], body: bytes, now: float | None = None) -> None:
    """Check a delivery as a receiver would (for ``test`` and the docs); raises
    :class:`BadSignature`. ``headers`` with lower-case names."""
    try:
        message_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        offered = headers["webhook-signature"].split()
    except (KeyError, ValueError):
        raise BadSignature("webhook-id, webhook-timestamp or webhook-signature missing") from None
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE:
        raise BadSignature("webhook-timestamp too far from now")
    expected = signature(secret, message_id, timestamp, body)
    if not any(hmac.compare_digest(expected, one) for one in offered):
        raise BadSignature("no matching v1 signature")
