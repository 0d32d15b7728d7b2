"""GDAL's OAPIF driver (through pyogrio, GDAL >= 3.9) reads a protected layer with a bearer."""

import re

import pyogrio
import pytest
from pyogrio.raw import read

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
