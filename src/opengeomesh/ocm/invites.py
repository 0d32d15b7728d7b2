"""The invite flow (draft-ietf-ocm §"Invite flow"): Alice invites, Bob accepts on his server,
his server tells Alice's (``POST /invite-accepted``, signed), both record each other.

An invite string is base64url of ``token@host``; the token is random, single use, expires, and
is stored only as a hash.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson

from opengeomesh.accounts.directory import AccountDirectory, require_user
from opengeomesh.accounts.models import Caller
from opengeomesh.accounts.tokens import token_hash
from opengeomesh.errors import Conflict, InvalidInput
from opengeomesh.ocm.addresses import OcmAddress, normalise_host
from opengeomesh.ocm.client import OutboundClient, PeerResponse, PeerUnavailable
from opengeomesh.ocm.discovery import DiscoveryClient
from opengeomesh.ocm.models import Contact, Invite
from opengeomesh.ocm.signatures import RequestSigner
from opengeomesh.ocm.store import OcmStore
from opengeomesh.ocm.trust import TrustPolicy, Untrusted
from opengeomesh.webhooks.events import EventSink, ignore, invite_accepted_event


def encode_invite(token: str, host: str) -> str:
    """The canonical invite string: base64url without padding of ``token@host``."""
    return base64.urlsafe_b64encode(f"{token}@{host}".encode()).decode().rstrip("=")


def decode_invite(text: str) -> tuple[str, str]:
    """Token and host of an invite string (base64url or base64, padding optional)."""
    cleaned = text.strip()
    padded = cleaned + "=" * (-len(cleaned) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        token, sep, host = raw.decode("utf-8").rpartition("@")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("invite", "not an invite string") from None
    if not sep or not token:
        raise InvalidInput("invite", "not an invite string (token@host)")
    return token, normalise_host(host, "invite")


@dataclass(frozen=True, slots=True)
class IssuedInvite:
    invite: Invite
    token: str
    invite_string: str
    link: str


@dataclass(frozen=True, slots=True)
class AcceptedInvite:
    """What Bob's server learnt by accepting: the inviting person and organisation."""

    contact: Contact
    organisation: str


class Invites:
    """Making invites, accepting other servers' invites, and answering acceptances of ours."""

    def __init__(
        self,
        *,
        store: OcmStore,
        accounts: AccountDirectory,
        policy: TrustPolicy,
        discovery: DiscoveryClient,
        client: OutboundClient,
        signer: RequestSigner,
        host: str,
        base_url: str,
        ttl: timedelta,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._policy = policy
        self._discovery = discovery
        self._client = client
        self._signer = signer
        self._host = host
        self._base_url = base_url
        self._ttl = ttl
        self.on_event: EventSink = ignore  # webhooks (set by the services)

    # --- Alice's side ---------------------------------------------------------------------

    def create(self, caller: Caller) -> IssuedInvite:
        """A new single-use invite for the caller."""
        user = require_user(caller)
        token = secrets.token_urlsafe(24)
        invite = self._store.add_invite(user.id, token_hash(token), datetime.now(UTC) + self._ttl)
        query = urlencode({"token": token, "providerDomain": self._host})
        return IssuedInvite(
            invite=invite,
            token=token,
            invite_string=encode_invite(token, self._host),
            link=f"{self._base_url}/ocm/invite?{query}",
        )

    def of(self, caller: Caller) -> list[Invite]:
        return self._store.invites_of(require_user(caller).id)

    def receive_acceptance(
        self,
        *,
        recipient_provider: str,
        token: str,
        user_id: str,
        email: str,
        name: str,
    ) -> dict[str, str]:
        """Answer ``POST /invite-accepted`` from ``recipient_provider``, whose signature the
        caller has verified: check the policy, then the token, then record both sides."""
        host = normalise_host(recipient_provider, "recipientProvider")
        self._policy.check(host, invite=True)  # before the token: no hints to strangers
        found = self._store.invite_by_hash(token_hash(token))
        if found is None:
            raise InvalidInput("token", "TOKEN_INVALID: no such invite")
        invite, owner_id = found
        if invite.accepted is not None:
            raise Conflict("INVITE_ALREADY_ACCEPTED: this invite was accepted already")
        if invite.expires < datetime.now(UTC):
            raise InvalidInput("token", "TOKEN_EXPIRED: the invite has expired")
        address = str(OcmAddress(user_id, host))
        contact = Contact(invite.user_name, address, name or user_id, email, datetime.now(UTC))
        organisation = self._organisation(host)
        if not self._store.accept_invite(
            invite.id,
            by=address,
            contact=contact,
            user_id=owner_id,
            peer_host=host,
            organisation=organisation,
        ):
            raise Conflict("INVITE_ALREADY_ACCEPTED: this invite was accepted already")
        owner = self._accounts.user(invite.user_name)
        about = {
            "address": address,
            "name": name or user_id,
            "email": email,
            "server": host,
            "organisation": organisation,
        }
        self.on_event(invite_accepted_event(invite.id, invite.user_name, owner_id, about))
        return {"userID": owner.name, "email": owner.email, "name": owner.display_name}

    def _organisation(self, host: str) -> str:
        try:
            return self._discovery.discover(host).provider
        except PeerUnavailable:
            return host

    # --- Bob's side -----------------------------------------------------------------------

    def preview(self, invite_string: str) -> tuple[str, str]:
        """The inviting server and its organisation name, before accepting."""
        _, host = decode_invite(invite_string)
        if host == self._host:
            raise InvalidInput("invite", "this invite comes from this server itself")
        self._policy.check(host, invite=True)
        return host, self._discovery.discover(host).provider

    def accept(self, caller: Caller, invite_string: str) -> AcceptedInvite:
        """Accept another server's invite for the caller."""
        user = require_user(caller)
        token, host = decode_invite(invite_string)
        if host == self._host:
            raise InvalidInput("invite", "this invite comes from this server itself")
        self._policy.check(host, invite=True)
        server = self._discovery.discover(host)
        if server.end_point == f"{self._base_url}/ocm":
            raise InvalidInput("invite", "this invite comes from this server itself")
        if "invites" not in server.capabilities:
            raise InvalidInput("invite", f"{host} ({server.provider}) does not take invites")
        body = orjson.dumps(
            {
                "recipientProvider": self._host,
                "token": token,
                "userID": user.name,
                "email": user.email,
                "name": user.display_name,
            }
        )
        try:
            response = self._post_acceptance(server.end_point, body)
        except PeerUnavailable:
            fresh = self._discovery.discover(host, refresh=True)  # it may have moved
            if fresh.end_point == server.end_point:
                raise
            response = self._post_acceptance(fresh.end_point, body)
        if response.status != 200:
            raise _refusal(host, response.status, response.body)
        answer = response.json()
        if not isinstance(answer, dict):
            raise PeerUnavailable(f"{host} answered the acceptance with something not an object")
        user_id = _text(answer, "userID", host, required=True)
        contact = Contact(
            user.name,
            str(OcmAddress(user_id, host)),
            _text(answer, "name", host) or user_id,
            _text(answer, "email", host),
            datetime.now(UTC),
        )
        self._store.record_acceptance(
            contact=contact, user_id=user.id, peer_host=host, organisation=server.provider
        )
        return AcceptedInvite(contact=contact, organisation=server.provider)

    def _post_acceptance(self, end_point: str, body: bytes) -> PeerResponse:
        request = self._client.build(
            "POST",
            f"{end_point}/invite-accepted",
            content=body,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        return self._client.send(self._signer.sign(request))

    def contacts(self, caller: Caller) -> list[Contact]:
        return self._store.contacts_of(require_user(caller).id)


def _text(answer: dict[str, Any], name: str, host: str, *, required: bool = False) -> str:
    """A string field of another server's answer: at most 1000 printable characters."""
    value = answer.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > 1000 or not value.isprintable():
        raise PeerUnavailable(f"{host} answered with an unusable {name}")
    if required and not value:
        raise PeerUnavailable(f"{host} answered the acceptance without a {name}")
    return value


def _refusal(host: str, status: int, body: bytes) -> Exception:
    try:
        answer = orjson.loads(body)
        code, detail = answer.get("message", ""), answer.get("detail", "")
        message = f"{code} ({detail})" if code and detail else str(code or detail)
    except (orjson.JSONDecodeError, AttributeError):
        message = ""
    said = f"{host} refused: {message or status}"
    if status == 400:
        return InvalidInput("invite", said)
    if status == 403:
        return Untrusted(said)
    if status == 409:
        return Conflict(said)
    if status == 401:
        return PeerUnavailable(f"{host} did not accept our signature: {message or status}")
    return PeerUnavailable(f"{host} answered {status}")
