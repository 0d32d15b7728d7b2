"""A real pygeoapi, in its own virtual environment under ``tests/.cache`` (kept between runs,
also in CI), serving a small GeoJSON dataset on a loopback port: the upstream of the gateway
tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

VERSION = "0.21.*"
CACHE = Path(__file__).resolve().parents[1] / ".cache"
VENV = CACHE / "pygeoapi-venv"
READY = VENV / f".installed-{VERSION.replace('*', 'x')}"

HYDRANTS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": str(n),
            "geometry": {"type": "Point", "coordinates": [9.9 + n / 100, 51.5 + n / 200]},
            "properties": {"name": f"Hydrant {n}", "kind": "pillar" if n % 2 else "underground"},
        }
        for n in range(1, 8)
    ],
}

CONFIG = """\
server:
  bind: {{host: 127.0.0.1, port: {port}}}
  url: http://127.0.0.1:{port}
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  languages: [en-US]
  limits: {{default_items: 10, max_items: 1000}}
  map: {{url: 'https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png', attribution: OSM}}
logging: {{level: ERROR}}
metadata:
  identification:
    title: Musterstadt's own OGC API
    description: pygeoapi as the upstream of OpenGeoMesh
    keywords: [test]
    keywords_type: theme
    terms_of_service: https://example.org
    url: https://example.org
  license: {{name: CC-BY 4.0, url: 'https://creativecommons.org/licenses/by/4.0/'}}
  provider: {{name: Test, url: 'https://example.org'}}
  contact: {{name: Test, email: test@example.org, url: 'https://example.org'}}
resources:
  hydrants:
    type: collection
    title: Hydrants of Musterstadt
    description: Fire hydrants, served by pygeoapi
    keywords: [hydrants]
    extents:
      spatial: {{bbox: [9.0, 51.0, 11.0, 52.0], crs: 'http://www.opengis.net/def/crs/OGC/1.3/CRS84'}}
    providers:
      - type: feature
        name: GeoJSON
        data: {data}
        id_field: id
"""


def ensure_pygeoapi() -> Path:
    """The ``pygeoapi`` command of the cached virtual environment, made once (pip from PyPI)."""
    command = VENV / "bin" / "pygeoapi"
    if READY.exists() and command.exists():
        return command
    shutil.rmtree(VENV, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(VENV / "bin" / "pip"), "install", "-q", f"pygeoapi=={VERSION}"],
        check=True,
        timeout=900,
    )
    READY.touch()
    return command


@dataclass
class Pygeoapi:
    url: str
    data: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_pygeoapi(directory: Path, port: int) -> Pygeoapi:
    """pygeoapi's own ``serve`` (Flask) on ``port``, once it answers ``/conformance``."""
    command = ensure_pygeoapi()
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / "hydrants.geojson"
    data.write_bytes(orjson.dumps(HYDRANTS))
    config = directory / "pygeoapi.yml"
    config.write_text(CONFIG.format(port=port, data=data))
    openapi = directory / "openapi.yml"
    env = {**os.environ, "PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
    subprocess.run(
        [str(command), "openapi", "generate", str(config), "--output-file", str(openapi)],
        check=True,
        env=env,
        capture_output=True,
    )
    log = (directory / "pygeoapi.log").open("wb")
    process = subprocess.Popen(
        [str(command), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=directory
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/conformance?f=json", timeout=2).status_code == 200:
                return Pygeoapi(url=url, data=data, process=process)
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"pygeoapi did not start: {(directory / 'pygeoapi.log').read_text()}")
