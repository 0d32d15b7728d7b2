"""CQL2 filter conditions as SQLite SQL with bound parameters (OGC API – Features Part 3).

Nothing from a filter is ever written into the SQL text: property names travel as bound JSON
paths (``$."name"``; names were checked by ``cql2_json.filterable_name``), values as bound
parameters. Properties live as JSON text (``f.properties``); each is read with the kind the
other operand has (number, string, boolean), so a value of another kind reads as NULL and the
predicate is unknown, as CQL2's evaluator has it. SQL's own three-valued logic then matches
CQL2's for NOT, AND and OR.

Spatial predicates are tested exactly by ``ogm_spatial`` (shapely) after an R*Tree prefilter
on the literal's bounding box; a predicate that must hold for the whole filter drives the query
from the R*Tree instead. The collection's temporal property is read from the indexed ``t0``/
``t1`` columns; other times are read by ``ogm_instant`` as ``cql2`` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opengeomesh.features.conditions import (
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
from opengeomesh.features.filtering import Filter
from opengeomesh.features.models import BBox
from opengeomesh.features.timeval import END_OF_DAY
from opengeomesh.storage.sqlite.sql_pieces import FALSE, NULL, TRUE, Sql, like_to_glob, sql

OPEN_START, OPEN_END = -1e18, 1e18  # seconds beyond every storable time ('..' in intervals)
KINDS = ("number", "string", "boolean")
PREFILTER_SHARE = 0.25  # of the collection's extent, below which a literal's box prefilters
_NULL_KINDS = "('null', 'array', 'object')"
# Interval relations (OGC 21-065r2 §6.4.5, as cql2's evaluator computes them), each over the
# ranges [ls, le] and [rs, re]; the inverse ones swap their operands.
_RELATIONS = {
    "t_before": (("le", "<", "rs"),),
    "t_meets": (("le", "=", "rs"),),
    "t_overlaps": (("ls", "<", "rs"), ("rs", "<", "le"), ("le", "<", "re")),
    "t_starts": (("ls", "=", "rs"), ("le", "<", "re")),
    "t_during": (("ls", ">", "rs"), ("le", "<", "re")),
    "t_finishes": (("ls", ">", "rs"), ("le", "=", "re")),
    "t_equals": (("ls", "=", "rs"), ("le", "=", "re")),
    "t_intersects": (("ls", "<=", "re"), ("le", ">=", "rs")),
}
_INVERSE = {
    "t_after": "t_before",
    "t_metBy": "t_meets",
    "t_overlappedBy": "t_overlaps",
    "t_startedBy": "t_starts",
    "t_contains": "t_during",
    "t_finishedBy": "t_finishes",
}
_CONVERSE = {"s_within": "s_contains", "s_contains": "s_within"}  # the others are symmetric


@dataclass(frozen=True, slots=True)
class Translated:
    """A filter as a WHERE condition; ``driving`` is a box every match lies in (from a spatial
    predicate the whole filter depends on) for the query to start from the R*Tree."""

    where: Sql
    driving: BBox | None


def translate(
    found: Filter, *, rtree: str, temporal_property: str | None, extent: BBox | None = None
) -> Translated:
    """The SQL of a filter over ``f`` (the feature table) and its R*Tree ``rtree``; ``extent``
    (the collection's) tells which literals are small enough for an R*Tree prefilter."""
    translation = _Translation(rtree, temporal_property, extent)
    condition = found.condition
    top = condition.conditions if isinstance(condition, Logical) and condition.op == "and" else ()
    for candidate in (condition, *top):
        if isinstance(candidate, Spatial) and _shape_of(candidate) is not None:
            translation.driven = candidate
            break
    where = translation.condition(condition)
    driven = translation.driven
    return Translated(where, None if driven is None else _shape_of(driven))


def _shape_of(spatial: Spatial) -> BBox | None:
    """The literal's box of a predicate that needs the two geometries' boxes to meet."""
    if spatial.op == "s_disjoint":
        return None
    for mine, other in ((spatial.left, spatial.right), (spatial.right, spatial.left)):
        if isinstance(mine, GeometryRef) and isinstance(other, Shape):
            return other.bbox
    return None


def _path(name: str) -> str:
    return f'$."{name}"'


def _kind_of(value: str | float | bool) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "string" if isinstance(value, str) else "number"


def _bound_value(value: str | float | bool) -> Any:
    return int(value) if isinstance(value, bool) else value


class _Translation:
    def __init__(self, rtree: str, temporal_property: str | None, extent: BBox | None) -> None:
        self.rtree = rtree
        self.temporal = temporal_property
        self.extent = extent
        self.driven: Spatial | None = None

    def condition(self, c: Condition) -> Sql:
        if isinstance(c, Logical):
            parts = [self.condition(part) for part in c.conditions]
            joiner = " AND " if c.op == "and" else " OR "
            return sql("(" + joiner.join("{}" for _ in parts) + ")", *parts)
        if isinstance(c, Not):
            return sql("(NOT {})", self.condition(c.condition))
        if isinstance(c, Constant):
            return TRUE if c.value else FALSE
        if isinstance(c, Flag):
            return self.typed(c.property.name, "boolean")
        if isinstance(c, Compare):
            return self.compare(c)
        if isinstance(c, Spatial):
            return self.spatial(c)
        if isinstance(c, Temporal):
            return self.temporal_relation(c)
        return self.advanced(c)

    # --- properties ---------------------------------------------------------------------------

    def typed(self, name: str, kind: str) -> Sql:
        """A property's value if it has this kind, else NULL."""
        path = _path(name)
        if kind == "number":
            return sql(
                "(CASE WHEN json_type(f.properties, {}) IN ('integer', 'real')"
                " THEN CAST(json_extract(f.properties, {}) AS REAL) END)",
                path,
                path,
            )
        if kind == "string":
            return sql(
                "(CASE WHEN json_type(f.properties, {}) = 'text'"
                " THEN json_extract(f.properties, {}) END)",
                path,
                path,
            )
        return sql(
            "(CASE json_type(f.properties, {}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)", path
        )

    def scalar(self, operand: Property | Value, kind: str) -> Sql:
        if isinstance(operand, Property):
            return self.typed(operand.name, kind)
        if _kind_of(operand.value) != kind:
            return NULL
        return sql("{}", _bound_value(operand.value))

    # --- comparisons --------------------------------------------------------------------------

    def compare(self, c: Compare) -> Sql:
        if isinstance(c.left, Instant) or isinstance(c.right, Instant):
            return self.compare_times(c)
        left, right = c.left, c.right
        kinds = [k for k in KINDS if _may_be(left, k) and _may_be(right, k)]
        parts = [
            sql(f"{{}} {c.op} {{}}", self.scalar(left, k), self.scalar(right, k)) for k in kinds
        ]
        if not parts:
            return NULL
        if len(parts) == 1:
            return sql("({})", parts[0])
        return sql("coalesce(" + ", ".join("{}" for _ in parts) + ")", *parts)

    def compare_times(self, c: Compare) -> Sql:
        """Times compare as ranges (a DATE is its day), as ``cql2`` compares them: equal when
        both ends are; less when the first ends before the second starts."""
        (ls, le), (rs, re) = (
            self.range_of(c.left, c.right, False),
            self.range_of(c.right, c.left, False),
        )
        equal = sql("({} = {} AND {} = {})", ls, rs, le, re)
        before, after = sql("{} < {}", le, rs), sql("{} > {}", ls, re)
        forms = {
            "=": equal,
            "<>": sql("(NOT {})", equal),
            "<": sql("({})", before),
            ">": sql("({})", after),
            "<=": sql("({} OR {})", equal, before),
            ">=": sql("({} OR {})", equal, after),
        }
        return forms[c.op]

    def range_of(
        self, operand: Scalar | TimeOperand, other: Any, relation: bool
    ) -> tuple[Sql, Sql]:
        """Start and end of a time operand. A property beside a DATE is widened to a day: from
        its instant in a comparison, and only when it is a date in an interval relation."""
        if isinstance(operand, Instant):
            return sql("{}", operand.start), sql("{}", operand.end)
        if isinstance(operand, Period):
            return self.bound(operand.start, OPEN_START), self.bound(operand.end, OPEN_END)
        if isinstance(operand, Value):
            return NULL, NULL  # the reader turns strings beside times into times
        start = self.time_start(operand)
        if not (isinstance(other, Instant) and other.is_date):
            return start, start
        if not relation:
            return start, sql("({} + {})", start, END_OF_DAY)
        if operand.name == self.temporal:
            return start, Sql("f.t1")
        return start, sql("ogm_day_end({})", self.typed(operand.name, "string"))

    def time_start(self, prop: Property) -> Sql:
        if prop.name == self.temporal:
            return Sql("f.t0")
        return sql("ogm_instant({})", self.typed(prop.name, "string"))

    def bound(self, value: float | Property | None, open_end: float) -> Sql:
        if value is None:
            return sql("{}", open_end)
        if isinstance(value, Property):
            if value.name == self.temporal:
                return Sql("f.t0")
            return sql("ogm_bound({}, {})", self.typed(value.name, "string"), open_end)
        return sql("{}", value)

    def temporal_relation(self, c: Temporal) -> Sql:
        left = self.range_of(c.left, c.right, True)
        right = self.range_of(c.right, c.left, True)
        op = _INVERSE.get(c.op, c.op)
        if op != c.op:
            left, right = right, left
        if op == "t_disjoint":
            relation = sql("(NOT ({} <= {} AND {} >= {}))", left[0], right[1], left[1], right[0])
        else:
            named = {"ls": left[0], "le": left[1], "rs": right[0], "re": right[1]}
            terms = [sql(f"{{}} {cmp} {{}}", named[a], named[b]) for a, cmp, b in _RELATIONS[op]]
            relation = sql("(" + " AND ".join("{}" for _ in terms) + ")", *terms)
        bounds = [b for p in (c.left, c.right) if isinstance(p, Period) for b in (p.start, p.end)]
        if not any(isinstance(b, Property) for b in bounds):
            return relation
        # an interval with an unknown bound is unknown as a whole, whichever end is compared
        ends = sql("({} IS NULL OR {} IS NULL OR {} IS NULL OR {} IS NULL)", *left, *right)
        return sql("(CASE WHEN {} THEN NULL ELSE {} END)", ends, relation)

    # --- spatial ------------------------------------------------------------------------------

    def spatial(self, c: Spatial) -> Sql:
        left, right, op = c.left, c.right, c.op
        if isinstance(left, GeometryRef) and isinstance(right, Shape):
            left, right, op = right, left, _CONVERSE.get(op, op)  # the literal goes first
        if isinstance(left, Shape) and left.is_box and isinstance(right, GeometryRef):
            exact = self.box_test(op, left)
        else:
            exact = sql("ogm_spatial({}, {}, {})", op, self.geometry(left), self.geometry(right))
        box = _shape_of(c)
        if box is None or c is self.driven or not _small(box, self.extent):
            return exact
        west, south, east, north = box
        candidates = sql(
            f"(f.wkb IS NULL OR f.fid IN (SELECT fid FROM {self.rtree}"
            " WHERE minx <= {} AND maxx >= {} AND miny <= {} AND maxy >= {}))",
            east,
            west,
            north,
            south,
        )
        return sql("({} AND {})", candidates, exact)

    def box_test(self, op: str, literal: Shape) -> Sql:
        """S_INTERSECTS and S_DISJOINT with a box literal by ``ogm_intersects``, which reads
        points straight from their WKB (the bbox parameter's test)."""
        if op not in ("s_intersects", "s_disjoint"):
            return sql("ogm_spatial({}, {}, f.wkb)", op, literal.wkb)
        meets = sql("ogm_intersects(f.wkb, {}, {}, {}, {})", *literal.bbox)
        if op == "s_disjoint":
            meets = sql("(NOT {})", meets)
        return sql("(CASE WHEN f.wkb IS NULL THEN NULL ELSE {} END)", meets)

    def geometry(self, operand: SpatialOperand) -> Sql:
        if isinstance(operand, GeometryRef):
            return Sql("f.wkb")
        return sql("{}", operand.wkb)

    # --- LIKE, BETWEEN, IN, IS NULL -----------------------------------------------------------

    def advanced(self, c: Condition) -> Sql:
        if isinstance(c, Like):
            return sql("({} GLOB {})", self.scalar(c.value, "string"), like_to_glob(c.pattern))
        if isinstance(c, Between):
            if isinstance(c.value, Value):
                number = self.scalar(c.value, "number")
                return sql("coalesce({} BETWEEN {} AND {}, 0)", number, c.low, c.high)
            path = _path(c.value.name)
            return sql(
                "(CASE WHEN coalesce(json_type(f.properties, {}), 'null') = 'null' THEN NULL"
                " ELSE coalesce({} BETWEEN {} AND {}, 0) END)",
                path,
                self.typed(c.value.name, "number"),
                c.low,
                c.high,
            )
        if isinstance(c, In):
            return self.within_list(c)
        if isinstance(c, IsNull):
            if isinstance(c.value, GeometryRef):
                return Sql("(f.wkb IS NULL)")
            if isinstance(c.value, Value):
                return FALSE
            path = _path(c.value.name)
            return sql("(coalesce(json_type(f.properties, {}), 'null') = 'null')", path)
        raise TypeError(f"not a condition: {c!r}")

    def within_list(self, c: In) -> Sql:
        """IN: true when an item of the value's kind equals it, else false; unknown for a
        missing or null value (and for lists and objects, which ``cql2`` cannot compare)."""
        if isinstance(c.value, Value):
            kind = _kind_of(c.value.value)
            hit = any(_kind_of(i.value) == kind and i.value == c.value.value for i in c.items)
            return TRUE if hit else FALSE
        checks: list[Sql] = []
        for kind in KINDS:
            items = [_bound_value(i.value) for i in c.items if _kind_of(i.value) == kind]
            if items:
                marks = ", ".join("{}" for _ in items)
                checks.append(
                    sql(f"coalesce({{}} IN ({marks}), 0)", self.typed(c.value.name, kind), *items)
                )
        path = _path(c.value.name)
        return sql(
            f"(CASE WHEN coalesce(json_type(f.properties, {{}}), 'null') IN {_NULL_KINDS}"
            " THEN NULL ELSE (" + " OR ".join("{}" for _ in checks) + ") END)",
            path,
            *checks,
        )


def _small(box: BBox, extent: BBox | None) -> bool:
    """Whether a box covers so little of the collection's extent that collecting the R*Tree's
    candidates first is cheaper than testing every feature (measured at 1M points: gathering
    ~1M candidates costs more than the exact tests it saves)."""
    if extent is None:
        return True
    width, height = extent[2] - extent[0], extent[3] - extent[1]
    if width <= 0 or height <= 0:
        return True
    overlap_x = max(0.0, min(box[2], extent[2]) - max(box[0], extent[0]))
    overlap_y = max(0.0, min(box[3], extent[3]) - max(box[1], extent[1]))
    return overlap_x * overlap_y < PREFILTER_SHARE * width * height


def _may_be(operand: Scalar, kind: str) -> bool:
    if isinstance(operand, Property):
        return True
    return isinstance(operand, Value) and _kind_of(operand.value) == kind
