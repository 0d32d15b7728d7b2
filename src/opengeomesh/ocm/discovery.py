"""OCM discovery (draft-ietf-ocm §"OCM API Discovery"): our own document, and a client that finds
and caches other servers' documents, parsing old and new shapes alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from opengeomesh.ocm.client import (
    AddressRefused,
    OutboundClient,
    PeerUnavailable,
    PeerUnreachable,
)

API_VERSION = "1.4.0"
FAILURE_TTL = 30.0  # seconds a failed discovery is not tried again
KEY_REFETCH = 2.0  # seconds between fetches of one server's JWK Set (bounds unknown-keyid abuse)
MAX_CACHED = 1000  # servers kept in the discovery cache
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
RESOURCE_TYPE = "feature-collection"
PROTOCOL = "ogcapi"
# Older capability and criteria spellings, mapped to the newest words.
_CAPABILITY_ALIASES = {
    "invite-accepted": "invites",
    "receive-code": "exchange-token",
    "mfa-capable": "enforce-mfa",
}
_CRITERIA_ALIASES = {
    "http-request-signatures": "must-use-http-sig",
    "token-exchange": "must-exchange-token",
    "code": "must-exchange-token",
    "invite": "must-invite",
}


def our_discovery(
    base_url: str,
    organisation: str,
    *,
    capabilities: Iterable[str],
    criteria: Iterable[str],
    token_endpoint: bool,
) -> dict[str, Any]:
    """This server's discovery document; ``base_url`` is its public URL."""
    path = urlsplit(base_url).path.rstrip("/")
    document: dict[str, Any] = {
        "enabled": True,
        "apiVersion": API_VERSION,
        "endPoint": f"{base_url}/ocm",
        "provider": organisation,
        "resourceTypes": [
            {
                "name": RESOURCE_TYPE,
                "shareTypes": ["user", "group"],
                "protocols": {PROTOCOL: f"{path}/", f"{PROTOCOL}-receive": {}},
            }
        ],
        "capabilities": sorted(capabilities),
        "criteria": sorted(criteria),
        "jwksUri": f"{base_url}/ocm/jwks",
        "inviteAcceptDialog": f"{path}/ocm/accept-invite",
    }
    if token_endpoint:
        document["tokenEndPoint"] = f"{base_url}/ocm/token"
    return document


@dataclass(frozen=True)
class RemoteServer:
    """Another server's discovery document, normalised."""

    host: str
    api_version: str
    end_point: str
    provider: str
    capabilities: frozenset[str]
    criteria: frozenset[str]
    jwks_uri: str | None
    token_end_point: str | None
    invite_accept_dialog: str | None
    resource_types: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def signs(self) -> bool:
        return "http-sig" in self.capabilities


def parse_discovery(host: str, document: Any) -> RemoteServer:
    """Read a discovery document tolerantly; refuse one that is not usable."""
    if not isinstance(document, dict):
        raise PeerUnavailable(f"{host}: the discovery document is not a JSON object")
    if document.get("enabled") is False:
        raise PeerUnavailable(f"{host}: OCM is disabled there")
    end_point = document.get("endPoint") or document.get("endpoint")
    if not isinstance(end_point, str) or not end_point.startswith(("http://", "https://")):
        raise PeerUnavailable(f"{host}: the discovery document has no absolute endPoint")
    resource_types: dict[str, dict[str, Any]] = {}
    for entry in _list(document.get("resourceTypes")):
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            protocols = entry.get("protocols") if isinstance(entry.get("protocols"), dict) else {}
            share_types = [s for s in _list(entry.get("shareTypes")) if isinstance(s, str)]
            resource_types[entry["name"]] = {"shareTypes": share_types, "protocols": protocols}
    return RemoteServer(
        host=host,
        api_version=str(document.get("apiVersion", "")),
        end_point=end_point.rstrip("/"),
        provider=_provider(document.get("provider"), host),
        capabilities=_words(document.get("capabilities"), _CAPABILITY_ALIASES),
        criteria=_words(document.get("criteria"), _CRITERIA_ALIASES),
        jwks_uri=_string(document.get("jwksUri")),
        token_end_point=_string(document.get("tokenEndPoint")),
        invite_accept_dialog=_string(document.get("inviteAcceptDialog")),
        resource_types=resource_types,
    )


def _words(values: Any, aliases: dict[str, str]) -> frozenset[str]:
    """Capabilities were paths in OCM 1.1 (``/notifications``) and words since."""
    if not isinstance(values, list):
        return frozenset()
    words = set()
    for value in values:
        if isinstance(value, str):
            word = value.strip().lstrip("/")
            words.add(aliases.get(word, word))
    return frozenset(words)


def _provider(value: Any, host: str) -> str:
    """The organisation name, if it is a short printable string; else the host."""
    if isinstance(value, str) and 0 < len(value) <= 200 and value.isprintable():
        return value
    return host


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass
class _Entry:
    server: RemoteServer
    expires: float
    keys: KeySet | None = None
    keys_at: float = 0.0


class DiscoveryClient:
    """Finds other servers: ``/.well-known/ocm`` first, then the legacy ``/ocm-provider``.

    Answers are cached for ``ttl`` seconds; callers ask for a fresh copy when cached data fails
    them (a signing key not found, for example).
    """

    def __init__(self, client: OutboundClient, *, ttl: float, allow_http: bool) -> None:
        self._client = client
        self._ttl = ttl
        self.allow_http = allow_http
        self._schemes = ("https", "http") if allow_http else ("https",)
        self._cache: dict[str, _Entry] = {}
        self._failures: dict[str, tuple[float, PeerUnavailable]] = {}
        self._lock = threading.Lock()

    def discover(self, host: str, *, refresh: bool = False) -> RemoteServer:
        return self._entry(host, refresh).server

    def signing_keys(self, host: str, *, refresh: bool = False) -> KeySet:
        """The JWK Set a server publishes at its ``jwksUri``; fetched again on ``refresh``, but
        at most every ``KEY_REFETCH`` seconds, so unknown keyids cannot make us hammer a peer."""
        entry = self._entry(host, False)
        if refresh and entry.keys is not None and time.monotonic() - entry.keys_at < KEY_REFETCH:
            return entry.keys
        if refresh:
            entry = self._entry(host, True)
        if entry.keys is None or refresh:
            if entry.server.jwks_uri is None:
                raise PeerUnavailable(f"{host} publishes no jwksUri")
            document = self._client.get_json(entry.server.jwks_uri)
            try:
                entry.keys = KeySet.import_key_set(document)
                entry.keys_at = time.monotonic()
            except (ValueError, KeyError, TypeError, AttributeError, JoseError) as exc:
                raise PeerUnavailable(f"{host}: the JWK Set is not usable: {exc}") from None
        return entry.keys

    def _entry(self, host: str, refresh: bool) -> _Entry:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(host)
            failed = self._failures.get(host)
        if cached is not None and not refresh and cached.expires > now:
            return cached
        if failed is not None and failed[0] > now:
            raise failed[1]  # failed moments ago: do not hammer it (or let it hold our workers)
        try:
            server = self._checked(self._fetch(host))
        except PeerUnavailable as exc:
            with self._lock:
                self._remember(self._failures, host, (now + FAILURE_TTL, exc))
            raise
        entry = _Entry(server=server, expires=now + self._ttl)
        with self._lock:
            self._remember(self._cache, host, entry)
            self._failures.pop(host, None)
        return entry

    def _checked(self, server: RemoteServer) -> RemoteServer:
        """Without the development switch, a peer's own URLs must be https too."""
        if "http" not in self._schemes:
            for url in (server.end_point, server.jwks_uri, server.token_end_point):
                if url is not None and not url.startswith("https://"):
                    raise PeerUnavailable(f"{server.host} gives a plain http URL ({url})")
        return server

    def _schemes_for(self, host: str) -> tuple[str, ...]:
        """https first; with the development switch, plain http first for loopback peers (they
        are test set-ups, and a TLS hello to a plain port only fills their logs)."""
        if "http" in self._schemes and urlsplit(f"//{host}").hostname in LOOPBACK_NAMES:
            return ("http", "https")
        return self._schemes

    @staticmethod
    def _remember(cache: dict[str, Any], host: str, value: Any) -> None:
        if len(cache) >= MAX_CACHED and host not in cache:
            cache.pop(next(iter(cache)))  # the oldest entry
        cache[host] = value

    def _fetch(self, host: str) -> RemoteServer:
        problems: list[PeerUnavailable] = []
        for scheme in self._schemes_for(host):
            for path in ("/.well-known/ocm", "/ocm-provider"):
                try:
                    return parse_discovery(host, self._client.get_json(f"{scheme}://{host}{path}"))
                except AddressRefused:
                    raise
                except PeerUnavailable as exc:
                    problems.append(exc)
        # what a server that answered said beats a scheme or path where nothing answered
        answered = [p for p in problems if not isinstance(p, PeerUnreachable)]
        raise PeerUnavailable(f"{host} cannot be discovered: {(answered or problems)[0].detail}")
