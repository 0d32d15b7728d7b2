"""``opengeomesh demo``: two federated servers on loopback, a fire brigade and a control room,
with sample situation-map layers shared from one to the other through OCM, ready for GIS clients.

Each run starts afresh in ``DIR/fire-brigade`` and ``DIR/control-room``: the demo sets both up
through the domain services, starts the two servers as child processes, runs the invite and share
flows between them and prints how to reach the mounted layers. Ctrl-C stops both servers.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, TypeVar

import httpx
import orjson
import typer

from opengeomesh import samples
from opengeomesh.cli import app, err, out
from opengeomesh.config import CONFIG_FILE, load_settings
from opengeomesh.errors import OpenGeoMeshError
from opengeomesh.ocm.models import ReceivedShare, ReceivedState, SentShare, ShareState
from opengeomesh.services import Services, open_services

MARK = "# Written by `opengeomesh demo`: each run of the demo deletes this directory.\n"
RUNNING = "Demo running: press Ctrl-C to stop both servers."
READY_SECONDS = 30.0  # a server must answer within this
STOP_SECONDS = 10.0  # a server that has not stopped by then is killed
SETTLE_SECONDS = 15.0  # the longest wait for a share or an acceptance to arrive
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)

# (collection id, title, description, temporal property, features) of the fire brigade
LAYERS: tuple[tuple[str, str, str, str | None, Callable[[], dict[str, Any]]], ...] = (
    ("hydrants", "Fire hydrants", "Hydrants of Musterstadt", None, lambda: samples.hydrants(500)),
    (
        "incident-sectors",
        "Incident sectors",
        "Sectors of the current incident",
        "established",
        samples.incident_sectors,
    ),
    ("vehicles", "Vehicles", "Emergency vehicles and their status", None, samples.vehicles),
)
# (collection id, recipient at the control room, share type, permission) of alice's shares
SHARES = (
    ("hydrants", "bob", "user", "read"),
    ("incident-sectors", "control-room", "group", "read"),
    ("vehicles", "bob", "user", "write"),
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Org:
    """One organisation of the demo: its server's data directory, port and names."""

    slug: str
    organisation: str
    data: Path
    port: int

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.slug}.log"


@dataclass(frozen=True, slots=True)
class Server:
    """A server of the demo running as a child process."""

    org: Org
    process: subprocess.Popen[bytes]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the set-up and the flows produced, for the summary."""

    alice_token: str
    bob_token: str
    sent: list[SentShare]
    mounted: list[ReceivedShare]


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Directory for the two servers' data and logs")
    ] = Path("var/demo"),
    port_a: Annotated[
        int, typer.Option(min=1, max=65535, help="Port of the fire brigade's server")
    ] = 8401,
    port_b: Annotated[
        int, typer.Option(min=1, max=65535, help="Port of the control room's server")
    ] = 8402,
    keep_running: Annotated[
        bool, typer.Option(help="Keep serving until Ctrl-C (--no-keep-running: set up and stop)")
    ] = True,
) -> None:
    """Start two federated servers on loopback (a fire brigade and a control room) that share
    sample layers, and print how to connect GIS clients to the mounted layers."""
    base = directory.resolve()
    a = Org("fire-brigade", "Fire Brigade Musterstadt", base / "fire-brigade", port_a)
    b = Org("control-room", "Control Room North", base / "control-room", port_b)
    servers: list[Server] = []
    with _stop_signals_interrupt():
        try:
            _run(a, b, servers, keep_running=keep_running)
        except KeyboardInterrupt:
            err.print("Stopping both servers.")
        finally:
            _stop(servers)
    if servers:
        out.print("Both servers stopped.")


def _run(a: Org, b: Org, servers: list[Server], *, keep_running: bool) -> None:
    """Prepare both servers, start them (into ``servers``), run the flows and print the summary."""
    _check_ports(a, b)
    for org in (a, b):
        _check_demo_dir(org.data)
    for org in (a, b):
        _fresh_dir(org.data)
        _write_config(org)
    err.print(f"Setting up {a.organisation} and {b.organisation} in {a.data.parent}")
    alice_token = _set_up_fire_brigade(a)
    bob_token = _set_up_control_room(b)
    err.print(f"Starting the servers on ports {a.port} and {b.port}")
    for org in (a, b):
        servers.append(_start(org))
    for server in servers:
        _wait_until_ready(server)
    _meet(a, b)
    _share(a, b)
    mounted = _accept_all(b)
    outcome = Outcome(alice_token, bob_token, _sent_shares(a), mounted)
    _print_summary(a, b, outcome)
    if keep_running:
        out.print(RUNNING)
        _wait_while_serving(servers)


# --- the data directories ------------------------------------------------------------------


def _check_ports(a: Org, b: Org) -> None:
    """Refuse ports that are the same or taken, before anything is deleted or started."""
    if a.port == b.port:
        raise OpenGeoMeshError(f"--port-a and --port-b must differ (both are {a.port})")
    for org in (a, b):
        if not _port_free(org.port):
            raise OpenGeoMeshError(
                f"port {org.port} (for {org.organisation}) is taken on 127.0.0.1: stop what"
                f" listens there or choose another with --port-{'a' if org is a else 'b'}"
            )


def _port_free(port: int) -> bool:
    """Whether a server could listen on the loopback port now (as uvicorn would bind it)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _check_demo_dir(data: Path) -> None:
    """Refuse to run over a directory that holds anything but an earlier demo's data."""
    if not data.exists() and not data.is_symlink():
        return
    if data.is_symlink() or not data.is_dir():
        raise OpenGeoMeshError(f"{data} is not a directory the demo made; not touching it")
    if any(data.iterdir()) and not _written_by_demo(data / CONFIG_FILE):
        raise OpenGeoMeshError(
            f"{data} holds data the demo did not write; not deleting it (choose another --dir)"
        )


def _written_by_demo(config: Path) -> bool:
    """Whether a config.toml starts with the demo's mark (so the directory is the demo's)."""
    try:
        return config.read_text(encoding="utf-8").startswith(MARK)
    except (OSError, UnicodeDecodeError):
        return False


def _fresh_dir(data: Path) -> None:
    """Delete an earlier demo's data directory (checked before) and make it anew, empty."""
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)


def _write_config(org: Org) -> None:
    """The server's settings: its public URL and name, loopback peers, quick retries."""
    (org.data / CONFIG_FILE).write_text(
        MARK
        + f'public_url = "{org.url}"\n'
        + f'organisation = "{org.organisation}"\n'
        + f'title = "{org.organisation} (OpenGeoMesh demo)"\n'
        + "allow_private_peers = true  # the demo's peers are on loopback\n"
        + "delivery_retry_seconds = 1\n"
        + "outbox_interval = 0.5\n",
        encoding="utf-8",
    )


@contextmanager
def _services_of(org: Org) -> Iterator[Services]:
    """The domain services on an organisation's data directory (``OGM_*`` variables ignored)."""
    services = open_services(load_settings({"data_dir": org.data}, environ={}))
    try:
        yield services
    finally:
        services.close()


def _set_up_fire_brigade(org: Org) -> str:
    """alice and her three collections with sample features; returns her token."""
    with _services_of(org) as services:
        services.accounts.add_user("alice", "Alice Adler")
        alice = services.accounts.caller_for_user("alice")
        for collection_id, title, description, temporal, features in LAYERS:
            services.catalog.create(
                alice,
                collection_id,
                title=title,
                description=description,
                temporal_property=temporal,
            )
            source = io.BytesIO(orjson.dumps(features()))
            services.catalog.import_features(alice, collection_id, source)
        return services.accounts.create_token("alice", "demo").secret


def _set_up_control_room(org: Org) -> str:
    """bob and dave, both in the group control-room; returns bob's token."""
    with _services_of(org) as services:
        accounts = services.accounts
        accounts.add_user("bob", "Bob Berger")
        accounts.add_user("dave", "Dave Dorn")
        accounts.add_group("control-room")
        for member in ("bob", "dave"):
            accounts.add_member("control-room", member)
        return accounts.create_token("bob", "demo").secret


# --- the two server processes --------------------------------------------------------------


def _start(org: Org) -> Server:
    """Start ``opengeomesh serve`` for an organisation, its output going to its log file; in a
    session of its own, so that Ctrl-C reaches only the demo, which then stops it in order."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OGM_")}
    command = [sys.executable, "-m", "opengeomesh", "serve", "--data", str(org.data)]
    command += ["--host", "127.0.0.1", "--port", str(org.port)]
    with org.log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )
    return Server(org, process)


def _wait_until_ready(server: Server) -> None:
    """Wait until the server answers its landing page, or fail naming its port and log."""
    org = server.org
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            raise OpenGeoMeshError(
                f"the server of {org.organisation} on port {org.port} exited (status {code});"
                f" see {org.log}"
            )
        if _answers(org):
            return
        time.sleep(0.1)
    raise OpenGeoMeshError(
        f"the server of {org.organisation} did not answer on port {org.port} within"
        f" {READY_SECONDS:.0f} s; see {org.log}"
    )


def _answers(org: Org) -> bool:
    """Whether the organisation's own server (not another on the port) answers ``GET /``."""
    try:
        response = httpx.get(f"{org.url}/", timeout=1, trust_env=False)
    except httpx.TransportError:
        return False
    return response.status_code == 200 and org.organisation in response.text


def _wait_while_serving(servers: list[Server]) -> None:
    """Serve until Ctrl-C (or SIGTERM); a server that exits on its own ends the demo."""
    while True:
        for server in servers:
            code = server.process.poll()
            if code is not None:
                org = server.org
                raise OpenGeoMeshError(
                    f"the server of {org.organisation} on port {org.port} exited (status"
                    f" {code}); see {org.log}"
                )
        time.sleep(0.5)


@contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """Let SIGTERM and SIGHUP stop the demo as Ctrl-C does, and Ctrl-C even where it was
    ignored (a background job): each raises KeyboardInterrupt in the main thread."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    saved = {kind: signal.signal(kind, interrupt) for kind in STOP_SIGNALS}
    try:
        yield
    finally:
        for kind, handler in saved.items():
            signal.signal(kind, handler)


def _stop(servers: list[Server]) -> None:
    """Stop the servers, ignoring further Ctrl-Cs so that none is left behind: SIGTERM lets
    uvicorn shut down in order, and a server still running after ten seconds is killed."""
    for kind in STOP_SIGNALS:
        signal.signal(kind, signal.SIG_IGN)
    for server in servers:
        if server.process.poll() is None:
            server.process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for server in servers:
        org = server.org
        try:
            server.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
            err.print(f"The server of {org.organisation} did not stop in time; killed it.")
        err.print(f"Stopped the server of {org.organisation} (port {org.port}).")


# --- the flows -----------------------------------------------------------------------------


def _meet(a: Org, b: Org) -> None:
    """alice invites bob and bob accepts: the servers meet (the invite-only trust policy)."""
    err.print(f"alice ({a.organisation}) invites bob ({b.organisation})")
    with _services_of(a) as services:
        alice = services.accounts.caller_for_user("alice")
        invite = services.federation.invites.create(alice).invite_string
    with _services_of(b) as services:
        bob = services.accounts.caller_for_user("bob")
        services.federation.invites.accept(bob, invite)


def _share(a: Org, b: Org) -> None:
    """alice shares her three collections with bob and his group at the control room."""
    err.print("alice shares " + ", ".join(s[0] for s in SHARES) + f" with {b.organisation}")
    with _services_of(a) as services:
        alice = services.accounts.caller_for_user("alice")
        for collection_id, recipient, share_type, permission in SHARES:
            services.federation.share(
                alice, collection_id, f"{recipient}@{b.host}", permission, share_type
            )


def _accept_all(b: Org) -> list[ReceivedShare]:
    """bob accepts every share received (his and his group's) and returns the mounted layers;
    the sender is told at once rather than at the server's next look into the outbox."""
    with _services_of(b) as services:
        bob = services.accounts.caller_for_user("bob")
        inbox = services.federation.inbox
        pending = _poll(
            lambda: [s for s in inbox.shares(bob) if s.state is ReceivedState.PENDING],
            lambda found: len(found) >= len(SHARES),
        )
        if len(pending) < len(SHARES):
            err.print(f"Only {len(pending)} of {len(SHARES)} shares arrived; the rest wait.")
        err.print(f"bob accepts {len(pending)} shares")
        for share in pending:
            inbox.decide(bob, share.id, accept=True)
        services.federation.outbox.deliver_due()
        return sorted(inbox.mounted(bob), key=lambda s: s.id)


def _sent_shares(a: Org) -> list[SentShare]:
    """alice's shares as her server sees them, once it has heard of their acceptance."""
    with _services_of(a) as services:
        alice = services.accounts.caller_for_user("alice")
        return _poll(
            lambda: services.federation.sharing.shares(alice),
            lambda found: all(s.state is ShareState.ACCEPTED for s in found),
        )


def _poll(probe: Callable[[], T], done: Callable[[T], bool]) -> T:
    """Ask ``probe`` until ``done`` holds for its answer or time is up; the last answer."""
    deadline = time.monotonic() + SETTLE_SECONDS
    found = probe()
    while not done(found) and time.monotonic() < deadline:
        time.sleep(0.2)
        found = probe()
    return found


# --- the summary ---------------------------------------------------------------------------


def _print_summary(a: Org, b: Org, outcome: Outcome) -> None:
    """Both servers, their users and tokens, the shares, and ready-to-paste client lines."""
    out.print()
    out.print(f"OpenGeoMesh demo: two organisations on loopback; data and logs in {a.data.parent}")
    _print_server(a, "alice (Alice Adler)", outcome.alice_token)
    out.print("  shares sent by alice:")
    for sent in outcome.sent:
        to = f"{sent.share_with} ({sent.share_type})"
        out.print(f"    {sent.collection_id} → {to}, {sent.permission}, {sent.state}")
    _print_server(
        b, "bob (Bob Berger), in group control-room with dave (Dave Dorn)", outcome.bob_token
    )
    out.print("  mounted layers of bob (collections shared by Fire Brigade Musterstadt):")
    width = max((len(s.name) for s in outcome.mounted), default=0)
    for share in outcome.mounted:
        url = f"{b.url}/collections/{share.mount_id}"
        out.print(f"    {share.mount_id}  {share.name:<{width}}  {share.permission:<5}  {url}")
    hydrants = next((s for s in outcome.mounted if s.name == "Fire hydrants"), None)
    if hydrants is not None:
        _print_clients(b, outcome.bob_token, hydrants)
    out.print()


def _print_server(org: Org, user: str, token: str) -> None:
    """An organisation's server: its URL, the demo user with a token, and its log."""
    out.print()
    out.print(org.organisation)
    out.print(f"  URL:    {org.url}")
    out.print(f"  user:   {user}")
    out.print(f"  token:  {token}")
    out.print(f"  log:    {org.log}")


def _print_clients(b: Org, token: str, share: ReceivedShare) -> None:
    """curl, GDAL and QGIS, as bob, on a mounted layer read live through the control room."""
    layer = share.mount_id
    url = f"{b.url}/collections/{layer}"
    out.print()
    out.print(f"Ready to paste: bob reads the mounted layer {layer} ({share.name}) through {b.url}")
    out.print()
    out.print("  # curl: the first two features, fetched live from the fire brigade")
    out.print(f'  curl -H "Authorization: Bearer {token}" "{url}/items?limit=2"')
    out.print()
    out.print('  # GDAL >= 3.9 (before: GDAL_HTTP_HEADERS="Authorization: Bearer TOKEN")')
    out.print(
        f'  GDAL_HTTP_AUTH=BEARER GDAL_HTTP_BEARER={token} ogrinfo -ro -so "OAPIF:{url}" {layer}'
    )
    out.print()
    out.print("  # QGIS: Layer ▸ Add Layer ▸ Add WFS / OGC API – Features Layer ▸ New connection")
    out.print(f"  #   URL: {b.url}")
    out.print(f"  #   HTTP headers: Authorization = Bearer {token}")
    out.print(f"  #   Connect, then add {layer} ({share.name})")
