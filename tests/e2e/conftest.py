"""Fixtures of the end-to-end tests: organisations with real servers."""

from collections.abc import Iterator

import orjson
import pytest

from opengeomesh import samples
from tests.conftest import stop_server
from tests.e2e.orgs import Org, make_org

FAST_OUTBOX = (
    "delivery_retry_seconds = 0.3\noutbox_interval = 0.2\npeer_timeout = 3\n"
    "upstream_poll_seconds = 0.5\n"  # the gateway's change feed in a few seconds
)


@pytest.fixture(scope="module")
def sharing_orgs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Org, Org]]:
    """A fire brigade (A) and a control room (B) trusting each other; a test module's
    ``B_CONFIG`` adds to B's settings."""
    base = tmp_path_factory.mktemp("sharing")
    b_config = FAST_OUTBOX + getattr(request.module, "B_CONFIG", "")
    a = make_org(base, "a", "Feuerwehr Musterstadt", config=FAST_OUTBOX)
    b = make_org(base, "b", "Leitstelle Nord", config=b_config)
    try:
        for user in ("alice", "erin"):
            a.cli("user", "add", user, "--display-name", user.title())
        for user in ("bob", "dave", "frank"):
            b.cli("user", "add", user, "--display-name", user.title())
        b.cli("group", "add", "control-room")
        for user in ("bob", "dave"):
            b.cli("group", "add-member", "control-room", user)
        for name, layer in (
            ("hydrants", samples.hydrants(137)),
            ("sectors", samples.incident_sectors()),
            ("vehicles", samples.vehicles()),
        ):
            source = a.data.parent / f"{name}.geojson"
            source.write_bytes(orjson.dumps(layer))
            timed = ["--temporal-property", "established"] if name == "sectors" else []
            a.cli("collection", "import", name, str(source), "--create", "--user", "alice", *timed)
        a.cli("collection", "grant", "hydrants", "user:erin", "--permission", "read")
        # the invite flow builds the trust both servers' invite-only policy asks for
        text = a.cli("invite", "create", "--user", "alice").stdout.strip()
        b.cli("invite", "accept", text, "--user", "bob")
        yield a, b
    finally:
        for org in (a, b):
            if org.server is not None and org.server.process.poll() is None:
                stop_server(org.server)
