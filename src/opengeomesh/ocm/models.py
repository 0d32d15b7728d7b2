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
