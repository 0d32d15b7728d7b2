"""CRS by reference (OGC API – Features Part 2): names, axis order, round trips, bbox
densification and every bad value refused with the name of its parameter."""

import dataclasses
import math
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyproj import Transformer

from opengeomesh.errors import InvalidInput
from opengeomesh.features.crs import (
    CRS84,
    SUPPORTED,
    UTM32,
    UTM33,
    WEB_MERCATOR,
    WGS84,
    Crs,
    box_to_crs84,
    features_in,
    parse_content_crs,
    parse_crs,
    to_crs84,
)
from opengeomesh.features.models import StoredFeature
from opengeomesh.features.query import parse_bbox, parse_items_query

TOWN = (9.935, 51.534)


def stored(geometry: Any, fid: str = "f") -> StoredFeature:
    text = None if geometry is None else orjson.dumps(geometry).decode()
    return StoredFeature(fid, False, text, '{"a":1}', 1, 1)


def geometry_in(geometry: Any, crs: Crs) -> Any:
    (feature,) = features_in([stored(geometry)], crs)
    return None if feature.geometry_json is None else orjson.loads(feature.geometry_json)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", CRS84),
        ("OGC:CRS84", CRS84),
        ("[OGC:CRS84]", CRS84),
        ("http://www.opengis.net/def/crs/EPSG/0/4326", WGS84),
        ("EPSG:3857", WEB_MERCATOR),
        ("[EPSG:25832]", UTM32),
        ("epsg:25833", UTM33),
        (" HTTP://WWW.OPENGIS.NET/def/crs/EPSG/0/25832 ", UTM32),
    ],
)
def test_names_of_a_crs(value: str, expected: Crs) -> None:
    assert parse_crs(value, "crs") == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "EPSG:4258",  # ETRS89 geographic: a real CRS, not one offered
        "EPSG:25832x",
        "http://www.opengis.net/def/crs/EPSG/0/99999",
        "http://www.opengis.net/def/crs/EPSG/9.9/25832",
        "<http://www.opengis.net/def/crs/EPSG/0/25832>",  # brackets belong to the header only
        "+proj=utm +zone=32",
        "x" * 5000,
    ],
)
def test_unsupported_crs_names_the_parameter(value: str) -> None:
    for parameter in ("crs", "bbox-crs"):
        with pytest.raises(InvalidInput) as caught:
            parse_crs(value, parameter)
        assert caught.value.field == parameter
        assert UTM32.uri in caught.value.reason and len(caught.value.reason) < 700


def test_content_crs_with_and_without_angle_brackets() -> None:
    assert parse_content_crs(f"<{UTM32.uri}>") == UTM32
    assert parse_content_crs(UTM32.uri) == UTM32  # as QGIS sends it
    assert parse_content_crs(" <EPSG:4326> ") == WGS84
    assert parse_content_crs(None) == CRS84 and parse_content_crs("") == CRS84
    with pytest.raises(InvalidInput) as caught:
        parse_content_crs("<http://www.opengis.net/def/crs/EPSG/0/31467>")
    assert caught.value.field == "Content-Crs"
    assert UTM32.header == f"<{UTM32.uri}>"


def test_crs84_output_is_not_touched() -> None:
    features = [stored({"type": "Point", "coordinates": [9.1234567891234, 51.0]})]
    assert features_in(features, CRS84)[0] is features[0]


def test_axis_order_follows_the_authority() -> None:
    point = {"type": "Point", "coordinates": list(TOWN)}
    assert geometry_in(point, WGS84)["coordinates"] == [TOWN[1], TOWN[0]]  # lat, lon
    easting, northing = geometry_in(point, UTM32)["coordinates"]
    assert 500_000 < easting < 600_000 and 5_700_000 < northing < 5_720_000
    x, y = geometry_in(point, WEB_MERCATOR)["coordinates"]
    assert x == pytest.approx(1105959.141, abs=1e-3) and y > 6_000_000


@pytest.mark.parametrize("code", ["EPSG:4326", "EPSG:3857", "EPSG:25832", "EPSG:25833"])
def test_same_numbers_as_pyproj_on_its_own(code: str) -> None:
    """The reference: pyproj with traditional lon/lat input, compared axis by axis."""
    crs = parse_crs(code, "crs")
    reference = Transformer.from_crs("EPSG:4326", code, always_xy=True)
    lon, lat = TOWN
    x, y = reference.transform(lon, lat)
    got = geometry_in({"type": "Point", "coordinates": [lon, lat]}, crs)["coordinates"]
    if crs is WGS84:
        assert got == [lat, lon]
    else:
        assert got == [round(x, 3), round(y, 3)]


def test_every_geometry_type_with_heights_kept() -> None:
    ring = [[9.9, 51.5], [9.95, 51.5], [9.95, 51.55], [9.9, 51.5]]
    collection = {
        "type": "GeometryCollection",
        "geometries": [
            {"type": "Point", "coordinates": [9.9, 51.5, 123.4]},
            {"type": "MultiPoint", "coordinates": [[9.9, 51.5], [10.0, 51.6]]},
            {"type": "LineString", "coordinates": [[9.9, 51.5], [10.0, 51.6]]},
            {"type": "MultiLineString", "coordinates": [[[9.9, 51.5], [10.0, 51.6]]]},
            {"type": "Polygon", "coordinates": [ring]},
            {"type": "MultiPolygon", "coordinates": [[ring], [ring]]},
        ],
    }
    swapped = geometry_in(collection, WGS84)
    assert swapped["geometries"][0]["coordinates"] == [51.5, 9.9, 123.4]
    assert swapped["geometries"][5]["coordinates"][1][0][2] == [51.55, 9.95]
    projected = geometry_in(collection, UTM32)
    assert projected["geometries"][0]["coordinates"][2] == 123.4
    polygon = projected["geometries"][4]["coordinates"][0]
    assert polygon[0] == polygon[-1] and len(polygon) == 4
    assert geometry_in(None, UTM32) is None
    back = to_crs84(projected, UTM32)
    assert np.allclose(_flat(back), _flat(collection), atol=1e-8)


def _flat(value: Any) -> list[float]:
    """Every number of a geometry, in order."""
    if isinstance(value, dict):
        return _flat(value["geometries"] if "geometries" in value else value["coordinates"])
    if isinstance(value, list):
        return [n for item in value for n in _flat(item)]
    return [float(value)]


def test_precision_is_a_millimetre_or_a_nanodegree() -> None:
    point = {"type": "Point", "coordinates": [9.123456789123, 51.987654321987]}
    for value in geometry_in(point, UTM33)["coordinates"]:
        assert round(value, 3) == value
    assert geometry_in(point, WGS84)["coordinates"] == [51.987654322, 9.123456789]


@given(
    lon=st.floats(min_value=5.5, max_value=15.5),
    lat=st.floats(min_value=47.0, max_value=55.1),
    crs=st.sampled_from(SUPPORTED),
)
def test_round_trip_over_germany(lon: float, lat: float, crs: Crs) -> None:
    there = geometry_in({"type": "Point", "coordinates": [lon, lat]}, crs)
    back = to_crs84(there, crs)["coordinates"]
    # a millimetre (projected) or a nanodegree (geographic) of rounding, nothing more
    assert back[0] == pytest.approx(lon, abs=1e-7) and back[1] == pytest.approx(lat, abs=1e-7)


def test_to_crs84_leaves_the_body_alone() -> None:
    body = {"type": "Point", "coordinates": [564851.961, 5709624.763]}
    result = to_crs84(body, UTM32)
    assert body["coordinates"] == [564851.961, 5709624.763]
    assert result["coordinates"] == pytest.approx(list(TOWN), abs=1e-8)
    assert to_crs84(body, CRS84) is body and to_crs84(None, UTM32) is None


def test_shared_positions_and_bbox_members() -> None:
    """A ring built in Python may close with the very list it opened with: it is transformed
    once. A geometry's ``bbox`` member is in the old CRS: it goes."""
    start = [564851.961, 5709624.763]
    ring = [start, [565851.961, 5709624.763], [565851.961, 5710624.763], start]
    body = {"type": "Polygon", "coordinates": [ring], "bbox": [1, 2, 3, 4]}
    result = to_crs84(body, UTM32)
    first, *_, last = result["coordinates"][0]
    assert first == last == pytest.approx(list(TOWN), abs=1e-8)
    assert "bbox" not in result and body["bbox"] == [1, 2, 3, 4]
    assert ring[0] is start and start == [564851.961, 5709624.763]
    served = geometry_in({"type": "Point", "coordinates": list(TOWN), "bbox": [0, 0, 1, 1]}, UTM32)
    assert "bbox" not in served


@pytest.mark.parametrize(
    ("geometry", "path"),
    [
        ("POINT (1 2)", "geometry"),
        ({"type": "Curve", "coordinates": [1, 2]}, "geometry.type"),
        ({"type": "Point", "coordinates": [1]}, "geometry.coordinates"),
        ({"type": "Point", "coordinates": ["1", 2]}, "geometry.coordinates"),
        ({"type": "Point", "coordinates": [True, 2]}, "geometry.coordinates"),
        ({"type": "LineString", "coordinates": [[1, 2], [3]]}, "geometry.coordinates[1]"),
        ({"type": "Polygon", "coordinates": [[[1, 2]], 5]}, "geometry.coordinates[1]"),
        ({"type": "GeometryCollection", "geometries": 5}, "geometry.geometries"),
        (
            {
                "type": "GeometryCollection",
                "geometries": [
                    {"type": "Point", "coordinates": [1, 2]},
                    {"type": "MultiPoint", "coordinates": [[1, 2], [3, None]]},
                ],
            },
            "geometry.geometries[1].coordinates[1]",
        ),
        ({"type": "Point", "coordinates": [math.nan, 5_700_000]}, "geometry"),
        ({"type": "Point", "coordinates": [1e12, 1e12]}, "geometry"),
        # PROJ would wrap these to real places (66°N 160°W, 2°N 9°E): they do not come back
        ({"type": "Point", "coordinates": [0, 1.7e308]}, "geometry"),
        ({"type": "Point", "coordinates": [500_000, 1e9]}, "geometry"),
        ({"type": "Point", "coordinates": [10**400, 5_700_000]}, "geometry"),
    ],
)
def test_bad_body_geometries_name_where(geometry: Any, path: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        to_crs84(geometry, UTM32)
    assert caught.value.field == path


def test_output_where_the_crs_cannot_reach_is_400_on_crs() -> None:
    far = {"type": "Point", "coordinates": [99.0, 0.0]}  # 90° from UTM 32's meridian
    with pytest.raises(InvalidInput) as caught:
        features_in([stored(far)], UTM32)
    assert caught.value.field == "crs"


def test_bbox_in_epsg_4326_is_lat_lon() -> None:
    assert box_to_crs84((51.5, 9.9, 51.6, 10.0), WGS84) == (9.9, 51.5, 10.0, 51.6)
    assert parse_bbox("51.5,9.9,51.6,10.0", WGS84) == ((9.9, 51.5, 10.0, 51.6),)
    crossing = parse_bbox("-10,170,10,-170", WGS84)
    assert crossing == ((170, -10, 180, 10), (-180, -10, -170, 10))
    with pytest.raises(InvalidInput) as caught:
        parse_bbox("95,9.9,96,10.0", WGS84)  # latitude 95
    assert caught.value.field == "bbox"


def test_projected_bbox_is_densified_to_cover_the_area() -> None:
    """A UTM box across the zone's central meridian (9°E): the top edge is highest in the
    middle, so the corners alone would cut off a strip; the densified box holds every point
    of every edge."""
    x0, y0, x1, y1 = 400_000.0, 5_600_000.0, 600_000.0, 5_800_000.0
    west, south, east, north = box_to_crs84((x0, y0, x1, y1), UTM32)
    inverse = Transformer.from_crs("EPSG:25832", "OGC:CRS84", always_xy=False)
    corners = inverse.transform([x0, x1, x0, x1], [y0, y0, y1, y1])
    assert north > max(corners[1]) + 1e-3  # corners alone would miss > 100 m
    steps = np.linspace(0.0, 1.0, 4001)
    xs = np.concatenate([x0 + (x1 - x0) * steps] * 2 + [np.full(steps.size, x) for x in (x0, x1)])
    ys = np.concatenate([np.full(steps.size, y) for y in (y0, y1)] + [y0 + (y1 - y0) * steps] * 2)
    lons, lats = inverse.transform(xs, ys)
    assert west <= lons.min() and lons.max() <= east
    assert south <= lats.min() and lats.max() <= north
    assert north - lats.max() < 1e-5 and lons.min() - west < 1e-5  # tight: about a metre


def test_projected_bbox_across_the_antimeridian_is_split() -> None:
    boxes = parse_bbox("19900000,-1000000,20100000,1000000", WEB_MERCATOR)
    assert len(boxes) == 2
    assert boxes[0][2] == 180.0 and boxes[1][0] == -180.0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"crs": "EPSG:4258"}, "crs"),
        ({"crs": ""}, "crs"),
        ({"bbox-crs": "EPSG:31467", "bbox": "1,2,3,4"}, "bbox-crs"),
        ({"bbox-crs": "nonsense"}, "bbox-crs"),  # checked even without a bbox
        ({"bbox-crs": "EPSG:25832", "bbox": "600000,5700000,500000,5800000"}, "bbox"),
        ({"bbox-crs": "EPSG:25832", "bbox": "1e12,1e12,2e12,2e12"}, "bbox"),
        ({"bbox-crs": "EPSG:25832", "bbox": "inf,0,1,1"}, "bbox"),
        ({"bbox-crs": "EPSG:25832", "bbox": "400000,5000000,600000,1e9"}, "bbox"),
        ({"bbox-crs": "EPSG:25832", "bbox": "1.5e7,5700000,1.6e7,5800000"}, "bbox"),
        ({"bbox-crs": "EPSG:4326", "bbox": "95,9.9,96,10"}, "bbox"),
    ],
)
def test_bad_items_parameters(params: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_items_query(params, default_limit=10, max_limit=100)
    assert caught.value.field == field


def test_items_query_carries_the_crs_and_a_crs84_bbox() -> None:
    query = parse_items_query(
        {"crs": "EPSG:25832", "bbox-crs": "EPSG:4326", "bbox": "51.5,9.9,51.6,10.0"},
        default_limit=10,
        max_limit=100,
    )
    assert query.crs is UTM32 and query.bboxes == ((9.9, 51.5, 10.0, 51.6),)
    assert parse_items_query({}, default_limit=10, max_limit=100).crs is CRS84


def test_a_transformed_feature_keeps_every_other_field() -> None:
    """crs._with_geometry copies the fields one by one (for speed): a new field of
    StoredFeature must be added there too, and here."""
    names = {f.name for f in dataclasses.fields(StoredFeature)}
    assert names == {"id", "id_is_number", "geometry_json", "properties_json", "version", "key"}
    feature = StoredFeature("7", True, '{"type":"Point","coordinates":[9.9,51.5]}', "{}", 3, 4)
    (moved,) = features_in([feature], UTM32)
    assert moved.geometry_json != feature.geometry_json
    assert dataclasses.replace(moved, geometry_json=feature.geometry_json) == feature
