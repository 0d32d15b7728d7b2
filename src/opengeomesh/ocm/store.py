"""What the federation layer needs from storage; implemented in ``storage/``."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from opengeomesh.accounts.models import ShareScope
from opengeomesh.ocm.models import (
    Contact,
    Invite,
    OutboxItem,
    Peer,
    ReceivedShare,
    ReceivedState,
    SentShare,
    ShareState,
    ShareType,
    SharingRule,
)


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


class ShareStore(Protocol):
    """Persistence of shares sent and received, access tokens, sharing rules and the outbox.
    Every change that must reach another server queues its message in the same transaction."""

    # shares sent
    def add_share(
        self,
        *,
        provider_id: str,
        collection_key: int,
        sender_id: int,
        share_with: str,
        share_type: ShareType,
        recipient_host: str,
        permission: str,
        secret_hash: str,
        secret_sealed: bytes,
    ) -> SentShare: ...
    def share(self, share_id: int) -> SentShare | None: ...
    def share_by_provider_id(self, provider_id: str) -> SentShare | None: ...
    def shares(self, sender_id: int | None) -> list[SentShare]: ...
    def shares_of_collection(self, collection_key: int) -> list[SentShare]: ...
    def sealed_secret(self, share_id: int) -> bytes | None: ...
    def forget_sealed_secret(self, share_id: int) -> None: ...
    def update_share(
        self,
        share_id: int,
        *,
        state: ShareState | None = None,
        problem: str | None = None,
        recipient_name: str | None = None,
        permission: str | None = None,
        notify: tuple[str, str] | None = None,
    ) -> SentShare | None: ...
    def delete_share(self, share_id: int, notify: tuple[str, str] | None) -> bool: ...
    def share_for_secret(self, secret_hash: str) -> SentShare | None: ...
    def add_token(self, share_id: int, token_hash: str, expires: float) -> bool: ...
    def access_for_token(self, token_hash: str) -> tuple[ShareScope, float] | None: ...

    # sharing rules
    def rules(self, collection_key: int) -> list[SharingRule]: ...
    def set_rule(self, collection_key: int, domain: str, permission: str) -> None: ...
    def remove_rule(self, collection_key: int, domain: str) -> bool: ...

    # shares received
    def receive(
        self,
        *,
        sender_host: str,
        provider_id: str,
        user_id: int | None,
        group_id: int | None,
        fields: dict[str, str],
        secret: bytes,
    ) -> tuple[ReceivedShare, bool]: ...
    def received(self, share_id: int) -> ReceivedShare | None: ...
    def received_from(self, sender_host: str, provider_id: str) -> ReceivedShare | None: ...
    def received_for(
        self, user_id: int | None, group_ids: frozenset[int]
    ) -> list[ReceivedShare]: ...
    def recipient_of(self, share_id: int) -> tuple[int | None, int | None]: ...
    def received_secret(self, share_id: int) -> bytes | None: ...
    def decide(
        self, share_id: int, state: ReceivedState, notify: tuple[str, str] | None
    ) -> ReceivedShare | None: ...
    def set_received_permission(self, share_id: int, permission: str) -> None: ...
    def forget_received(self, share_id: int) -> bool: ...

    # outbox: several processes (workers, hosts, CLI commands) work through it at once. A
    # claim is atomic (a conditional update: only a row still unclaimed is claimed) and the
    # item carries the claim's end (claimed_until); sent and retry_later act only while the
    # row still carries it, so a sender whose claim ran out cannot undo another's claim.
    def enqueue(self, host: str, body: str) -> None: ...
    def claim_due(self, now: float, lease: float, limit: int = 20) -> list[OutboxItem]: ...
    def claim_share_delivery(
        self, share_id: int, now: float, lease: float
    ) -> OutboxItem | None: ...
    def delivery_of(self, share_id: int) -> OutboxItem | None: ...
    def sent(self, item: OutboxItem) -> bool: ...
    def retry_later(self, item: OutboxItem, next_attempt: float, error: str) -> bool: ...
    def waiting(self) -> list[OutboxItem]: ...
    def give_up(self, item: OutboxItem, error: str, now: float) -> bool: ...
    def retry_failed(self, item_id: int, now: float) -> OutboxItem | None: ...
