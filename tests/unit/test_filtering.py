"""Reading CQL2 filters (``features.filtering``) and turning them into SQLite SQL
(``storage.sqlite.filters``): what is refused and why, what SQLite's SQL looks like. What
filters select, on both databases, is in ``tests/storage/test_filters.py``."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opengeomesh.errors import InvalidInput
from opengeomesh.features.conditions import (
    Compare,
    GeometryRef,
    Instant,
    Like,
    Logical,
    Property,
    Shape,
    Spatial,
    Temporal,
    Value,
)
from opengeomesh.features.filtering import (
    CRS84,
    MAX_LENGTH,
    filter_crs,
    parse_filter,
    parse_filter_parameters,
)
from opengeomesh.features.queryables import queryables_schema
from opengeomesh.features.timeval import END_OF_DAY, cql2_seconds
from opengeomesh.storage.sqlite.filters import like_to_glob, translate


def refused(text: str, language: str = "cql2-text") -> str:
    with pytest.raises(InvalidInput) as caught:
        parse_filter(text, language)
    assert caught.value.field == "filter"
    return caught.value.reason


def test_text_and_json_give_the_same_conditions() -> None:
    text = parse_filter("kind = 'underground' AND diameter_mm > 80")
    json = parse_filter(
        orjson.dumps(
            {
                "op": "and",
                "args": [
                    {"op": "=", "args": [{"property": "kind"}, "underground"]},
                    {"op": ">", "args": [{"property": "diameter_mm"}, 80]},
                ],
            }
        ).decode(),
        "cql2-json",
    )
    assert text == json
    assert text.properties == {"kind", "diameter_mm"}
    assert text.condition == Logical(
        "and",
        (
            Compare("=", Property("kind"), Value("underground")),
            Compare(">", Property("diameter_mm"), Value(80.0)),
        ),
    )


def test_literals_are_converted() -> None:
    spatial = parse_filter("S_WITHIN(geometry, BBOX(10, 51, 9, 52))").condition
    assert isinstance(spatial, Spatial) and isinstance(spatial.left, GeometryRef)
    assert isinstance(spatial.right, Shape) and spatial.right.bbox == (9, 51, 10, 52)
    compare = parse_filter("t < DATE('2026-11-28')").condition
    assert isinstance(compare, Compare) and isinstance(compare.right, Instant)
    assert compare.right.is_date and compare.right.end == compare.right.start + END_OF_DAY
    # a string beside a TIMESTAMP is a timestamp, as cql2 reads it
    beside = parse_filter("'2026-11-28' = TIMESTAMP('2026-11-28T00:00:00Z')").condition
    assert isinstance(beside, Compare) and beside.left == beside.right
    relation = parse_filter("T_DURING(t, INTERVAL('2026-11-28', '..'))").condition
    assert isinstance(relation, Temporal)
    assert parse_filter("name LIKE 'O''Brien%'").condition == Like(Property("name"), "O'Brien%")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a = ", "not valid cql2-text"),
        ("a + 1 = 2", "arithmetic"),
        ("CASEI(a) = 'x'", "case- and accent-insensitive"),
        ("A_CONTAINS(tags, ('a'))", "array functions"),
        ("foo(a) = 1", "'foo' is not a function"),
        ("S_INTERSECTS(location, POINT(1 2))", "is not a geometry: use 'geometry'"),
        ("geometry = 'x'", "geometry can only be used"),
        ("a = NULL", "use IS NULL"),
        ("a BETWEEN 'a' AND 'c'", "BETWEEN takes numbers"),
        ("a LIKE 'x\\'", "lone escape"),
        ("t > TIMESTAMP('tomorrow')", "not a date"),
        ("t > DATE('2026-11-28T06:00:00Z')", "DATE needs a date"),
        ("t = 5 AND t > TIMESTAMP('2026-11-28T06:00:00Z')", None),
        ("5 > TIMESTAMP('2026-11-28T06:00:00Z')", "cannot be compared with a time"),
        ("S_INTERSECTS(geometry, POINT(181 0))", "outside longitude"),
        ("S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))", "not valid: Self-inter"),
        ("S_INTERSECTS(geometry, BBOX(0, 0, 1))", "BBOX takes 4"),
        ("T_AFTER(t, 5)", "is not a time"),
        ('"a""b" = 1', "cannot be used in filters"),
        ("'x'", "is not a condition"),
        ("(a = 1) = true", "cannot stand where a value is expected"),
    ],
)
def test_refusals_say_why(text: str, reason: str | None) -> None:
    if reason is None:
        parse_filter(text)  # mixing kinds across conditions is fine
    else:
        assert reason in refused(text)


def test_input_is_bounded_before_the_parser() -> None:
    assert "nested too deeply" in refused("(" * 41 + "a = 1" + ")" * 41)
    assert "nested too deeply" in refused("NOT " * 41 + "a = 1")
    assert parse_filter("(" * 39 + "a = 1" + ")" * 39)
    parse_filter("a = '" + "(" * 100 + "'")  # parentheses in strings do not count
    deep = '{"op":"not","args":[' * 41 + '{"op":"=","args":[{"property":"a"},1]}' + "]}" * 41
    assert "nested too deeply" in refused(deep, "cql2-json")
    assert "longer than" in refused("a = '" + "x" * MAX_LENGTH + "'")
    assert "is empty" in refused("  ")
    assert "not valid JSON" in refused("{", "cql2-json")
    assert "parts" in refused(" OR ".join(["a = 1"] * 700))


def test_parameters() -> None:
    assert parse_filter_parameters({"bbox": "1,2,3,4"}) is None
    assert parse_filter_parameters({"filter": "a = 1"}) is not None
    with pytest.raises(InvalidInput) as caught:
        parse_filter_parameters({"filter": "a = 1", "filter-lang": "ecql"})
    assert caught.value.field == "filter-lang"
    with pytest.raises(InvalidInput) as caught:
        parse_filter_parameters({"filter-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"})
    assert caught.value.field == "filter-crs"
    assert filter_crs(f"[{CRS84}]") == CRS84
    assert filter_crs("OGC:CRS84") == CRS84


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_any_text_is_a_filter_or_a_400(text: str) -> None:
    for language in ("cql2-text", "cql2-json"):
        try:
            parse_filter(text, language)
        except InvalidInput as exc:
            assert exc.field == "filter"


FRAGMENTS = ["a", "=", "1", "'x'", "(", ")", "AND", "NOT", "S_INTERSECTS", "POINT", ",", "geometry"]


@given(st.lists(st.sampled_from([*FRAGMENTS, "T_AFTER", "TIMESTAMP", "IN", "LIKE"]), max_size=14))
@settings(max_examples=300, deadline=None)
def test_near_misses_are_a_filter_or_a_400(parts: list[str]) -> None:
    try:
        parse_filter(" ".join(parts))
    except InvalidInput as exc:
        assert exc.field == "filter"


# --- SQL --------------------------------------------------------------------------------------


def test_the_temporal_property_is_read_from_its_columns() -> None:
    where = translate(
        parse_filter("T_AFTER(established, TIMESTAMP('2026-11-28T06:00:00Z'))"),
        rtree="r",
        temporal_property="established",
    ).where
    assert "f.t0" in where.text and "json" not in where.text


def test_a_spatial_predicate_of_the_whole_filter_drives_from_the_rtree() -> None:
    def driving(text: str) -> object:
        return translate(parse_filter(text), rtree="r", temporal_property=None).driving

    assert driving("S_INTERSECTS(geometry, BBOX(1, 2, 3, 4)) AND a = 1") == (1, 2, 3, 4)
    assert driving("S_DISJOINT(geometry, BBOX(1, 2, 3, 4))") is None
    assert driving("S_INTERSECTS(geometry, BBOX(1, 2, 3, 4)) OR a = 1") is None
    nested = translate(
        parse_filter("NOT S_WITHIN(geometry, POINT(1 2))"), rtree="r", temporal_property=None
    )
    assert nested.driving is None and "SELECT fid FROM r" in nested.where.text


def test_like_to_glob() -> None:
    assert like_to_glob("a%b_c") == "a*b?c"
    assert like_to_glob("*?[") == "[*][?][[]"
    assert like_to_glob("100\\%") == "100%"
    assert like_to_glob("\\\\") == "\\"


def test_cql2_times() -> None:
    assert cql2_seconds("2026-11-28") == cql2_seconds("2026-11-28T00:00:00Z")
    assert cql2_seconds("2026-11-28 06:17") == cql2_seconds("2026-11-28T06:17:00Z")
    assert cql2_seconds("2026-11-28T08:17:00+02:00") == cql2_seconds("2026-11-28T06:17:00Z")
    for bad in ("28.11.2026", "2026-11-28T06:17:00", "2026-13-01"):
        with pytest.raises(ValueError):
            cql2_seconds(bad if len(bad) != 19 else bad + "x")


def test_queryables_document() -> None:
    body = queryables_schema(
        "http://x/collections/c/queryables",
        "C",
        {
            "n": frozenset({"integer", "real"}),
            "s": frozenset({"text"}),
            "mixed": frozenset({"text", "true"}),
            "nothing": frozenset(),
            'bad"name': frozenset({"text"}),
            "geometry": frozenset({"object"}),
        },
        "when",
    )
    assert body["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert body["$id"] == "http://x/collections/c/queryables"
    assert body["additionalProperties"] is False
    properties = body["properties"]
    assert list(properties) == ["geometry", "mixed", "n", "nothing", "s", "when"]
    assert properties["geometry"]["format"] == "geometry-any"
    assert properties["n"]["type"] == "number"
    assert properties["mixed"]["type"] == ["boolean", "string"]
    assert "type" not in properties["nothing"]
    assert properties["when"] == {"title": "when", "type": "string", "format": "date-time"}
