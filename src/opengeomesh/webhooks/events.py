"""The events webhooks carry, built where the change happens (sharing, inbox, invites,
editing): what each event's ``data`` holds and whom it is for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opengeomesh.features.models import Collection
from opengeomesh.ocm.models import ReceivedShare, SentShare
from opengeomesh.webhooks.models import INVITE_ACCEPTED, LAYER_CHANGED, WebhookEvent

EventSink = Callable[[WebhookEvent], None]


def ignore(_: WebhookEvent) -> None:
    """The sink of a service no webhooks are wired to (tests, tools)."""


def sent_share_event(kind: str, share: SentShare, user_id: int | None) -> WebhookEvent:
    """An event about a share this server's user sent (``user_id``: the sender's)."""
    data = {
        "id": share.id,
        "providerId": share.provider_id,
        "direction": "sent",
        "collection": share.collection_id,
        "owner": share.sender,
        "shareWith": share.share_with,
        "shareType": share.share_type.value,
        "peer": share.recipient_host,
        "permission": share.permission,
        "state": share.state.value,
    }
    return WebhookEvent(kind, user_id, f"share:sent:{share.id}", {"share": data})


def received_share_event(kind: str, share: ReceivedShare, user_id: int | None) -> WebhookEvent:
    """An event about a share this server's user (``user_id``; None for a group) received."""
    data = {
        "id": share.id,
        "providerId": share.provider_id,
        "direction": "received",
        "collection": share.mount_id,
        "name": share.name,
        "owner": share.owner,
        "sender": share.sender,
        "recipient": share.recipient,
        "shareType": share.share_type.value,
        "peer": share.sender_host,
        "permission": share.permission,
        "state": share.state.value,
    }
    return WebhookEvent(kind, user_id, f"share:received:{share.id}", {"share": data})


def invite_accepted_event(
    invite_id: int, owner: str, owner_id: int, contact: dict[str, str]
) -> WebhookEvent:
    """Someone at another server accepted an invite of ``owner``."""
    data: dict[str, Any] = {"invite": {"id": invite_id, "owner": owner}, "contact": contact}
    return WebhookEvent(INVITE_ACCEPTED, owner_id, f"invite:{invite_id}", data)


def layer_changed_event(collection: Collection, changes_url: str) -> WebhookEvent:
    """Features of a collection changed (coalesced: details are in the change feed)."""
    data = {
        "collection": {
            "id": collection.id,
            "title": collection.title,
            "owner": collection.owner_name,
        },
        "changes": changes_url,
    }
    return WebhookEvent(
        LAYER_CHANGED, collection.owner_id, f"collection:{collection.key}", data, coalesce=True
    )
