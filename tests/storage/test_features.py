"""The feature store against a plain Python oracle, on both databases: paging sees every feature
once (cursors both ways, offset), bbox answers are exact, time filters are right, counts follow
the numberMatched rules, and what was written is read back byte for byte."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import box, shape

from opengeomesh.features.query import Cursor, ItemsQuery, parse_bbox
from opengeomesh.features.timeval import parse_interval
from tests.storage.layers import DATABASES, Layers, layers_on, opened, point


def random_features(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    features: list[dict[str, Any]] = []
    for n in range(count):
        x, y = rng.uniform(-10, 10), rng.uniform(40, 50)
        kind = n % 4
        if kind == 0:
            geometry: object = {"type": "Point", "coordinates": [x, y]}
        elif kind == 1:
            geometry = {"type": "LineString", "coordinates": [[x, y], [x + 1.5, y - 1.5]]}
        elif kind == 2:
            ring = [[x, y], [x + 2, y], [x + 2, y + 0.3], [x, y]]
            geometry = {"type": "Polygon", "coordinates": [ring]}
        else:
            geometry = None
        day = 1 + n % 28
        features.append(
            {
                "type": "Feature",
                "id": f"f{n}",
                "geometry": geometry,
                "properties": {"t": f"2026-02-{day:02d}T12:00:00Z"},
            }
        )
    return features


FEATURES = random_features(800, seed=4)


@pytest.fixture(scope="module", params=DATABASES)
def mixed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Layers]:
    """800 points, lines, polygons and features without geometry in 'mixed' (time: 't')."""
    with opened(request.param, tmp_path_factory.mktemp("features")) as stores:
        layers = layers_on(stores)
        layers.create("mixed", FEATURES, temporal_property="t")
        yield layers


def fetch_all(layers: Layers, **options: Any) -> tuple[list[str], Any]:
    """Follow next cursors from the first page; returns ids in order and the last page."""
    ids: list[str] = []
    cursor = None
    for _ in range(1000):
        query = ItemsQuery(limit=37, cursor=cursor, **options)
        _, page = layers.catalog.items(layers.owner, "mixed", query)
        ids += [f.id for f in page.features]
        if page.next_cursor is None:
            return ids, page
        cursor = Cursor.decode(page.next_cursor)
    raise AssertionError("paging did not end")


def test_paging_forwards_and_backwards(mixed: Layers) -> None:
    ids, last = fetch_all(mixed)
    assert ids == [f["id"] for f in FEATURES]
    back: list[str] = []
    cursor: Cursor | None = Cursor.decode(last.prev_cursor)
    while cursor is not None:
        _, page = mixed.catalog.items(mixed.owner, "mixed", ItemsQuery(limit=37, cursor=cursor))
        back = [f.id for f in page.features] + back
        cursor = Cursor.decode(page.prev_cursor) if page.prev_cursor else None
    assert back + [f.id for f in last.features] == ids


def test_offset_pages(mixed: Layers) -> None:
    _, page = mixed.catalog.items(mixed.owner, "mixed", ItemsQuery(limit=10, offset=795))
    assert [f.id for f in page.features] == [f["id"] for f in FEATURES[795:]]
    assert page.prev_offset == 785 and page.next_cursor is None
    assert page.number_matched == 800
    _, page = mixed.catalog.items(mixed.owner, "mixed", ItemsQuery(limit=10, offset=10))
    assert [f.id for f in page.features] == [f["id"] for f in FEATURES[10:20]]
    assert page.prev_offset == 0 and page.next_cursor is not None
    _, page = mixed.catalog.items(mixed.owner, "mixed", ItemsQuery(limit=10, offset=900))
    assert page.features == [] and page.number_matched == 800


def test_number_matched_rules(mixed: Layers) -> None:
    """The collection's count unfiltered; a count of the matches filtered, up to the limit
    (None beyond); a last page counts itself."""
    catalog, owner = mixed.catalog, mixed.owner
    assert catalog.items(owner, "mixed", ItemsQuery(limit=5))[1].number_matched == 800
    day = parse_interval("2026-02-03")
    expected = sum(1 for f in FEATURES if f["properties"]["t"].startswith("2026-02-03"))
    assert catalog.items(owner, "mixed", ItemsQuery(limit=5, interval=day))[1].number_matched == (
        expected
    )
    limited = type(catalog)(
        mixed.stores.collections, mixed.stores.features, catalog._accounts, count_limit=10
    )
    assert limited.items(owner, "mixed", ItemsQuery(limit=5, interval=day))[1].number_matched is (
        None
    )
    last = limited.items(owner, "mixed", ItemsQuery(limit=100, interval=day))[1]
    assert last.number_matched == expected and last.next_cursor is None


coordinate = st.floats(min_value=-12, max_value=12, allow_nan=False)
latitude = st.floats(min_value=38, max_value=52, allow_nan=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(coordinate, latitude, st.floats(0, 8), st.floats(0, 5))
def test_bbox_is_exact(
    mixed: Layers, west: float, south: float, width: float, height: float
) -> None:
    area = (west, south, min(west + width, 180), min(south + height, 90))
    expected = [
        f["id"]
        for f in FEATURES
        if f["geometry"] is not None and shape(f["geometry"]).intersects(box(*area))
    ]
    ids, page = fetch_all(mixed, bboxes=parse_bbox(",".join(map(repr, area))))
    assert ids == expected
    assert page.number_matched == len(expected)


def test_flat_boxes_meet_what_their_edges_meet(mixed: Layers) -> None:
    """A box without width or height is a line or a point: it meets what crosses it."""
    target = FEATURES[1]["geometry"]["coordinates"]  # a line
    (x1, y1), (x2, y2) = target
    middle = ((x1 + x2) / 2, (y1 + y2) / 2)
    for area in (
        (middle[0], middle[1] - 0.01, middle[0], middle[1] + 0.01),
        (middle[0] - 0.01, middle[1], middle[0] + 0.01, middle[1]),
    ):
        ids, _ = fetch_all(mixed, bboxes=parse_bbox(",".join(map(repr, area))))
        assert "f1" in ids
    x, y = FEATURES[0]["geometry"]["coordinates"]
    ids, _ = fetch_all(mixed, bboxes=parse_bbox(f"{x!r},{y!r},{x!r},{y!r}"))
    assert "f0" in ids


def test_datetime_interval(mixed: Layers) -> None:
    ids, _ = fetch_all(mixed, interval=parse_interval("2026-02-03/2026-02-04"))
    expected = [
        f["id"] for f in FEATURES if f["properties"]["t"][:10] in ("2026-02-03", "2026-02-04")
    ]
    assert ids == expected and len(expected) > 0
    ids, _ = fetch_all(mixed, interval=parse_interval("2026-02-27T00:00:00Z/.."))
    assert ids == [f["id"] for f in FEATURES if f["properties"]["t"][:10] >= "2026-02-27"]
    ids, _ = fetch_all(mixed, interval=parse_interval("../2026-02-01T12:00:00Z"))
    assert ids == [f["id"] for f in FEATURES if f["properties"]["t"][:10] == "2026-02-01"]


def test_bbox_and_datetime_together(mixed: Layers) -> None:
    area = (-5.0, 42.0, 5.0, 48.0)
    ids, page = fetch_all(
        mixed, bboxes=parse_bbox("-5,42,5,48"), interval=parse_interval("2026-02-10/..")
    )
    expected = [
        f["id"]
        for f in FEATURES
        if f["geometry"] is not None
        and shape(f["geometry"]).intersects(box(*area))
        and f["properties"]["t"][:10] >= "2026-02-10"
    ]
    assert ids == expected and page.number_matched == len(expected)


def test_extent_covers_all(mixed: Layers) -> None:
    found = mixed.collection("mixed")
    shapes = [shape(f["geometry"]) for f in FEATURES if f["geometry"]]
    assert found.bbox is not None and found.interval is not None
    assert found.bbox[0] == pytest.approx(min(s.bounds[0] for s in shapes))
    assert found.bbox[1] == pytest.approx(min(s.bounds[1] for s in shapes))
    assert found.bbox[2] == pytest.approx(max(s.bounds[2] for s in shapes))
    assert found.bbox[3] == pytest.approx(max(s.bounds[3] for s in shapes))
    start, end = found.interval
    assert start is not None and end is not None
    assert start.isoformat().startswith("2026-02-01") and end.isoformat().startswith("2026-02-28")
    assert found.feature_count == 800


def test_scan_and_get(mixed: Layers) -> None:
    scanned = list(mixed.stores.features.scan(mixed.collection("mixed")))
    assert [f.id for f in scanned] == [f["id"] for f in FEATURES]
    assert [f.key for f in scanned] == sorted(f.key for f in scanned)
    one = mixed.stores.features.get(mixed.collection("mixed"), "f5")
    assert one is not None and one.id == "f5" and one.key == scanned[5].key
    assert mixed.stores.features.get(mixed.collection("mixed"), "nope") is None


def test_antimeridian_box(stores_layers: Layers) -> None:
    points = [point(i, x, 0) for i, x in enumerate((179.5, -179.5, 0))]
    stores_layers.create("pacific", points)
    assert sorted(stores_layers.ids("pacific", {"bbox": "179,-1,-179,1"})) == ["0", "1"]


def test_written_text_is_read_back_as_written(stores_layers: Layers) -> None:
    """Geometry and properties come back as the same text on both databases: members in
    their order, numbers as written, heights kept; ids numeric or not."""
    features = [
        {
            "type": "Feature",
            "id": 7,
            "geometry": {"type": "Point", "coordinates": [9.5, 51.25, 120.0]},
            "properties": {"z": 1, "a": 2.0, "m": 1e20, "text": "tab\there \\ \u00e9 \u2603"},
        },
        {
            "type": "Feature",
            "id": "seven",
            "geometry": {
                "type": "GeometryCollection",
                "geometries": [{"type": "Point", "coordinates": [1, 2]}],
            },
            "properties": None,
        },
        {"type": "Feature", "geometry": None, "properties": {"nested": {"b": [1, None]}}},
    ]
    collection = stores_layers.create("text", features)
    stored = list(stores_layers.stores.features.scan(collection))
    for written, back in zip(features, stored, strict=True):
        assert back.geometry_json == (
            None if written["geometry"] is None else orjson.dumps(written["geometry"]).decode()
        )
        assert back.properties_json == (
            None if written["properties"] is None else orjson.dumps(written["properties"]).decode()
        )
    assert [(f.id, f.id_is_number) for f in stored[:2]] == [("7", True), ("seven", False)]
    assert len(stored[2].id) == 32 and not stored[2].id_is_number  # made up


def test_property_types(stores_layers: Layers) -> None:
    features = [
        point(1, 0, 0, n=1, r=2.0, s="x", b=True, a=[1], o={"k": 1}, none=None),
        point(2, 0, 0, n=1.5, b=False, e=1e20),
    ]
    collection = stores_layers.create("typed", features)
    types = stores_layers.stores.features.property_types(collection)
    assert types == {
        "n": frozenset({"integer", "real"}),
        "r": frozenset({"real"}),
        "s": frozenset({"text"}),
        "b": frozenset({"true", "false"}),
        "a": frozenset({"array"}),
        "o": frozenset({"object"}),
        "none": frozenset(),
        "e": frozenset({"real"}),
    }
    assert stores_layers.stores.features.has_property(collection, "none")
    assert not stores_layers.stores.features.has_property(collection, "k")
    assert not stores_layers.stores.features.has_property(collection, 'bad"name')
