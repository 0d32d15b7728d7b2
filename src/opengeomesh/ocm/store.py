"""What the federation layer needs from storage; implemented in ``storage/``."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from opengeomesh.ocm.models import Contact, Invite, Peer


class OcmStore(Protocol):
    """Persistence of peers, invites, contacts and seen signatures."""

    def peer(self, host: str) -> Peer | None: ...
    def peers(self) -> list[Peer]: ...
    def set_peer(
        self,
        host: str,
        *,
        organisation: str | None = None,
        trusted: bool | None = None,
        blocked: bool | None = None,
    ) -> Peer: ...
    def add_invite(self, user_id: int, token_hash: str, expires: datetime) -> Invite: ...
    def invite_by_hash(self, token_hash: str) -> tuple[Invite, int] | None:
        """The invite and its owner's user id."""
        ...

    def invites_of(self, user_id: int) -> list[Invite]: ...
    def accept_invite(
        self,
        invite_id: int,
        *,
        by: str,
        contact: Contact,
        user_id: int,
        peer_host: str,
        organisation: str,
    ) -> bool:
        """In one transaction: mark the invite accepted (False if it was already), record the
        contact and mark the peer as met by invite."""
        ...

    def record_acceptance(
        self, *, contact: Contact, user_id: int, peer_host: str, organisation: str
    ) -> None:
        """The invite receiver's side: the contact and the peer, in one transaction."""
        ...

    def contacts_of(self, user_id: int) -> list[Contact]: ...
    def remember_signature(self, digest: str, expires: float) -> bool:
        """Record a signature; False if it was seen before (a replay)."""
        ...
