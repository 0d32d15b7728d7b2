"""The management API of sharing: shares sent (create, list, change, revoke), shares received
(list, accept, decline, direct access to the sender), and the operator's sharing rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import Path, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from opengeomesh.api.auth import CurrentCaller, services_of
from opengeomesh.api.bodies import Body
from opengeomesh.api.ogc import base_url
from opengeomesh.features.models import COLLECTION_ID_PATTERN
from opengeomesh.ocm.models import ReceivedShare, ReceivedState, SentShare, SharingRule
from opengeomesh.services import Services

ShareId = Path(ge=1, le=2**63 - 1)


class ShareIn(Body):
    collection: str = Field(pattern=COLLECTION_ID_PATTERN.pattern, description="Collection id")
    share_with: str = Field(
        min_length=3,
        max_length=300,
        pattern=r"^[^@\s]+@[^@\s]+$",
        description="OCM address of the recipient: user or group name @ their server",
    )
    permission: Literal["read", "write"] = "read"
    share_type: Literal["user", "group"] = Field("user", description="A user or a group there")


class SharePatch(Body):
    permission: Literal["read", "write"]


class DeliveryOut(BaseModel):
    attempts: int
    last_error: str
    failed: datetime | None = Field(
        None, description="When the server gave up sending the share (the operator may retry)"
    )


class ShareOut(BaseModel):
    id: int
    collection: str
    sender: str
    share_with: str
    share_type: str
    recipient_name: str = Field(description="As the recipient's server named them")
    permission: str
    state: Literal["sending", "pending", "accepted", "declined", "refused"]
    problem: str = Field(description="Why the recipient's server refused the share, if it did")
    delivery: DeliveryOut | None = Field(description="Set while the share waits to be sent")
    created: datetime
    updated: datetime


class ReceivedOut(BaseModel):
    id: int
    state: Literal["pending", "accepted", "declined"]
    share_type: str
    recipient: str = Field(description="The local user or group the share is for")
    name: str
    description: str
    owner: str
    owner_name: str
    sender: str
    sender_name: str
    permission: str
    remote_url: str = Field(description="The collection on the sender's server")
    collection: str = Field(description="Its id in this server's OGC API once accepted")
    mount_url: str | None = Field(description="Its URL in this server's OGC API, if accepted")
    created: datetime


class AccessOut(BaseModel):
    """Direct access to the sender's server, for clients that prefer it to the mount."""

    collection_url: str
    access_token: str = Field(description="A bearer token of the sender's server")
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds; ask again for a new token before then")


class RuleIn(Body):
    permission: Literal["none", "read", "write"] = Field(
        description="The most a share to matching peers may give; none keeps the collection"
        " from them"
    )


class RuleOut(BaseModel):
    domain: str
    permission: str


def _share(services: Services, share: SentShare) -> ShareOut:
    waiting = services.stores.shares.delivery_of(share.id)
    delivery = None
    if waiting is not None:
        failed = waiting.failed_at
        delivery = DeliveryOut(
            attempts=waiting.attempts,
            last_error=waiting.last_error,
            failed=None if failed is None else datetime.fromtimestamp(failed, UTC),
        )
    return ShareOut(
        id=share.id,
        collection=share.collection_id,
        sender=share.sender,
        share_with=share.share_with,
        share_type=share.share_type.value,
        recipient_name=share.recipient_name,
        permission=share.permission,
        state=share.state.value,
        problem=share.problem,
        delivery=delivery,
        created=share.created,
        updated=share.updated,
    )


def _received(request: Request, share: ReceivedShare) -> ReceivedOut:
    accepted = share.state is ReceivedState.ACCEPTED
    return ReceivedOut(
        id=share.id,
        state=share.state.value,
        share_type=share.share_type.value,
        recipient=share.recipient,
        name=share.name,
        description=share.description,
        owner=share.owner,
        owner_name=share.owner_name,
        sender=share.sender,
        sender_name=share.sender_name,
        permission=share.permission,
        remote_url=share.uri,
        collection=share.mount_id,
        mount_url=f"{base_url(request)}/collections/{share.mount_id}" if accepted else None,
        created=share.created,
    )


def _rules(rules: list[SharingRule]) -> list[RuleOut]:
    return [RuleOut(domain=r.domain, permission=r.permission) for r in rules]


# --- shares sent ----------------------------------------------------------------------------


def create_share(body: ShareIn, request: Request, caller: CurrentCaller) -> ShareOut:
    """Share a collection with a user or group at another server. The recipient's server is
    asked at once; if it cannot be reached the share waits (state ``sending``) and is sent
    again until it is."""
    services = services_of(request)
    share = services.federation.share(
        caller, body.collection, body.share_with, body.permission, body.share_type
    )
    return _share(services, share)


def list_shares(request: Request, caller: CurrentCaller) -> list[ShareOut]:
    """Your shares (an operator sees every share of the server)."""
    services = services_of(request)
    return [_share(services, s) for s in services.federation.sharing.shares(caller)]


def get_share(request: Request, caller: CurrentCaller, share_id: int = ShareId) -> ShareOut:
    """One of your shares: its state, and whether it still waits to be delivered."""
    services = services_of(request)
    return _share(services, services.federation.sharing.get(caller, share_id))


def update_share(
    body: SharePatch, request: Request, caller: CurrentCaller, share_id: int = ShareId
) -> ShareOut:
    """Change a share's permission: effective on the next request; the recipient is told."""
    services = services_of(request)
    share = services.federation.sharing.update(caller, share_id, body.permission)
    services.federation.outbox.wake()
    return _share(services, share)


def revoke_share(request: Request, caller: CurrentCaller, share_id: int = ShareId) -> Response:
    """Revoke a share: its secret and tokens stop working now; the recipient is told."""
    federation = services_of(request).federation
    federation.sharing.revoke(caller, share_id)
    federation.outbox.wake()
    return Response(status_code=204)


# --- shares received ------------------------------------------------------------------------


def list_received(request: Request, caller: CurrentCaller) -> list[ReceivedOut]:
    """Shares for you and your groups from other servers (an operator sees all)."""
    inbox = services_of(request).federation.inbox
    return [_received(request, s) for s in inbox.shares(caller)]


def get_received(request: Request, caller: CurrentCaller, share_id: int = ShareId) -> ReceivedOut:
    """One share you received, with its collection's URL here once accepted."""
    inbox = services_of(request).federation.inbox
    return _received(request, inbox.get(caller, share_id))


def accept_received(
    request: Request, caller: CurrentCaller, share_id: int = ShareId
) -> ReceivedOut:
    """Accept a pending share: it appears in this server's OGC API; the sender is told."""
    federation = services_of(request).federation
    share = federation.inbox.decide(caller, share_id, accept=True)
    federation.outbox.wake()
    return _received(request, share)


def decline_received(
    request: Request, caller: CurrentCaller, share_id: int = ShareId
) -> ReceivedOut:
    """Decline a pending share; the sender is told."""
    federation = services_of(request).federation
    share = federation.inbox.decide(caller, share_id, accept=False)
    federation.outbox.wake()
    return _received(request, share)


def access_received(request: Request, caller: CurrentCaller, share_id: int = ShareId) -> AccessOut:
    """A fresh access token of the sender's server for an accepted share, and the collection's
    URL there: for clients that prefer to read the sender's server directly."""
    inbox = services_of(request).federation.inbox
    share, token, lifetime = inbox.direct_access(caller, share_id)
    return AccessOut(collection_url=share.uri, access_token=token, expires_in=int(lifetime))


# --- sharing rules --------------------------------------------------------------------------


def list_rules(collection_id: str, request: Request, caller: CurrentCaller) -> list[RuleOut]:
    """The operator's sharing rules of a collection: which peers it may go to, how far."""
    return _rules(services_of(request).federation.sharing.rules(caller, collection_id))


def put_rule(
    collection_id: str, domain: str, body: RuleIn, request: Request, caller: CurrentCaller
) -> list[RuleOut]:
    """Let a collection go to peers matching ``domain`` (a host, ``*.example.org`` or ``*``)
    up to a permission (operators only)."""
    sharing = services_of(request).federation.sharing
    return _rules(sharing.set_rule(caller, collection_id, domain, body.permission))


def delete_rule(
    collection_id: str, domain: str, request: Request, caller: CurrentCaller
) -> Response:
    """Remove a sharing rule of a collection (operators only)."""
    services_of(request).federation.sharing.remove_rule(caller, collection_id, domain)
    return Response(status_code=204)
