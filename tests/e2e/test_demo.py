"""``opengeomesh demo`` as a user runs it: two real servers, the invite and share flows between
them, and what it prints works: bob's token reads alice's hydrants through the control room's
mounted layer, with httpx and with GDAL. Ctrl-C stops everything."""

import os
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyogrio
import pytest
from pyogrio.raw import read

from tests.conftest import BIN, free_port

RUNNING = "Demo running: press Ctrl-C to stop both servers."
GDAL_LINE = re.compile(
    r"^\s*GDAL_HTTP_AUTH=BEARER GDAL_HTTP_BEARER=(?P<token>\S+) ogrinfo -ro -so"
    r' "OAPIF:(?P<url>[^"]+)" (?P<layer>\S+)$'
)
MOUNT = re.compile(r"^\s+(ocm-\d+)\s+(.+?)\s+(read|write)\s+(http://\S+)$")


@dataclass
class Demo:
    """A running ``opengeomesh demo`` whose standard output is read line by line."""

    process: subprocess.Popen[str]
    directory: Path
    port_a: int
    port_b: int
    lines: list[str] = field(default_factory=list)
    running: threading.Event = field(default_factory=threading.Event)

    def read_output(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.strip() == RUNNING:
                self.running.set()

    def output(self) -> str:
        errors = self.directory / "demo.err"
        return "\n".join(self.lines) + "\n--- stderr ---\n" + errors.read_text(errors="replace")

    def section(self, heading: str) -> list[str]:
        """The lines under a heading line of the summary, up to the next blank line."""
        start = self.lines.index(heading) + 1
        end = self.lines.index("", start)
        return self.lines[start:end]


def run_demo(directory: Path, *args: str, stdout: Any = subprocess.PIPE) -> subprocess.Popen[str]:
    directory.mkdir(parents=True, exist_ok=True)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OGM_")}
    with (directory / "demo.err").open("w") as errors:
        return subprocess.Popen(
            [str(BIN / "opengeomesh"), "demo", "--dir", str(directory), *args],
            stdout=stdout,
            stderr=errors,
            text=True,
            env=environment,
        )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    directory = tmp_path_factory.mktemp("demo")
    port_a, port_b = free_port(), free_port()
    while port_b == port_a:
        port_b = free_port()
    process = run_demo(directory, "--port-a", str(port_a), "--port-b", str(port_b))
    started = Demo(process, directory, port_a, port_b)
    threading.Thread(target=started.read_output, daemon=True).start()
    try:
        if not started.running.wait(90):
            pytest.fail(f"the demo did not get running within 90 s:\n{started.output()}")
        yield started
    finally:
        if process.poll() is None:  # a test failed before stopping it: stop it all the same
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def value(lines: list[str], label: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in lines if line.strip().startswith(label))


def all_features(url: str, token: str) -> list[dict[str, Any]]:
    """Every feature of a collection, page after page along the next links."""
    headers = {"Authorization": f"Bearer {token}"}
    features: list[dict[str, Any]] = []
    page_url: str | None = f"{url}/items?limit=100"
    while page_url is not None:
        response = httpx.get(page_url, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["numberMatched"] == 500
        features += page["features"]
        page_url = next((k["href"] for k in page["links"] if k["rel"] == "next"), None)
    return features


def by_id(features: list[dict[str, Any]]) -> dict[Any, tuple[Any, Any]]:
    return {f["id"]: (f["geometry"], f["properties"]) for f in features}


def test_the_summary_names_both_servers(demo: Demo) -> None:
    fire_brigade = demo.section("Fire Brigade Musterstadt")
    control_room = demo.section("Control Room North")
    assert value(fire_brigade, "URL:") == f"http://127.0.0.1:{demo.port_a}"
    assert value(control_room, "URL:") == f"http://127.0.0.1:{demo.port_b}"
    assert value(fire_brigade, "token:").startswith("ogm_")
    assert value(control_room, "token:").startswith("ogm_")
    shares = [line.strip() for line in fire_brigade if "→" in line]
    assert shares == [
        f"hydrants → bob@127.0.0.1:{demo.port_b} (user), read, accepted",
        f"incident-sectors → control-room@127.0.0.1:{demo.port_b} (group), read, accepted",
        f"vehicles → bob@127.0.0.1:{demo.port_b} (user), write, accepted",
    ]
    mounted = {m.group(2): m.group(1) for m in map(MOUNT.match, control_room) if m}
    assert set(mounted) == {"Fire hydrants", "Incident sectors", "Vehicles"}
    assert (demo.directory / "fire-brigade.log").is_file()


def test_bob_reads_alices_hydrants_through_the_control_room(demo: Demo) -> None:
    bob = value(demo.section("Control Room North"), "token:")
    alice = value(demo.section("Fire Brigade Musterstadt"), "token:")
    rows = [m for m in map(MOUNT.match, demo.lines) if m and m.group(2) == "Fire hydrants"]
    assert len(rows) == 1
    mount_id, url = rows[0].group(1), rows[0].group(4)
    assert url == f"http://127.0.0.1:{demo.port_b}/collections/{mount_id}"
    assert httpx.get(f"{url}/items").status_code == 401  # the mounted layer is bob's only
    through_b = all_features(url, bob)
    at_a = all_features(f"http://127.0.0.1:{demo.port_a}/collections/hydrants", alice)
    assert len(through_b) == len(at_a) == 500
    assert sorted(f["id"] for f in through_b) == list(range(1, 501))
    assert by_id(through_b) == by_id(at_a)


def test_the_gdal_line_works(demo: Demo) -> None:
    found = [m for m in map(GDAL_LINE.match, demo.lines) if m]
    assert len(found) == 1, demo.output()
    token, url, layer = found[0].group("token", "url", "layer")
    assert token == value(demo.section("Control Room North"), "token:")
    pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": token})
    try:
        info = pyogrio.read_info(f"OAPIF:{url}", layer=layer)
        meta, _, geometry, fields = read(f"OAPIF:{url}", layer=layer)
    finally:
        pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": None, "GDAL_HTTP_BEARER": None})
    assert info["geometry_type"] == "Point"
    assert len(geometry) == 500
    assert {"kind", "diameter_mm", "flow_l_min"} <= set(meta["fields"])
    kinds = fields[list(meta["fields"]).index("kind")]
    assert set(kinds) == {"underground", "pillar", "wall"}


def test_ctrl_c_stops_both_servers(demo: Demo) -> None:
    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(timeout=20) == 0, demo.output()
    for port in (demo.port_a, demo.port_b):
        with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
            probe.connect(("127.0.0.1", port))
    stderr = (demo.directory / "demo.err").read_text()
    assert "Stopped the server of Fire Brigade Musterstadt" in stderr
    assert "Stopped the server of Control Room North" in stderr
    for log in ("fire-brigade.log", "control-room.log"):
        assert "Application shutdown complete." in (demo.directory / log).read_text()


def test_other_data_is_never_deleted(tmp_path: Path) -> None:
    precious = tmp_path / "control-room" / "opengeomesh.sqlite"
    precious.parent.mkdir(parents=True)
    precious.write_text("not the demo's")
    process = run_demo(tmp_path, "--port-a", str(free_port()), "--no-keep-running")
    stdout, _ = process.communicate(timeout=60)
    stderr = (tmp_path / "demo.err").read_text()
    assert process.returncode == 2, stdout + stderr
    assert "not deleting it" in stderr and str(precious.parent) in stderr
    assert precious.read_text() == "not the demo's"
    assert not (tmp_path / "fire-brigade").exists()


def test_a_taken_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        other = str(free_port())
        process = run_demo(tmp_path, "--port-a", other, "--port-b", str(port), "--no-keep-running")
        stdout, _ = process.communicate(timeout=60)
    stderr = (tmp_path / "demo.err").read_text()
    assert process.returncode == 2, stdout + stderr
    assert f"port {port}" in stderr and "--port-b" in stderr
    assert not (tmp_path / "fire-brigade").exists()
