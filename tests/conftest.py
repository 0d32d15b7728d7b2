"""Shared fixtures: services on a fresh database (SQLite; PostgreSQL, a fresh schema, when
``OGM_TEST_DATABASE=postgresql``), the in-process app, a real server."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import orjson
import pytest

from opengeomesh import samples
from opengeomesh.accounts.tokens import token_hash
from opengeomesh.app import serving_app
from opengeomesh.config import load_settings
from opengeomesh.services import Services, open_services
from tests.postgres import fresh_database_url

BIN = Path(sys.executable).parent


@dataclass
class World:
    """A server with users, a group, collections and tokens, as most tests need."""

    services: Services
    tokens: dict[str, str]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def populate(services: Services, hydrant_count: int = 250) -> World:
    """alice owns 'hydrants' (private) and 'sectors' (public, timed); the control-room group
    (bob) may read hydrants; carol has no grant; root is an operator."""
    accounts = services.accounts
    for name in ("alice", "bob", "carol"):
        accounts.add_user(name)
    accounts.add_user("root", admin=True)
    accounts.add_group("control-room")
    accounts.add_member("control-room", "bob")
    alice = accounts.caller_for_user("alice")
    catalog = services.catalog
    catalog.create(alice, "hydrants", title="Fire hydrants", description="Hydrants of the town")
    catalog.import_features(
        alice, "hydrants", io.BytesIO(orjson.dumps(samples.hydrants(hydrant_count)))
    )
    catalog.create(
        alice, "sectors", title="Incident sectors", public=True, temporal_property="established"
    )
    catalog.import_features(alice, "sectors", io.BytesIO(orjson.dumps(samples.incident_sectors())))
    catalog.grant(alice, "hydrants", "group:control-room", "read")
    tokens = {n: accounts.create_token(n).secret for n in ("alice", "bob", "carol", "root")}
    return World(services=services, tokens=tokens)


@contextmanager
def fresh_services(data_dir: Path, **settings: Any) -> Iterator[Services]:
    """Services on a new database: SQLite in ``data_dir``, or a fresh PostgreSQL schema when
    ``OGM_TEST_DATABASE=postgresql`` (keys and files still live in ``data_dir``)."""
    values: dict[str, Any] = {"data_dir": data_dir, **settings}
    with ExitStack() as stack:
        if os.environ.get("OGM_TEST_DATABASE", "sqlite") == "postgresql":
            values["database_url"] = stack.enter_context(fresh_database_url())
        opened = open_services(load_settings(values, environ={}))
        stack.callback(opened.close)
        yield opened


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    with fresh_services(tmp_path / "data") as opened:
        yield opened


@pytest.fixture
def world(services: Services) -> World:
    return populate(services)


class InProcessClient:
    """Blocking calls into the app through ``httpx.ASGITransport``: no sockets, real HTTP."""

    def __init__(self, app: Any, base_url: str) -> None:
        self._portal_context = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_context.__enter__()
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=base_url)

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        return self._portal.call(partial(self._client.request, method, url, **options))

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.request("POST", url, **options)

    def put(self, url: str, **options: Any) -> httpx.Response:
        return self.request("PUT", url, **options)

    def patch(self, url: str, **options: Any) -> httpx.Response:
        return self.request("PATCH", url, **options)

    def delete(self, url: str, **options: Any) -> httpx.Response:
        return self.request("DELETE", url, **options)

    def head(self, url: str, **options: Any) -> httpx.Response:
        return self.request("HEAD", url, **options)

    def close(self) -> None:
        self._portal.call(self._client.aclose)
        self._portal_context.__exit__(None, None, None)


@pytest.fixture
def client(world: World) -> Iterator[InProcessClient]:
    app = serving_app(world.services.settings, world.services)  # as `serve` runs it
    test_client = InProcessClient(app, "http://ogm.test")
    yield test_client
    test_client.close()


@contextmanager
def open_trust_world(data_dir: Path, **settings: Any) -> Iterator[tuple[World, InProcessClient]]:
    """A populated server that trusts any peer (``trust_mode = "open"``), its app in process
    as ``serve`` runs it."""
    values: dict[str, Any] = {"data_dir": data_dir, "trust_mode": "open", **settings}
    services = open_services(load_settings(values, environ={}))
    world = populate(services)
    client = InProcessClient(serving_app(services.settings, services), "http://ogm.test")
    try:
        yield world, client
    finally:
        client.close()
        services.close()


def share_hydrants(client: InProcessClient, world: World, token: str, seconds: float) -> int:
    """alice shares 'hydrants' with bob@leitstelle.invalid, as the operator's rule allows, and
    the share gets the access token ``token`` for ``seconds``; returns the share's id."""
    rule = "/manage/collections/hydrants/sharing-rules/leitstelle.invalid"
    assert client.put(rule, headers=world.auth("root"), json={"permission": "read"}).is_success
    made = client.post(
        "/manage/shares",
        headers=world.auth("alice"),
        json={"collection": "hydrants", "share_with": "bob@leitstelle.invalid"},
    )
    assert made.status_code == 201, made.text
    share_id = int(made.json()["id"])
    shares = world.services.stores.shares
    assert shares.add_token(share_id, token_hash(token), time.time() + seconds)
    return share_id


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str, data: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real ``opengeomesh`` command."""
    return subprocess.run(
        [str(BIN / "opengeomesh"), *args, "--data", str(data)],
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


@dataclass
class Server:
    """A running ``opengeomesh serve`` process; its output goes to ``log``."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class LiveServer:
    url: str
    data: Path
    server: Server
    token: str


def start_server(data: Path, *extra: str, port: int | None = None) -> Server:
    """Start ``opengeomesh serve`` on a loopback port (a free one by default) and wait until it
    answers."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OGM_")}
    data.parent.mkdir(parents=True, exist_ok=True)
    log = data.parent / f"server-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                str(BIN / "opengeomesh"),
                "serve",
                "--data",
                str(data),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *extra,
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = Server(url=url, process=process, log=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {server.output()}")
        try:
            if httpx.get(url + "/", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not answer within 30 s: {server.output()}")


def command_line(pid: int) -> str | None:
    """A process's command line (Linux ``/proc``), or None once it has ended."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8")
    except OSError:
        return None


def child_processes(pid: int) -> dict[int, str]:
    """The processes ``pid`` started, with their command lines: for ``serve --workers N``,
    the workers (and multiprocessing's resource tracker)."""
    found: dict[int, str] = {}
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in map(int, listing.read_text().split()):
            command = command_line(child)
            if command is not None:
                found[child] = command
    return found


def stop_server(server: Server) -> None:
    """Stop the server; workers it left behind (it should not) are killed too."""
    children = child_processes(server.process.pid)
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)
    for pid, command in children.items():
        if command_line(pid) == command:  # still running (and not a new process on its pid)
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real server process on loopback, prepared through the real CLI: alice owns a private
    'hydrants' layer of 1,234 features, more than one page for every client."""
    data = tmp_path_factory.mktemp("live") / "data"
    source = data.parent / "hydrants.geojson"
    source.write_bytes(orjson.dumps(samples.hydrants(1234)))
    cli("user", "add", "alice", data=data)
    token = cli("token", "create", "alice", data=data).stdout.strip()
    cli(
        "collection",
        "import",
        "hydrants",
        str(source),
        "--create",
        "--user",
        "alice",
        "--title",
        "Fire hydrants",
        data=data,
    )
    server = start_server(data)
    yield LiveServer(url=server.url, data=data, server=server, token=token)
    stop_server(server)


@contextmanager
def gdal_env(**values: str) -> Iterator[None]:
    """GDAL reads its HTTP options from the environment; set them for one block only."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
