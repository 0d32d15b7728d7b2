"""Personal API tokens: random, shown once, stored only as a SHA-256 hash.

A token carries 256 bits of randomness, so a fast hash is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "ogm_"


def new_token() -> str:
    """A new personal API token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
