"""Fixtures of the fault tests: two organisations' servers, each behind a fault proxy that
its public_url names, so that every exchange between them goes through the proxies."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from opengeomesh import samples
from tests.conftest import free_port, start_server, stop_server
from tests.e2e.orgs import Org
from tests.e2e.orgs import token as e2e_token
from tests.faults.proxy import FaultProxy

PEER_TIMEOUT = 1.5  # seconds a server waits for the other; a slow proxy holds longer
MAX_ATTEMPTS = 5  # the outbox gives up after 6 to 9 s of backoff (0.5 s, doubling)
SETTINGS = (
    f"peer_timeout = {PEER_TIMEOUT}\ndelivery_retry_seconds = 0.5\noutbox_interval = 0.1\n"
    f"outbox_max_attempts = {MAX_ATTEMPTS}\n"
)


_tokens: dict[tuple[Path, str], dict[str, str]] = {}


def token(org: Org, user: str) -> dict[str, str]:
    """A bearer token of ``user`` at ``org``, made once (the CLI takes a while)."""
    if (org.data, user) not in _tokens:
        _tokens[org.data, user] = e2e_token(org, user)
    return _tokens[org.data, user]


@dataclass
class ProxiedOrg(Org):
    proxy: FaultProxy | None = None

    @property
    def direct(self) -> str:
        """The server's own address, past the proxy: where the test's users call."""
        assert self.server is not None
        return self.server.url

    @property
    def fault(self) -> FaultProxy:
        assert self.proxy is not None
        return self.proxy


def proxied_org(base: Path, name: str, organisation: str) -> ProxiedOrg:
    """An organisation's server whose public address is a fault proxy in front of it."""
    public, real = free_port(), free_port()
    data = base / name / "data"
    data.mkdir(parents=True)
    (data / "config.toml").write_text(
        f'public_url = "http://127.0.0.1:{public}"\norganisation = "{organisation}"\n'
        f"allow_private_peers = true\n{SETTINGS}"
    )
    proxy = FaultProxy(public, real, delay=PEER_TIMEOUT + 1.5)
    server = start_server(data, port=real)
    host = f"127.0.0.1:{public}"
    return ProxiedOrg(data=data, host=host, url=f"http://{host}", server=server, proxy=proxy)


@pytest.fixture(scope="module")
def proxied_orgs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProxiedOrg, ...]]:
    """A (alice owns 'sectors-0' … 'sectors-11') and B (bob), who trust each
    other."""
    base = tmp_path_factory.mktemp("faults")
    a = proxied_org(base, "a", "Feuerwehr Musterstadt")
    b = proxied_org(base, "b", "Leitstelle Nord")
    try:
        a.cli("user", "add", "alice", "--display-name", "Alice")
        b.cli("user", "add", "bob", "--display-name", "Bob")
        alice = token(a, "alice")
        for n in range(12):  # through the API: quicker than the CLI
            name = f"sectors-{n}"
            made = httpx.post(f"{a.direct}/manage/collections", headers=alice, json={"id": name})
            assert made.status_code == 201, made.text
            imported = httpx.post(
                f"{a.direct}/manage/collections/{name}/import",
                headers={**alice, "Content-Type": "application/geo+json"},
                content=orjson.dumps(samples.incident_sectors()),
            )
            assert imported.status_code == 200, imported.text
        text = a.cli("invite", "create", "--user", "alice").stdout.strip()
        b.cli("invite", "accept", text, "--user", "bob")
        yield a, b
    finally:
        for org in (a, b):
            org.fault.close()
            if org.server is not None and org.server.process.poll() is None:
                stop_server(org.server)
