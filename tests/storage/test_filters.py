"""CQL2 filters on both databases: a table of filters on one feature each, with the truth value
CQL2 gives them (true, false or unknown: a feature is selected by the filter when true, by
``NOT (filter)`` when false, by neither when unknown), spatial predicates against shapely, and
the SQL of each database holding no value or name of the filter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import shapely
from shapely.geometry import shape

from opengeomesh.features.cql2_json import filterable_name
from opengeomesh.features.filtering import parse_filter
from opengeomesh.features.timeval import END_OF_DAY, cql2_seconds, is_cql2_date
from opengeomesh.storage.postgres.database import PgDatabase
from opengeomesh.storage.postgres.filters import pyformat
from opengeomesh.storage.postgres.filters import translate as translate_pg
from opengeomesh.storage.sql_pieces import Sql
from opengeomesh.storage.sqlite.filters import translate as translate_sqlite
from opengeomesh.storage.stores import Stores
from tests.storage.layers import DATABASES, Layers, layers_on, opened, point

T, F, U = True, False, None
CASES: list[tuple[dict[str, Any], str, bool | None]] = [
    # numbers, strings and booleans: another kind is unknown
    ({"a": 1}, "a = 1", T),
    ({"a": 1.0}, "a = 1", T),
    ({"a": "1"}, "a = 1", U),
    ({"a": "1"}, "a = '1'", T),
    ({"a": 1}, "a = '1'", U),
    ({"a": True}, "a = 1", U),
    ({"a": True}, "a = true", T),
    ({}, "a = 1", U),
    ({"a": None}, "a = 1", U),
    ({"a": None}, "NOT (a = 1)", U),
    ({"a": [1]}, "a = 1", U),
    ({"b": 2}, "a = 1 OR b = 2", T),
    ({"b": 3}, "a = 1 AND b = 2", F),
    ({"a": 10}, "a > 9", T),
    ({"a": "10"}, "a > '9'", F),  # strings compare as strings
    ({"a": 9007199254740993}, "a = 9007199254740992", T),  # numbers are doubles
    ({"a": -0.5}, "a < 0", T),
    ({"a": 1e20}, "a >= 100000000000000000000", T),
    ({"a": "B"}, "a < 'a'", T),  # by code point, whatever the database's collation
    ({"a": "Z"}, "a < 'a'", T),
    ({"a": "\u00e9"}, "a > 'z'", T),
    ({"a": "a b"}, "a < 'a-b'", T),
    ({"a": "x", "b": "x"}, "a = b", T),
    ({"a": 1, "b": "1"}, "a = b", U),
    ({"a": 2, "b": 1.5}, "a > b", T),
    ({"a": False, "b": True}, "a < b", T),
    ({"it's": "O'Brien' OR 1=1 --"}, "\"it's\" = 'O''Brien'' OR 1=1 --'", T),
    ({"x%s?": 1, "w": "%s"}, "\"x%s?\" = 1 AND w LIKE '\\%s'", T),
    ({"nested": {"a": 1}}, "nested = 1", U),
    ({"flag": True}, "flag", T),
    ({"flag": False}, "flag", F),
    ({"flag": "true"}, "flag", U),
    ({}, "flag", U),
    ({"flag": False}, "NOT flag", T),
    ({"flag": True}, "flag AND TRUE", T),
    ({"flag": True}, "flag AND FALSE", F),
    # IS NULL
    ({"a": None}, "a IS NULL", T),
    ({}, "a IS NULL", T),
    ({"a": [1]}, "a IS NULL", F),
    ({"a": 0}, "a IS NOT NULL", T),
    ({"a": ""}, "a IS NULL", F),
    # BETWEEN (numbers only: another kind is false, a missing value unknown)
    ({"a": 3}, "a BETWEEN 1 AND 3", T),
    ({"a": 3.5}, "a BETWEEN 1 AND 3", F),
    ({"a": "2"}, "a BETWEEN 1 AND 3", F),
    ({"a": [2]}, "a BETWEEN 1 AND 3", F),
    ({}, "a BETWEEN 1 AND 3", U),
    ({"a": 2}, "a BETWEEN 3 AND 1", F),
    ({"a": 2}, "a NOT BETWEEN 1 AND 3", F),
    # IN
    ({"a": "x"}, "a IN (1, 'x')", T),
    ({"a": 1.0}, "a IN (1, 'x')", T),
    ({"a": True}, "a IN (1, 'x')", F),
    ({"a": True}, "a IN (true, 'x')", T),
    ({"a": [1]}, "a IN (1, 'x')", U),
    ({"a": {"k": 1}}, "a IN (1, 'x')", U),
    ({}, "a IN (1, 'x')", U),
    ({"a": "y"}, "a NOT IN ('x')", T),
    # LIKE: %, _ and \ escapes, case-sensitive, characters (not bytes)
    ({"a": "abc"}, "a LIKE 'A%'", F),
    ({"a": "abc"}, "a LIKE 'a_c'", T),
    ({"a": "x%"}, "a LIKE 'x\\%'", T),
    ({"a": "xy"}, "a LIKE 'x\\%'", F),
    ({"a": "a_b"}, "a LIKE 'a\\_b'", T),
    ({"a": "axb"}, "a LIKE 'a\\_b'", F),
    ({"a": "back\\slash"}, "a LIKE 'back\\\\slash'", T),
    ({"a": "[*]"}, "a LIKE '[*]'", T),
    ({"a": "x*y?"}, "a LIKE 'x*y?'", T),
    ({"a": "xzy"}, "a LIKE 'x*y'", F),
    ({"a": "line\nbreak"}, "a LIKE 'line%'", T),
    ({"a": "\u00e9"}, "a LIKE '_'", T),
    ({"a": "O'Brien"}, "a LIKE 'O''B%'", T),
    ({"a": 5}, "a LIKE '5'", U),
    ({}, "a LIKE '%'", U),
    ({"a": "abc"}, "a NOT LIKE 'a%'", F),
    # times in properties, read as cql2 reads them
    ({"t": "2026-11-28 07:00"}, "t > TIMESTAMP('2026-11-28T06:00:00Z')", T),
    ({"t": "2026-11-28T08:00:00+02:00"}, "t = TIMESTAMP('2026-11-28T06:00:00Z')", T),
    ({"t": "2026-11-28T06:00:00.1234567Z"}, "t = TIMESTAMP('2026-11-28T06:00:00.123456Z')", T),
    ({"t": "2026-11-28"}, "t = DATE('2026-11-28')", T),
    ({"t": "2026-11-28T23:00:00Z"}, "T_INTERSECTS(t, DATE('2026-11-28'))", T),
    ({"t": "2026-11-29"}, "T_DURING(t, INTERVAL('2026-11-28', '..'))", T),
    ({"t": "2026-11-29"}, "T_DURING(t, INTERVAL(u, '..'))", U),
    ({"t": "2026-11-29", "u": ".."}, "T_DURING(t, INTERVAL(u, '2026-12-01'))", T),
    ({"t": "not a time"}, "t > TIMESTAMP('2026-11-28T06:00:00Z')", U),
    ({"t": "2026-02-30"}, "t > TIMESTAMP('2026-01-01T00:00:00Z')", U),
    ({"t": "2026-11-28T24:00:00Z"}, "t > TIMESTAMP('2026-01-01T00:00:00Z')", U),
    ({"t": "2026-11-28T06:00:00+16:00"}, "t < TIMESTAMP('2026-11-28T00:00:00Z')", T),
    ({"t": 5}, "t > TIMESTAMP('2026-11-28T06:00:00Z')", U),
    ({"t": "2026-11-28T06:00:00Z"}, "T_BEFORE(t, TIMESTAMP('2026-11-28T06:00:01Z'))", T),
    ({"t": "2026-11-28T06:00:00Z"}, "T_AFTER(t, TIMESTAMP('2026-11-28T06:00:00Z'))", F),
    # the temporal property, read from its columns
    ({"when": "2026-11-28T06:00:00Z"}, "when > TIMESTAMP('2026-11-28T05:00:00Z')", T),
    ({"when": "2026-11-28"}, "when = DATE('2026-11-28')", T),
    ({"when": "2026-11-28T06:00:00Z"}, "T_DURING(when, INTERVAL('2026-11-28', '..'))", T),
    ({}, "when > TIMESTAMP('2026-11-28T05:00:00Z')", U),
]


@pytest.fixture(scope="module", params=DATABASES)
def cases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Layers]:
    """One feature per case (``c0``, ``c1``, …) in the collection 'cases'."""
    with opened(request.param, tmp_path_factory.mktemp("filters")) as stores:
        layers = layers_on(stores)
        features = [point(f"c{n}", 0, 0, **props) for n, (props, _, _) in enumerate(CASES)]
        layers.create("cases", features, temporal_property="when")
        yield layers


@pytest.mark.parametrize(("number", "case"), list(enumerate(CASES)), ids=[c[1] for c in CASES])
def test_truth_of_filters(cases: Layers, number: int, case: Any) -> None:
    _, text, expected = case
    feature = f"c{number}"
    selected = feature in cases.ids("cases", {"filter": text})
    excluded = feature in cases.ids("cases", {"filter": f"NOT ({text})"})
    truth = True if selected else False if excluded else None
    assert truth is expected
    assert not (selected and excluded)


GEOMETRIES: dict[str, dict[str, Any] | None] = {
    "in": {"type": "Point", "coordinates": [1, 1]},
    "edge": {"type": "Point", "coordinates": [2, 1]},
    "corner": {"type": "Point", "coordinates": [2, 2]},
    "out": {"type": "Point", "coordinates": [5, 5]},
    "high": {"type": "Point", "coordinates": [1, 1, 7]},
    "cross": {"type": "LineString", "coordinates": [[0, 0], [3, 3]]},
    "along": {"type": "LineString", "coordinates": [[2, 0], [2, 2]]},
    "around": {"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]]]},
    "same": {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]]},
    "half": {"type": "Polygon", "coordinates": [[[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]]]},
    "far": {"type": "Polygon", "coordinates": [[[10, 10], [11, 10], [11, 11], [10, 11], [10, 10]]]},
    "many": {"type": "MultiPoint", "coordinates": [[1, 1], [5, 5]]},
    "nothing": None,
    "empty": {"type": "MultiPoint", "coordinates": []},
    "mixed": {
        "type": "GeometryCollection",
        "geometries": [
            {"type": "Point", "coordinates": [1, 1]},
            {"type": "LineString", "coordinates": [[5, 5], [6, 6]]},
        ],
    },
}
LITERALS = [
    "BBOX(0, 0, 2, 2)",
    "POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))",
    "POINT(1 1)",
    "POINT(2 1)",
    "LINESTRING(2 -1, 2 5)",
    "MULTIPOINT((1 1), (5 5))",
]
OPERATORS = ["S_INTERSECTS", "S_DISJOINT", "S_WITHIN", "S_CONTAINS", "S_TOUCHES"]
OPERATORS += ["S_OVERLAPS", "S_CROSSES", "S_EQUALS"]
PREDICATES = {
    "S_INTERSECTS": shapely.intersects,
    "S_DISJOINT": shapely.disjoint,
    "S_WITHIN": shapely.within,
    "S_CONTAINS": shapely.contains,
    "S_TOUCHES": shapely.touches,
    "S_OVERLAPS": shapely.overlaps,
    "S_CROSSES": shapely.crosses,
    "S_EQUALS": shapely.equals,
}


@pytest.fixture(scope="module", params=DATABASES)
def shapes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Layers]:
    with opened(request.param, tmp_path_factory.mktemp("shapes")) as stores:
        layers = layers_on(stores)
        features = [
            {"type": "Feature", "id": name, "geometry": geometry, "properties": {}}
            for name, geometry in GEOMETRIES.items()
        ]
        layers.create("shapes", features)
        yield layers


@pytest.mark.parametrize("literal", LITERALS)
@pytest.mark.parametrize("operator", OPERATORS)
def test_spatial_predicates_agree_with_shapely(shapes: Layers, operator: str, literal: str) -> None:
    """Both databases answer as shapely does, also for a GeometryCollection, an empty
    geometry, heights and boundaries; a feature without geometry is unknown."""
    test = PREDICATES[operator]
    given = shapely.from_wkt(literal.replace("BBOX(0, 0, 2, 2)", "POLYGON((0 0,2 0,2 2,0 2,0 0))"))
    text = f"{operator}(geometry, {literal})"
    expected = {
        name
        for name, geometry in GEOMETRIES.items()
        if geometry is not None and test(shape(geometry), given)
    }
    assert set(shapes.ids("shapes", {"filter": text})) == expected
    others = set(GEOMETRIES) - expected - {"nothing"}
    assert set(shapes.ids("shapes", {"filter": f"NOT {text}"})) == others


def test_spatial_with_other_conditions(shapes: Layers) -> None:
    text = "S_INTERSECTS(geometry, BBOX(0, 0, 2, 2)) AND NOT S_EQUALS(geometry, POINT(1 1))"
    assert sorted(shapes.ids("shapes", {"filter": text})) == sorted(
        ["edge", "corner", "cross", "along", "around", "same", "half", "many", "mixed"]
    )
    text = "S_INTERSECTS(geometry, POINT(1 1)) OR geometry IS NULL"
    assert sorted(shapes.ids("shapes", {"filter": text})) == sorted(
        ["in", "high", "cross", "around", "same", "half", "many", "mixed", "nothing"]
    )
    assert shapes.ids(
        "shapes", {"filter": "S_INTERSECTS(geometry, POINT(1 1))", "bbox": "1.5,0,3,3"}
    ) == [
        "cross",
        "around",
        "same",
        "half",
    ]


@pytest.mark.parametrize("translate", [translate_sqlite, translate_pg])
def test_values_and_names_are_bound_never_written(translate: Any) -> None:
    found = parse_filter(
        "\"it's\" = 'O''Brien'' OR 1=1 --' AND \"x%s\" LIKE '%qq?%'"
        " AND T_AFTER(\"zz'q\", TIMESTAMP('2026-11-28T06:00:00Z'))"
        " AND S_INTERSECTS(geometry, POINT(1 2))"
    )
    if translate is translate_sqlite:
        where = translate(found, rtree="r", temporal_property=None).where
    else:
        where = translate(found, temporal_property=None)
    for marker in ("Brien", "it's", "x%s", "qq", "zz"):
        assert marker not in where.text
    assert "O'Brien' OR 1=1 --" in where.args
    assert where.text.count("?") == len(where.args)


INSTANTS = [
    "2026",
    "2026-11",
    "2026-11-28",
    "2026-11-28 06",
    "2026-11-28 06:17",
    "2026-11-28T06:17:00Z",
    "2026-11-28T06:17:00.1234567+00:00",
    "2026-11-28T06:17:00.5Z",
    "2026-11-28T06:17:00+05:75",
    "2026-11-28T06:17:00+23:59",
    "2026-11-28T06:17:00+24:00",
    "2026-11-28T24:00:00Z",
    "2026-11-28T23:59:60Z",
    "2026-02-29",
    "2024-02-29",
    "2100-02-29",
    "2026-04-31",
    "0000-01-01",
    "0001-01-01",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59.999Z",
    "9999-12-31T23:59:59.9995Z",
    "9999-12-31T23:59:59-01:00",
    "1969-12-31T23:59:59.999999Z",
    "2026-11-28T06:17:00z",
    "2026-11-28t06:17:00Z",
    "2026-11-28T06:17:00Z\n",
    "",
    "..",
    "2026-11-28T06:17:00",
    "2026-11-28T06:17:00.Z",
    "2026-11-28T06:17:00.1234567890Z",
    "2026-13-01",
    "\u0661\u0662\u0663\u0664-01-01",
    "2026-11-28T06:17:00+0200",
    "1600-03-01",
]


def test_times_in_properties_are_read_as_cql2_reads_them(stores: Stores) -> None:
    """The SQL functions behind times in filters, against ``cql2_seconds``."""
    statement = "SELECT ogm_instant(?), ogm_day_end(?), ogm_bound(?, -1e18)"
    for value in INSTANTS:
        try:
            start: float | None = cql2_seconds(value)
        except ValueError:
            start = None
        end = None if start is None else start + END_OF_DAY if is_cql2_date(value) else start
        if isinstance(stores.database, PgDatabase):
            with stores.database.connection() as conn:
                row = conn.execute(statement.replace("?", "%s"), (value,) * 3).fetchone()
        else:
            conn = stores.database.connection()  # type: ignore[attr-defined]
            row = conn.execute(statement, (value,) * 3).fetchone()
        assert row == (start, end, -1e18 if value == ".." else start), value


def test_pyformat_keeps_placeholders_apart_from_text() -> None:
    text, args = pyformat(Sql("a LIKE ? AND b = '%' AND c = ?", ("%x?", 1)))
    assert text == "a LIKE %s AND b = '%%' AND c = %s" and args == ("%x?", 1)


BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}
BOWTIE_LITERALS = [
    "POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))",
    "POLYGON((0 0, 5 0, 5 5, 0 5, 0 0))",
    "POLYGON((0.5 0, 1.5 0, 1.5 2, 0.5 2, 0.5 0))",
    "POINT(1 1)",
    "POINT(2 1)",
    "LINESTRING(0 1, 2 1)",
]


@pytest.mark.parametrize("literal", BOWTIE_LITERALS)
def test_a_ring_that_crosses_itself(stores_layers: Layers, literal: str) -> None:
    """Accepted (imports do not check rings) and served as written, it is tested in its valid
    form on both databases, without an error."""
    layers = stores_layers
    bowtie = {"type": "Feature", "id": "bow", "geometry": BOWTIE, "properties": {}}
    layers.create("odd", [bowtie])
    given = shapely.from_wkt(literal)
    for operator, test in PREDICATES.items():
        text = f"{operator}(geometry, {literal})"
        expected = ["bow"] if test(shapely.make_valid(shape(BOWTIE)), given) else []
        assert layers.ids("odd", {"filter": text}) == expected, text


def test_nul_in_properties(stores_layers: Layers) -> None:
    """U+0000 in a property's value or name: imported and served as written, filters work
    without an error (what they select differs: SQLite's functions stop at U+0000)."""
    layers = stores_layers
    odd = point("n", 1, 1, a="x\u0000y", b="\\u0000", **{"k\u0000": 1})
    collection = layers.create("odd", [odd, point("m", 1, 1, a="xzy")])
    stored = layers.stores.features.get(collection, "n")
    assert stored is not None
    assert stored.properties_json == orjson.dumps(odd["properties"]).decode()
    assert "xzy" not in stored.properties_json
    assert layers.ids("odd", {"filter": "b = '\\u0000'"}) == ["n"]  # the escape itself, as text
    # PostgreSQL compares the whole string; SQLite's functions read it up to U+0000
    whole = layers.kind == "postgresql"
    assert layers.ids("odd", {"filter": "a = 'x\u0000y'"}) == (["n"] if whole else [])
    assert layers.ids("odd", {"filter": "a LIKE 'x\u0000%'"}) == ["n"]  # SQLite: 'x' GLOB 'x'
    assert layers.ids("odd", {"filter": "a LIKE 'x_y'"}) == (["n", "m"] if whole else ["m"])
    types = layers.stores.features.property_types(collection)
    # SQLite's json_each reads a name up to U+0000: 'k' is offered, but finds nothing
    names = {"a", "b", "k"} if layers.kind == "sqlite" else {"a", "b"}
    assert {name for name in types if filterable_name(name)} == names
    assert not layers.stores.features.has_property(collection, "k\u0000")
