"""CQL2 filter conditions as PostgreSQL/PostGIS SQL (OGC API – Features Part 3); the semantics
both databases share are in ``storage/filter_sql.py``.

Properties are read from ``f.properties`` (``jsonb``) by a bound key: ``jsonb_typeof`` tells the
kind, ``->>`` gives the text, cast to ``double precision`` or ``boolean``. Strings compare in the
``"C"`` collation (by code point, as SQLite and ``cql2`` compare them), whatever the database's
own collation; U+0000, which PostgreSQL's text cannot hold, is read as U+0001 on both sides.
LIKE keeps CQL2's pattern as it is (PostgreSQL's LIKE has the same ``%``, ``_``
and ``\\``). Spatial predicates are PostGIS's ``ST_*`` on ``f.geom`` (SRID 4326, 2D), which use
the GIST index by themselves.

SQL text is written with ``?`` placeholders like SQLite's and turned into psycopg's ``%s`` by
:func:`pyformat` at the end; it never holds a ``?`` of its own.
"""

from __future__ import annotations

from typing import Any

import shapely

from opengeomesh.features.conditions import GeometryRef, Shape, Spatial, SpatialOperand
from opengeomesh.features.filtering import Filter
from opengeomesh.features.models import BBox
from opengeomesh.storage.filter_sql import CONVERSE, FilterSql, kind_of
from opengeomesh.storage.sql_pieces import Sql, sql

FUNCTIONS = {
    "s_intersects": "ST_Intersects",
    "s_equals": "ST_Equals",
    "s_disjoint": "ST_Disjoint",
    "s_touches": "ST_Touches",
    "s_within": "ST_Within",
    "s_overlaps": "ST_Overlaps",
    "s_crosses": "ST_Crosses",
    "s_contains": "ST_Contains",
}
_CASTS = {"number": "double precision", "string": "text", "boolean": "boolean"}
_TEXT = 'COLLATE "C"'


def pyformat(piece: Sql) -> tuple[str, tuple[Any, ...]]:
    """A piece's text with psycopg's placeholders (``%s``; a ``%`` of the text doubled).
    The text is ours: only bound parameters ever carry what a client sent."""
    return piece.text.replace("%", "%%").replace("?", "%s"), piece.args


def nul_free(text: str) -> str:
    """A filter's string as the stored properties are read for filters (``ogm_nul_free``):
    PostgreSQL's text cannot hold U+0000, so it is U+0001 on both sides."""
    return text.replace("\x00", "\x01")


def translate(found: Filter, *, temporal_property: str | None) -> Sql:
    """A filter as a WHERE condition over ``f``, the collection's feature table."""
    return PgFilterSql(temporal_property).condition(found.condition)


def envelope(box: BBox) -> Sql:
    """A box as a geometry that meets what the box's edges meet, also when it is flat: a
    point or a line then, since PostGIS finds nothing in a polygon without area."""
    west, south, east, north = box
    return sql(
        "ST_Envelope(ST_MakeLine(ST_SetSRID(ST_MakePoint({}, {}), 4326),"
        " ST_SetSRID(ST_MakePoint({}, {}), 4326)))",
        float(west),
        float(south),
        float(east),
        float(north),
    )


class PgFilterSql(FilterSql):
    TRUE, FALSE = Sql("true"), Sql("false")

    def typed(self, name: str, kind: str) -> Sql:
        if kind == "number":
            return sql(
                "(CASE WHEN jsonb_typeof(f.properties -> {}) = 'number'"
                " THEN (f.properties ->> {})::double precision END)",
                name,
                name,
            )
        if kind == "string":
            return sql(
                "(CASE WHEN jsonb_typeof(f.properties -> {}) = 'string'"
                f" THEN (f.properties ->> {{}}) END) {_TEXT}",
                name,
                name,
            )
        return sql(
            "(CASE WHEN jsonb_typeof(f.properties -> {}) = 'boolean'"
            " THEN (f.properties ->> {})::boolean END)",
            name,
            name,
        )

    def json_kind(self, name: str) -> Sql:
        return sql("coalesce(jsonb_typeof(f.properties -> {}), 'null')", name)

    def value(self, value: str | float | bool) -> Sql:
        kind = kind_of(value)
        if isinstance(value, str):
            return sql(f"CAST({{}} AS text) {_TEXT}", nul_free(value))
        return sql(f"CAST({{}} AS {_CASTS[kind]})", value)

    def null(self, kind: str) -> Sql:
        return Sql(f"CAST(NULL AS {_CASTS[kind]})")

    def like(self, value: Sql, pattern: str) -> Sql:
        return sql("({} LIKE {} ESCAPE E'\\\\')", value, nul_free(pattern))

    def geometry_is_null(self) -> Sql:
        return Sql("(f.geom IS NULL)")

    def spatial(self, c: Spatial) -> Sql:
        left, right, op = c.left, c.right, c.op
        if isinstance(left, GeometryRef) and isinstance(right, Shape):
            left, right, op = right, left, CONVERSE.get(op, op)  # the literal goes first
        return sql(f"{FUNCTIONS[op]}({{}}, {{}})", self.geometry(left), self.geometry(right))

    def geometry(self, operand: SpatialOperand) -> Sql:
        if isinstance(operand, GeometryRef):
            return Sql("f.geom")
        if _flat(operand):
            return envelope(operand.bbox)
        return sql("ST_Force2D(ST_GeomFromWKB({}, 4326))", operand.wkb)


def _flat(shape: Shape) -> bool:
    """Whether a literal is a ``BBOX`` without width or height (the only polygons without
    area a filter may hold): shapely meets what its edges meet, PostGIS nothing."""
    west, south, east, north = shape.bbox
    if west < east and south < north:
        return False
    geometry = shapely.from_wkb(shape.wkb)
    return bool(geometry.geom_type == "Polygon" and geometry.area == 0)
