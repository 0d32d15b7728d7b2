"""Rate limits (429 with Retry-After) per token and per peer server, and a size limit on the
body of every request that takes one (413), declared or chunked."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from opengeomesh.accounts.tokens import token_hash
from opengeomesh.app import create_app
from opengeomesh.limits.rates import TooManyRequests
from opengeomesh.services import Services, open_services
from tests.api.test_web_session import sign_in
from tests.conftest import InProcessClient, LiveServer, fresh_services, populate
from tests.e2e.orgs import Org
from tests.security.conftest import BASE
from tests.security.test_attacks import notification, post, send, sign


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[Services, InProcessClient]]:
    with fresh_services(
        tmp_path / "data",
        public_url=BASE,
        trust_mode="open",
        allow_private_peers=True,
        rate_limit_per_minute_token=5,
        rate_limit_per_minute_peer=3,
        max_body_bytes=2048,
        max_feature_bytes=4096,
        max_ocm_body_bytes=2048,
        max_import_bytes=8192,
    ) as services:
        client = InProcessClient(create_app(services.settings, services), BASE)
        yield services, client
        client.close()


def assert_too_many(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert "a minute" in response.text


def test_each_token_has_its_own_budget(limited: tuple[Services, InProcessClient]) -> None:
    services, client = limited
    world = populate(services, hydrant_count=3)
    alice, bob = world.auth("alice"), world.auth("bob")
    for _ in range(5):
        assert client.get("/collections/hydrants/items", headers=alice).status_code == 200
    refused = client.get("/collections/hydrants/items", headers=alice)
    assert_too_many(refused)
    assert refused.headers["content-type"] == "application/problem+json"
    assert client.get("/manage/me", headers=alice).status_code == 429  # every route counts
    assert client.get("/collections/hydrants", headers=bob).status_code == 200
    assert client.get("/collections/sectors").status_code == 200  # anonymous: not a token
    document = client.get("/api").json()  # the refusals are described
    for path, method in (
        ("/collections/{collectionId}/items", "get"),
        ("/manage/me", "get"),
        ("/ocm/notifications", "post"),
        ("/ocm/token", "post"),
    ):
        assert "Retry-After" in document["paths"][path][method]["responses"]["429"]["headers"]
    assert "413" in document["paths"]["/manage/collections"]["post"]["responses"]
    # the count lives in the database: another process (its own services and connections)
    # counts its first request, then learns the first process's count at its flush
    services.limiter.flush()
    other = open_services(services.settings)
    try:
        key = token_hash(world.tokens["alice"])[:32]
        other.limiter.hit("token", key, 5)
        other.limiter.flush()
        with pytest.raises(TooManyRequests):
            other.limiter.hit("token", key, 5)
    finally:
        other.close()


def test_each_peer_server_has_its_own_budget(
    limited: tuple[Services, InProcessClient], peer: Org
) -> None:
    _, client = limited
    for _ in range(3):  # signed and verified: counted against the peer's host
        answer = send(client, sign(post("/ocm/notifications", notification()), peer.keyring()))
        assert answer.status_code == 400, answer.text  # no such share: past every check
    refused = send(client, sign(post("/ocm/notifications", notification()), peer.keyring()))
    assert_too_many(refused)
    assert refused.json()["message"] == "TOO_MANY_REQUESTS"
    token = sign(
        httpx.Request(
            "POST",
            f"{BASE}/ocm/token",
            content=f"grant_type=authorization_code&client_id={peer.host}&code=x".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        peer.keyring(),
    )
    refused_token = send(client, token)
    assert_too_many(refused_token)
    assert refused_token.json()["error"] == "temporarily_unavailable"
    assert refused_token.headers["cache-control"] == "no-store"


def test_unsigned_and_refused_senders_count_by_address(
    limited: tuple[Services, InProcessClient], peer: Org
) -> None:
    _, client = limited
    for _ in range(3):  # forged: the host is not proven, the address is what counts
        forged = sign(post("/ocm/notifications", notification()), peer.keyring())
        forged.headers["Signature"] = forged.headers["Signature"].replace("ocm=:", "ocm=:AA", 1)
        assert send(client, forged).status_code == 401
    # now even a correctly signed request from that address waits
    assert_too_many(send(client, sign(post("/ocm/notifications", notification()), peer.keyring())))
    assert_too_many(send(client, post("/ocm/shares", b"{}")))  # unsigned


def test_the_limits_can_be_turned_off(tmp_path: Path) -> None:
    with fresh_services(tmp_path / "data", rate_limit_per_minute_token=0) as services:
        world = populate(services, hydrant_count=3)
        client = InProcessClient(create_app(services.settings, services), BASE)
        try:
            for _ in range(30):
                assert client.get("/manage/me", headers=world.auth("bob")).status_code == 200
        finally:
            client.close()


async def _chunked(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // 1024):
        yield b" " * 1024


def _body_routes(services: Services) -> list[tuple[str, str]]:
    """Every route that takes a body, with its path parameters filled in."""
    app = create_app(services.settings, services)
    found = []
    for route in app.routes:
        methods = set(getattr(route, "methods", None) or ()) & {"POST", "PUT", "PATCH"}
        path = getattr(route, "path", "")
        described = (getattr(route, "openapi_extra", None) or {}).get("requestBody")
        no_body = getattr(route, "body_field", None) is None and not described
        if path.startswith("/manage") and no_body:
            continue  # a management action without a body (accept, refresh, ...)
        for method in sorted(methods):
            found.append((method, re.sub(r"\{[^}]+\}", "hydrants", path)))
    return found


def test_every_body_is_capped(tmp_path: Path) -> None:
    """Each route that takes a body, with a body declared too large and one sent chunked."""
    with fresh_services(
        tmp_path / "data",
        rate_limit_per_minute_token=0,
        max_body_bytes=2048,
        max_feature_bytes=4096,
        max_ocm_body_bytes=2048,
        max_import_bytes=8192,
    ) as services:
        world = populate(services, hydrant_count=3)
        routes = _body_routes(services)
        assert len(routes) > 25
        client = InProcessClient(create_app(services.settings, services), BASE)
        # signed in to the workspace as well, so that its forms get as far as reading
        sign_in(client, world.tokens["root"])
        try:
            for method, path in routes:
                form = path.startswith("/web") or path == "/ocm/token"
                media = "application/x-www-form-urlencoded" if form else "application/json"
                headers = {**world.auth("root"), "Content-Type": media}
                for content in (b" " * 20_000, _chunked(20_000)):
                    answer = client.request(method, path, headers=headers, content=content)
                    assert answer.status_code == 413, (method, path, answer.text)
        finally:
            client.close()


def test_a_real_server_refuses_a_chunked_body(live_server: LiveServer) -> None:
    """Through uvicorn: a body without Content-Length over the limit (1 MiB by default)."""

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b" " * 65536

    answer = httpx.post(
        f"{live_server.url}/manage/collections",
        content=chunks(),
        headers={
            "Authorization": f"Bearer {live_server.token}",
            "Content-Type": "application/json",
        },
        timeout=30,
    )
    assert answer.status_code == 413, answer.text
    assert orjson.loads(answer.content)["status"] == 413
