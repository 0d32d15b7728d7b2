"""The client against the real app in this process: the sync client through a transport that
hands each request to the app, the async one through httpx's ASGI transport."""

from collections.abc import Callable, Iterator

import httpx
import pytest

from opengeomesh.app import create_app
from opengeomesh.client import Client
from tests.conftest import InProcessClient, World

BASE = "http://ogm.test"


def in_process(app_client: InProcessClient) -> httpx.MockTransport:
    """A blocking transport that answers from the app (no sockets, the real HTTP stack)."""

    def answer(request: httpx.Request) -> httpx.Response:
        found = app_client.request(
            request.method, str(request.url), headers=request.headers, content=request.read()
        )
        return httpx.Response(found.status_code, headers=found.headers, content=found.content)

    return httpx.MockTransport(answer)


@pytest.fixture
def app_client(world: World) -> Iterator[InProcessClient]:
    app = create_app(world.services.settings, world.services)
    test_client = InProcessClient(app, BASE)
    yield test_client
    test_client.close()


@pytest.fixture
def connect(app_client: InProcessClient) -> Iterator[Callable[[str | None], Client]]:
    """``connect(token)``: a ``Client`` of the app for that token."""
    opened: list[Client] = []

    def make(token: str | None) -> Client:
        made = Client(BASE, token, transport=in_process(app_client))
        opened.append(made)
        return made

    yield make
    for made in opened:
        made.close()
