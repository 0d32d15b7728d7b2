"""The receiving side of sharing (DESIGN.md "Share"): shares other servers send to our users
and groups, their acceptance, the sender's later changes, and the access tokens we obtain for
them at the sender's token endpoint (draft-ietf-ocm §"Code Flow")."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlencode

from opengeomesh.accounts.directory import AccountDirectory, require_user
from opengeomesh.accounts.models import Caller
from opengeomesh.errors import InvalidInput, NotFound
from opengeomesh.ocm.client import OutboundClient, PeerUnavailable
from opengeomesh.ocm.discovery import PROTOCOL, RESOURCE_TYPE, DiscoveryClient
from opengeomesh.ocm.models import ReceivedShare, ReceivedState, ShareType
from opengeomesh.ocm.payloads import (
    SHARE_ACCEPTED,
    SHARE_CHANGE_PERMISSION,
    SHARE_DECLINED,
    SHARE_UNSHARED,
    IncomingNotification,
    IncomingShare,
    notification_body,
)
from opengeomesh.ocm.secretbox import SecretBox
from opengeomesh.ocm.signatures import RequestSigner
from opengeomesh.ocm.store import ShareStore
from opengeomesh.ocm.trust import TrustPolicy
from opengeomesh.webhooks import models as hooks
from opengeomesh.webhooks.events import EventSink, ignore, received_share_event

REFRESH_MARGIN = 60.0  # seconds before expiry an access token is renewed


class ShareRevoked(NotFound):
    """The sending server no longer honours the share; it has been removed here."""


class Inbox:
    """Shares received by this server's users and groups."""

    def __init__(
        self,
        *,
        store: ShareStore,
        accounts: AccountDirectory,
        discovery: DiscoveryClient,
        client: OutboundClient,
        signer: RequestSigner,
        secrets: SecretBox,
        policy: TrustPolicy,
        host: str,
    ) -> None:
        self._policy = policy
        self._store = store
        self._accounts = accounts
        self._discovery = discovery
        self._client = client
        self._signer = signer
        self._secrets = secrets
        self._host = host
        self._tokens: dict[int, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.on_event: EventSink = ignore  # webhooks (set by the services)

    # --- from the sending server -------------------------------------------------------------

    def ogcapi_prefix(self, host: str) -> str | None:
        """The sender's ``protocols.ogcapi`` as an absolute URL, for relative share URIs."""
        server = self._discovery.discover(host)
        prefix = server.resource_types.get(RESOURCE_TYPE, {}).get("protocols", {}).get(PROTOCOL)
        if not isinstance(prefix, str):
            return None
        if "://" in prefix:
            return prefix
        origin = server.end_point.split("/", 3)
        return f"{origin[0]}//{origin[2]}/{prefix.lstrip('/')}"

    def receive(self, signer_host: str, share: IncomingShare) -> str:
        """Record a share signed by ``signer_host`` (answers ``POST /ocm/shares``); returns the
        recipient's display name. A repeat of a known share updates it (redelivery)."""
        if share.sender_host != signer_host:
            raise InvalidInput("sender", "INVALID: the sender is not at the signing server")
        user_id = group_id = None
        if share.share_type is ShareType.USER:
            user = self._accounts.find_user(share.recipient)
            if user is None:
                raise InvalidInput("shareWith", f"NOT_FOUND: no user {share.recipient!r} here")
            user_id, display = user.id, user.display_name
        else:
            group = self._accounts.find_group(share.recipient)
            if group is None:
                raise InvalidInput("shareWith", f"NOT_FOUND: no group {share.recipient!r} here")
            group_id, display = group.id, group.name
        context = f"{share.sender_host} {share.provider_id}".encode()
        stored, new = self._store.receive(
            sender_host=share.sender_host,
            provider_id=share.provider_id,
            user_id=user_id,
            group_id=group_id,
            fields={
                "name": share.name,
                "description": share.description,
                "owner": share.owner,
                "owner_name": share.owner_name,
                "sender": share.sender,
                "sender_name": share.sender_name,
                "uri": share.uri,
                "permission": share.permission,
            },
            secret=self._secrets.seal(share.secret, context),
        )
        self._drop_token(stored.id)
        if new:
            self.on_event(received_share_event(hooks.SHARE_RECEIVED, stored, user_id))
        return display

    def _emit(self, kind: str, share: ReceivedShare, user_id: int | None) -> None:
        self.on_event(received_share_event(kind, share, user_id))

    def notified(self, signer_host: str, notification: IncomingNotification) -> None:
        """SHARE_UNSHARED or SHARE_CHANGE_PERMISSION from the server that sent the share."""
        share = self._store.received_from(signer_host, notification.provider_id)
        if share is None:
            raise InvalidInput("providerId", "NOT_FOUND: no share from you with this providerId")
        user_id, _ = self._store.recipient_of(share.id)
        if notification.kind == SHARE_UNSHARED:
            if self._store.forget_received(share.id):
                self._emit(hooks.SHARE_REVOKED, share, user_id)
        elif notification.kind == SHARE_CHANGE_PERMISSION:
            permissions = notification.details.get("permissions")
            if not isinstance(permissions, list) or "read" not in permissions:
                raise InvalidInput("notification.permissions", "INVALID: a list with read")
            permission = "write" if "write" in permissions else "read"
            self._store.set_received_permission(share.id, permission)
            changed = self._store.received(share.id)
            if changed is not None and permission != share.permission:
                self._emit(hooks.SHARE_PERMISSION_CHANGED, changed, user_id)
        else:
            raise InvalidInput(
                "notificationType", f"INVALID: {notification.kind} is not for a share you sent"
            )
        self._drop_token(share.id)

    # --- our users' gestures ----------------------------------------------------------------------

    def shares(self, caller: Caller) -> list[ReceivedShare]:
        """Shares for the caller and their groups; an operator sees every share received."""
        user = require_user(caller)
        if caller.is_admin:
            return self._store.received_for(None, frozenset())
        return self._store.received_for(user.id, caller.group_ids)

    def get(self, caller: Caller, share_id: int) -> ReceivedShare:
        """A share the caller received (directly or through a group)."""
        user = require_user(caller)
        share = self._store.received(share_id) if 0 < share_id < 2**63 else None
        if share is not None:
            user_id, group_id = self._store.recipient_of(share_id)
            if user_id == user.id or group_id in caller.group_ids or caller.is_admin:
                return share
        raise NotFound(f"no received share {share_id}")

    def decide(self, caller: Caller, share_id: int, *, accept: bool) -> ReceivedShare:
        """Accept or decline a pending share (one decision for a whole group); the sending
        server is told."""
        share = self.get(caller, share_id)
        if share.state is not ReceivedState.PENDING:
            raise InvalidInput("state", f"the share was {share.state} already")
        kind = SHARE_ACCEPTED if accept else SHARE_DECLINED
        state = ReceivedState.ACCEPTED if accept else ReceivedState.DECLINED
        body = notification_body(kind, share.provider_id, {})
        decided = self._store.decide(share.id, state, (share.sender_host, body))
        if decided is None:
            raise InvalidInput("state", "the share was decided meanwhile")
        user_id, _ = self._store.recipient_of(share.id)
        self._emit(hooks.SHARE_ACCEPTED if accept else hooks.SHARE_DECLINED, decided, user_id)
        return decided

    def mounted(self, caller: Caller) -> list[ReceivedShare]:
        """Accepted shares the caller reads through this server (not operators' by office),
        except those of servers the operator has blocked since."""
        if caller.user is None:
            return []
        found = self._store.received_for(caller.user.id, caller.group_ids)
        accepted = [s for s in found if s.state is ReceivedState.ACCEPTED]
        if not accepted:
            return []
        blocked = {peer.host for peer in self._policy.peers() if peer.blocked}
        return [s for s in accepted if s.sender_host not in blocked]

    def mount(self, caller: Caller, mount_id: str) -> ReceivedShare | None:
        """The accepted share mounted as ``mount_id`` for the caller, if any."""
        return next((s for s in self.mounted(caller) if s.mount_id == mount_id), None)

    def direct_access(self, caller: Caller, share_id: int) -> tuple[ReceivedShare, str, float]:
        """For clients that prefer the sender's server: an accepted share, a fresh token of
        the sender for it, and the token's lifetime in seconds."""
        share = self.get(caller, share_id)
        if share.state is not ReceivedState.ACCEPTED:
            raise InvalidInput("state", f"the share is {share.state}: accept it first")
        token, deadline = self.access_token(share, fresh=True)
        return share, token, max(0.0, deadline - time.monotonic())

    # --- access tokens -----------------------------------------------------------------------

    def access_token(self, share: ReceivedShare, *, fresh: bool = False) -> tuple[str, float]:
        """A bearer token for the share and its expiry (monotonic seconds), exchanged at the
        sender's token endpoint and renewed shortly before it expires."""
        with self._lock:
            cached = self._tokens.get(share.id)
        if cached and not fresh and cached[1] - time.monotonic() > REFRESH_MARGIN:
            return cached
        token, lifetime = self._exchange(share)
        now = time.monotonic()
        found = (token, now + lifetime)
        with self._lock:
            # Each worker process keeps its own tokens; those of shares another worker saw
            # revoked or removed are never asked for again: forget them once they expire.
            self._tokens = {k: v for k, v in self._tokens.items() if v[1] > now}
            self._tokens[share.id] = found
        return found

    def _exchange(self, share: ReceivedShare) -> tuple[str, float]:
        sealed = self._store.received_secret(share.id)
        secret = None
        if sealed is not None:
            secret = self._secrets.open(sealed, f"{share.sender_host} {share.provider_id}".encode())
        if secret is None:
            raise PeerUnavailable("the share's secret cannot be read here (key file changed?)")
        server = self._discovery.discover(share.sender_host)
        if not server.token_end_point:
            raise PeerUnavailable(f"{share.sender_host} has no token endpoint")
        body = urlencode(
            {"grant_type": "authorization_code", "client_id": self._host, "code": secret}
        ).encode()
        request = self._client.build(
            "POST",
            server.token_end_point,
            content=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        response = self._client.send(self._signer.sign(request))
        try:
            answer = response.json() if response.body else {}
        except PeerUnavailable:  # a proxy's error page, say: name the peer and its status
            raise PeerUnavailable(
                f"{share.sender_host} answered the token exchange ({response.status})"
                " with something that is not JSON"
            ) from None
        revoked = isinstance(answer, dict) and answer.get("error") == "invalid_grant"
        if response.status == 400 and revoked:
            user_id, _ = self._store.recipient_of(share.id)
            if self._store.forget_received(share.id):
                self._emit(hooks.SHARE_REVOKED, share, user_id)
            self._drop_token(share.id)
            raise ShareRevoked(f"{share.sender_host} has revoked this share")
        if response.status != 200 or not isinstance(answer, dict):
            raise PeerUnavailable(
                f"{share.sender_host} refused the token exchange ({response.status})"
            )
        token, lifetime = answer.get("access_token"), answer.get("expires_in", 300)
        if not isinstance(token, str) or not token or not isinstance(lifetime, int):
            raise PeerUnavailable(f"{share.sender_host} answered the exchange without a token")
        return token, float(max(lifetime, 1))

    def _drop_token(self, share_id: int) -> None:
        with self._lock:
            self._tokens.pop(share_id, None)
