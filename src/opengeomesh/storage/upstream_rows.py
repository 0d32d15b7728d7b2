"""Rows of the upstream tables as domain objects, for both databases (SQLite gives times as
text, PostgreSQL as datetimes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from opengeomesh.features.upstreams import AuthKind, Exposure, Upstream


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
