"""The federation layer of one server, assembled from settings: keys, the outbound client,
discovery, signatures, the trust policy and invites."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from opengeomesh.accounts.directory import AccountDirectory
from opengeomesh.config import Settings
from opengeomesh.ocm.addresses import host_of_url
from opengeomesh.ocm.client import OutboundClient
from opengeomesh.ocm.discovery import DiscoveryClient, our_discovery
from opengeomesh.ocm.invites import Invites
from opengeomesh.ocm.keys import Keyring
from opengeomesh.ocm.models import TrustMode
from opengeomesh.ocm.signatures import (
    InboundMessage,
    RequestSigner,
    SignatureRefused,
    SignatureVerifier,
)
from opengeomesh.ocm.store import OcmStore
from opengeomesh.ocm.trust import TrustPolicy

CAPABILITIES = ("invites", "http-sig")


@dataclass(frozen=True)
class Federation:
    """Everything OCM of one server."""

    host: str
    base_url: str
    organisation: str
    keyring: Keyring
    client: OutboundClient
    discovery: DiscoveryClient
    signer: RequestSigner
    verifier: SignatureVerifier
    policy: TrustPolicy
    invites: Invites

    def discovery_document(self) -> dict[str, Any]:
        return our_discovery(
            self.base_url,
            self.organisation,
            capabilities=CAPABILITIES,
            criteria=self.policy.criteria(),
            token_endpoint=False,
        )

    def verify_sender(self, message: InboundMessage, host: str) -> None:
        """Check that ``host`` sent ``message``: the trust policy first (no fetches for servers
        it refuses), then the signature; unsigned only where the policy allows it and only from
        a server that does not sign at all (draft-ietf-ocm §"HTTP Message Signatures")."""
        self.policy.check(host, invite=True)
        if message.signed:
            self.verifier.verify(message, host)
            return
        if not self.policy.accept_unsigned:
            raise SignatureRefused("SIGNATURE_REQUIRED: this server accepts only signed requests")
        if self.discovery.discover(host).signs:
            raise SignatureRefused(f"SIGNATURE_REQUIRED: {host} signs, so must its requests")

    def close(self) -> None:
        self.client.close()


def open_federation(
    settings: Settings,
    store: OcmStore,
    accounts: AccountDirectory,
    *,
    serving: bool = False,
) -> Federation:
    """Build the federation layer; a serving process renews a key named after an old host."""
    base_url = settings.base_url
    host = host_of_url(base_url)
    keyring = Keyring(
        settings.data_dir / "keys",
        host,
        timedelta(days=settings.key_grace_days),
        rotate_if_renamed=serving,
    )
    client = OutboundClient(
        allow_private=settings.allow_private_peers,
        timeout=settings.peer_timeout,
        max_response_bytes=settings.max_peer_response_bytes,
    )
    discovery = DiscoveryClient(
        client, ttl=settings.discovery_ttl, allow_http=settings.allow_private_peers
    )
    signer = RequestSigner(keyring)
    policy = TrustPolicy(
        TrustMode(settings.trust_mode), store, accept_unsigned=settings.accept_unsigned
    )
    invites = Invites(
        store=store,
        accounts=accounts,
        policy=policy,
        discovery=discovery,
        client=client,
        signer=signer,
        host=host,
        base_url=base_url,
        ttl=timedelta(days=settings.invite_days),
    )
    return Federation(
        host=host,
        base_url=base_url,
        organisation=settings.organisation,
        keyring=keyring,
        client=client,
        discovery=discovery,
        signer=signer,
        verifier=SignatureVerifier(discovery, store, settings.signature_window),
        policy=policy,
        invites=invites,
    )
