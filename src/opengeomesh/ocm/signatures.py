"""RFC 9421 HTTP Message Signatures as OCM profiles them (draft-ietf-ocm §"HTTP Message
Signatures"): label ``ocm``, ``tag="ocm"``, ``created`` and ``keyid``, covering ``@method``,
``@target-uri``, ``content-digest`` (sha-256, RFC 9530) and ``content-length``."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import http_sf
import httpx
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    algorithms,
)
from http_message_signatures.algorithms import HTTPSignatureAlgorithm
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from opengeomesh.errors import InvalidInput, Unauthenticated
from opengeomesh.ocm.addresses import host_of_url, normalise_host
from opengeomesh.ocm.discovery import DiscoveryClient
from opengeomesh.ocm.keys import Keyring
from opengeomesh.ocm.store import OcmStore

TAG = "ocm"
MAX_SIGNATURE_FIELD = 8192
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
        if not self._keyring.names_this_host():
            raise InvalidInput(
                "public_url",
                f"the signing key {self._keyring.current.kid!r} names another host than this"
                f" server ({self._keyring.host}): set public_url in config.toml, then run"
                " `opengeomesh keys rotate` (a server rotates by itself when it starts)",
            )
        key = self._keyring.current
        signer = HTTPMessageSigner(
            signature_algorithm=algorithms.ED25519, key_resolver=_Keys(lambda _: key.private)
        )
        body = request.content
        signer.sign(
            request,
            key_id=key.kid,
            created=datetime.now(UTC),
            nonce=secrets.token_urlsafe(16),  # Ed25519 is deterministic: keep retries distinct
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
        """All field lines of ``name`` joined with ", " (RFC 9110 §5.3), or ``default``."""
        values = [value for field, value in self._pairs if field.lower() == name.lower()]
        return ", ".join(values) if values else default


@dataclass(frozen=True)
class InboundMessage:
    """An inbound request as signed: ``url`` is the target URI the sender used."""

    method: str
    url: str
    headers: _Fields
    body: bytes

    @classmethod
    def of(
        cls, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> InboundMessage:
        return cls(method=method, url=url, headers=_Fields(headers), body=body)

    @property
    def signed(self) -> bool:
        """Whether it carries any signature: one that is there must be verified."""
        return "signature-input" in self.headers or "signature" in self.headers


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
        """Verify that ``host`` signed ``message``; every failure names its reason.

        The one signature tagged ``ocm`` is found first; its ``keyid`` must belong to ``host``
        and name a key in ``host``'s JWK Set, whose type decides the algorithm.
        """
        label, keyid, created = _ocm_member(message)
        if abs(time.time() - created) > self._window:
            raise SignatureRefused("the signature's created time is outside the allowed window")
        _check_key_host(keyid, host)
        public, algorithm = self._public_key(host, keyid)
        verifier = HTTPMessageVerifier(
            signature_algorithm=algorithm, key_resolver=_Keys(lambda _: public)
        )
        try:
            results = verifier.verify(
                message,
                expect_tag=TAG,
                max_age=timedelta(seconds=self._window),
                require_components=COVERED if message.body else COVERED_NO_BODY,
                body=message.body,
            )
        except HTTPMessageSignaturesException as exc:
            raise SignatureRefused(f"the signature does not verify: {exc}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise SignatureRefused(f"the signature is malformed: {exc}") from None
        if len(results) != 1:
            raise SignatureRefused(f"{len(results)} signatures tagged ocm; exactly one is allowed")
        value = _signature_bytes(message, label)
        digest = hashlib.sha256(value).hexdigest()  # the signed bytes: labels are not signed
        if not self._store.remember_signature(digest, created + self._window * 2):
            raise SignatureRefused("this signature was seen before (a replay)")
        return VerifiedSignature(host=host, keyid=keyid)

    def _public_key(self, host: str, key_id: str) -> tuple[Any, type[HTTPSignatureAlgorithm]]:
        """The key ``host`` publishes as ``key_id``, fetching the JWK Set again once if the key
        is not in the cached copy (the peer may have rotated)."""
        for refresh in (False, True):
            keys = self._discovery.signing_keys(host, refresh=refresh)
            key = next((k for k in keys.keys if k.kid == key_id), None)
            if key is not None:
                return key.public_key, _algorithm(key.as_dict(private=False), key_id)
        raise SignatureRefused(f"{host} publishes no key {key_id!r}")


def _structured(message: InboundMessage, name: str) -> Any:
    """A signature field as an RFC 8941 dictionary, refusing oversized or malformed ones."""
    text = message.headers.get(name) or ""
    if len(text) > MAX_SIGNATURE_FIELD:
        raise SignatureRefused(f"{name} is over {MAX_SIGNATURE_FIELD} bytes")
    try:
        return http_sf.parse(text.encode(), tltype="dictionary")
    except (http_sf.StructuredFieldError, ValueError) as exc:
        raise SignatureRefused(f"{name} is malformed: {exc}") from None


def _ocm_member(message: InboundMessage) -> tuple[str, str, int]:
    """Label, ``keyid`` and ``created`` of the single ``Signature-Input`` member tagged ocm."""
    members = _structured(message, "signature-input")
    tagged = [
        (label, member[1])
        for label, member in members.items()
        if isinstance(member, tuple) and isinstance(member[1], dict) and member[1].get("tag") == TAG
    ]
    if len(tagged) != 1:
        raise SignatureRefused(f"{len(tagged)} signatures tagged ocm; exactly one is allowed")
    label, params = tagged[0]
    keyid, created = params.get("keyid"), params.get("created")
    if not isinstance(keyid, str) or not isinstance(created, int):
        raise SignatureRefused("the signature lacks created or keyid")
    return label, keyid, created


def claimed_host(message: InboundMessage) -> str:
    """The host a signed message names in its ``keyid``, for notifications, whose body does
    not say who sends them; ``verify`` then proves it."""
    _, keyid, _ = _ocm_member(message)
    owner = keyid.split("#", 1)[0]
    try:
        return host_of_url(owner) if "://" in owner else normalise_host(owner)
    except InvalidInput:
        raise SignatureRefused(f"keyid {keyid!r} names no host") from None


def _signature_bytes(message: InboundMessage, label: str) -> bytes:
    member = _structured(message, "signature").get(label)
    value = member[0] if isinstance(member, tuple) else None
    if not isinstance(value, bytes):
        raise SignatureRefused(f"no signature value labelled {label!r}")
    return value


def _check_key_host(keyid: str, host: str) -> None:
    """A keyid of the form ``host#name`` or ``https://host/path#name`` must name the signer."""
    if "#" not in keyid:
        return
    owner = keyid.split("#", 1)[0]
    try:
        key_host = host_of_url(owner) if "://" in owner else normalise_host(owner)
    except InvalidInput:
        raise SignatureRefused(f"keyid {keyid!r} is malformed") from None
    if key_host != host:
        raise SignatureRefused(f"keyid {keyid!r} belongs to another host than {host}")


def _algorithm(jwk: dict[str, Any], key_id: str) -> type[HTTPSignatureAlgorithm]:
    """The signature algorithm a JWK stands for (OCM: the algorithm comes from the key)."""
    kind, curve, alg = jwk.get("kty"), jwk.get("crv"), jwk.get("alg")
    if kind == "OKP" and curve == "Ed25519" and alg in ("Ed25519", "EdDSA"):
        return algorithms.ED25519
    if kind == "EC" and curve == "P-256" and alg == "ES256":
        return algorithms.ECDSA_P256_SHA256
    if kind == "EC" and curve == "P-384" and alg == "ES384":
        return algorithms.ECDSA_P384_SHA384
    if kind == "RSA" and alg == "PS512":
        return algorithms.RSA_PSS_SHA512
    if kind == "RSA" and alg == "RS256":
        return algorithms.RSA_V1_5_SHA256
    raise SignatureRefused(
        f"key {key_id!r} ({kind}, alg {alg}) is not one this server verifies: OCM keys carry an"
        " asymmetric alg matching their type (Ed25519, ES256, ES384, PS512, RS256)"
    )
