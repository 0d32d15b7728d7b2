"""Sessions of the web workspace: signed cookies bound to a personal token, and CSRF tokens.

A user signs in with a personal token (``opengeomesh token create``). The server keeps no
session state: the cookie holds the user's name, the SHA-256 of that token (the form the
database stores), an expiry and a random session id, signed with HMAC-SHA256 under a key in
``DIR/keys/web-session.key``. Each request looks the token's hash up again, so deleting the
token ends every session made with it. The CSRF token of a session is an HMAC of its id under
the same key: forms carry it in a field, the map's API calls in the ``X-OGM-CSRF`` header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from opengeomesh.accounts.models import Caller
from opengeomesh.accounts.store import AccountStore
from opengeomesh.accounts.tokens import token_hash

KEY_FILE = "web-session.key"
COOKIE = "ogm_session"
SIGN_IN_COOKIE = "ogm_sign_in"  # a random value the sign-in form's CSRF token is bound to
CSRF_HEADER = "x-ogm-csrf"
CSRF_FIELD = "csrf"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_key(directory: Path) -> bytes:
    """The session key of this server: 32 random bytes, made once (mode 0600); every worker
    and host reading the same data directory signs with the same key."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / KEY_FILE
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(32))
    key = path.read_bytes()
    if len(key) < 32:
        raise RuntimeError(f"{path} is too short to be a session key: delete it to make a new one")
    return key


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: who, bound to which token (by hash), until when."""

    user: str
    token_hash: str
    expires: int
    sid: str


class Sessions:
    """Issuing and checking session cookies and CSRF tokens."""

    def __init__(self, key: bytes, accounts: AccountStore, *, lifetime_seconds: int) -> None:
        self._key = key
        self._accounts = accounts
        self._lifetime = lifetime_seconds

    @property
    def lifetime(self) -> int:
        return self._lifetime

    def _mac(self, purpose: bytes, data: bytes) -> bytes:
        return hmac.new(self._key, purpose + b"\0" + data, hashlib.sha256).digest()

    # --- sessions -----------------------------------------------------------------------------

    def sign_in(self, token: str) -> tuple[Caller, str] | None:
        """The caller and a new cookie value for a personal token, or None for a bad token."""
        digest = token_hash(token.strip())
        caller = self._caller(digest, None)
        if caller is None or caller.user is None:
            return None
        payload = {
            "u": caller.user.name,
            "h": digest,
            "e": int(time.time()) + self._lifetime,
            "s": secrets.token_urlsafe(16),
        }
        body = orjson.dumps(payload)
        return caller, f"{_b64(body)}.{_b64(self._mac(b'session', body))}"

    def read(self, cookie: str | None) -> Session | None:
        """The session of a cookie whose signature holds and which has not expired."""
        if not cookie or cookie.count(".") != 1 or len(cookie) > 1000:
            return None
        body_text, mac_text = cookie.split(".")
        try:
            body, mac = _unb64(body_text), _unb64(mac_text)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(mac, self._mac(b"session", body)):
            return None
        try:
            payload = orjson.loads(body)
            session = Session(
                str(payload["u"]), str(payload["h"]), int(payload["e"]), str(payload["s"])
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        return session if session.expires > time.time() else None

    def caller(self, session: Session) -> Caller | None:
        """The session's user, while the token it was made with still exists."""
        return self._caller(session.token_hash, session.user)

    def _caller(self, digest: str, expected_user: str | None) -> Caller | None:
        user = self._accounts.user_for_token(digest)
        if user is None or (expected_user is not None and user.name != expected_user):
            return None
        return Caller(user=user, group_ids=self._accounts.group_ids_of(user.id))

    # --- CSRF -----------------------------------------------------------------------------------

    def csrf_token(self, session: Session) -> str:
        return _b64(self._mac(b"csrf", session.sid.encode()))

    def csrf_ok(self, session: Session, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given, self.csrf_token(session))

    def sign_in_csrf(self, nonce: str) -> str:
        """The sign-in form's CSRF token, bound to the random value of its cookie."""
        return _b64(self._mac(b"sign-in", nonce.encode()))

    def sign_in_csrf_ok(self, nonce: str | None, given: str | None) -> bool:
        if not nonce or given is None:
            return False
        return hmac.compare_digest(given, self.sign_in_csrf(nonce))
