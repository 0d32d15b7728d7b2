"""The server's Ed25519 signing keys (draft-ietf-ocm §"HTTP Message Signatures"): kept in the
data directory with mode 0600, published as a JWK Set at ``jwksUri``.

Rotation adds a key and keeps the old ones published for a grace period, so peers can still
verify requests signed just before the change.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc.jwk import OKPKey

KEYRING = "signing-keys.json"


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    created: datetime
    retired: datetime | None
    private: Ed25519PrivateKey

    def jwk(self) -> dict[str, Any]:
        """The public half as a JWK with ``kid`` and ``alg`` (both required by OCM)."""
        key = OKPKey.import_key(self.private.public_key(), {"kid": self.kid, "alg": "Ed25519"})
        public: dict[str, Any] = key.as_dict(private=False)
        public["use"] = "sig"
        return public


class Keyring:
    """The signing keys in ``DIR/keys/``; the newest one signs."""

    def __init__(
        self, directory: Path, host: str, grace: timedelta, *, rotate_if_renamed: bool = False
    ) -> None:
        self.host = host
        self._path = directory / KEYRING
        self._directory = directory
        self._host = host
        self._grace = grace
        self._lock = threading.Lock()
        self._keys = self._load_or_create()
        self._stamp = self._path.stat().st_mtime_ns
        if rotate_if_renamed and not self.names_this_host():
            self.rotate()  # the server's public URL changed: sign under its new name

    def names_this_host(self) -> bool:
        """Whether the current key's id names this server's host (``host#…``)."""
        return self.current.kid.startswith(f"{self.host}#")

    @property
    def current(self) -> SigningKey:
        return self._fresh()[-1]

    def published(self) -> list[SigningKey]:
        """The keys peers may verify with: the current one and those in their grace period."""
        now = datetime.now(UTC)
        return [k for k in self._fresh() if k.retired is None or k.retired + self._grace > now]

    def _fresh(self) -> list[SigningKey]:
        """The keys, re-read when another process (``keys rotate``) changed the file."""
        stamp = self._path.stat().st_mtime_ns
        if stamp != self._stamp:
            with self._lock:
                self._keys, self._stamp = self._load_or_create(), stamp
        return self._keys

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self.published()]}

    def rotate(self) -> SigningKey:
        """Add a new signing key; the others retire and are dropped after the grace period."""
        with self._lock:
            now = datetime.now(UTC)
            kept = [
                SigningKey(k.kid, k.created, k.retired or now, k.private) for k in self.published()
            ]
            self._keys = [*kept, self._new_key(now)]
            self._save()
            self._stamp = self._path.stat().st_mtime_ns
        return self._keys[-1]

    def _new_key(self, now: datetime) -> SigningKey:
        kid = f"{self._host}#{now.strftime('%Y%m%dT%H%M%S%f')}"
        return SigningKey(kid, now, None, Ed25519PrivateKey.generate())

    def _load_or_create(self) -> list[SigningKey]:
        if not self._path.exists():
            self._keys = [self._new_key(datetime.now(UTC))]
            self._save()
            return self._keys
        entries = json.loads(self._path.read_text("utf-8"))["keys"]
        keys = []
        for entry in entries:
            private = serialization.load_pem_private_key(entry["private"].encode(), None)
            assert isinstance(private, Ed25519PrivateKey)
            retired = datetime.fromisoformat(entry["retired"]) if entry["retired"] else None
            keys.append(
                SigningKey(entry["kid"], datetime.fromisoformat(entry["created"]), retired, private)
            )
        return keys

    def _save(self) -> None:
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        entries = [
            {
                "kid": k.kid,
                "created": k.created.isoformat(),
                "retired": k.retired.isoformat() if k.retired else None,
                "private": k.private.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ).decode(),
            }
            for k in self._keys
        ]
        partial = self._path.with_suffix(".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"keys": entries}, handle, indent=2)
        os.chmod(partial, 0o600)
        partial.replace(self._path)
