"""What the management API answers, as typed models. Unknown members are ignored and states
are plain strings, so a client keeps working when a newer server adds to its answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Me(Model):
    """The user the token belongs to."""

    name: str
    display_name: str
    email: str
    admin: bool
    created: datetime
    groups: list[str]


class Token(Model):
    id: int
    user: str
    label: str
    created: datetime


class NewToken(Token):
    token: str = Field(description="The token itself: shown this once")


class Collection(Model):
    """A collection (map layer) and the caller's access to it: read, write or manage."""

    id: str
    title: str
    description: str
    owner: str
    public: bool
    temporal_property: str | None
    features: int
    access: str
    created: datetime
    updated: datetime


class Grant(Model):
    subject: str
    permission: str


class Change(Model):
    seq: int
    feature_id: str
    action: str
    actor: str
    at: datetime
    version: int


class Imported(Model):
    collection: str
    imported: int


class Invite(Model):
    id: int
    created: datetime
    expires: datetime
    accepted: datetime | None
    accepted_by: str | None


class NewInvite(Invite):
    invite: str = Field(description="The invite string to give the invited person")
    link: str


class Contact(Model):
    address: str
    name: str
    email: str
    created: datetime


class AcceptedInvite(Model):
    organisation: str
    contact: Contact


class Peer(Model):
    host: str
    organisation: str
    trusted: bool
    blocked: bool
    invited: bool
    updated: datetime


class Delivery(Model):
    """How sending a share goes: ``failed`` is set once the server gave up (it may be retried)."""

    attempts: int
    last_error: str
    failed: datetime | None = None


class Share(Model):
    """A share you sent. ``state``: sending, pending, accepted, declined or refused."""

    id: int
    collection: str
    sender: str
    share_with: str
    share_type: str
    recipient_name: str
    permission: str
    state: str
    problem: str
    delivery: Delivery | None
    created: datetime
    updated: datetime


class ReceivedShare(Model):
    """A share another server sent you. ``state``: pending, accepted or declined;
    ``collection`` is its id in your server's OGC API once accepted (``mount_url``)."""

    id: int
    state: str
    share_type: str
    recipient: str
    name: str
    description: str
    owner: str
    owner_name: str
    sender: str
    sender_name: str
    permission: str
    remote_url: str
    collection: str
    mount_url: str | None
    created: datetime


class DirectAccess(Model):
    """A bearer token of the sender's server for one accepted share."""

    collection_url: str
    access_token: str
    token_type: str
    expires_in: int


class SharingRule(Model):
    domain: str
    permission: str


class Webhook(Model):
    """A webhook endpoint: where events of ``events`` are POSTed; ``owner`` the user whose
    events it gets (None: every event of the server, an operator's)."""

    id: int
    url: str
    events: list[str]
    owner: str | None
    created: datetime


class NewWebhook(Webhook):
    secret: str = Field(description="whsec_… key of the signatures (Standard Webhooks): shown once")


class WebhookDelivery(Model):
    """One event sent (or to be sent) to an endpoint. ``status``: pending, delivered or
    failed; ``message_id`` is the ``webhook-id`` header the receiver saw."""

    id: int
    message_id: str
    event_type: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str
    next_attempt: datetime | None
    created: datetime
    updated: datetime


class FeaturePage(Model):
    """One page of an OGC API – Features ``items`` answer; ``next`` is the next page's URL."""

    features: list[dict[str, Any]]
    number_matched: int | None = Field(None, alias="numberMatched")
    number_returned: int | None = Field(None, alias="numberReturned")
    links: list[dict[str, Any]] = []

    @property
    def next(self) -> str | None:
        return next((str(x["href"]) for x in self.links if x.get("rel") == "next"), None)
