"""Rows of the upstream tables as domain objects, for both databases (SQLite gives times as
text, PostgreSQL as datetimes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from opengeomesh.features.upstreams import AuthKind, Exposure, Upstream

# The columns of an upstream (as ``u``), and the exposed collections with their upstream: the
# rows :func:`upstream_of` and :func:`exposure_of` read.
UPSTREAM_COLUMNS = (
    "u.key, u.name, u.base_url, u.auth, u.username, u.header_name, u.secret, u.allow_private,"
    " u.conforms_to, u.created"
)
EXPOSURES = (
    f"SELECT e.collection_key, c.id, e.remote_id, {UPSTREAM_COLUMNS} FROM upstream_collections e"
    " JOIN collections c ON c.key = e.collection_key JOIN upstreams u ON u.key = e.upstream_key"
)


def upstream_of(row: Any) -> Upstream:
    created = datetime.fromisoformat(row[9]) if isinstance(row[9], str) else row[9]
    auth: AuthKind = row[3]
    return Upstream(
        key=row[0],
        name=row[1],
        base_url=row[2],
        auth=auth,
        username=row[4],
        header_name=row[5],
        secret=None if row[6] is None else bytes(row[6]),
        allow_private=bool(row[7]),
        conforms_to=tuple(orjson.loads(row[8])),
        created=created,
    )


def exposure_of(row: Any) -> Exposure:
    return Exposure(
        collection_key=row[0], collection_id=row[1], remote_id=row[2], upstream=upstream_of(row[3:])
    )
