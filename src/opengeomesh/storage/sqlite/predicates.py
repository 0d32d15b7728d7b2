"""SQL functions the filter translation (``filters``) calls for what SQLite cannot do itself:
exact spatial predicates with shapely (GEOS) and reading times as ``cql2`` reads them.

Each returns NULL (unknown, in CQL2's three-valued logic) for a NULL or unreadable input and
never raises: an exception in a SQL function would fail the whole query.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import shapely
import shapely.errors

from opengeomesh.features.timeval import END_OF_DAY, cql2_seconds, is_cql2_date

PREDICATES: dict[str, Callable[[Any, Any], Any]] = {
    "s_intersects": shapely.intersects,
    "s_equals": shapely.equals,
    "s_disjoint": shapely.disjoint,
    "s_touches": shapely.touches,
    "s_within": shapely.within,
    "s_overlaps": shapely.overlaps,
    "s_crosses": shapely.crosses,
    "s_contains": shapely.contains,
}

# 2D points (most features) skip building a geometry: WKB little-endian Point, then x and y
_POINT = b"\x01\x01\x00\x00\x00"
_POINT_WKB = struct.Struct("<bIdd")
_POINT_TESTS: dict[str, Callable[[Any, float, float], Any]] = {
    "s_intersects": shapely.intersects_xy,
    "s_disjoint": lambda g, x, y: not shapely.intersects_xy(g, x, y),
    "s_contains": shapely.contains_xy,
}


@lru_cache(maxsize=32)
def _prepared(wkb: bytes) -> Any:
    """A filter's literal geometry, prepared once for the tests against every feature."""
    geometry = shapely.from_wkb(wkb)
    shapely.prepare(geometry)
    return geometry


def spatial(op: str, first: bytes | None, second: bytes | None) -> int | None:
    """SQL ``ogm_spatial(op, a, b)``: the DE-9IM predicate ``op`` (``s_within`` …) of two WKB
    geometries; the translation puts the filter's literal first, as GEOS speeds up prepared
    geometries only there."""
    if first is None or second is None:
        return None
    try:
        literal = _prepared(first)
        if len(second) == 21 and second[:5] == _POINT and op in _POINT_TESTS:
            _, _, x, y = _POINT_WKB.unpack(second)
            return int(bool(_POINT_TESTS[op](literal, x, y)))
        return int(bool(PREDICATES[op](literal, shapely.from_wkb(second))))
    except (KeyError, shapely.errors.GEOSException, shapely.errors.ShapelyError, ValueError):
        return None


def instant(value: Any) -> float | None:
    """SQL ``ogm_instant(text)``: the instant a property's time text denotes (its start for
    a date), in POSIX seconds."""
    if not isinstance(value, str):
        return None
    try:
        return cql2_seconds(value)
    except ValueError:
        return None


def day_end(value: Any) -> float | None:
    """SQL ``ogm_day_end(text)``: where a time value ends when read beside a ``DATE`` in an
    interval relation: the day's last millisecond for a date, else the instant itself."""
    start = instant(value)
    if start is None:
        return None
    return start + END_OF_DAY if is_cql2_date(value) else start


def bound(value: Any, open_end: float) -> float | None:
    """SQL ``ogm_bound(text, open)``: a property used as an ``INTERVAL`` bound; ``'..'`` is
    the open end."""
    return open_end if value == ".." else instant(value)


def register(conn: sqlite3.Connection) -> None:
    """Make the functions above available on a connection."""
    conn.create_function("ogm_spatial", 3, spatial, deterministic=True)
    conn.create_function("ogm_instant", 1, instant, deterministic=True)
    conn.create_function("ogm_day_end", 1, day_end, deterministic=True)
    conn.create_function("ogm_bound", 2, bound, deterministic=True)
