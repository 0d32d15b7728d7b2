"""Two organisations' servers with one user each and their personal tokens, made through the
real CLI, for the tests that drive the servers through the client library."""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from opengeomesh.config import load_settings
from opengeomesh.services import open_services
from tests.conftest import start_server, stop_server
from tests.e2e.conftest import FAST_OUTBOX
from tests.e2e.orgs import Org, make_org


@dataclass
class ClientOrgs:
    a: Org
    b: Org
    erin: str  # erin's token at A (Feuerwehr Musterstadt)
    frank: str  # frank's token at B (Leitstelle Nord)


def prepared(org: Org, user: str) -> str:
    """Add ``user`` to the organisation's (stopped) server and return a token of theirs, in
    this process (faster than two CLI runs), then start the server."""
    services = open_services(load_settings({"data_dir": org.data}, environ={}))
    try:
        services.accounts.add_user(user, user.title())
        token = services.accounts.create_token(user, "client tests").secret
    finally:
        services.close()
    org.server = start_server(org.data, port=int(org.host.rsplit(":", 1)[1]))
    return token


@pytest.fixture(scope="module")
def client_orgs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClientOrgs]:
    base = tmp_path_factory.mktemp("client")
    a = make_org(base, "a", "Feuerwehr Musterstadt", config=FAST_OUTBOX, run=False)
    b = make_org(base, "b", "Leitstelle Nord", config=FAST_OUTBOX, run=False)
    try:
        yield ClientOrgs(a=a, b=b, erin=prepared(a, "erin"), frank=prepared(b, "frank"))
    finally:
        for org in (a, b):
            if org.server is not None:
                stop_server(org.server)


@pytest.fixture(scope="module")
def client_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Org, str]]:
    """One organisation's server and erin's token there."""
    org = make_org(tmp_path_factory.mktemp("one"), "a", "Feuerwehr Musterstadt", run=False)
    try:
        yield org, prepared(org, "erin")
    finally:
        if org.server is not None:
            stop_server(org.server)
