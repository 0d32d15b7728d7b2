"""CQL2 filter conditions as SQL with bound parameters: the part both databases share.

Nothing from a filter is ever written into the SQL text: property names and values travel as
bound parameters (names were checked by ``cql2_json.filterable_name``). Each property is read
with the kind the other operand has (number, string, boolean), so a value of another kind reads
as NULL and the predicate is unknown, as CQL2's evaluator (``cql2``'s ``Expr.matches``) has it;
SQL's own three-valued logic then matches CQL2's for NOT, AND and OR.

Times: the collection's temporal property is read from the indexed ``t0``/``t1`` columns; other
properties by the SQL functions ``ogm_instant``, ``ogm_day_end`` and ``ogm_bound``, which both
databases provide (SQLite: ``storage/sqlite/predicates.py``; PostgreSQL: migration
``0006_cql2_functions``) and which read times as ``cql2`` reads them.

A database supplies what differs (:class:`FilterSql`'s abstract methods): how a property of a
kind is read from its JSON, typed literals and NULLs, LIKE and the spatial predicates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
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
    Spatial,
    Temporal,
    TimeOperand,
    Value,
)
from opengeomesh.features.timeval import END_OF_DAY
from opengeomesh.storage.sql_pieces import Sql, joined, sql

OPEN_START, OPEN_END = -1e18, 1e18  # seconds beyond every storable time ('..' in intervals)
KINDS = ("number", "string", "boolean")
# JSON types a property may have that make IN unknown (``cql2`` cannot compare lists, objects)
_UNCOMPARABLE = "('null', 'array', 'object')"
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
CONVERSE = {"s_within": "s_contains", "s_contains": "s_within"}  # the others are symmetric


def kind_of(value: str | float | bool) -> str:
    """The CQL2 kind of a literal: ``boolean``, ``string`` or ``number``."""
    if isinstance(value, bool):
        return "boolean"
    return "string" if isinstance(value, str) else "number"


class FilterSql(ABC):
    """One filter's translation over ``f``, the collection's feature table."""

    TRUE: Sql
    FALSE: Sql

    def __init__(self, temporal_property: str | None) -> None:
        self.temporal = temporal_property

    # --- what each database supplies ----------------------------------------------------------

    @abstractmethod
    def typed(self, name: str, kind: str) -> Sql:
        """A property's value if its JSON value has this kind (a string comparing by code
        point), else NULL."""

    @abstractmethod
    def json_kind(self, name: str) -> Sql:
        """The JSON type of a property's value, ``'null'`` when it is missing; the names
        ``'null'``, ``'array'`` and ``'object'`` must be spelled so."""

    @abstractmethod
    def value(self, value: str | float | bool) -> Sql:
        """A literal as a bound parameter of its kind."""

    @abstractmethod
    def null(self, kind: str) -> Sql:
        """NULL of a kind (``number``, ``string``, ``boolean``)."""

    @abstractmethod
    def like(self, value: Sql, pattern: str) -> Sql:
        """``value LIKE pattern`` with CQL2's pattern (``%``, ``_``, ``\\`` escapes),
        case-sensitive."""

    @abstractmethod
    def spatial(self, c: Spatial) -> Sql:
        """A spatial predicate between the feature's geometry and a literal (or two of
        either); NULL for a feature without geometry."""

    @abstractmethod
    def geometry_is_null(self) -> Sql: ...

    # --- conditions ---------------------------------------------------------------------------

    def condition(self, c: Condition) -> Sql:
        if isinstance(c, Logical):
            parts = [self.condition(part) for part in c.conditions]
            return sql("({})", joined(" AND " if c.op == "and" else " OR ", parts))
        if isinstance(c, Not):
            return sql("(NOT {})", self.condition(c.condition))
        if isinstance(c, Constant):
            return self.TRUE if c.value else self.FALSE
        if isinstance(c, Flag):
            return self.typed(c.property.name, "boolean")
        if isinstance(c, Compare):
            return self.compare(c)
        if isinstance(c, Spatial):
            return self.spatial(c)
        if isinstance(c, Temporal):
            return self.temporal_relation(c)
        return self.advanced(c)

    def scalar(self, operand: Property | Value, kind: str) -> Sql:
        if isinstance(operand, Property):
            return self.typed(operand.name, kind)
        if kind_of(operand.value) != kind:
            return self.null(kind)
        return self.value(operand.value)

    def falsy(self, piece: Sql) -> Sql:
        """Unknown read as false."""
        return sql("coalesce({}, {})", piece, self.FALSE)

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
            return self.null("boolean")
        if len(parts) == 1:
            return sql("({})", parts[0])
        return sql("coalesce({})", joined(", ", parts))

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
            return self.null("number"), self.null("number")  # strings beside times are times
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
            relation = sql("({})", joined(" AND ", terms))
        bounds = [b for p in (c.left, c.right) if isinstance(p, Period) for b in (p.start, p.end)]
        if not any(isinstance(b, Property) for b in bounds):
            return relation
        # an interval with an unknown bound is unknown as a whole, whichever end is compared
        ends = sql("({} IS NULL OR {} IS NULL OR {} IS NULL OR {} IS NULL)", *left, *right)
        return sql("(CASE WHEN {} THEN {} ELSE {} END)", ends, self.null("boolean"), relation)

    # --- LIKE, BETWEEN, IN, IS NULL -----------------------------------------------------------

    def advanced(self, c: Condition) -> Sql:
        if isinstance(c, Like):
            return self.like(self.scalar(c.value, "string"), c.pattern)
        if isinstance(c, Between):
            number = self.scalar(c.value, "number")
            within = self.falsy(
                sql("{} BETWEEN {} AND {}", number, self.value(c.low), self.value(c.high))
            )
            if isinstance(c.value, Value):
                return within
            missing = sql("{} = 'null'", self.json_kind(c.value.name))
            return sql("(CASE WHEN {} THEN {} ELSE {} END)", missing, self.null("boolean"), within)
        if isinstance(c, In):
            return self.within_list(c)
        if isinstance(c, IsNull):
            if isinstance(c.value, GeometryRef):
                return self.geometry_is_null()
            if isinstance(c.value, Value):
                return self.FALSE
            return sql("({} = 'null')", self.json_kind(c.value.name))
        raise TypeError(f"not a condition: {c!r}")

    def within_list(self, c: In) -> Sql:
        """IN: true when an item of the value's kind equals it, else false; unknown for a
        missing or null value (and for lists and objects, which ``cql2`` cannot compare)."""
        if isinstance(c.value, Value):
            kind = kind_of(c.value.value)
            hit = any(kind_of(i.value) == kind and i.value == c.value.value for i in c.items)
            return self.TRUE if hit else self.FALSE
        checks: list[Sql] = []
        for kind in KINDS:
            items = [self.value(i.value) for i in c.items if kind_of(i.value) == kind]
            if items:
                listed = sql("{} IN ({})", self.typed(c.value.name, kind), joined(", ", items))
                checks.append(self.falsy(listed))
        uncomparable = sql(f"{{}} IN {_UNCOMPARABLE}", self.json_kind(c.value.name))
        return sql(
            "(CASE WHEN {} THEN {} ELSE ({}) END)",
            uncomparable,
            self.null("boolean"),
            joined(" OR ", checks),
        )


def _may_be(operand: Scalar, kind: str) -> bool:
    if isinstance(operand, Property):
        return True
    return isinstance(operand, Value) and kind_of(operand.value) == kind
