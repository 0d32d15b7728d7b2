"""Incoming features are checked; each problem names the field at fault."""

import pytest

from opengeomesh.errors import InvalidInput
from opengeomesh.features.geojson import parse_feature


def feature(geometry: object, **extra: object) -> dict[str, object]:
    return {"type": "Feature", "geometry": geometry, "properties": {}, **extra}


def test_point_kept_as_compact_json() -> None:
    parsed = parse_feature(feature({"type": "Point", "coordinates": [7.5, 50.25]}, id=12))
    assert parsed.id == "12" and parsed.id_is_number
    assert parsed.geometry_json == '{"type":"Point","coordinates":[7.5,50.25]}'
    assert parsed.bbox == (7.5, 50.25, 7.5, 50.25)
    assert parsed.wkb is not None and len(parsed.wkb) == 21


def test_null_geometry_and_properties() -> None:
    parsed = parse_feature({"type": "Feature", "geometry": None, "properties": None, "id": "a"})
    assert parsed.geometry_json is None and parsed.properties_json is None and parsed.bbox is None


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ([], "feature"),
        ({"type": "Point"}, "type"),
        ({"type": "Feature", "properties": {}}, "geometry"),
        (feature(None, properties=[1]), "properties"),
        (feature(None, id=True), "id"),
        (feature(None, id=1.5), "id"),
        (feature(None, id="a/b"), "id"),
        (feature(None, id="../etc"), "id"),
        (feature({"type": "Circle"}), "geometry.type"),
        (feature({"type": "Point", "coordinates": [1]}), "geometry.coordinates"),
        (feature({"type": "Point", "coordinates": [1, "2"]}), "geometry.coordinates"),
        (feature({"type": "Point", "coordinates": [1, 95]}), "geometry.coordinates"),
        (feature({"type": "Point", "coordinates": [1e400, 5]}), "geometry.coordinates"),
        (feature({"type": "LineString", "coordinates": [[1, 2]]}), "geometry.coordinates"),
        (
            feature({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}),
            "geometry.coordinates[0]",
        ),
        (
            feature({"type": "GeometryCollection", "geometries": [{"type": "Point"}]}),
            "geometry.geometries[0].coordinates",
        ),
    ],
)
def test_refusals_name_the_field(obj: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_feature(obj)
    assert caught.value.field == field


def test_time_property() -> None:
    timed = feature(None, properties={"t": "2026-11-28T06:00:00Z"})
    parsed = parse_feature(timed, temporal_property="t")
    assert parsed.t0 == parsed.t1 == pytest.approx(1795845600)
    with pytest.raises(InvalidInput) as caught:
        parse_feature(feature(None, properties={"t": "soon"}), temporal_property="t")
    assert caught.value.field == "properties.t"
