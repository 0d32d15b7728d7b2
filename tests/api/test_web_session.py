"""The web workspace's sessions, in process: sign-in with a personal token, the cookie's
flags, CSRF on forms and on the map's API calls, and sessions ending with their token."""

import re
import time

import httpx
import orjson

from opengeomesh.app import create_app
from opengeomesh.config import load_settings
from opengeomesh.services import open_services
from opengeomesh.web.session import COOKIE, Sessions, load_key
from tests.conftest import InProcessClient, World


def sign_in(client: InProcessClient, token: str) -> httpx.Response:
    form = client.get("/web/sign-in")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    return client.post(
        "/web/sign-in",
        data={"csrf": csrf.group(1), "token": token, "next": "/web/invites"},
    )


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'data-csrf="([^"]+)"', page.text) or re.search(
        r'name="csrf" value="([^"]+)"', page.text
    )
    assert found is not None, page.text
    return found.group(1)


def test_sign_in_sets_a_strict_http_only_cookie(client: InProcessClient, world: World) -> None:
    assert client.get("/web/layers").headers["location"].startswith("/web/sign-in?next=")
    answer = sign_in(client, world.tokens["alice"])
    assert answer.status_code == 303 and answer.headers["location"] == "/web/invites"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=" in cookie
    assert "Secure" not in cookie  # the server's URL is http here
    page = client.get("/web/layers")
    assert page.status_code == 200 and "Fire hydrants" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_a_bad_token_or_a_missing_csrf_token_signs_nobody_in(
    client: InProcessClient, world: World
) -> None:
    bad = sign_in(client, "ogm_not-a-token")
    assert bad.status_code == 401 and "not valid" in bad.text
    assert all(not c.startswith(f"{COOKIE}=") for c in bad.headers.get_list("set-cookie"))
    forged = client.post("/web/sign-in", data={"token": world.tokens["alice"]})
    assert forged.status_code == 403 and COOKIE not in forged.headers.get("set-cookie", "")
    assert client.get("/web/layers").status_code == 303


def test_forms_need_the_sessions_csrf_token(client: InProcessClient, world: World) -> None:
    sign_in(client, world.tokens["alice"])
    made = client.post("/web/invites", data={})
    assert made.status_code == 403 and "out of date" in made.text
    made = client.post("/web/invites", data={"csrf": "x" * 43})
    assert made.status_code == 403
    assert (
        world.services.federation.invites.of(world.services.accounts.caller_for_user("alice")) == []
    )
    page = client.get("/web/invites")
    made = client.post("/web/invites", data={"csrf": csrf_of(page)})
    assert made.status_code == 200 and 'id="invite-string"' in made.text


def test_the_api_takes_the_session_only_with_its_csrf_header(
    client: InProcessClient, world: World
) -> None:
    sign_in(client, world.tokens["carol"])
    assert client.get("/collections/hydrants/items").status_code in (401, 404)
    client._client.cookies.clear()
    sign_in(client, world.tokens["alice"])
    csrf = csrf_of(client.get("/web/layers/hydrants"))
    assert client.get("/collections/hydrants/items").status_code == 401  # cookie alone: nobody
    wrong = client.get("/collections/hydrants/items", headers={"X-OGM-CSRF": "nope"})
    assert wrong.status_code == 403
    read = client.get("/collections/hydrants/items?limit=1", headers={"X-OGM-CSRF": csrf})
    assert read.status_code == 200 and len(read.json()["features"]) == 1
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [9.9, 51.5]}}
    made = client.post(
        "/collections/hydrants/items",
        headers={"X-OGM-CSRF": csrf, "Content-Type": "application/geo+json"},
        content=orjson.dumps(feature),
    )
    assert made.status_code == 201
    # the management API never takes the session
    assert client.get("/manage/me", headers={"X-OGM-CSRF": csrf}).status_code == 401


def test_deleting_the_token_ends_the_session(client: InProcessClient, world: World) -> None:
    accounts = world.services.accounts
    issued = accounts.create_token("bob", "browser")
    sign_in(client, issued.secret)
    assert client.get("/web/layers").status_code == 200
    accounts.delete_token("bob", issued.record.id)
    assert client.get("/web/layers").status_code == 303
    assert client.post("/web/invites", data={"csrf": "x"}).status_code == 403


def test_sign_out_needs_csrf_and_clears_the_cookie(client: InProcessClient, world: World) -> None:
    sign_in(client, world.tokens["alice"])
    csrf = csrf_of(client.get("/web/layers"))
    assert client.post("/web/sign-out", data={}).status_code == 403
    out = client.post("/web/sign-out", data={"csrf": csrf})
    assert out.status_code == 303 and f'{COOKIE}=""' in out.headers["set-cookie"]
    assert client.get("/web/layers").status_code == 303


def test_cookies_are_secure_behind_https(world: World) -> None:
    settings = load_settings(
        {"data_dir": world.services.settings.data_dir, "public_url": "https://maps.example.org"},
        environ={},
    )
    services = open_services(settings)
    try:
        client = InProcessClient(create_app(settings, services), "https://maps.example.org")
        answer = sign_in(client, world.tokens["alice"])
        assert "Secure" in answer.headers["set-cookie"]
        client.close()
    finally:
        services.close()


def test_tampered_expired_and_foreign_cookies_are_refused(world: World) -> None:
    keys = world.services.settings.data_dir / "keys"
    sessions = Sessions(load_key(keys), world.services.stores.accounts, lifetime_seconds=60)
    made = sessions.sign_in(world.tokens["alice"])
    assert made is not None
    caller, cookie = made
    session = sessions.read(cookie)
    assert session is not None and caller.user is not None
    assert session.user == "alice" and sessions.caller(session) is not None
    body, mac = cookie.split(".")
    assert sessions.read(body[:-2] + "AA." + mac) is None
    assert sessions.read(cookie + "x") is None
    assert (keys / "web-session.key").stat().st_mode & 0o777 == 0o600
    other = Sessions(b"k" * 32, world.services.stores.accounts, lifetime_seconds=60)
    assert other.read(cookie) is None
    expired = Sessions(load_key(keys), world.services.stores.accounts, lifetime_seconds=-1)
    made = expired.sign_in(world.tokens["alice"])
    assert made is not None and expired.read(made[1]) is None
    assert sessions.csrf_ok(session, sessions.csrf_token(session))
    assert not sessions.csrf_ok(session, None)
    assert time.time() < session.expires
