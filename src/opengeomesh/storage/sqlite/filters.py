"""CQL2 filter conditions as SQLite SQL (OGC API – Features Part 3); the semantics both
databases share are in ``storage/filter_sql.py``.

Properties live as JSON text (``f.properties``) and are read with ``json_type`` and
``json_extract`` at a bound JSON path (``$."name"``). LIKE becomes GLOB (case-sensitive, as
CQL2's LIKE is). Spatial predicates are tested exactly by ``ogm_spatial`` (shapely) after an
R*Tree prefilter on the literal's bounding box; a predicate that must hold for the whole filter
drives the query from the R*Tree instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from opengeomesh.features.conditions import GeometryRef, Logical, Shape, Spatial, SpatialOperand
from opengeomesh.features.filtering import Filter
from opengeomesh.features.models import BBox
from opengeomesh.storage.filter_sql import CONVERSE, FilterSql
from opengeomesh.storage.sql_pieces import Sql, sql

PREFILTER_SHARE = 0.25  # of the collection's extent, below which a literal's box prefilters


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
    translation = SqliteFilterSql(rtree, temporal_property, extent)
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


class SqliteFilterSql(FilterSql):
    """Truth values are 1, 0 and NULL; booleans are read as 1 and 0."""

    TRUE, FALSE = Sql("1"), Sql("0")

    def __init__(self, rtree: str, temporal_property: str | None, extent: BBox | None) -> None:
        super().__init__(temporal_property)
        self.rtree = rtree
        self.extent = extent
        self.driven: Spatial | None = None

    def typed(self, name: str, kind: str) -> Sql:
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

    def json_kind(self, name: str) -> Sql:
        return sql("coalesce(json_type(f.properties, {}), 'null')", _path(name))

    def value(self, value: str | float | bool) -> Sql:
        return sql("{}", int(value) if isinstance(value, bool) else value)

    def null(self, kind: str) -> Sql:
        return Sql("NULL")

    def like(self, value: Sql, pattern: str) -> Sql:
        return sql("({} GLOB {})", value, like_to_glob(pattern))

    def geometry_is_null(self) -> Sql:
        return Sql("(f.wkb IS NULL)")

    # --- spatial ------------------------------------------------------------------------------

    def spatial(self, c: Spatial) -> Sql:
        left, right, op = c.left, c.right, c.op
        if isinstance(left, GeometryRef) and isinstance(right, Shape):
            left, right, op = right, left, CONVERSE.get(op, op)  # the literal goes first
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


def like_to_glob(pattern: str) -> str:
    """A CQL2 LIKE pattern (``%``, ``_``, ``\\`` escapes; case-sensitive) as a SQLite GLOB
    pattern (``*``, ``?``; GLOB's own special characters bracketed)."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            out.append(_glob_literal(next(chars, "")))
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        else:
            out.append(_glob_literal(char))
    return "".join(out)


def _glob_literal(char: str) -> str:
    return f"[{char}]" if char in "*?[" else char
