"""The items query (OGC 17-069r4 §7.15): parameters parsed and checked, each error naming its
parameter, and the paging cursor carried in ``next``/``prev`` links."""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from opengeomesh.errors import InvalidInput
from opengeomesh.features.crs import CRS84, Crs, box_to_crs84, parse_crs
from opengeomesh.features.filtering import FILTER_PARAMETERS, Filter, parse_filter_parameters
from opengeomesh.features.models import BBox
from opengeomesh.features.timeval import Interval, parse_interval

MAX_INTEGER = 2**63 - 1
_INTEGER = re.compile(r"^-?[0-9]+$")
_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$")
ITEMS_PARAMETERS = (
    frozenset({"f", "limit", "offset", "bbox", "datetime", "cursor", "crs", "bbox-crs"})
    | FILTER_PARAMETERS
)
ITEM_PARAMETERS = frozenset({"f", "crs"})


@dataclass(frozen=True, slots=True)
class Cursor:
    """A keyset position: the page after (``forward``) or before a stored feature's key."""

    forward: bool
    key: int

    def encode(self) -> str:
        raw = f"{'n' if self.forward else 'p'}{self.key}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            if not _INTEGER.match(raw[1:]) or len(raw) > 21:
                raise ValueError(raw)
            direction, key = raw[0], int(raw[1:])
        except (binascii.Error, UnicodeDecodeError, ValueError, IndexError):
            raise InvalidInput("cursor", "not a cursor of this server; follow the links") from None
        if direction not in "np" or not 0 <= key <= MAX_INTEGER:
            raise InvalidInput("cursor", "not a cursor of this server; follow the links")
        return cls(forward=direction == "n", key=key)


@dataclass(frozen=True, slots=True)
class ItemsQuery:
    """What a client asked of ``/collections/{id}/items``; ``bboxes`` are CRS84 whatever the
    ``bbox-crs``, ``crs`` is the CRS of the answer (Part 2)."""

    limit: int
    offset: int = 0
    bboxes: tuple[BBox, ...] = ()
    interval: Interval | None = None
    cursor: Cursor | None = None
    crs: Crs = CRS84
    filter: Filter | None = None  # Part 3: AND-combined with bbox and datetime

    @property
    def filtered(self) -> bool:
        return bool(self.bboxes) or self.interval is not None or self.filter is not None


def parse_items_query(
    params: Mapping[str, str], *, default_limit: int, max_limit: int
) -> ItemsQuery:
    """Read the items parameters; the limit is clamped to ``max_limit``."""
    limit = _integer(params, "limit", default_limit, minimum=1)
    offset = _integer(params, "offset", 0, minimum=0)
    cursor = Cursor.decode(params["cursor"]) if "cursor" in params else None
    if cursor is not None and "offset" in params:
        raise InvalidInput("offset", "give either offset or cursor, not both")
    crs = parse_crs(params["crs"], "crs") if "crs" in params else CRS84
    bbox_crs = parse_crs(params["bbox-crs"], "bbox-crs") if "bbox-crs" in params else CRS84
    bboxes = parse_bbox(params["bbox"], bbox_crs) if "bbox" in params else ()
    interval = None
    if "datetime" in params:
        try:
            interval = parse_interval(params["datetime"])
        except ValueError as exc:
            raise InvalidInput("datetime", str(exc)) from None
    return ItemsQuery(
        limit=min(limit, max_limit),
        offset=offset,
        bboxes=bboxes,
        interval=interval,
        cursor=cursor,
        crs=crs,
        filter=parse_filter_parameters(params),
    )


def _integer(params: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    if name not in params:
        return default
    text = params[name].strip()
    if not _INTEGER.match(text):
        raise InvalidInput(name, f"{params[name]!r} is not a whole number")
    if len(text.lstrip("-")) > 19 or int(text) > MAX_INTEGER:
        raise InvalidInput(name, f"must be at most {MAX_INTEGER}")
    value = int(text)
    if value < minimum:
        raise InvalidInput(name, f"must be at least {minimum}")
    return value


def parse_bbox(text: str, crs: Crs = CRS84) -> tuple[BBox, ...]:
    """Parse ``minLon,minLat,maxLon,maxLat`` (or the 6-number form with heights) in CRS84, or
    the lower and upper corner in ``crs`` (``bbox-crs``, Part 2), into CRS84 boxes.

    A box whose west edge is east of its east edge crosses the antimeridian and is split in two.
    """
    parts = text.split(",")
    if len(parts) not in (4, 6):
        raise InvalidInput("bbox", "needs 4 numbers (or 6 with heights), separated by commas")
    if not all(_NUMBER.match(p.strip()) for p in parts):
        raise InvalidInput("bbox", f"{text!r} holds something that is not a number")
    numbers = [float(p) for p in parts]
    if not all(math.isfinite(n) for n in numbers):
        raise InvalidInput("bbox", "numbers must be finite")
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    west, south, east, north = box_to_crs84((numbers[0], numbers[1], numbers[2], numbers[3]), crs)
    if not (-180 <= west <= 180 and -180 <= east <= 180):
        raise InvalidInput("bbox", "longitudes must lie between -180 and 180")
    if not (-90 <= south <= 90 and -90 <= north <= 90):
        raise InvalidInput("bbox", "latitudes must lie between -90 and 90")
    if south > north:
        raise InvalidInput("bbox", "the southern edge is north of the northern edge")
    if west > east:
        return ((west, south, 180.0, north), (-180.0, south, east, north))
    return ((west, south, east, north),)
