"""The sending side of sharing (DESIGN.md "Share"): Alice shares a collection with someone at
another server, changes or revokes it; that server exchanges the share's secret for short-lived
access tokens (draft-ietf-ocm §"Code Flow") and tells us what its user decided.

Checks run in the order of the share flow and each refusal names its check: the trust policy
for the recipient's server, then the collection and what Alice may grant, then the operator's
sharing policy for that collection.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson

from opengeomesh.accounts.directory import AccountDirectory, require_admin, require_user
from opengeomesh.accounts.models import Caller
from opengeomesh.accounts.tokens import token_hash
from opengeomesh.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from opengeomesh.features.catalog import Catalog
from opengeomesh.features.models import Access, Collection
from opengeomesh.ocm.addresses import OcmAddress, normalise_host
from opengeomesh.ocm.discovery import PROTOCOL, RESOURCE_TYPE, DiscoveryClient
from opengeomesh.ocm.models import SentShare, ShareState, ShareType, SharingRule
from opengeomesh.ocm.payloads import (
    SHARE_ACCEPTED,
    SHARE_CHANGE_PERMISSION,
    SHARE_DECLINED,
    SHARE_UNSHARED,
    IncomingNotification,
    OAuthError,
    TokenRequest,
    notification_body,
    permissions_of,
    share_body,
)
from opengeomesh.ocm.secretbox import SecretBox
from opengeomesh.ocm.store import ShareStore
from opengeomesh.ocm.trust import TrustPolicy, Untrusted
from opengeomesh.webhooks import models as hooks
from opengeomesh.webhooks.events import EventSink, ignore, sent_share_event

SHARE_TOKEN_PREFIX = "ogs_"  # access tokens of shares; personal tokens start with ogm_
PERMISSIONS = ("read", "write")


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    expires_in: int


class Sharing:
    """Shares this server's users send, and the access they give."""

    def __init__(
        self,
        *,
        store: ShareStore,
        catalog: Catalog,
        accounts: AccountDirectory,
        policy: TrustPolicy,
        discovery: DiscoveryClient,
        secrets: SecretBox,
        host: str,
        base_url: str,
        token_seconds: int,
    ) -> None:
        self._secrets = secrets
        self._store = store
        self._catalog = catalog
        self._accounts = accounts
        self._policy = policy
        self._discovery = discovery
        self._host = host
        self._base_url = base_url
        self._token_seconds = token_seconds
        self.on_event: EventSink = ignore  # webhooks (set by the services)

    # --- Alice's gestures -------------------------------------------------------------------

    def create(
        self,
        caller: Caller,
        collection_id: str,
        share_with: str,
        permission: str,
        share_type: str = "user",
    ) -> SentShare:
        """Record a share after the three checks; its delivery is queued with it."""
        user = require_user(caller)
        if permission not in PERMISSIONS:
            raise InvalidInput("permission", "must be 'read' or 'write'")
        if share_type not in ("user", "group"):
            raise InvalidInput("shareType", "must be 'user' or 'group'")
        address = OcmAddress.parse(share_with, "shareWith")
        if address.host == self._host:
            raise InvalidInput("shareWith", "that is this server: use a local grant instead")
        try:
            self._policy.check(address.host)
        except Untrusted as exc:
            raise Untrusted(f"trust policy: {exc.detail}") from None
        collection = self._grantable(caller, collection_id, permission)
        self._check_rules(collection, address.host, permission)
        provider_id, secret = secrets.token_urlsafe(18), secrets.token_urlsafe(32)
        return self._store.add_share(
            provider_id=provider_id,
            collection_key=collection.key,
            sender_id=user.id,
            share_with=str(address),
            share_type=ShareType(share_type),
            recipient_host=address.host,
            permission=permission,
            secret_hash=token_hash(secret),
            secret_sealed=self._secrets.seal(secret, provider_id.encode()),
        )

    def _grantable(self, caller: Caller, collection_id: str, permission: str) -> Collection:
        """The collection, if the caller holds what they want to give (read needs read,
        write needs write)."""
        collection, access = self._catalog.get(caller, collection_id)
        if permission == "write" and access < Access.WRITE:
            raise Forbidden(
                f"permissions: you may only read {collection_id!r}, so you can share it"
                " read-only (--permission read)"
            )
        return collection

    def _check_rules(self, collection: Collection, host: str, permission: str) -> None:
        """The operator's sharing policy: the most specific rule matching the host decides
        (exact host, then the longest wildcard); without one, only known peers (trusted or
        met by invite) may get the collection."""
        rule = self._rule_for(collection, host)
        if rule is None:
            peer = self._policy.peer(host)
            if peer is None or not (peer.trusted or peer.invited):
                raise Forbidden(
                    f"sharing policy: {collection.id!r} may not go to {host}: no rule of the"
                    " collection allows it and the server is neither trusted nor met by invite"
                )
            return
        if rule.permission == "none":
            raise Forbidden(
                f"sharing policy: {collection.id!r} may not go to {host} (rule {rule.domain!r})"
            )
        if permission == "write" and rule.permission != "write":
            raise Forbidden(
                f"sharing policy: {collection.id!r} may go to {host} read-only"
                f" (rule {rule.domain!r})"
            )

    def _rule_for(self, collection: Collection, host: str) -> SharingRule | None:
        matching = [r for r in self._store.rules(collection.key) if r.matches(host)]
        if not matching:
            return None
        return max(matching, key=lambda r: (r.domain == host, len(r.domain)))

    def shares(self, caller: Caller) -> list[SentShare]:
        """The caller's shares; an operator sees every share of the server."""
        user = require_user(caller)
        return self._store.shares(None if caller.is_admin else user.id)

    def get(self, caller: Caller, share_id: int) -> SentShare:
        user = require_user(caller)
        share = self._store.share(share_id) if 0 < share_id < 2**63 else None
        if share is None or (share.sender != user.name and not caller.is_admin):
            raise NotFound(f"no share {share_id}")
        return share

    def update(self, caller: Caller, share_id: int, permission: str) -> SentShare:
        """Change a share's permission; effective on the next request, and the peer is told."""
        share = self.get(caller, share_id)
        if permission not in PERMISSIONS:
            raise InvalidInput("permission", "must be 'read' or 'write'")
        if permission == "write":
            collection = self._grantable(caller, share.collection_id, permission)
            self._check_rules(collection, share.recipient_host, permission)
        updated = self._set_permission(share, permission)
        if updated is None:
            raise NotFound(f"no share {share_id}")
        return updated

    def _set_permission(self, share: SentShare, permission: str) -> SentShare | None:
        notify = None
        if share.state not in (ShareState.SENDING, ShareState.REFUSED):
            details = {"permissions": permissions_of(permission)}
            body = notification_body(SHARE_CHANGE_PERMISSION, share.provider_id, details)
            notify = (share.recipient_host, body)
        updated = self._store.update_share(share.id, permission=permission, notify=notify)
        if updated is not None and permission != share.permission:
            self._emit(hooks.SHARE_PERMISSION_CHANGED, updated)
        return updated

    def _emit(self, kind: str, share: SentShare) -> None:
        sender = self._accounts.find_user(share.sender)
        self.on_event(sent_share_event(kind, share, None if sender is None else sender.id))

    def revoke(self, caller: Caller, share_id: int) -> SentShare:
        """Delete a share: its secret and tokens stop working now; the peer is told."""
        share = self.get(caller, share_id)
        self._forget(share)
        return share

    def access_changed(self, collection_key: int) -> None:
        """Keep every share of a collection within what its sender still holds: a sender who
        may no longer read it loses the share, one who may no longer change it shares
        read-only (the recipient is told either way)."""
        collection = self._catalog.collection_by_key(collection_key)
        if collection is None:
            return
        for share in self._store.shares_of_collection(collection_key):
            sender = self._accounts.caller_for_user(share.sender)
            held = self._catalog.access(sender, collection)
            if held < Access.READ:
                self._forget(share)
            elif share.permission == "write" and held < Access.WRITE:
                self._set_permission(share, "read")

    def collection_deleted(self, collection_key: int) -> None:
        """Revoke every share of a collection about to be deleted."""
        for share in self._store.shares_of_collection(collection_key):
            self._forget(share)

    def _forget(self, share: SentShare) -> None:
        """Delete the share; tell the peer unless it never got (or refused) the share."""
        delivery = self._store.delivery_of(share.id)
        unsent = (
            share.state is ShareState.SENDING
            and delivery is not None
            and not delivery.attempts
            and delivery.claimed_until <= time.time()  # else it may be on its way now
        )
        notify = None
        if not unsent and share.state is not ShareState.REFUSED:
            body = notification_body(SHARE_UNSHARED, share.provider_id, {})
            notify = (share.recipient_host, body)
        if self._store.delete_share(share.id, notify):
            self._emit(hooks.SHARE_REVOKED, share)

    # --- sharing policy ----------------------------------------------------------------------

    def rules(self, caller: Caller, collection_id: str) -> list[SharingRule]:
        require_admin(caller)
        collection, _ = self._catalog.get(caller, collection_id)
        return self._store.rules(collection.key)

    def set_rule(
        self, caller: Caller, collection_id: str, domain: str, permission: str
    ) -> list[SharingRule]:
        """Allow ``collection_id`` to go to peers matching ``domain``, up to ``permission``."""
        require_admin(caller)
        collection, _ = self._catalog.get(caller, collection_id)
        if permission not in ("none", *PERMISSIONS):
            raise InvalidInput("permission", "must be 'none', 'read' or 'write'")
        self._store.set_rule(collection.key, _domain(domain), permission)
        return self._store.rules(collection.key)

    def remove_rule(self, caller: Caller, collection_id: str, domain: str) -> list[SharingRule]:
        require_admin(caller)
        collection, _ = self._catalog.get(caller, collection_id)
        if not self._store.remove_rule(collection.key, _domain(domain)):
            raise NotFound(f"{collection_id!r} has no sharing rule for {domain!r}")
        return self._store.rules(collection.key)

    # --- delivery (called by the outbox) ------------------------------------------------------

    def share_message(self, share_id: int) -> dict[str, Any] | None:
        """The ``NewShare`` body of a share being delivered; None if the share is gone. Every
        attempt sends the same secret: it stays sealed until the share is delivered, then
        only its hash is kept."""
        share = self._store.share(share_id)
        if share is None:
            return None
        collection = self._catalog.collection_by_key(share.collection_key)
        sealed = self._store.sealed_secret(share_id)
        if collection is None or sealed is None:
            return None
        secret = self._secrets.open(sealed, share.provider_id.encode())
        if secret is None:
            raise InvalidInput("secret", "the share's secret cannot be read (key file changed?)")
        sender = self._accounts.user(share.sender)
        owner = self._accounts.user(collection.owner_name)
        return share_body(
            share_with=share.share_with,
            share_type=share.share_type,
            provider_id=share.provider_id,
            name=collection.title,
            description=collection.description,
            owner=OcmAddress(owner.name, self._host),
            owner_name=owner.display_name,
            sender=OcmAddress(sender.name, self._host),
            sender_name=sender.display_name,
            uri=f"{self._base_url}/collections/{collection.id}",
            secret=secret,
            permission=share.permission,
        )

    def check_recipient(self, share_id: int) -> None:
        """Refuse delivery to a server that does not take ``ogcapi`` shares of this type."""
        share = self._store.share(share_id)
        if share is None:
            return
        server = self._discovery.discover(share.recipient_host)
        entry = server.resource_types.get(RESOURCE_TYPE)
        if entry is None or f"{PROTOCOL}-receive" not in entry["protocols"]:
            raise InvalidInput(
                "shareWith", f"{share.recipient_host} does not take {RESOURCE_TYPE} shares"
            )
        if share.share_type.value not in entry["shareTypes"]:
            raise InvalidInput(
                "shareType", f"{share.recipient_host} does not take {share.share_type} shares"
            )

    def delivered(self, share_id: int, status: int, body: bytes) -> bool:
        """Record the recipient server's answer to a share: 201, or a refusal for good; False
        if the share was revoked meanwhile."""
        if self._store.share(share_id) is None:
            return False
        if 200 <= status < 300:
            self._store.forget_sealed_secret(share_id)
            name = ""
            try:
                answer = orjson.loads(body)
                if isinstance(answer, dict) and isinstance(answer.get("recipientDisplayName"), str):
                    name = answer["recipientDisplayName"][:200]
            except orjson.JSONDecodeError:
                pass
            share = self._store.share(share_id)
            first = share is not None and share.state is ShareState.SENDING
            state = ShareState.PENDING if first else None  # SHARE_ACCEPTED may come first
            self._store.update_share(share_id, state=state, recipient_name=name, problem="")
            return True
        self._store.update_share(share_id, state=ShareState.REFUSED, problem=_said(status, body))
        return True

    def refused(self, share_id: int, reason: str) -> None:
        self._store.update_share(share_id, state=ShareState.REFUSED, problem=reason)

    def sending_again(self, share_id: int) -> None:
        """A failed delivery is tried again: the share waits to be sent, no problem yet."""
        self._store.update_share(share_id, state=ShareState.SENDING, problem="")

    # --- the other server --------------------------------------------------------------------

    def notified(self, signer_host: str, notification: IncomingNotification) -> None:
        """SHARE_ACCEPTED / SHARE_DECLINED from the recipient's server, whose signature the
        caller verified."""
        share = self._store.share_by_provider_id(notification.provider_id)
        if share is None or share.recipient_host != signer_host:
            raise InvalidInput("providerId", "NOT_FOUND: no share of yours with this providerId")
        undecided = (ShareState.SENDING, ShareState.PENDING)
        if notification.kind == SHARE_ACCEPTED and share.state in undecided:
            if updated := self._store.update_share(share.id, state=ShareState.ACCEPTED):
                self._emit(hooks.SHARE_ACCEPTED, updated)
        elif notification.kind == SHARE_DECLINED and share.state in (
            *undecided,
            ShareState.ACCEPTED,
        ):
            if updated := self._store.update_share(share.id, state=ShareState.DECLINED):
                self._emit(hooks.SHARE_DECLINED, updated)
        elif notification.kind in (SHARE_ACCEPTED, SHARE_DECLINED):
            raise InvalidInput("notificationType", f"INVALID: the share is {share.state}")
        else:
            raise InvalidInput(
                "notificationType", f"INVALID: {notification.kind} is not for a share you got"
            )

    def exchange(self, signer_host: str, request: TokenRequest) -> IssuedAccessToken:
        """Issue an access token for the share whose secret is ``request.code`` (draft-ietf-ocm
        §"Code Flow"): the signer, ``client_id`` and the share's recipient must be one server."""
        try:
            client = normalise_host(request.client_id, "client_id")
        except InvalidInput:
            raise OAuthError("invalid_request", "client_id is not a host name") from None
        if client != signer_host:
            raise OAuthError("invalid_client", "client_id is not the server that signed", 401)
        share = self._store.share_for_secret(token_hash(request.code))
        if share is None or share.recipient_host != client:
            raise OAuthError("invalid_grant", "the code is not the secret of a live share")
        if share.state in (ShareState.DECLINED, ShareState.REFUSED):
            raise OAuthError("invalid_grant", "the share was declined")
        token = SHARE_TOKEN_PREFIX + secrets.token_urlsafe(32)
        if not self._store.add_token(
            share.id, token_hash(token), time.time() + self._token_seconds
        ):
            raise OAuthError("invalid_grant", "the share was revoked")
        return IssuedAccessToken(token=token, expires_in=self._token_seconds)

    def caller_for_token(self, token: str) -> Caller:
        """The caller an access token stands for: the holder of one share."""
        found = self._store.access_for_token(token_hash(token))
        if found is None:
            raise Unauthenticated("the access token is not valid (revoked?)", invalid_token=True)
        scope, expires = found
        if expires < time.time():
            raise Unauthenticated("the access token has expired", invalid_token=True)
        return Caller(share=scope)


def _domain(text: str) -> str:
    """A rule's domain: ``*``, ``*.example.org`` or a host name."""
    text = text.strip().lower()
    if text == "*":
        return text
    if text.startswith("*."):
        return "*." + normalise_host(text[2:], "domain")
    return normalise_host(text, "domain")


def _said(status: int, body: bytes) -> str:
    """What another server's refusal said, for the share list."""
    try:
        answer = orjson.loads(body)
        parts = [answer.get("message", ""), answer.get("detail", "")]
        for error in answer.get("validationErrors") or []:
            parts.append(f"{error.get('name')}: {error.get('message')}")
        text = "; ".join(str(p) for p in parts if p)
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        text = ""
    return f"refused with {status}" + (f": {text}" if text else "")
