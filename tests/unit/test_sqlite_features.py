"""The SQLite feature store against a plain Python oracle: paging sees every feature once,
bbox answers are exact (R*Tree candidates confirmed with shapely), time filters are right."""

import io
import random

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box, shape

from opengeomesh.config import load_settings
from opengeomesh.features.query import Cursor, ItemsQuery, parse_bbox
from opengeomesh.services import Services, open_services


def random_features(count: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    features: list[dict[str, object]] = []
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


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    services: Services = open_services(
        load_settings({"data_dir": tmp_path_factory.mktemp("s")}, environ={})
    )
    services.accounts.add_user("alice")
    alice = services.accounts.caller_for_user("alice")
    services.catalog.create(alice, "mixed", temporal_property="t")
    features = random_features(800, seed=4)
    body = b"\n".join(orjson.dumps(f) for f in features)
    services.catalog.import_features(alice, "mixed", io.BytesIO(body))
    yield services, alice, features
    services.close()


def fetch_all(services, alice, **options):  # type: ignore[no-untyped-def]
    """Follow next cursors from the first page; returns ids in order."""
    ids: list[str] = []
    cursor = None
    for _ in range(1000):
        query = ItemsQuery(limit=37, cursor=cursor, **options)
        _, page = services.catalog.items(alice, "mixed", query)
        ids += [f.id for f in page.features]
        if page.next_cursor is None:
            return ids, page
        cursor = Cursor.decode(page.next_cursor)
    raise AssertionError("paging did not end")


def test_paging_forwards_and_backwards(store) -> None:  # type: ignore[no-untyped-def]
    services, alice, features = store
    ids, last = fetch_all(services, alice)
    assert ids == [f["id"] for f in features]
    back: list[str] = []
    cursor = Cursor.decode(last.prev_cursor)
    while cursor is not None:
        _, page = services.catalog.items(alice, "mixed", ItemsQuery(limit=37, cursor=cursor))
        back = [f.id for f in page.features] + back
        cursor = Cursor.decode(page.prev_cursor) if page.prev_cursor else None
    assert back + [f.id for f in last.features] == ids


def test_offset_pages(store) -> None:  # type: ignore[no-untyped-def]
    services, alice, features = store
    _, page = services.catalog.items(alice, "mixed", ItemsQuery(limit=10, offset=795))
    assert [f.id for f in page.features] == [f["id"] for f in features[795:]]
    assert page.prev_offset == 785 and page.next_cursor is None


coordinate = st.floats(min_value=-12, max_value=12, allow_nan=False)
latitude = st.floats(min_value=38, max_value=52, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(coordinate, latitude, st.floats(0, 8), st.floats(0, 5))
def test_bbox_is_exact(store, west, south, width, height) -> None:  # type: ignore[no-untyped-def]
    services, alice, features = store
    area = (west, south, min(west + width, 180), min(south + height, 90))
    expected = [
        f["id"]
        for f in features
        if f["geometry"] is not None and shape(f["geometry"]).intersects(box(*area))
    ]
    ids, page = fetch_all(services, alice, bboxes=parse_bbox(",".join(map(repr, area))))
    assert ids == expected
    assert page.number_matched == len(expected)


def test_antimeridian_box(tmp_path) -> None:  # type: ignore[no-untyped-def]
    services = open_services(load_settings({"data_dir": tmp_path}, environ={}))
    services.accounts.add_user("alice")
    alice = services.accounts.caller_for_user("alice")
    services.catalog.create(alice, "pacific")
    points = [(179.5, 0), (-179.5, 0), (0, 0)]
    body = orjson.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "id": i,
                    "geometry": {"type": "Point", "coordinates": list(p)},
                    "properties": {},
                }
                for i, p in enumerate(points)
            ],
        }
    )
    services.catalog.import_features(alice, "pacific", io.BytesIO(body))
    query = ItemsQuery(limit=10, bboxes=parse_bbox("179,-1,-179,1"))
    _, page = services.catalog.items(alice, "pacific", query)
    assert sorted(f.id for f in page.features) == ["0", "1"]
    services.close()


def test_datetime_interval(store) -> None:  # type: ignore[no-untyped-def]
    services, alice, features = store
    from opengeomesh.features.timeval import parse_interval

    ids, _ = fetch_all(services, alice, interval=parse_interval("2026-02-03/2026-02-04"))
    expected = [
        f["id"] for f in features if f["properties"]["t"][:10] in ("2026-02-03", "2026-02-04")
    ]
    assert ids == expected and len(expected) > 0
    ids, _ = fetch_all(services, alice, interval=parse_interval("2026-02-27T00:00:00Z/.."))
    assert ids == [f["id"] for f in features if f["properties"]["t"][:10] >= "2026-02-27"]


def test_extent_covers_all(store) -> None:  # type: ignore[no-untyped-def]
    services, alice, features = store
    found = services.catalog.get(alice, "mixed")[0]
    shapes = [shape(f["geometry"]) for f in features if f["geometry"]]
    minx = min(s.bounds[0] for s in shapes)
    maxy = max(s.bounds[3] for s in shapes)
    assert found.bbox[0] == pytest.approx(minx) and found.bbox[3] == pytest.approx(maxy)
    start, end = found.interval
    assert start.isoformat().startswith("2026-02-01") and end.isoformat().startswith("2026-02-28")
