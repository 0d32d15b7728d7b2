"""Checking incoming GeoJSON features (RFC 7946) before they are stored.

Each problem is reported with the JSON path of the value at fault, so an import can name the
feature and the field. Coordinates are CRS84 (longitude, latitude[, height]).
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Sequence
from typing import Any

import orjson
import shapely
import shapely.errors
from shapely.geometry import shape

from opengeomesh.errors import InvalidInput
from opengeomesh.features.models import BBox, NewFeature
from opengeomesh.features.timeval import parse_instant

GEOMETRY_DEPTH = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}
FEATURE_ID_PATTERN = re.compile(r"^[^/\\?#%\x00-\x1f\x7f]{1,256}$")
MAX_COLLECTION_MEMBERS = 10_000
MAX_POSITIONS = 1_000_000  # of one feature's geometry: more is an attack, not a map layer
MAX_INTEGER_ID = 2**63 - 1
POINT_WKB = struct.Struct("<BIdd")  # little-endian WKB Point


def parse_feature(obj: Any, *, temporal_property: str | None = None) -> NewFeature:
    """Check one GeoJSON Feature object and turn it into what the store keeps."""
    if not isinstance(obj, dict):
        raise InvalidInput("feature", "must be a JSON object")
    if obj.get("type") != "Feature":
        raise InvalidInput("type", f"must be 'Feature', not {obj.get('type')!r}")
    if "geometry" not in obj:
        raise InvalidInput("geometry", "is missing (use null for a feature without geometry)")
    feature_id, id_is_number = _feature_id(obj.get("id"))
    properties = obj.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise InvalidInput("properties", "must be a JSON object or null")
    geometry = obj["geometry"]
    geometry_json = wkb = bbox = None
    if geometry is not None:
        check_geometry(geometry, "geometry")
        wkb, bbox = _wkb_and_bbox(geometry)
        geometry_json = orjson.dumps(geometry).decode()
    t0 = t1 = None
    if temporal_property and properties and properties.get(temporal_property) is not None:
        value = properties[temporal_property]
        if not isinstance(value, str):
            raise InvalidInput(f"properties.{temporal_property}", "must be an RFC 3339 string")
        try:
            t0, t1 = parse_instant(value)
        except ValueError as exc:
            raise InvalidInput(f"properties.{temporal_property}", str(exc)) from None
    return NewFeature(
        id=feature_id,
        id_is_number=id_is_number,
        geometry_json=geometry_json,
        wkb=wkb,
        bbox=bbox,
        properties_json=None if properties is None else orjson.dumps(properties).decode(),
        t0=t0,
        t1=t1,
    )


def _feature_id(value: Any) -> tuple[str | None, bool]:
    if value is None:
        return None, False
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInput("id", "must be a string or an integer")
    if isinstance(value, int):
        if not 0 <= value <= MAX_INTEGER_ID:
            raise InvalidInput("id", f"an integer id must lie between 0 and {MAX_INTEGER_ID}")
        return str(value), True
    if not FEATURE_ID_PATTERN.match(value) or value in (".", ".."):
        raise InvalidInput(
            "id",
            "must be 1-256 characters without '/', '\\', '?', '#', '%' or control"
            " characters, and not '.' or '..'",
        )
    return value, False


def check_geometry(geometry: Any, path: str) -> None:
    """Check a GeoJSON geometry object's structure, positions and rings."""
    positions = _check_geometry(geometry, path)
    if positions > MAX_POSITIONS:
        raise InvalidInput(f"{path}.coordinates", f"more than {MAX_POSITIONS} positions")


def _check_geometry(geometry: Any, path: str) -> int:
    """Check a geometry as :func:`check_geometry` does; returns how many positions it has."""
    if not isinstance(geometry, dict):
        raise InvalidInput(path, "must be a GeoJSON geometry object or null")
    kind = geometry.get("type")
    if kind == "GeometryCollection":
        members = geometry.get("geometries")
        if not isinstance(members, list):
            raise InvalidInput(f"{path}.geometries", "must be an array")
        if len(members) > MAX_COLLECTION_MEMBERS:
            raise InvalidInput(f"{path}.geometries", "too many members")
        total = 0
        for i, member in enumerate(members):
            if isinstance(member, dict) and member.get("type") == "GeometryCollection":
                raise InvalidInput(f"{path}.geometries[{i}]", "nested collections are not allowed")
            total += _check_geometry(member, f"{path}.geometries[{i}]")
        return total
    if kind not in GEOMETRY_DEPTH:
        raise InvalidInput(f"{path}.type", f"{kind!r} is not a GeoJSON geometry type")
    coordinates = geometry.get("coordinates")
    positions = _check_nesting(coordinates, GEOMETRY_DEPTH[kind], f"{path}.coordinates")
    _check_shape(kind, coordinates, f"{path}.coordinates")
    return positions


def _check_nesting(value: Any, depth: int, path: str) -> int:
    if depth == 0:
        _check_position(value, path)
        return 1
    if not isinstance(value, list):
        raise InvalidInput(path, "must be an array")
    if depth == 1 and len(value) > MAX_POSITIONS:  # refused before a million checks
        raise InvalidInput(path, f"more than {MAX_POSITIONS} positions")
    return sum(_check_nesting(item, depth - 1, f"{path}[{i}]") for i, item in enumerate(value))


def _check_position(value: Any, path: str) -> None:
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise InvalidInput(path, "a position is an array of 2 or 3 numbers")
    for number in value:
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise InvalidInput(path, "a position holds numbers only")
        if not math.isfinite(number):
            raise InvalidInput(path, "a position holds finite numbers only")
    if not (-180 <= value[0] <= 180 and -90 <= value[1] <= 90):
        raise InvalidInput(path, f"{value[:2]} is outside longitude -180..180, latitude -90..90")


def _check_shape(kind: str, coords: Any, path: str) -> None:
    if kind == "LineString":
        _check_line(coords, path)
    elif kind == "MultiLineString":
        for i, line in enumerate(coords):
            _check_line(line, f"{path}[{i}]")
    elif kind == "Polygon":
        _check_polygon(coords, path)
    elif kind == "MultiPolygon":
        for i, polygon in enumerate(coords):
            _check_polygon(polygon, f"{path}[{i}]")


def _check_line(line: Sequence[Any], path: str) -> None:
    if len(line) < 2:
        raise InvalidInput(path, "a line needs at least 2 positions")


def _check_polygon(rings: Sequence[Any], path: str) -> None:
    if not rings:
        raise InvalidInput(path, "a polygon needs at least one ring")
    for i, ring in enumerate(rings):
        if len(ring) < 4:
            raise InvalidInput(f"{path}[{i}]", "a ring needs at least 4 positions")
        if ring[0] != ring[-1]:
            raise InvalidInput(f"{path}[{i}]", "a ring must end where it starts")


def _wkb_and_bbox(geometry: dict[str, Any]) -> tuple[bytes, BBox | None]:
    """WKB for exact tests and the bounding box; 2D points, the bulk of most layers, are
    packed directly (as the query side reads them), everything else goes through shapely.

    A geometry that is not valid (a ring crossing itself, say: accepted, since much real data
    has them) is tested in its valid form, which covers the same points: tests of the invalid
    one answer by accident of the algorithm (and PostGIS's GEOS may fail on them)."""
    coordinates = geometry["coordinates"] if geometry["type"] == "Point" else None
    if coordinates is not None and len(coordinates) == 2:
        x, y = float(coordinates[0]), float(coordinates[1])
        return POINT_WKB.pack(1, 1, x, y), (x, y, x, y)
    try:
        geom = shape(geometry)
        bbox = _bbox(geom)
        if not shapely.is_valid(geom):
            geom = shapely.make_valid(geom)
        return shapely.to_wkb(geom), bbox
    except (ValueError, TypeError, shapely.errors.GEOSException):
        raise InvalidInput(
            "geometry.coordinates",
            "the positions of one geometry must all have 2 or all have 3 numbers",
        ) from None


def _bbox(geom: Any) -> BBox | None:
    if geom.is_empty:
        return None
    minx, miny, maxx, maxy = geom.bounds
    return (minx, miny, maxx, maxy)
