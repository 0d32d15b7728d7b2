"""OpenGeoMesh's Python client: a server's management API (invites, contacts, shares sent and
received, collections) and reading features page by page, sync (``Client``) and async
(``AsyncClient``), with typed answers and typed errors carrying the server's reason.

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
    Peer,
    ReceivedShare,
    Share,
    SharingRule,
    Token,
)
from opengeomesh.client.sync import Client

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
    "FeaturePage",
    "Forbidden",
    "Grant",
    "Imported",
    "InvalidInput",
    "Invite",
    "Me",
    "NewInvite",
    "NewToken",
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
]
