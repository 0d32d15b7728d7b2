"""Peers, invites and contacts: what the federation layer remembers."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class TrustMode(enum.StrEnum):
    """Whom this server deals with (the operator's trust policy)."""

    OPEN = "open"  # any discoverable peer not blocked
    ALLOWLIST = "allowlist"  # only peers the operator trusts (or met before by invite)
    INVITE_ONLY = "invite-only"  # only peers met through an accepted invite, or trusted


@dataclass(frozen=True, slots=True)
class Peer:
    """Another OCM server, as this server knows it."""

    host: str
    organisation: str
    trusted: bool  # the operator said so
    blocked: bool  # the operator said so; always wins
    invited: bool  # met through an accepted invite
    updated: datetime


@dataclass(frozen=True, slots=True)
class Invite:
    """An invite made by a local user; the token itself is only stored as a hash."""

    id: int
    user_name: str
    created: datetime
    expires: datetime
    accepted: datetime | None
    accepted_by: str | None


@dataclass(frozen=True, slots=True)
class Contact:
    """Someone at another server a local user met through an invite."""

    user_name: str
    address: str
    name: str
    email: str
    created: datetime


class ShareState(enum.StrEnum):
    """Where a share stands, as its sending server sees it."""

    SENDING = "sending"  # not yet delivered; the outbox retries
    PENDING = "pending"  # delivered; the recipient has not decided
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REFUSED = "refused"  # the recipient's server refused it for good (see ``problem``)


class ShareType(enum.StrEnum):
    """Whom a share is for at the other server (OCM ``shareType``)."""

    USER = "user"
    GROUP = "group"


@dataclass(frozen=True, slots=True)
class SentShare:
    """A collection shared by a local user with someone at another server."""

    id: int
    provider_id: str
    collection_key: int
    collection_id: str
    sender: str  # local user name
    share_with: str  # OCM address at the other server
    share_type: ShareType
    recipient_host: str
    recipient_name: str
    permission: str  # "read" or "write"
    state: ShareState
    problem: str
    created: datetime
    updated: datetime


@dataclass(frozen=True, slots=True)
class SharingRule:
    """The operator's rule: ``collection`` may go to peers matching ``domain`` (an exact host,
    ``*.example.org`` or ``*``), up to ``permission`` (``none`` keeps it from them)."""

    collection_id: str
    domain: str
    permission: str

    def matches(self, host: str) -> bool:
        """Whether the rule covers ``host`` (``name[:port]``); wildcards ignore the port."""
        if self.domain == "*" or self.domain == host:
            return True
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return self.domain.startswith("*.") and name.endswith(self.domain[1:])


class ReceivedState(enum.StrEnum):
    """Where a share received from another server stands."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"


@dataclass(frozen=True, slots=True)
class ReceivedShare:
    """A collection another server shared with a local user or group."""

    id: int
    sender_host: str
    provider_id: str
    share_type: ShareType
    recipient: str  # local user or group name
    name: str
    description: str
    owner: str
    owner_name: str
    sender: str
    sender_name: str
    uri: str
    permission: str
    state: ReceivedState
    created: datetime
    updated: datetime

    @property
    def mount_id(self) -> str:
        """The id of the collection this share appears as in the local OGC API."""
        return f"ocm-{self.id}"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A message to another server, waiting to be (re)sent: a share or a notification."""

    id: int
    host: str
    share_id: int | None
    notification: str | None  # the JSON body
    attempts: int
    last_error: str
    claimed_until: float  # a sender holds it until then (it may be in flight); once claimed,
    # the item's proof of its claim (the store acts on the item only while the row carries it)
    failed_at: float | None = None  # when the outbox gave up on it (kept, never claimed again)
