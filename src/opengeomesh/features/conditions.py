"""The conditions a CQL2 filter is made of (OGC 21-065r2), as a small typed tree.

``filtering`` builds this tree from what the ``cql2`` package parsed and checked, and only from
operators this server implements; each store translates it into its own query language with
bound parameters. Literals are already converted: numbers are floats (as in CQL2), times are
POSIX seconds in UTC, geometries are WKB with their bounding box.

Semantics follow ``cql2``'s own evaluator (``Expr.matches``), which the property-based test
checks: a missing or null property makes a predicate *unknown* (three-valued logic, as in SQL),
and only a true filter selects a feature.
"""

from __future__ import annotations

from dataclasses import dataclass

from opengeomesh.features.models import BBox

GEOMETRY = "geometry"  # the name of a feature's geometry in filters and queryables

# Names as the cql2-json schema spells them (after ``cql2`` normalised the input).
COMPARISONS = frozenset({"=", "<>", "<", "<=", ">", ">="})
SPATIAL = frozenset(
    {
        "s_intersects",
        "s_equals",
        "s_disjoint",
        "s_touches",
        "s_within",
        "s_overlaps",
        "s_crosses",
        "s_contains",
    }
)
TEMPORAL = frozenset(
    {
        "t_after",
        "t_before",
        "t_contains",
        "t_disjoint",
        "t_during",
        "t_equals",
        "t_finishedBy",
        "t_finishes",
        "t_intersects",
        "t_meets",
        "t_metBy",
        "t_overlappedBy",
        "t_overlaps",
        "t_startedBy",
        "t_starts",
    }
)


# --- operands ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Property:
    """A feature property, by its name in ``properties`` (never the geometry)."""

    name: str


@dataclass(frozen=True, slots=True)
class GeometryRef:
    """The feature's geometry (the queryable ``geometry``)."""


@dataclass(frozen=True, slots=True)
class Value:
    """A literal string, number or boolean."""

    value: str | float | bool


@dataclass(frozen=True, slots=True)
class Instant:
    """``TIMESTAMP('…')`` (``start == end``) or ``DATE('…')`` (the whole day, to its last
    millisecond, as the ``datetime`` parameter reads a date)."""

    start: float
    end: float
    is_date: bool


@dataclass(frozen=True, slots=True)
class Period:
    """``INTERVAL(start, end)``: each bound a time in seconds, ``None`` for an open end
    (``'..'``), or a property holding a time."""

    start: float | Property | None
    end: float | Property | None


@dataclass(frozen=True, slots=True)
class Shape:
    """A literal geometry (WKT in cql2-text, GeoJSON in cql2-json, or ``BBOX``), in CRS84;
    ``is_box`` when it is exactly its bounding box (a store may test boxes faster)."""

    wkb: bytes
    bbox: BBox
    is_box: bool = False


Scalar = Property | Value | Instant
TimeOperand = Property | Instant | Period
SpatialOperand = GeometryRef | Shape


# --- predicates -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Constant:
    """``TRUE`` or ``FALSE``."""

    value: bool


@dataclass(frozen=True, slots=True)
class Flag:
    """A boolean property used as a predicate on its own."""

    property: Property


@dataclass(frozen=True, slots=True)
class Compare:
    """``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=`` between strings, numbers, booleans or
    times; operands of different kinds make the comparison unknown."""

    op: str
    left: Scalar
    right: Scalar


@dataclass(frozen=True, slots=True)
class Like:
    """``value LIKE pattern``: ``%`` any run of characters, ``_`` one, ``\\`` escapes;
    case-sensitive."""

    value: Property | Value
    pattern: str


@dataclass(frozen=True, slots=True)
class Between:
    """``value BETWEEN low AND high`` on numbers (both ends included)."""

    value: Property | Value
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class In:
    """``value IN (item, …)``."""

    value: Property | Value
    items: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class IsNull:
    """``value IS NULL``: true for a missing or null property (or geometry)."""

    value: Property | GeometryRef | Value


@dataclass(frozen=True, slots=True)
class Not:
    condition: Condition


@dataclass(frozen=True, slots=True)
class Logical:
    """``AND`` or ``OR`` over two or more conditions."""

    op: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Spatial:
    """``S_INTERSECTS`` and the other DE-9IM predicates (``SPATIAL``)."""

    op: str
    left: SpatialOperand
    right: SpatialOperand


@dataclass(frozen=True, slots=True)
class Temporal:
    """``T_AFTER`` and the other interval relations (``TEMPORAL``)."""

    op: str
    left: TimeOperand
    right: TimeOperand


Condition = (
    Constant | Flag | Compare | Like | Between | In | IsNull | Not | Logical | Spatial | Temporal
)
