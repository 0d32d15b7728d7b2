"""RFC 9421 HTTP Message Signatures as OCM profiles them (draft-ietf-ocm §"HTTP Message
Signatures"): label ``ocm``, ``tag="ocm"``, ``created`` and ``keyid``, covering ``@method``,
``@target-uri``, ``content-digest`` (sha-256, RFC 9530) and ``content-length``."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    algorithms,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from opengeomesh.errors import InvalidInput, Unauthenticated
from opengeomesh.ocm.addresses import normalise_host
from opengeomesh.ocm.client import PeerUnavailable
from opengeomesh.ocm.discovery import DiscoveryClient
from opengeomesh.ocm.keys import Keyring
from opengeomesh.ocm.store import OcmStore

TAG = "ocm"
COVERED = ("@method", "@target-uri", "content-digest", "content-length")
COVERED_NO_BODY = ("@method", "@target-uri")


class SignatureRefused(Unauthenticated):
    """An inbound signature is missing where required, malformed, or does not verify."""


class _Keys(HTTPSignatureKeyResolver):
    def __init__(self, resolve: Any) -> None:
        self._resolve = resolve

    def resolve_public_key(self, key_id: str) -> Any:
        return self._resolve(key_id)

    def resolve_private_key(self, key_id: str) -> Any:
        return self._resolve(key_id)


class RequestSigner:
    """Signs our outbound OCM requests with the current key of the keyring."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def sign(self, request: httpx.Request) -> httpx.Request:
        key = self._keyring.current
        signer = HTTPMessageSigner(
            signature_algorithm=algorithms.ED25519, key_resolver=_Keys(lambda _: key.private)
        )
        body = request.content
        signer.sign(
            request,
            key_id=key.kid,
            created=datetime.now(UTC),
            label=TAG,
            tag=TAG,
            include_alg=False,
            covered_component_ids=COVERED if body else COVERED_NO_BODY,
            body=body if body else None,
        )
        return request


class _Fields:
    """Read-only header fields of an inbound request, as the signature library reads them."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._pairs = list(pairs)

    def items(self) -> list[tuple[str, str]]:
        return self._pairs

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._pairs))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n.lower() == name.lower() for n, _ in self._pairs)

    def get(self, name: str, default: str | None = None) -> str | None:
        for field_name, value in self._pairs:
            if field_name.lower() == name.lower():
                return value
        return default


@dataclass(frozen=True)
class InboundMessage:
    """An inbound request as signed: ``url`` is the target URI the sender used."""

    method: str
    url: str
    headers: _Fields
    body: bytes

    @classmethod
    def of(cls, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes) -> Any:
        return cls(method=method, url=url, headers=_Fields(headers), body=body)

    @property
    def signed(self) -> bool:
        """Whether it carries a signature tagged ``ocm`` at all."""
        return f'tag="{TAG}"' in (self.headers.get("signature-input") or "")


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    host: str
    keyid: str


class SignatureVerifier:
    """Checks inbound OCM signatures against the signer's published JWK Set."""

    def __init__(self, discovery: DiscoveryClient, store: OcmStore, window: float) -> None:
        self._discovery = discovery
        self._store = store
        self._window = window

    def verify(self, message: InboundMessage, host: str) -> VerifiedSignature:
        """Verify that ``host`` signed ``message``; every failure names its reason."""
        found: list[str] = []

        def resolve(key_id: str) -> Ed25519PublicKey:
            found.append(key_id)
            if "#" in key_id:
                key_host = key_id.split("#", 1)[0]
                try:
                    if normalise_host(key_host) != host:
                        raise SignatureRefused(f"keyid {key_id!r} belongs to another host")
                except InvalidInput:
                    raise SignatureRefused(f"keyid {key_id!r} is malformed") from None
            return self._public_key(host, key_id)

        verifier = HTTPMessageVerifier(
            signature_algorithm=algorithms.ED25519, key_resolver=_Keys(resolve)
        )
        required = COVERED if message.body else COVERED_NO_BODY
        try:
            results = verifier.verify(
                message,
                expect_tag=TAG,
                max_age=timedelta(seconds=self._window),
                require_components=required,
                body=message.body,
            )
        except (SignatureRefused, PeerUnavailable):
            raise
        except HTTPMessageSignaturesException as exc:
            raise SignatureRefused(f"the signature does not verify: {exc}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise SignatureRefused(f"the signature is malformed: {exc}") from None
        if len(results) != 1:
            raise SignatureRefused(f"{len(results)} signatures tagged ocm; exactly one is allowed")
        params = results[0].parameters
        created, keyid = params.get("created"), params.get("keyid")
        if not isinstance(created, int) or not isinstance(keyid, str):
            raise SignatureRefused("the signature lacks created or keyid")
        if abs(time.time() - created) > self._window:
            raise SignatureRefused("the signature's created time is outside the allowed window")
        signature = message.headers.get("signature") or ""
        digest = hashlib.sha256(signature.encode()).hexdigest()
        if not self._store.remember_signature(digest, created + self._window * 2):
            raise SignatureRefused("this signature was seen before (a replay)")
        return VerifiedSignature(host=host, keyid=keyid)

    def _public_key(self, host: str, key_id: str) -> Ed25519PublicKey:
        for refresh in (False, True):
            keys = self._discovery.signing_keys(host, refresh=refresh)
            key = next((k for k in keys.keys if k.kid == key_id), None)
            if key is None:
                continue
            public = key.public_key
            if not isinstance(public, Ed25519PublicKey):
                raise SignatureRefused(f"key {key_id!r} is not an Ed25519 key")
            return public
        raise SignatureRefused(f"{host} publishes no key {key_id!r}")
