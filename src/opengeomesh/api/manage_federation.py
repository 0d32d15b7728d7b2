"""The management API of federation: invites, contacts and peers (the trust policy)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import Request
from pydantic import BaseModel, Field

from opengeomesh.accounts.directory import require_admin
from opengeomesh.api.auth import CurrentCaller, services_of
from opengeomesh.api.bodies import Body
from opengeomesh.ocm.models import Contact, Invite, Peer


class InviteOut(BaseModel):
    id: int
    created: datetime
    expires: datetime
    accepted: datetime | None
    accepted_by: str | None


class NewInviteOut(InviteOut):
    invite: str = Field(description="The invite string to give the invited person")
    link: str = Field(description="A link to a page that explains how to accept")


class AcceptIn(Body):
    invite: str = Field(
        min_length=4,
        max_length=2000,
        pattern=r"^[A-Za-z0-9_\-+/=]+$",
        description="An invite string from another server (base64url of token@host)",
    )


class ContactOut(BaseModel):
    address: str
    name: str
    email: str
    created: datetime


class AcceptedOut(BaseModel):
    organisation: str
    contact: ContactOut


class PeerIn(Body):
    status: Literal["trusted", "blocked", "none"]


class PeerOut(BaseModel):
    host: str
    organisation: str
    trusted: bool
    blocked: bool
    invited: bool
    updated: datetime


def _invite(invite: Invite) -> InviteOut:
    return InviteOut(
        id=invite.id,
        created=invite.created,
        expires=invite.expires,
        accepted=invite.accepted,
        accepted_by=invite.accepted_by,
    )


def _contact(contact: Contact) -> ContactOut:
    return ContactOut(
        address=contact.address, name=contact.name, email=contact.email, created=contact.created
    )


def _peer(peer: Peer) -> PeerOut:
    return PeerOut(
        host=peer.host,
        organisation=peer.organisation,
        trusted=peer.trusted,
        blocked=peer.blocked,
        invited=peer.invited,
        updated=peer.updated,
    )


def create_invite(request: Request, caller: CurrentCaller) -> NewInviteOut:
    """Make a single-use invite for yourself."""
    issued = services_of(request).federation.invites.create(caller)
    return NewInviteOut(
        **_invite(issued.invite).model_dump(), invite=issued.invite_string, link=issued.link
    )


def list_invites(request: Request, caller: CurrentCaller) -> list[InviteOut]:
    """Your invites and whether they were accepted."""
    return [_invite(i) for i in services_of(request).federation.invites.of(caller)]


def accept_invite(body: AcceptIn, request: Request, caller: CurrentCaller) -> AcceptedOut:
    """Accept an invite from another server; both servers record each other."""
    accepted = services_of(request).federation.invites.accept(caller, body.invite)
    return AcceptedOut(organisation=accepted.organisation, contact=_contact(accepted.contact))


def list_contacts(request: Request, caller: CurrentCaller) -> list[ContactOut]:
    """People at other servers you met through invites."""
    return [_contact(c) for c in services_of(request).federation.invites.contacts(caller)]


def list_peers(request: Request, caller: CurrentCaller) -> list[PeerOut]:
    """Other servers this one knows (operators only)."""
    require_admin(caller)
    return [_peer(p) for p in services_of(request).federation.policy.peers()]


def set_peer(host: str, body: PeerIn, request: Request, caller: CurrentCaller) -> PeerOut:
    """Trust or block a server, or neither (operators only)."""
    require_admin(caller)
    policy = services_of(request).federation.policy
    changes = {"trusted": policy.trust, "blocked": policy.block, "none": policy.forget}
    return _peer(changes[body.status](host))
