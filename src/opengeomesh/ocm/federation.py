"""The federation layer of one server, assembled from settings: keys, the outbound client,
discovery, signatures, the trust policy, invites, and sharing in both directions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from opengeomesh.accounts.directory import AccountDirectory
from opengeomesh.accounts.models import Caller
from opengeomesh.config import Settings
from opengeomesh.errors import Forbidden, InvalidInput
from opengeomesh.features.catalog import Catalog
from opengeomesh.limits.rates import RateLimiter
from opengeomesh.ocm.addresses import host_of_url, normalise_host
from opengeomesh.ocm.client import OutboundClient, PeerUnavailable
from opengeomesh.ocm.discovery import DiscoveryClient, our_discovery
from opengeomesh.ocm.inbox import Inbox
from opengeomesh.ocm.invites import Invites
from opengeomesh.ocm.keys import Keyring
from opengeomesh.ocm.models import SentShare, ShareState, TrustMode
from opengeomesh.ocm.outbox import Outbox
from opengeomesh.ocm.payloads import (
    IncomingNotification,
    TokenRequest,
    parse_notification,
    parse_share,
)
from opengeomesh.ocm.secretbox import SecretBox
from opengeomesh.ocm.sharing import IssuedAccessToken, Sharing
from opengeomesh.ocm.signatures import (
    InboundMessage,
    RequestSigner,
    SignatureRefused,
    SignatureVerifier,
    claimed_host,
)
from opengeomesh.ocm.store import OcmStore, ShareStore
from opengeomesh.ocm.trust import TrustPolicy

CAPABILITIES = ("exchange-token", "http-sig", "invites", "notifications", "protocol-object")


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
    sharing: Sharing
    inbox: Inbox
    outbox: Outbox
    limiter: RateLimiter | None = None
    peer_limit: int = 0  # OCM requests a minute per verified peer server; 0: no limit

    def discovery_document(self) -> dict[str, Any]:
        return our_discovery(
            self.base_url,
            self.organisation,
            capabilities=CAPABILITIES,
            criteria=self.policy.criteria(),
            token_endpoint=True,
        )

    def verify_sender(self, message: InboundMessage, host: str, *, invite: bool = False) -> None:
        """Check that ``host`` sent ``message``: the trust policy first (no fetches for servers
        it refuses), then the signature; unsigned only where the policy allows it and only from
        a server that does not sign at all (draft-ietf-ocm §"HTTP Message Signatures").
        ``invite`` for an invite acceptance, which may introduce a server."""
        self.policy.check(host, invite=invite)
        if message.signed:
            self.verifier.verify(message, host)
            if self.limiter is not None:  # unsigned ones are counted by address (api/ocm.py)
                self.limiter.hit("peer server", host, self.peer_limit)
            return
        if not self.policy.accept_unsigned:
            raise SignatureRefused("SIGNATURE_REQUIRED: this server accepts only signed requests")
        if self.discovery.discover(host).signs:
            raise SignatureRefused(f"SIGNATURE_REQUIRED: {host} signs, so must its requests")

    def share(
        self,
        caller: Caller,
        collection_id: str,
        share_with: str,
        permission: str,
        share_type: str = "user",
    ) -> SentShare:
        """The sharing gesture: check and record the share, then try to deliver it at once.
        A refusal by the recipient's server is reported and nothing is kept; an unreachable
        server leaves the share waiting in the outbox."""
        share = self.sharing.create(caller, collection_id, share_with, permission, share_type)
        attempt = self.outbox.deliver_share(share.id)
        latest = self.sharing.get(caller, share.id)
        if latest.state is ShareState.REFUSED:
            self.sharing.revoke(caller, share.id)
            said = f"the share could not be delivered to {share.recipient_host}: {latest.problem}"
            if attempt is not None and attempt.status == 403:
                raise Forbidden(said)
            raise InvalidInput("shareWith", said)
        return latest

    def receive_share(self, message: InboundMessage, body: dict[str, Any]) -> str:
        """``POST /ocm/shares``: the sender's signature and our trust policy, then the share."""
        sender = body.get("sender")
        if not isinstance(sender, str) or "@" not in sender:
            raise InvalidInput("sender", "MISSING: an OCM address is required")
        host = normalise_host(sender.rpartition("@")[2], "sender")
        self.verify_sender(message, host)
        share = parse_share(
            body, self.host, self._ogcapi_prefix, allow_http=self.discovery.allow_http
        )
        return self.inbox.receive(host, share)

    def _ogcapi_prefix(self, host: str) -> str | None:
        """The sender's ogcapi prefix, discovered for a share with a relative uri."""
        try:
            return self.inbox.ogcapi_prefix(host)
        except PeerUnavailable as exc:
            raise InvalidInput(
                "protocol.ogcapi.uri", f"INVALID: relative, and {host} cannot be discovered"
            ) from exc

    def receive_notification(self, message: InboundMessage, body: dict[str, Any]) -> None:
        """``POST /ocm/notifications``, signed: about a share we sent or one we received."""
        if not message.signed:
            raise SignatureRefused("SIGNATURE_REQUIRED: notifications must be signed")
        host = claimed_host(message)
        self.verify_sender(message, host)
        notification: IncomingNotification = parse_notification(body)
        if notification.kind in ("SHARE_ACCEPTED", "SHARE_DECLINED"):
            self.sharing.notified(host, notification)
        else:
            self.inbox.notified(host, notification)

    def issue_token(self, message: InboundMessage, request: TokenRequest) -> IssuedAccessToken:
        """The token endpoint: a signed request from the share's recipient server."""
        if not message.signed:
            raise SignatureRefused("SIGNATURE_REQUIRED: token requests must be signed")
        host = claimed_host(message)
        self.verify_sender(message, host)
        return self.sharing.exchange(host, request)

    def close(self) -> None:
        self.client.close()


def open_federation(
    settings: Settings,
    store: OcmStore,
    shares: ShareStore,
    accounts: AccountDirectory,
    catalog: Catalog,
    *,
    serving: bool = False,
    limiter: RateLimiter | None = None,
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
    secret_box = SecretBox(settings.data_dir / "keys")
    sharing = Sharing(
        store=shares,
        secrets=secret_box,
        catalog=catalog,
        accounts=accounts,
        policy=policy,
        discovery=discovery,
        host=host,
        base_url=base_url,
        token_seconds=round(settings.share_token_minutes * 60),
    )
    inbox = Inbox(
        store=shares,
        accounts=accounts,
        discovery=discovery,
        client=client,
        signer=signer,
        secrets=secret_box,
        policy=policy,
        host=host,
    )
    outbox = Outbox(
        store=shares,
        client=client,
        discovery=discovery,
        signer=signer,
        sharing=sharing,
        policy=policy,
        retry_seconds=settings.delivery_retry_seconds,
        max_attempts=settings.outbox_max_attempts,
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
        sharing=sharing,
        inbox=inbox,
        outbox=outbox,
        limiter=limiter,
        peer_limit=settings.rate_limit_per_minute_peer,
    )
