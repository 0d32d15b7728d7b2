"""OpenGeoMesh's Python client: a server's management API (invites, contacts, shares sent and
received, collections, webhooks) and reading features page by page, sync (``Client``) and async
(``AsyncClient``), with typed answers and typed errors carrying the server's reason; and for
receivers of webhooks, ``opengeomesh.client.webhooks.verify`` to check a delivery.

This is a public surface for vendors and scripts, separate from the server: the server's own
calls to other servers go through its one outbound client (``opengeomesh.ocm.client``), never
through this package. It needs only httpx and pydantic. Reference: docs/client.md.
"""

from opengeomesh.client.asynchronous import AsyncClient
from opengeomesh.client.errors import (
    ApiError,
    Busy,
    ClientError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PeerFailed,
    PeerTimeout,
    PreconditionFailed,
    RateLimited,
    ServerUnreachable,
    TooLarge,
    Unauthorized,
)
from opengeomesh.client.models import (
    AcceptedInvite,
    Change,
    Collection,
    Contact,
    Delivery,
    DirectAccess,
    FeaturePage,
    Grant,
    Imported,
    Invite,
    Me,
    NewInvite,
    NewToken,
    NewWebhook,
    Peer,
    ReceivedShare,
    Share,
    SharingRule,
    Token,
    Webhook,
    WebhookDelivery,
)
from opengeomesh.client.sync import Client
from opengeomesh.client.webhooks import Event, EventShare, InvalidSignature

__all__ = [
    "AcceptedInvite",
    "ApiError",
    "AsyncClient",
    "Busy",
    "Change",
    "Client",
    "ClientError",
    "Collection",
    "Conflict",
    "Contact",
    "Delivery",
    "DirectAccess",
    "Event",
    "EventShare",
    "FeaturePage",
    "Forbidden",
    "Grant",
    "Imported",
    "InvalidInput",
    "InvalidSignature",
    "Invite",
    "Me",
    "NewInvite",
    "NewToken",
    "NewWebhook",
    "NotFound",
    "Peer",
    "PeerFailed",
    "PeerTimeout",
    "PreconditionFailed",
    "RateLimited",
    "ReceivedShare",
    "ServerUnreachable",
    "Share",
    "SharingRule",
    "Token",
    "TooLarge",
    "Unauthorized",
    "Webhook",
    "WebhookDelivery",
]
