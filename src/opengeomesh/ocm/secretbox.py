"""Encryption at rest for the secrets of shares received: the receiving server must present
them again (token exchange), so it cannot keep only a hash. AES-256-GCM with a key file in the
data directory (mode 0600), so a copy of the database alone does not give them away."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE = "share-secrets.key"


class SecretBox:
    """Seals and opens short secrets, each bound to a context (``aad``) such as a share id."""

    def __init__(self, directory: Path) -> None:
        path = directory / KEY_FILE
        if not path.exists():
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(AESGCM.generate_key(bit_length=256))
        self._aead = AESGCM(path.read_bytes())

    def seal(self, plain: str, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plain.encode(), context)

    def open(self, sealed: bytes, context: bytes) -> str | None:
        """The secret, or None if it was sealed under another key or context."""
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], context).decode()
        except (InvalidTag, ValueError):
            return None
