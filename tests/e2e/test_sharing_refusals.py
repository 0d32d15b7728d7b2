"""What sharing refuses, on both sides, with real servers and real signatures; messages are
checked against the official OCM OpenAPI; a share made while the recipient is down arrives
once it is back, exactly once."""

import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from opengeomesh.config import load_settings
from opengeomesh.ocm.addresses import OcmAddress
from opengeomesh.ocm.models import ShareType
from opengeomesh.ocm.payloads import notification_body, share_body
from opengeomesh.ocm.secretbox import SecretBox
from opengeomesh.ocm.signatures import RequestSigner
from opengeomesh.services import open_services
from tests.conftest import start_server, stop_server
from tests.e2e.orgs import Org, eventually, make_org, spec_schema, token

DATABASE = "opengeomesh.sqlite"


def signed(org_from: Org, url: str, body: bytes, media: str = "application/json") -> httpx.Response:
    """POST ``body`` to ``url`` signed with ``org_from``'s own key."""
    request = httpx.Request("POST", url, content=body, headers={"Content-Type": media})
    RequestSigner(org_from.keyring()).sign(request)
    with httpx.Client() as client:
        return client.send(request)


def operator_received(b: Org) -> list[dict[str, Any]]:
    return list(orjson.loads(b.cli("share", "list", "--received", "--json").stdout))


def operator_sent(a: Org) -> list[dict[str, Any]]:
    return list(orjson.loads(a.cli("share", "list", "--json").stdout))


def new_share(a: Org, b: Org, **changes: Any) -> dict[str, Any]:
    body = share_body(
        share_with=f"bob@{b.host}",
        share_type=ShareType.USER,
        provider_id="test-share-1",
        name="Test layer",
        description="",
        owner=OcmAddress("alice", a.host),
        owner_name="Alice",
        sender=OcmAddress("alice", a.host),
        sender_name="Alice",
        uri=f"{a.url}/collections/hydrants",
        secret="s" * 32,
        permission="read",
    )
    body.update(changes)
    return body


def test_our_notifications_follow_the_ocm_openapi() -> None:
    for kind in ("SHARE_ACCEPTED", "SHARE_DECLINED", "SHARE_UNSHARED"):
        spec_schema("NewNotification").validate(orjson.loads(notification_body(kind, "x", {})))
    change = notification_body("SHARE_CHANGE_PERMISSION", "x", {"permissions": ["read"]})
    spec_schema("NewNotification").validate(orjson.loads(change))


def test_refused_before_anything_is_sent(sharing_orgs: tuple[Org, Org], tmp_path: Path) -> None:
    a, b = sharing_orgs
    erin, alice = token(a, "erin"), token(a, "alice")
    before_b, before_a = len(operator_received(b)), len(operator_sent(a))

    def share(auth: dict[str, str], **body: str) -> httpx.Response:
        return httpx.post(f"{a.url}/manage/shares", headers=auth, json=body)

    # erin may only read hydrants: she cannot give write
    refused = share(erin, collection="hydrants", share_with=f"bob@{b.host}", permission="write")
    assert refused.status_code == 403 and "permissions" in refused.json()["detail"]
    # a collection erin cannot see does not exist for her
    hidden = share(erin, collection="sectors", share_with=f"bob@{b.host}")
    assert hidden.status_code == 404
    # the recipient's server does not know the user or group: B's 400, nothing kept on A
    unknown = share(alice, collection="hydrants", share_with=f"nobody@{b.host}")
    assert unknown.status_code == 400 and "NOT_FOUND" in unknown.json()["detail"], unknown.text
    assert unknown.json()["parameter"] == "shareWith"
    group = share(alice, collection="hydrants", share_with=f"no-group@{b.host}", share_type="group")
    assert group.status_code == 400
    # a server never met (invite-only policy), then blocked by the operator
    c = make_org(tmp_path, "c", "Rettungsdienst Süd")
    try:
        c.cli("user", "add", "carl")
        stranger = share(alice, collection="hydrants", share_with=f"carl@{c.host}")
        assert stranger.status_code == 403 and "trust policy" in stranger.json()["detail"]
        a.cli("peer", "block", c.host)
        blocked = share(alice, collection="hydrants", share_with=f"carl@{c.host}")
        assert blocked.status_code == 403 and "blocked" in blocked.json()["detail"]
        assert operator_received(c) == []
    finally:
        a.cli("peer", "forget", c.host)
        assert c.server is not None
        stop_server(c.server)
    assert len(operator_received(b)) == before_b and len(operator_sent(a)) == before_a


def test_the_receiving_side_checks_every_share(
    sharing_orgs: tuple[Org, Org], tmp_path: Path
) -> None:
    a, b = sharing_orgs
    url = f"{b.url}/ocm/shares"

    def post(body: dict[str, Any]) -> httpx.Response:
        return signed(a, url, orjson.dumps(body))

    cases = [
        (new_share(a, b, shareWith=f"nobody@{b.host}"), 400, "shareWith"),
        (new_share(a, b, shareWith="bob@elsewhere.example"), 400, "shareWith"),
        (new_share(a, b, resourceType="file"), 501, None),
        (new_share(a, b, shareType="federation"), 501, None),
        (new_share(a, b, protocol={"name": "multi", "webdav": {"uri": "x"}}), 501, None),
        (
            new_share(
                a,
                b,
                protocol={
                    "name": "multi",
                    "ogcapi": {
                        "uri": f"{a.url}/collections/hydrants",
                        "sharedSecret": "s" * 32,
                        "permissions": ["read"],
                        "requirements": ["must-use-mfa"],
                    },
                },
            ),
            400,
            "protocol.ogcapi.requirements",
        ),
        (
            new_share(
                a,
                b,
                protocol={
                    "name": "multi",
                    "ogcapi": {
                        "uri": "http://169.254.169.254/latest",
                        "sharedSecret": "s" * 32,
                        "permissions": ["read"],
                    },
                },
            ),
            400,
            "protocol.ogcapi.uri",
        ),
        ({k: v for k, v in new_share(a, b).items() if k != "providerId"}, 400, "providerId"),
    ]
    before = len(operator_received(b))
    for body, status, field in cases:
        response = post(body)
        assert response.status_code == status, (body, response.text)
        answer = response.json()
        spec_schema("400" if status == 400 else "Error").validate(answer)
        if field:
            assert answer["validationErrors"][0]["name"] == field, answer
    unsigned = httpx.post(
        url, content=orjson.dumps(new_share(a, b)), headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401
    assert len(operator_received(b)) == before

    # a valid share: 201 with the recipient's name; sent twice, it is still one share
    first, again = post(new_share(a, b)), post(new_share(a, b))
    assert first.status_code == again.status_code == 201, first.text
    assert first.json() == {"recipientDisplayName": "Bob"}
    assert [s["name"] for s in operator_received(b)].count("Test layer") == 1

    # a server B never met may not share with B (403), whatever it signs
    c = make_org(tmp_path, "c", "Rettungsdienst Süd")
    try:
        stranger = signed(c, url, orjson.dumps(new_share(c, b)))
        assert stranger.status_code == 403, stranger.text
        spec_schema("Error").validate(stranger.json())
    finally:
        assert c.server is not None
        stop_server(c.server)

    # notifications: signed only, known shares only, known types only
    note = notification_body("SHARE_UNSHARED", "no-such-share", {}).encode()
    assert signed(a, f"{b.url}/ocm/notifications", note).status_code == 400
    odd = notification_body("RESHARE_UNDO", "test-share-1", {}).encode()
    assert signed(a, f"{b.url}/ocm/notifications", odd).status_code == 501
    plain = httpx.post(
        f"{b.url}/ocm/notifications", content=note, headers={"Content-Type": "application/json"}
    )
    assert plain.status_code == 401
    gone = notification_body("SHARE_UNSHARED", "test-share-1", {}).encode()
    assert signed(a, f"{b.url}/ocm/notifications", gone).status_code == 201
    assert "Test layer" not in [s["name"] for s in operator_received(b)]


def received_secret(b: Org, name: str) -> str:
    """The secret B keeps for a share (sealed in its database), as B's server would read it."""
    with sqlite3.connect(b.data / DATABASE) as db:
        sender, provider, sealed = db.execute(
            "SELECT sender_host, provider_id, secret FROM shares_received WHERE name = ?", (name,)
        ).fetchone()
    secret = SecretBox(b.data / "keys").open(sealed, f"{sender} {provider}".encode())
    assert secret is not None
    return secret


def test_the_token_endpoint(sharing_orgs: tuple[Org, Org]) -> None:
    a, b = sharing_orgs
    alice = token(a, "alice")
    made = httpx.post(
        f"{a.url}/manage/shares",
        headers=alice,
        json={"collection": "vehicles", "share_with": f"frank@{b.host}"},
    )
    assert made.status_code == 201, made.text
    secret = received_secret(b, "vehicles")
    endpoint = httpx.get(f"{a.url}/.well-known/ocm").json()["tokenEndPoint"]
    form = "application/x-www-form-urlencoded"

    def ask(body: dict[str, str], media: str = form, by: Org = b) -> httpx.Response:
        content = urlencode(body).encode() if media == form else orjson.dumps(body)
        return signed(by, endpoint, content, media)

    good = {"grant_type": "authorization_code", "client_id": b.host, "code": secret}
    issued = ask(good)
    assert issued.status_code == 200, issued.text
    assert issued.headers["cache-control"] == "no-store"
    spec_schema("TokenResponse").validate(issued.json())
    assert issued.json()["token_type"] == "Bearer" and issued.json()["expires_in"] == 600
    older = ask({**good, "grant_type": "ocm_share"}, "application/json")
    assert older.status_code == 200, older.text

    for body, media, status, error in [
        ({**good, "code": "not-a-secret-of-any-share"}, form, 400, "invalid_grant"),
        ({**good, "grant_type": "password"}, form, 400, "unsupported_grant_type"),
        ({k: v for k, v in good.items() if k != "code"}, form, 400, "invalid_request"),
        ({**good, "client_id": "other.example"}, form, 401, "invalid_client"),
        (good, "text/plain", 400, "invalid_request"),
    ]:
        refused = ask(body, media)
        assert refused.status_code == status and refused.json()["error"] == error, refused.text
    unsigned = httpx.post(endpoint, content=urlencode(good), headers={"Content-Type": form})
    assert unsigned.status_code == 401 and unsigned.json()["error"] == "invalid_client"
    by_a = signed(a, endpoint, urlencode({**good, "client_id": a.host}).encode(), form)
    assert by_a.status_code == 400 and by_a.json()["error"] == "unauthorized_client"  # untrusted

    # an expired token is refused
    holder = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    assert httpx.get(f"{a.url}/collections/vehicles/items", headers=holder).status_code == 200
    with sqlite3.connect(a.data / DATABASE) as db:
        db.execute("UPDATE share_tokens SET expires = 0")
    expired = httpx.get(f"{a.url}/collections/vehicles/items", headers=holder)
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]


def test_a_share_waits_while_the_recipient_is_down(sharing_orgs: tuple[Org, Org]) -> None:
    a, b = sharing_orgs
    assert b.server is not None
    alice = token(a, "alice")
    port = int(b.host.rsplit(":", 1)[1])
    stop_server(b.server)
    made = httpx.post(
        f"{a.url}/manage/shares",
        headers=alice,
        json={"collection": "sectors", "share_with": f"dave@{b.host}"},
    )
    assert made.status_code == 201, made.text
    share = made.json()
    assert share["state"] == "sending" and share["delivery"]["attempts"] >= 1
    assert share["delivery"]["last_error"]
    services = open_services(load_settings({"data_dir": a.data}, environ={}))
    try:  # the very body A sends, again and again until B answers
        message = services.federation.sharing.share_message(share["id"])
    finally:
        services.close()
    assert message is not None
    spec_schema("NewShare").validate(message)
    assert message["protocol"]["ogcapi"]["requirements"] == ["must-exchange-token"]
    assert (
        message["shareWith"] == f"dave@{b.host}" and message["resourceType"] == "feature-collection"
    )
    time.sleep(1.5)  # a few retries fail meanwhile
    b.server = start_server(b.data, port=port)

    def state() -> str:
        found = httpx.get(f"{a.url}/manage/shares/{share['id']}", headers=alice).json()
        return str(found["state"])

    assert eventually(lambda: state() == "pending", 30) and state() == "pending"
    got = [s for s in operator_received(b) if s["recipient"] == "dave" and s["name"] == "sectors"]
    assert len(got) == 1
    # the secret B got after the retries is the share's one: dave reads through the mount
    b.cli("share", "accept", str(got[0]["id"]), "--user", "dave")
    page = httpx.get(f"{b.url}/collections/{got[0]['collection']}/items", headers=token(b, "dave"))
    assert page.status_code == 200 and len(page.json()["features"]) == 5
    with sqlite3.connect(a.data / DATABASE) as db:
        assert db.execute("SELECT count(*) FROM outbox").fetchone() == (0,)
