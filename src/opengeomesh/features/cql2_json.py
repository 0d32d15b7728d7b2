"""Reading normalised cql2-json (what ``cql2``'s ``to_json`` gives) into ``conditions``.

Only what this server implements is accepted (OGC 21-065r2 classes basic-cql2,
advanced-comparison-operators, basic-spatial-functions(-plus), spatial-functions,
temporal-functions); anything else is an ``InvalidInput`` for ``filter`` that names it.
Literals are converted as ``cql2``'s evaluator reads them, so results agree with
``Expr.matches``: a string beside a ``TIMESTAMP`` is a timestamp, beside a ``DATE`` in a
comparison a day, and in an interval relation beside a ``DATE`` a day only without a time part.
"""

from __future__ import annotations

import math
from typing import Any

import shapely
import shapely.errors
from shapely.geometry import box, shape

from opengeomesh.errors import InvalidInput
from opengeomesh.features.conditions import (
    COMPARISONS,
    GEOMETRY,
    SPATIAL,
    TEMPORAL,
    Between,
    Compare,
    Condition,
    Constant,
    Flag,
    GeometryRef,
    In,
    Instant,
    IsNull,
    Like,
    Logical,
    Not,
    Period,
    Property,
    Scalar,
    Shape,
    Spatial,
    SpatialOperand,
    Temporal,
    TimeOperand,
    Value,
)
from opengeomesh.features.geojson import check_geometry
from opengeomesh.features.timeval import END_OF_DAY, cql2_seconds, is_cql2_date

MAX_NODES = 2_000
MAX_POSITIONS = 10_000
ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^", "div"})
ARRAYS = frozenset({"a_equals", "a_contains", "a_containedBy", "a_overlaps"})
ARITY = {"not": 1, "isNull": 1, "like": 2, "in": 2, "between": 3}


def _bad(reason: str) -> InvalidInput:
    return InvalidInput("filter", reason)


def _show(node: Any) -> str:
    text = repr(node)
    return text if len(text) <= 80 else text[:77] + "..."


def filterable_name(name: str) -> bool:
    """Whether a property name can be read in a filter: not empty, no ``"``, ``\\`` or
    control characters (stores address properties by a quoted JSON path)."""
    return bool(name) and not any(c in '"\\' or ord(c) < 32 for c in name)


class Reader:
    """One filter's reading: the conditions, and the property names they use."""

    def __init__(self) -> None:
        self.properties: set[str] = set()
        self._nodes = 0
        self._positions = 0

    # --- conditions ---------------------------------------------------------------------------

    def condition(self, node: Any) -> Condition:
        self._count()
        if isinstance(node, bool):
            return Constant(node)
        if isinstance(node, dict):
            if "property" in node:
                return Flag(self._property(node))
            op, args = node.get("op"), node.get("args")
            if isinstance(op, str) and isinstance(args, list):
                return self._operation(op, args)
        raise _bad(f"{_show(node)} is not a condition")

    def _operation(self, op: str, args: list[Any]) -> Condition:
        if op in ("and", "or"):
            if len(args) < 2:
                raise _bad(f"{op.upper()} needs at least two conditions")
            return Logical(op, tuple(self.condition(arg) for arg in args))
        expected = ARITY.get(op, 2 if op in COMPARISONS | SPATIAL | TEMPORAL else None)
        if expected is None:
            raise _bad(_unsupported(op))
        if len(args) != expected:
            raise _bad(f"{op.upper()} takes {expected} argument(s), not {len(args)}")
        if op == "not":
            return Not(self.condition(args[0]))
        if op in COMPARISONS:
            return self._compare(op, args[0], args[1])
        if op in SPATIAL:
            return Spatial(op, self._spatial(args[0]), self._spatial(args[1]))
        if op in TEMPORAL:
            return self._temporal(op, args[0], args[1])
        return self._advanced(op, args)

    def _advanced(self, op: str, args: list[Any]) -> Condition:
        """LIKE, BETWEEN, IN (advanced-comparison-operators) and IS NULL."""
        if op == "isNull":
            if isinstance(args[0], dict) and args[0].get("property") == GEOMETRY:
                self._count()
                return IsNull(GeometryRef())
            return IsNull(self._plain(args[0]))
        value = self._plain(args[0])
        if op == "like":
            pattern = args[1]
            if not isinstance(pattern, str):
                raise _bad("the pattern of LIKE must be a string")
            if (len(pattern) - len(pattern.rstrip("\\"))) % 2:
                raise _bad("a LIKE pattern must not end in a lone escape (\\)")
            return Like(value, pattern)
        if op == "between":
            return Between(
                value, self._number(args[1], "BETWEEN"), self._number(args[2], "BETWEEN")
            )
        items = args[1]
        if not isinstance(items, list) or not items:
            raise _bad("IN needs a list of values")
        return In(value, tuple(self._literal(item, "IN") for item in items))

    def _compare(self, op: str, left_node: Any, right_node: Any) -> Compare:
        left, right = self._scalar(left_node), self._scalar(right_node)
        if isinstance(left, Instant) or isinstance(right, Instant):
            left, right = _times_beside(left, right), _times_beside(right, left)
        return Compare(op, left, right)

    def _temporal(self, op: str, left_node: Any, right_node: Any) -> Temporal:
        left, right = self._time(left_node), self._time(right_node)
        return Temporal(op, _instant_beside(left, right), _instant_beside(right, left))

    # --- operands -----------------------------------------------------------------------------

    def _property(self, node: dict[str, Any]) -> Property:
        name = node.get("property")
        if not isinstance(name, str) or not filterable_name(name):
            raise _bad(f"the property name {_show(name)} cannot be used in filters")
        if name == GEOMETRY:
            raise _bad("geometry can only be used in spatial functions and IS NULL")
        self.properties.add(name)
        return Property(name)

    def _scalar(self, node: Any) -> Scalar:
        self._count()
        if isinstance(node, dict):
            if "property" in node:
                return self._property(node)
            if "timestamp" in node or "date" in node:
                return _instant(node)
            if isinstance(node.get("op"), str):
                raise _bad(_unsupported(node["op"]))
        if node is None:
            raise _bad("NULL cannot be compared: use IS NULL")
        if isinstance(node, str | bool | int | float):
            return self._literal(node, "a comparison")
        raise _bad(f"{_show(node)} cannot be compared")

    def _plain(self, node: Any) -> Property | Value:
        self._count()
        if isinstance(node, dict) and "property" in node:
            return self._property(node)
        if isinstance(node, dict) and isinstance(node.get("op"), str):
            raise _bad(_unsupported(node["op"]))
        return self._literal(node, "LIKE, BETWEEN, IN and IS NULL")

    def _literal(self, node: Any, where: str) -> Value:
        if isinstance(node, bool | str):
            return Value(node)
        if isinstance(node, int | float):
            return Value(self._number(node, where))
        raise _bad(f"{_show(node)} is not a string, number or boolean, as {where} needs")

    def _number(self, node: Any, where: str) -> float:
        if isinstance(node, bool) or not isinstance(node, int | float):
            raise _bad(f"{where} takes numbers, not {_show(node)}")
        if not math.isfinite(node):
            raise _bad("numbers must be finite")
        return float(node)

    def _time(self, node: Any) -> TimeOperand | str:
        self._count()
        if isinstance(node, str):
            return node  # read once the other operand is known
        if isinstance(node, dict):
            if "property" in node:
                return self._property(node)
            if "timestamp" in node or "date" in node:
                return _instant(node)
            if "interval" in node:
                return self._period(node["interval"])
        raise _bad(f"{_show(node)} is not a time, an interval or a property")

    def _period(self, bounds: Any) -> Period:
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise _bad("INTERVAL takes a start and an end")
        start, end = (self._bound(b) for b in bounds)
        return Period(start, end)

    def _bound(self, node: Any) -> float | Property | None:
        if isinstance(node, dict) and "property" in node:
            return self._property(node)
        if node == "..":
            return None
        if isinstance(node, str):
            return _seconds(node)
        raise _bad(f"an INTERVAL bound must be a time, '..' or a property, not {_show(node)}")

    def _spatial(self, node: Any) -> SpatialOperand:
        self._count()
        if isinstance(node, dict):
            if node.get("property") == GEOMETRY:
                return GeometryRef()
            if "property" in node:
                raise _bad(f"{node['property']!r} is not a geometry: use {GEOMETRY!r}")
            if "bbox" in node:
                return _box(node["bbox"])
            if "type" in node:
                return self._shape(node)
        raise _bad(f"{_show(node)} is not a geometry")

    def _shape(self, geometry: dict[str, Any]) -> Shape:
        try:
            check_geometry(geometry, "geometry")
            geom = shape(geometry)
        except InvalidInput as exc:
            raise _bad(f"a geometry literal is wrong: {exc.field}: {exc.reason}") from None
        except (ValueError, TypeError, shapely.errors.GEOSException):
            raise _bad("a geometry literal mixes 2D and 3D positions") from None
        self._positions += int(shapely.get_num_coordinates(geom))
        if self._positions > MAX_POSITIONS:
            raise _bad(f"the geometries hold more than {MAX_POSITIONS} positions")
        if geom.is_empty:
            raise _bad("a geometry literal must not be empty")
        if not geom.is_valid:
            raise _bad(f"a geometry literal is not valid: {shapely.is_valid_reason(geom)}")
        minx, miny, maxx, maxy = geom.bounds
        exact_box = geom.geom_type == "Polygon" and geom.equals(box(minx, miny, maxx, maxy))
        return Shape(shapely.to_wkb(geom), (minx, miny, maxx, maxy), is_box=exact_box)

    def _count(self) -> None:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _bad(f"has more than {MAX_NODES} parts")


def _instant(node: dict[str, Any]) -> Instant:
    if "date" in node:
        text = node["date"]
        if not isinstance(text, str) or len(text) != 10:
            raise _bad(f"DATE needs a date (2026-11-28), not {_show(text)}")
        start = _seconds(text)
        return Instant(start, start + END_OF_DAY, is_date=True)
    text = node["timestamp"]
    if not isinstance(text, str):
        raise _bad(f"TIMESTAMP needs a time, not {_show(text)}")
    seconds = _seconds(text)
    return Instant(seconds, seconds, is_date=False)


def _seconds(text: str) -> float:
    try:
        return cql2_seconds(text)
    except ValueError as exc:
        raise _bad(str(exc)) from None


def _times_beside(operand: Scalar, other: Scalar) -> Scalar:
    """In a comparison with a time, a string is read as a time of the same kind (a DATE
    widens it to a day from its start, as ``cql2`` does); numbers and booleans are refused."""
    if isinstance(operand, Value):
        if not isinstance(operand.value, str):
            raise _bad(f"{_show(operand.value)} cannot be compared with a time")
        if isinstance(other, Instant) and other.is_date:
            start = _seconds(operand.value)
            return Instant(start, start + END_OF_DAY, is_date=True)
        seconds = _seconds(operand.value)
        return Instant(seconds, seconds, is_date=False)
    return operand


def _instant_beside(operand: TimeOperand | str, other: TimeOperand | str) -> TimeOperand:
    """A string in an interval relation: a day beside a DATE when it has no time part, an
    instant everywhere else."""
    if not isinstance(operand, str):
        return operand
    start = _seconds(operand)
    if isinstance(other, Instant) and other.is_date and is_cql2_date(operand):
        return Instant(start, start + END_OF_DAY, is_date=True)
    return Instant(start, start, is_date=False)


def _box(numbers: Any) -> Shape:
    """``BBOX(…)``: 4 numbers, or 6 with heights (ignored); corners in either order."""
    if (
        not isinstance(numbers, list)
        or len(numbers) not in (4, 6)
        or not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers)
        or not all(math.isfinite(n) for n in numbers)
    ):
        raise _bad("BBOX takes 4 (or 6) finite numbers")
    half = len(numbers) // 2
    x1, y1, x2, y2 = numbers[0], numbers[1], numbers[half], numbers[half + 1]
    minx, maxx, miny, maxy = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)
    if not (minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90):
        raise _bad("BBOX lies outside longitude -180..180, latitude -90..90")
    geometry = box(minx, miny, maxx, maxy)
    return Shape(
        shapely.to_wkb(geometry), (minx, miny, maxx, maxy), is_box=minx < maxx and miny < maxy
    )


def _unsupported(op: str) -> str:
    if op in COMPARISONS | SPATIAL | TEMPORAL | ARITY.keys() | {"and", "or"}:
        return f"a condition ({op}) cannot stand where a value is expected"
    if op.lower() in ("casei", "accenti"):
        return f"{op.upper()} (case- and accent-insensitive comparison) is not supported"
    if op in ARITHMETIC:
        return f"arithmetic ({op}) is not supported"
    if op in ARRAYS:
        return f"array functions ({op.upper()}) are not supported"
    return f"{op!r} is not a function or operator this server supports"
