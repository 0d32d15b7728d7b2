"""GDAL's OAPIF driver (through pyogrio, GDAL >= 3.9) reads a protected layer with a bearer, also
in another CRS (Part 2)."""

import re

import pyogrio
import pytest
import shapely
from pyogrio.raw import read
from pyproj import Transformer

from opengeomesh import samples
from tests.conftest import LiveServer, gdal_env


def test_gdal_reads_every_feature_with_a_bearer(live_server: LiveServer) -> None:
    source = f"OAPIF:{live_server.url}/collections/hydrants"
    with gdal_env(GDAL_HTTP_AUTH="BEARER", GDAL_HTTP_BEARER=live_server.token):
        meta, _, geometry, fields = read(source, layer="hydrants")
    assert len(geometry) == 1234  # over twelve pages of the default 100
    assert {"kind", "diameter_mm", "flow_l_min"} <= set(meta["fields"])
    kinds = fields[list(meta["fields"]).index("kind")]
    assert set(kinds) == {"underground", "pillar", "wall"}


def test_gdal_bbox_is_answered_by_the_server(live_server: LiveServer) -> None:
    area = (9.93, 51.52, 9.95, 51.54)
    source = f"OAPIF:{live_server.url}/collections/hydrants"
    with gdal_env(GDAL_HTTP_AUTH="BEARER", GDAL_HTTP_BEARER=live_server.token):
        _, _, geometry, _ = read(source, bbox=area)
    inside = [
        f
        for f in samples.hydrants(1234)["features"]
        if area[0] <= f["geometry"]["coordinates"][0] <= area[2]
        and area[1] <= f["geometry"]["coordinates"][1] <= area[3]
    ]
    assert len(geometry) == len(inside) > 0
    assert re.search(r"items\?\S*bbox=9\.9299\d*,51\.5200\d*,", live_server.server.output())


def test_gdal_without_the_token_fails(live_server: LiveServer) -> None:
    source = f"OAPIF:{live_server.url}/collections/hydrants"
    with pytest.raises(pyogrio.errors.DataSourceError):
        read(source)


def test_gdal_reads_in_utm_32_as_pyproj_transforms(live_server: LiveServer) -> None:
    """Part 2: GDAL asks for EPSG:25832 (crs=…/EPSG/0/25832, its CRS open option) and gets the
    coordinates pyproj computes from the stored CRS84 ones, to the millimetre."""
    source = f"OAPIF:{live_server.url}/collections/hydrants"
    with gdal_env(GDAL_HTTP_AUTH="BEARER", GDAL_HTTP_BEARER=live_server.token):
        meta, fids, geometry, _ = read(source, CRS="EPSG:25832", return_fids=True)
    assert meta["crs"] == "EPSG:25832"
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True)
    originals = {f["id"]: f["geometry"]["coordinates"] for f in samples.hydrants(1234)["features"]}
    assert sorted(fids) == sorted(originals)
    for fid, wkb in zip(fids, geometry, strict=True):
        point = shapely.from_wkb(wkb)
        x, y = to_utm.transform(*originals[fid])
        assert abs(point.x - x) <= 0.001 and abs(point.y - y) <= 0.001
    assert "crs=http://www.opengis.net/def/crs/EPSG/0/25832" in live_server.server.output()


def test_gdal_filters_with_a_utm_box(live_server: LiveServer) -> None:
    box = (562_000.0, 5_708_000.0, 566_000.0, 5_712_000.0)
    source = f"OAPIF:{live_server.url}/collections/hydrants"
    with gdal_env(GDAL_HTTP_AUTH="BEARER", GDAL_HTTP_BEARER=live_server.token):
        _, _, geometry, _ = read(source, CRS="EPSG:25832", bbox=box)
    points = [shapely.from_wkb(g) for g in geometry]
    assert points and all(box[0] <= p.x <= box[2] and box[1] <= p.y <= box[3] for p in points)
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True)
    inside = [
        f
        for f in samples.hydrants(1234)["features"]
        if shapely.box(*box).covers(shapely.Point(to_utm.transform(*f["geometry"]["coordinates"])))
    ]
    assert len(points) == len(inside)
    assert "bbox-crs=http://www.opengis.net/def/crs/EPSG/0/25832" in live_server.server.output()
