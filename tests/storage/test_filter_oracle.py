"""The server's filter results equal ``cql2``'s own ``Expr.matches`` (the reference evaluator)
on random features and random CQL2 expressions, in cql2-json and cql2-text, on both databases.

Values are drawn so that the evaluator is defined on them: times are valid, geometries lie on a
small integer grid (so GEOS and the ``geo`` crate agree), property names do not clash with the
members of a GeoJSON feature (which ``cql2`` resolves first). A bare property as a condition is
drawn only for the boolean property: ``cql2`` reads the strings 'true'/'false' as truth values
inside AND/OR but not alone, which this server does not copy; and two properties are compared
only where they hold no lists (``cql2`` compares lists element by element, this server does not
declare property-property comparisons and reads lists as unknown there).

``OGM_ORACLE_EXAMPLES`` sets the number of examples per database (1,000 by default, about 15 s
on SQLite and 40 s on PostgreSQL).
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Iterator
from typing import Any

import cql2
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opengeomesh.features.query import parse_items_query
from tests.storage.layers import DATABASES, Layers, layers_on, opened

NUMBERS = st.sampled_from([0, 1, 2, -3, 1.5, 2.0, 100, 1e20])
TEXTS = st.sampled_from(["", "a", "ab", "abc", "Ab", "b%c", "a_c", "x*y", "[z]", "é", "a\\b", "2"])
DAYS = ["2026-11-27", "2026-11-28", "2026-11-29"]
CLOCKS = ["00:00:00Z", "06:17:00Z", "23:59:59Z", "08:00:00+02:00"]
STAMPS = st.builds(lambda d, c: f"{d}T{c}", st.sampled_from(DAYS), st.sampled_from(CLOCKS))
TIMES = st.one_of(st.sampled_from(DAYS), STAMPS)
MISSING = object()

NUMERIC = ["n", "m"]
ANY_KIND = ["n", "m", "s", "b", "x", "t", "when"]
SCALARS = ["n", "m", "s", "b", "t", "when"]
TIMED = ["t", "when"]  # "when" is the collection's temporal property (t0/t1 columns)


def value_of(kinds: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(kinds, st.just(None), st.just(MISSING))


def grid() -> st.SearchStrategy[int]:
    return st.integers(0, 4)


@st.composite
def boxes(draw: st.DrawFn) -> tuple[int, int, int, int]:
    x1, x2 = sorted(draw(st.lists(grid(), min_size=2, max_size=2, unique=True)))
    y1, y2 = sorted(draw(st.lists(grid(), min_size=2, max_size=2, unique=True)))
    return x1, y1, x2, y2


def polygon(b: tuple[int, int, int, int]) -> dict[str, Any]:
    x1, y1, x2, y2 = b
    ring = [[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]
    return {"type": "Polygon", "coordinates": [ring]}


POINTS = st.builds(lambda x, y: {"type": "Point", "coordinates": [x, y]}, grid(), grid())
LINES = st.builds(
    lambda a, b: {"type": "LineString", "coordinates": [a, b]},
    st.tuples(grid(), grid()).map(list),
    st.tuples(grid(), grid()).map(list),
).filter(lambda g: g["coordinates"][0] != g["coordinates"][1])
GEOMETRIES = st.one_of(POINTS, LINES, boxes().map(polygon))


@st.composite
def features(draw: st.DrawFn) -> list[dict[str, Any]]:
    kinds = {
        "n": value_of(NUMBERS),
        "m": value_of(st.one_of(NUMBERS, TEXTS)),
        "s": value_of(TEXTS),
        "b": value_of(st.booleans()),
        "x": value_of(st.one_of(NUMBERS, TEXTS, st.booleans(), st.lists(NUMBERS, max_size=2))),
        "t": value_of(TIMES),
        "when": value_of(TIMES),
    }
    anchor = {"n": 1, "m": 1, "s": "a", "b": True, "x": 1, "t": DAYS[0], "when": DAYS[0]}
    found = [{"type": "Feature", "id": "anchor", "geometry": None, "properties": anchor}]
    for number in range(draw(st.integers(1, 12))):
        properties = {name: draw(kind) for name, kind in kinds.items()}
        kept = {k: v for k, v in properties.items() if v is not MISSING}
        geometry = draw(st.one_of(st.none(), GEOMETRIES))
        found.append(
            {"type": "Feature", "id": f"f{number}", "geometry": geometry, "properties": kept}
        )
    return found


def prop(names: list[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.sampled_from(names).map(lambda n: {"property": n})


LITERALS = st.one_of(NUMBERS, TEXTS, st.booleans())
INSTANTS = st.one_of(
    STAMPS.map(lambda s: {"timestamp": s}),
    st.sampled_from(DAYS).map(lambda d: {"date": d}),
)
BOUNDS = st.one_of(st.sampled_from(DAYS), STAMPS, st.just(".."), prop(["t", "when"]))
INTERVALS = st.lists(BOUNDS, min_size=2, max_size=2).map(lambda b: {"interval": b})
PATTERNS = st.lists(
    st.sampled_from(["a", "b", "c", "%", "_", "\\%", "\\_", "\\\\", "*", "[", "é", "A"]),
    max_size=4,
).map("".join)
SPATIAL_OPS = ["s_intersects", "s_equals", "s_disjoint", "s_touches"]
SPATIAL_OPS += ["s_within", "s_overlaps", "s_crosses", "s_contains"]
TEMPORAL_OPS = ["t_after", "t_before", "t_contains", "t_disjoint", "t_during", "t_equals"]
TEMPORAL_OPS += ["t_finishedBy", "t_finishes", "t_intersects", "t_meets", "t_metBy"]
TEMPORAL_OPS += ["t_overlappedBy", "t_overlaps", "t_startedBy", "t_starts"]
COMPARE_OPS = st.sampled_from(["=", "<>", "<", "<=", ">", ">="])


def either_order(a: Any, b: Any) -> st.SearchStrategy[list[Any]]:
    return st.sampled_from([[a, b], [b, a]])


def op(name: str, args: list[Any]) -> dict[str, Any]:
    return {"op": name, "args": args}


@st.composite
def predicates(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 10))
    if kind == 0:
        if draw(st.booleans()):
            args = draw(either_order(draw(prop(ANY_KIND)), draw(LITERALS)))
        else:  # two lists compare as lists in cql2, not here: leave out "x"
            args = [draw(prop(SCALARS)), draw(prop(SCALARS))]
        return op(draw(COMPARE_OPS), args)
    if kind == 1:
        args = draw(either_order(draw(prop(TIMED)), draw(INSTANTS)))
        return op(draw(COMPARE_OPS), args)
    if kind == 2:
        return op("like", [draw(prop(["s", "x", "m"])), draw(PATTERNS)])
    if kind == 3:
        low, high = draw(NUMBERS), draw(NUMBERS)
        return op("between", [draw(prop(ANY_KIND)), low, high])
    if kind == 4:
        return op("in", [draw(prop(ANY_KIND)), draw(st.lists(LITERALS, min_size=1, max_size=3))])
    if kind == 5:
        return op("isNull", [draw(prop([*ANY_KIND, "geometry"]))])
    if kind == 6:
        return draw(st.one_of(st.booleans(), st.just({"property": "b"})))
    if kind in (7, 8):
        literal = draw(st.one_of(GEOMETRIES, boxes().map(lambda b: {"bbox": list(b)})))
        args = draw(either_order({"property": "geometry"}, literal))
        return op(draw(st.sampled_from(SPATIAL_OPS)), args)
    other = draw(st.one_of(INSTANTS, INTERVALS, prop(TIMED)))
    args = draw(either_order(draw(st.one_of(prop(TIMED), INTERVALS)), other))
    return op(draw(st.sampled_from(TEMPORAL_OPS)), args)


EXPRESSIONS = st.recursive(
    predicates(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda a: op("and", a)),
        st.lists(inner, min_size=2, max_size=3).map(lambda a: op("or", a)),
        inner.map(lambda a: op("not", [a])),
    ),
    max_leaves=5,
)


def expected(expression: dict[str, Any] | bool, found: list[dict[str, Any]]) -> set[str]:
    """The ids ``cql2`` selects; an expression it cannot reduce to true or false (unknown, in
    three-valued logic) does not select a feature."""
    parsed = cql2.Expr(expression)
    chosen = set()
    for feature in found:
        try:
            if parsed.matches(feature):
                chosen.add(feature["id"])
        except Exception as exc:
            assert "Could not reduce" in str(exc), (feature, exc)
    return chosen


@pytest.fixture(scope="module", params=DATABASES)
def oracle_layers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Layers]:
    with opened(request.param, tmp_path_factory.mktemp("oracle")) as stores:
        yield layers_on(stores)


NUMBERING = itertools.count()


@settings(
    max_examples=int(os.environ.get("OGM_ORACLE_EXAMPLES", "1000")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    found=features(), expressions=st.lists(EXPRESSIONS, min_size=1, max_size=4), text=st.booleans()
)
def test_results_equal_cql2_matches(
    oracle_layers: Layers, found: list[dict[str, Any]], expressions: list[Any], text: bool
) -> None:
    catalog = oracle_layers.catalog
    alice = oracle_layers.owner
    collection_id = f"c{next(NUMBERING)}"
    catalog.create(alice, collection_id, temporal_property="when")
    body = orjson.dumps({"type": "FeatureCollection", "features": found})
    catalog.import_features(alice, collection_id, io.BytesIO(body))
    for expression in expressions:
        if text:
            params = {"filter": cql2.Expr(expression).to_text()}
        else:
            params = {"filter": orjson.dumps(expression).decode(), "filter-lang": "cql2-json"}
        query = parse_items_query({**params, "limit": "100"}, default_limit=100, max_limit=100)
        _, page = catalog.items(alice, collection_id, query)
        got = {feature.id for feature in page.features}
        assert got == expected(expression, found), params["filter"]
        assert page.number_matched == len(got)
    catalog.delete(alice, collection_id)
