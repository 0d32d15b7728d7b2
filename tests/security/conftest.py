"""Fixtures of the security tests: a real peer server on loopback whose keys sign requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from opengeomesh.services import Services
from tests.conftest import fresh_services, stop_server
from tests.e2e.orgs import Org, make_org

BASE = "http://ocm.test"  # our server, in process


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    """Another organisation's real server on loopback: its discovery and JWK Set are what
    our server fetches to verify requests signed with its key."""
    org = make_org(tmp_path_factory.mktemp("peer"), "peer", "Peer organisation")
    yield org
    assert org.server is not None
    stop_server(org.server)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, peer: Org) -> Iterator[Services]:
    """Our server, in process, open to any server (so that signed requests get past the
    trust policy to the parts that read them) and allowed to reach the peer on loopback."""
    data = tmp_path_factory.mktemp("ocm-target") / "data"
    with fresh_services(
        data,
        public_url=BASE,
        trust_mode="open",
        allow_private_peers=True,
        rate_limit_per_minute_peer=0,
        rate_limit_per_minute_token=0,
    ) as services:
        for name in ("alice", "bob"):
            services.accounts.add_user(name)
        services.accounts.add_group("control-room")
        yield services
