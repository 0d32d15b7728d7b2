"""Coordinate reference systems: OGC API – Features Part 2, CRS by reference (OGC 18-058r1).

Features are stored in CRS84 (longitude, latitude; the Part 1 default, ``storageCrs``). A client
may ask for them in another supported CRS (``crs``, /req/crs/fc-crs-action), give a ``bbox`` in
one (``bbox-crs``, /req/crs/fc-bbox-crs-action), or send a body in one (``Content-Crs``, Part 4
with Part 2). Coordinates then follow the axis order of the CRS's authority, as Part 2 requires
(GeoJSON's lon/lat rule gives way by prior arrangement, RFC 7946 §4): EPSG:4326 is latitude
before longitude; CRS84 is longitude before latitude; the projected ones are easting before
northing.

A CRS may be named by its URI (``http://www.opengis.net/def/crs/EPSG/0/25832``, what the
collections list and what ``Content-Crs`` answers), by a safe CURIE (``[EPSG:25832]``, OGC API
– Common's short form) or by the bare ``EPSG:25832`` (what people type); case does not matter.

Transformations use PROJ through pyproj with its bundled data and the network off, so every
server computes the same numbers without fetching grids. Creating a transformer is slow, so
each pair of CRSs gets one, cached; pyproj's transformers may be shared between threads.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from pyproj import Transformer
from pyproj import network as proj_network

from opengeomesh.errors import InvalidInput
from opengeomesh.features.geojson import GEOMETRY_DEPTH
from opengeomesh.features.models import BBox, StoredFeature

EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/"
BBOX_STEP_METRES = 500.0  # densify projected bbox edges to at most this spacing
BBOX_MAX_STEPS = 2000  # points per edge at most, however large the box
BBOX_MARGIN_DEGREES = 1e-6  # about 0.1 m: covers what lies between the densified points
ROUND_TRIP = {True: 1e-9, False: 0.01}  # degrees or metres an input may move there and back


@dataclass(frozen=True, slots=True)
class Crs:
    """A supported CRS: its URI, the ``authority:code`` PROJ knows it by, and its axes."""

    uri: str
    code: str
    title: str
    geographic: bool  # degrees (kept to 1e-9, ~0.1 mm) rather than metres (kept to 1 mm)
    lat_first: bool = False  # EPSG:4326: latitude, longitude

    @property
    def is_crs84(self) -> bool:
        return self.code == "OGC:CRS84"

    @property
    def header(self) -> str:
        """The ``Content-Crs`` value: the URI in angle brackets (/req/crs/ogc-crs-header-value)."""
        return f"<{self.uri}>"

    @property
    def digits(self) -> int:
        return 9 if self.geographic else 3


CRS84 = Crs("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "OGC:CRS84", "WGS 84 (lon, lat)", True)
WGS84 = Crs(f"{EPSG_URI}4326", "EPSG:4326", "WGS 84 (lat, lon)", True, lat_first=True)
WEB_MERCATOR = Crs(f"{EPSG_URI}3857", "EPSG:3857", "WGS 84 / Pseudo-Mercator", False)
UTM32 = Crs(f"{EPSG_URI}25832", "EPSG:25832", "ETRS89 / UTM zone 32N", False)
UTM33 = Crs(f"{EPSG_URI}25833", "EPSG:25833", "ETRS89 / UTM zone 33N", False)

SUPPORTED: tuple[Crs, ...] = (CRS84, WGS84, WEB_MERCATOR, UTM32, UTM33)
SUPPORTED_URIS: list[str] = [c.uri for c in SUPPORTED]
STORAGE_CRS = CRS84  # every feature is stored in CRS84 (``storageCrs``)
DEFAULT_CRS = CRS84  # answers are in CRS84 unless ``crs`` asks otherwise (Part 1's default)

_BY_NAME: dict[str, Crs] = {
    name.lower(): crs for crs in SUPPORTED for name in (crs.uri, crs.code, f"[{crs.code}]")
}


def parse_crs(value: str, parameter: str) -> Crs:
    """The supported CRS that ``value`` names; a 400 naming ``parameter`` otherwise
    (/req/crs/fc-crs-valid-value, /req/crs/fc-bbox-crs-valid-value)."""
    found = _BY_NAME.get(value.strip().lower())
    if found is None:
        shown = value if len(value) <= 100 else value[:100] + "…"
        raise InvalidInput(
            parameter,
            f"{shown!r} is not a supported CRS; use one of {', '.join(SUPPORTED_URIS)}"
            " (or its short form, such as EPSG:25832)",
        )
    return found


def parse_content_crs(header: str | None) -> Crs:
    """The CRS of a request body from its ``Content-Crs`` header (Part 4 with Part 2): the URI
    in angle brackets as Part 2 writes it, or without them as QGIS sends it; CRS84 when the
    header is absent or empty."""
    if header is None or not header.strip():
        return CRS84
    value = header.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return parse_crs(value, "Content-Crs")


@functools.lru_cache(maxsize=32)
def _transformer(source: str, target: str) -> Transformer:
    """One transformer per pair of CRSs, each in its authority's axis order (not ``always_xy``:
    CRS84 is longitude first by definition, EPSG:4326 latitude first)."""
    proj_network.set_network_enabled(active=False)  # type: ignore[attr-defined]  # not in stubs
    return Transformer.from_crs(source, target, always_xy=False)


class _Malformed(Exception):
    """A geometry that cannot be walked; ``where`` collects the path on the way out."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.where: list[str] = []

    def at(self, where: str) -> _Malformed:
        self.where.append(where)
        return self

    def path(self, start: str) -> str:
        return start + "".join(reversed(self.where))


def _positions(geometry: Any, out: list[list[float]], *, copy: bool = False) -> Any:
    """Collect every position of a GeoJSON geometry (RFC 7946 §3.1), of any type, in order, to
    be transformed in place. Without ``copy`` the geometry is ours (just parsed) and is returned
    as it is; with ``copy`` it is the caller's, and a copy with new positions is returned. A
    ``bbox`` member, in the old CRS, is dropped."""
    if not isinstance(geometry, dict):
        raise _Malformed("must be a GeoJSON geometry object")
    kind = geometry.get("type")
    result = {k: v for k, v in geometry.items() if k != "bbox"} if copy else geometry
    result.pop("bbox", None)
    if kind == "GeometryCollection":
        members = geometry.get("geometries")
        if not isinstance(members, list):
            raise _Malformed("must be an array").at(".geometries")
        walked = []
        for i, member in enumerate(members):
            try:
                walked.append(_positions(member, out, copy=copy))
            except _Malformed as exc:
                raise exc.at(f".geometries[{i}]") from None
        result["geometries"] = walked
        return result
    depth = GEOMETRY_DEPTH.get(kind) if isinstance(kind, str) else None
    if depth is None:
        raise _Malformed(f"{kind!r} is not a GeoJSON geometry type").at(".type")
    try:
        result["coordinates"] = _nested(geometry.get("coordinates"), depth, out, copy)
    except _Malformed as exc:
        raise exc.at(".coordinates") from None
    return result


def _nested(value: Any, depth: int, out: list[list[float]], copy: bool) -> Any:
    if depth == 0:
        if (
            not isinstance(value, list)
            or not 2 <= len(value) <= 3
            or not all(type(n) is float or type(n) is int for n in value)
        ):
            raise _Malformed("a position is an array of 2 or 3 numbers")
        position = list(value) if copy else value
        out.append(position)
        return position
    if not isinstance(value, list):
        raise _Malformed("must be an array")
    items = []
    for i, item in enumerate(value):
        try:
            items.append(_nested(item, depth - 1, out, copy))
        except _Malformed as exc:
            raise exc.at(f"[{i}]") from None
    return items


def _transform(
    positions: list[list[float]], source: Crs, target: Crs, *, inputs: bool = False
) -> bool:
    """Transform positions in place (heights kept), rounded to the target's precision; False
    when one lies where the transformation is not defined. ``inputs`` (a client's coordinates)
    are also transformed back and must come out where they went in: PROJ maps some impossible
    ones (a northing of 10⁹ m in UTM) to real places."""
    if not positions:
        return True
    count = len(positions)
    try:
        xs = np.fromiter((p[0] for p in positions), dtype=np.float64, count=count)
        ys = np.fromiter((p[1] for p in positions), dtype=np.float64, count=count)
    except OverflowError:  # an integer past any float, from a request body
        return False
    tx, ty = _transformer(source.code, target.code).transform(xs, ys)
    if inputs and not _round_trips(xs, ys, tx, ty, source, target):
        return False
    digits = target.digits
    with np.errstate(over="ignore", invalid="ignore"):  # huge values round to inf: refused
        tx, ty = np.round(tx, digits), np.round(ty, digits)
    if not (np.isfinite(tx).all() and np.isfinite(ty).all()):
        return False
    for position, x, y in zip(positions, tx.tolist(), ty.tolist(), strict=True):
        position[0] = x
        position[1] = y
    return True


def _round_trips(
    xs: Any, ys: Any, tx: Any, ty: Any, source: Crs, target: Crs, *, y_only: bool = False
) -> bool:
    """Whether ``tx, ty`` (in target) transform back to ``xs, ys`` (in source)."""
    bx, by = _transformer(target.code, source.code).transform(tx, ty)
    tolerance = ROUND_TRIP[source.geographic]
    with np.errstate(invalid="ignore"):  # NaN and inf compare False: not a round trip
        same_y = np.abs(np.asarray(by) - ys) <= tolerance
        same_x = True if y_only else np.abs(np.asarray(bx) - xs) <= tolerance
        return bool(np.all(same_y) and np.all(same_x))


def features_in(features: Sequence[StoredFeature], crs: Crs) -> list[StoredFeature]:
    """The features with their (CRS84) geometries in ``crs``, for ``crs=`` on items and on a
    single item (/req/crs/fc-crs-action). CRS84 returns them untouched: nothing is parsed on
    the default path. All positions of a page go through PROJ at once."""
    if crs.is_crs84:
        return list(features)
    geometries = [orjson.loads(f.geometry_json) if f.geometry_json else None for f in features]
    positions: list[list[float]] = []
    for geometry in geometries:
        if geometry is not None:
            _positions(geometry, positions)
    if not _transform(positions, CRS84, crs):
        raise InvalidInput(
            "crs", f"some features lie where {crs.code} cannot represent them; ask for another CRS"
        )
    return [
        f if g is None else _with_geometry(f, orjson.dumps(g).decode())
        for f, g in zip(features, geometries, strict=True)
    ]


def _with_geometry(feature: StoredFeature, geometry_json: str) -> StoredFeature:
    """The feature with another geometry; written out, as ``dataclasses.replace`` took half the
    time of a 10,000-feature page (tests/unit/test_crs.py checks that no field is left out)."""
    return StoredFeature(
        id=feature.id,
        id_is_number=feature.id_is_number,
        geometry_json=geometry_json,
        properties_json=feature.properties_json,
        version=feature.version,
        key=feature.key,
    )


def to_crs84(geometry: Any, crs: Crs, path: str = "geometry") -> Any:
    """A request body's GeoJSON geometry given in ``crs`` (its ``Content-Crs``) as CRS84, the
    storage CRS; the caller's object is left as it was. Positions must be arrays of 2 or 3
    numbers in any geometry type; ``geojson.parse_feature`` checks the result as it checks
    every CRS84 geometry. Errors name the JSON path below ``path``."""
    if crs.is_crs84 or geometry is None:
        return geometry
    positions: list[list[float]] = []
    try:
        copied = _positions(geometry, positions, copy=True)
    except _Malformed as exc:
        raise InvalidInput(exc.path(path), exc.reason) from None
    if not _transform(positions, crs, CRS84, inputs=True):
        raise InvalidInput(path, f"has positions outside the area where {crs.code} is defined")
    return copied


def box_to_crs84(box: BBox, crs: Crs) -> BBox:
    """A ``bbox`` given in ``bbox-crs`` (lower corner, upper corner, in the CRS's axis order;
    /req/crs/fc-bbox-crs-action) as CRS84 west, south, east, north. West is east of east when
    the box crosses the antimeridian; the caller checks the ranges.

    A projected box is curved in CRS84, so its edges are densified (at most every 500 m) and
    the CRS84 box is the envelope of them all, with a margin of about 0.1 m: it covers the
    asked area, and may match a little more near the corners, never less."""
    if crs.is_crs84:
        return box
    if crs.lat_first:
        south, west, north, east = box
        return west, south, east, north
    x0, y0, x1, y1 = box
    if x0 > x1 or y0 > y1:
        raise InvalidInput("bbox", "in a projected bbox-crs the lower corner comes first")
    steps = max(x1 - x0, y1 - y0) / BBOX_STEP_METRES
    points = int(min(max(math.ceil(steps), 21), BBOX_MAX_STEPS))
    bounds = _transformer(crs.code, CRS84.code).transform_bounds(x0, y0, x1, y1, densify_pts=points)
    xs, ys = np.array([x0, x1, x0, x1]), np.array([y0, y0, y1, y1])
    lons, lats = _transformer(crs.code, CRS84.code).transform(xs, ys)
    # northings only: an easting past Web Mercator's edge wraps round the antimeridian, as meant
    if not all(math.isfinite(v) for v in bounds) or not _round_trips(
        xs, ys, lons, lats, crs, CRS84, y_only=True
    ):
        raise InvalidInput("bbox", f"lies outside the area where {crs.code} is defined")
    west, south, east, north = bounds
    margin = BBOX_MARGIN_DEGREES
    return (
        max(west - margin, -180.0),
        max(south - margin, -90.0),
        min(east + margin, 180.0),
        min(north + margin, 90.0),
    )
