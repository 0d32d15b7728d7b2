"""Fixtures of the security tests: a real peer server on loopback whose keys sign requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import stop_server
from tests.e2e.orgs import Org, make_org


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    """Another organisation's real server on loopback: its discovery and JWK Set are what
    our server fetches to verify requests signed with its key."""
    org = make_org(tmp_path_factory.mktemp("peer"), "peer", "Peer organisation")
    yield org
    assert org.server is not None
    stop_server(org.server)
