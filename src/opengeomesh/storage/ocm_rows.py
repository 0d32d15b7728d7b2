"""OCM records (shares sent and received, peers, invites) read from the rows both databases
select alike; each database passes how it reads a stored time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from opengeomesh.ocm.models import (
    Invite,
    Peer,
    ReceivedShare,
    ReceivedState,
    SentShare,
    ShareState,
    ShareType,
)

Time = Callable[[Any], datetime]

SENT = (
    "SELECT s.id, s.provider_id, s.collection_key, c.id, u.name, s.share_with, s.share_type,"
    " s.recipient_host, s.recipient_name, s.permission, s.state, s.problem, s.created, s.updated"
    " FROM shares_sent s JOIN collections c ON c.key = s.collection_key"
    " JOIN users u ON u.id = s.sender_id"
)
RECEIVED = (
    "SELECT r.id, r.sender_host, r.provider_id, r.user_id, coalesce(u.name, g.name), r.name,"
    " r.description, r.owner, r.owner_name, r.sender, r.sender_name, r.uri, r.permission,"
    " r.state, r.created, r.updated"
    " FROM shares_received r LEFT JOIN users u ON u.id = r.user_id"
    " LEFT JOIN user_groups g ON g.id = r.group_id"
)
INVITE = (
    "SELECT i.id, u.name, i.created, i.expires, i.accepted, i.accepted_by, i.user_id"
    " FROM invites i JOIN users u ON u.id = i.user_id"
)


def sent_share(row: Any, time: Time) -> SentShare:
    """A row of :data:`SENT`."""
    return SentShare(
        id=row[0],
        provider_id=row[1],
        collection_key=row[2],
        collection_id=row[3],
        sender=row[4],
        share_with=row[5],
        share_type=ShareType(row[6]),
        recipient_host=row[7],
        recipient_name=row[8],
        permission=row[9],
        state=ShareState(row[10]),
        problem=row[11],
        created=time(row[12]),
        updated=time(row[13]),
    )


def received_share(row: Any, time: Time) -> ReceivedShare:
    """A row of :data:`RECEIVED`."""
    return ReceivedShare(
        id=row[0],
        sender_host=row[1],
        provider_id=row[2],
        share_type=ShareType.USER if row[3] is not None else ShareType.GROUP,
        recipient=row[4],
        name=row[5],
        description=row[6],
        owner=row[7],
        owner_name=row[8],
        sender=row[9],
        sender_name=row[10],
        uri=row[11],
        permission=row[12],
        state=ReceivedState(row[13]),
        created=time(row[14]),
        updated=time(row[15]),
    )


def peer(row: Any, time: Time) -> Peer:
    """A row of (host, organisation, trusted, blocked, invited, updated)."""
    return Peer(
        host=row[0],
        organisation=row[1],
        trusted=bool(row[2]),
        blocked=bool(row[3]),
        invited=bool(row[4]),
        updated=time(row[5]),
    )


def invite(row: Any, time: Time) -> Invite:
    """A row of :data:`INVITE`."""
    return Invite(
        id=row[0],
        user_name=row[1],
        created=time(row[2]),
        expires=time(row[3]),
        accepted=None if row[4] is None else time(row[4]),
        accepted_by=row[5],
    )
