"""Two (and three) real servers on loopback ports with their own data directories and keys:
discovery, the invite flow both ways, and every refusal of the federation core."""

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import HTTPMessageSigner, algorithms

from opengeomesh.ocm.invites import encode_invite
from opengeomesh.ocm.signatures import COVERED, RequestSigner, _Keys
from tests.conftest import free_port, start_server, stop_server
from tests.e2e.orgs import Org, make_org, spec_schema


@pytest.fixture(scope="module")
def orgs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Org, Org]]:
    base = tmp_path_factory.mktemp("federation")
    a = make_org(base, "a", "Feuerwehr Musterstadt")
    b = make_org(base, "b", "Leitstelle Nord")
    for org, users in ((a, ("alice", "carol", "erin")), (b, ("bob", "dave", "frank", "gina"))):
        for user in users:
            org.cli(
                "user",
                "add",
                user,
                "--email",
                f"{user}@mail.example",
                "--display-name",
                user.title(),
            )
    yield a, b
    for org in (a, b):
        assert org.server is not None
        stop_server(org.server)


def invite(org: Org, user: str) -> str:
    return org.cli("invite", "create", "--user", user).stdout.strip()


def contacts(org: Org, user: str) -> str:
    return org.cli("contact", "list", "--user", user).stdout


def test_discovery_document(orgs: tuple[Org, Org]) -> None:
    a, _ = orgs
    for path in ("/.well-known/ocm", "/ocm-provider"):
        document = httpx.get(a.url + path).json()
        spec_schema("Discovery").validate(document)
        assert document["provider"] == "Feuerwehr Musterstadt"
        assert document["endPoint"] == f"{a.url}/ocm"
        kinds = {t["name"]: t for t in document["resourceTypes"]}
        collection = kinds["feature-collection"]
        assert collection["shareTypes"] == ["user", "group"]
        assert collection["protocols"]["ogcapi-receive"] == {}
        assert {"invites", "http-sig"} <= set(document["capabilities"])
        assert {"must-use-http-sig", "must-invite"} <= set(document["criteria"])
        assert document["inviteAcceptDialog"] == "/ocm/accept-invite"
    keys = httpx.get(document["jwksUri"]).json()["keys"]
    assert keys and all(k["kid"].startswith(a.host + "#") and k["alg"] == "Ed25519" for k in keys)


def test_invite_flow_both_ways(orgs: tuple[Org, Org]) -> None:
    a, b = orgs
    text = invite(a, "alice")
    accepted = b.cli("invite", "accept", text, "--user", "bob")
    assert "Feuerwehr Musterstadt" in accepted.stderr
    assert f"bob@{b.host}" in contacts(a, "alice") and "bob@mail.example" in contacts(a, "alice")
    assert f"alice@{a.host}" in contacts(b, "bob") and "Alice" in contacts(b, "bob")
    assert f"bob@{b.host}" in a.cli("invite", "list", "--user", "alice").stdout
    assert "Leitstelle Nord" in a.cli("peer", "list").stdout
    assert "Feuerwehr Musterstadt" in b.cli("peer", "list").stdout
    back = invite(b, "dave")
    a.cli("invite", "accept", back, "--user", "carol")
    assert f"carol@{a.host}" in contacts(b, "dave")
    assert f"dave@{b.host}" in contacts(a, "carol")


def test_reused_invite_is_refused(orgs: tuple[Org, Org]) -> None:
    a, b = orgs
    text = invite(a, "alice")
    b.cli("invite", "accept", text, "--user", "frank")
    again = b.cli("invite", "accept", text, "--user", "gina", check=False)
    assert again.returncode == 2 and "INVITE_ALREADY_ACCEPTED" in again.stderr
    assert f"gina@{b.host}" not in contacts(a, "alice")
    assert "alice" not in contacts(b, "gina")


def test_unknown_and_expired_invites(orgs: tuple[Org, Org]) -> None:
    a, b = orgs
    unknown = b.cli(
        "invite", "accept", encode_invite("nope", a.host), "--user", "gina", check=False
    )
    assert unknown.returncode == 2 and "TOKEN_INVALID" in unknown.stderr
    text = invite(a, "erin")
    with sqlite3.connect(a.data / "opengeomesh.sqlite") as db:
        db.execute(
            "UPDATE invites SET expires = '2020-01-01T00:00:00+00:00' WHERE accepted IS NULL"
        )
    expired = b.cli("invite", "accept", text, "--user", "gina", check=False)
    assert expired.returncode == 2 and "TOKEN_EXPIRED" in expired.stderr
    assert "gina" not in contacts(a, "erin") and "erin" not in contacts(b, "gina")


def test_blocked_peer_is_refused_on_both_sides(orgs: tuple[Org, Org]) -> None:
    a, b = orgs
    a.cli("peer", "block", b.host)
    try:
        text = invite(a, "erin")
        refused = b.cli("invite", "accept", text, "--user", "gina", check=False)
        assert refused.returncode == 2 and "SERVER_NOT_TRUSTED" in refused.stderr
        assert "denylist" in httpx.get(a.url + "/.well-known/ocm").json()["criteria"]
    finally:
        a.cli("peer", "forget", b.host)
    b.cli("peer", "block", a.host)
    try:
        local = b.cli("invite", "accept", text, "--user", "gina", check=False)
        assert local.returncode == 2 and "blocked" in local.stderr
    finally:
        b.cli("peer", "forget", a.host)
    assert "gina" not in contacts(a, "erin") and "erin" not in contacts(b, "gina")
    assert f"gina@{b.host}" not in a.cli("invite", "list", "--user", "erin").stdout


def test_private_discovery_target_needs_the_switch(orgs: tuple[Org, Org], tmp_path: Path) -> None:
    a, _ = orgs
    strict = make_org(tmp_path, "c", "Rettungsdienst Süd", private=False, run=False)
    strict.cli("user", "add", "hugo")
    text = invite(a, "erin")
    refused = strict.cli("invite", "accept", text, "--user", "hugo", check=False)
    assert refused.returncode == 2 and "does not connect to" in refused.stderr
    assert "hugo" not in contacts(a, "erin")
    assert a.host not in strict.cli("peer", "list").stdout


# --- signatures, attacked directly ---------------------------------------------------------


def acceptance(org_from: Org, token: str, user: str = "mallory") -> bytes:
    return orjson.dumps(
        {
            "recipientProvider": org_from.host,
            "token": token,
            "userID": user,
            "email": "",
            "name": user,
        }
    )


def fresh_token(org: Org, user: str) -> str:
    from opengeomesh.ocm.invites import decode_invite

    return decode_invite(invite(org, user))[0]


def post(org: Org, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request(
        "POST",
        f"{org.url}/ocm/invite-accepted",
        content=body,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    return request


def send(request: httpx.Request) -> httpx.Response:
    with httpx.Client() as client:
        return client.send(request)


def sign_with(
    request: httpx.Request,
    key: Ed25519PrivateKey,
    kid: str,
    created: datetime | None = None,
    append: bool = False,
) -> httpx.Request:
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519, key_resolver=_Keys(lambda _: key)
    )
    signer.sign(
        request,
        key_id=kid,
        created=created or datetime.now(UTC),
        label="second" if append else "ocm",
        tag="ocm",
        include_alg=False,
        covered_component_ids=COVERED,
        body=request.content,
        append_if_signature_exists=append,
        use_existing_digest=append,
    )
    return request


def assert_refused(response: httpx.Response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    spec_schema("Error").validate(body)
    assert reason in (body["message"] + " " + body.get("detail", "")), body


def invite_open(org: Org, user: str) -> bool:
    return "mallory" not in org.cli("invite", "list", "--user", user).stdout


def test_signature_attacks(orgs: tuple[Org, Org]) -> None:
    a, b = orgs
    b_key = b.keyring().current
    token = fresh_token(a, "erin")
    body = acceptance(b, token)

    assert_refused(send(post(a, body)), 401, "SIGNATURE_REQUIRED")
    forged = sign_with(post(a, body), Ed25519PrivateKey.generate(), b_key.kid)
    assert_refused(send(forged), 401, "does not verify")
    tampered = RequestSigner(b.keyring()).sign(post(a, body))
    tampered = httpx.Request(
        "POST", tampered.url, headers=tampered.headers, content=acceptance(b, token, "mallorx")
    )
    assert_refused(send(tampered), 401, "Content-Digest")
    other_host = sign_with(post(a, body), b_key.private, f"{a.host}#{b_key.kid.split('#')[1]}")
    assert_refused(send(other_host), 401, "another host")
    as_a = sign_with(post(a, acceptance(a, token)), b_key.private, b_key.kid)
    assert_refused(send(as_a), 400, "this server itself")
    old = sign_with(
        post(a, body), b_key.private, b_key.kid, created=datetime.now(UTC) - timedelta(minutes=10)
    )
    assert_refused(send(old), 401, "SIGNATURE_REFUSED")
    twice = sign_with(post(a, body), b_key.private, b_key.kid)
    twice = sign_with(twice, b_key.private, b_key.kid, append=True)
    assert_refused(send(twice), 401, "SIGNATURE_REFUSED")
    unknown_kid = sign_with(post(a, body), b_key.private, f"{b.host}#missing")
    assert_refused(send(unknown_kid), 401, "publishes no key")
    assert invite_open(a, "erin")

    genuine = RequestSigner(b.keyring()).sign(post(a, body))
    first = send(genuine)
    assert first.status_code == 200, first.text
    spec_schema("AcceptedInviteResponse").validate(first.json())
    assert first.json()["userID"] == "erin"
    assert_refused(send(genuine), 401, "replay")
    headers = httpx.Headers(genuine.headers)
    headers["signature-input"] = headers["signature-input"].replace("ocm=", "xx=", 1)
    headers["signature"] = headers["signature"].replace("ocm=", "xx=", 1)
    relabelled = httpx.Request("POST", genuine.url, content=genuine.content, headers=headers)
    assert_refused(send(relabelled), 401, "replay")


def test_rotated_keys_keep_working(orgs: tuple[Org, Org]) -> None:
    a, b = orgs
    before = b.keyring().current.kid
    b.cli("keys", "rotate")
    kids = [k["kid"] for k in httpx.get(f"{b.url}/ocm/jwks").json()["keys"]]
    assert before in kids and len(kids) == 2
    old_signed = sign_with(
        post(a, acceptance(b, fresh_token(a, "carol"))), b.keyring().published()[0].private, before
    )
    assert send(old_signed).status_code == 200  # still published: the grace period
    text = invite(a, "carol")
    b.cli("invite", "accept", text, "--user", "gina")  # signed with the new key
    assert f"gina@{b.host}" in contacts(a, "carol")


@pytest.mark.parametrize(
    ("content_type", "body", "status", "field"),
    [
        ("text/plain", b"{}", 415, None),
        ("application/json", b"{not json", 400, "body"),
        ("application/json", b"[1, 2]", 400, "body"),
        ("application/json", b'{"token": "x"}', 400, "recipientProvider"),
        (
            "application/json",
            b'{"recipientProvider": "b.example", "token": 5, "userID": "u",'
            b' "email": "", "name": ""}',
            400,
            "token",
        ),
        (
            "application/json",
            b'{"recipientProvider": "not a host", "token": "t", "userID": "u",'
            b' "email": "", "name": ""}',
            400,
            "recipientProvider",
        ),
        ("application/json", b'{"pad": "' + b"x" * 70000 + b'"}', 413, None),
    ],
)
def test_bad_requests_get_ocm_errors(
    orgs: tuple[Org, Org], content_type: str, body: bytes, status: int, field: str | None
) -> None:
    a, _ = orgs
    response = httpx.post(
        f"{a.url}/ocm/invite-accepted", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    payload = response.json()
    spec_schema("400" if status == 400 else "Error").validate(payload)
    if field:
        assert payload["validationErrors"][0]["name"] == field


def test_invite_pages(orgs: tuple[Org, Org]) -> None:
    a, b = orgs
    link = a.cli("invite", "create", "--user", "alice").stderr.split("link: ")[1].split()[0]
    page = httpx.get(link)
    assert page.status_code == 200 and "Feuerwehr Musterstadt" in page.text
    token = link.split("token=")[1].split("&")[0]
    dialog = httpx.get(
        f"{b.url}/ocm/accept-invite", params={"token": token, "providerDomain": a.host}
    )
    assert "Feuerwehr Musterstadt" in dialog.text and "opengeomesh invite accept" in dialog.text


def test_the_management_api_does_the_same(orgs: tuple[Org, Org]) -> None:
    a, b = orgs
    alice = {"Authorization": f"Bearer {a.cli('token', 'create', 'alice').stdout.strip()}"}
    dave = {"Authorization": f"Bearer {b.cli('token', 'create', 'dave').stdout.strip()}"}
    made = httpx.post(f"{a.url}/manage/invites", headers=alice)
    assert made.status_code == 201
    body = made.json()
    assert body["link"].startswith(f"{a.url}/ocm/invite?token=") and body["accepted"] is None
    accepted = httpx.post(
        f"{b.url}/manage/invites/accept", headers=dave, json={"invite": body["invite"]}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["organisation"] == "Feuerwehr Musterstadt"
    assert accepted.json()["contact"]["address"] == f"alice@{a.host}"
    listed = httpx.get(f"{a.url}/manage/invites", headers=alice).json()
    assert any(i["accepted_by"] == f"dave@{b.host}" for i in listed)
    mine = httpx.get(f"{b.url}/manage/contacts", headers=dave).json()
    assert f"alice@{a.host}" in [c["address"] for c in mine]
    again = httpx.post(
        f"{b.url}/manage/invites/accept", headers=dave, json={"invite": body["invite"]}
    )
    assert again.status_code == 409 and "INVITE_ALREADY_ACCEPTED" in again.json()["detail"]
    assert httpx.get(f"{a.url}/manage/peers", headers=alice).status_code == 403
    root = {"Authorization": f"Bearer {root_token(a)}"}
    peers = httpx.get(f"{a.url}/manage/peers", headers=root).json()
    assert any(p["host"] == b.host and p["invited"] for p in peers)
    blocked = httpx.put(f"{a.url}/manage/peers/{b.host}", headers=root, json={"status": "blocked"})
    assert blocked.json()["blocked"] is True
    httpx.put(f"{a.url}/manage/peers/{b.host}", headers=root, json={"status": "none"})


def root_token(org: Org) -> str:
    if "root" not in org.cli("user", "list").stdout:
        org.cli("user", "add", "root", "--admin")
    return str(org.cli("token", "create", "root").stdout.strip())


def test_own_invites_cannot_come_back_under_another_name(orgs: tuple[Org, Org]) -> None:
    a, _ = orgs
    token = fresh_token(a, "alice")
    port = a.host.rsplit(":", 1)[1]
    for spelling in (a.host, f"localhost:{port}", f"[::ffff:127.0.0.1]:{port}"):
        refused = a.cli(
            "invite", "accept", encode_invite(token, spelling), "--user", "carol", check=False
        )
        assert refused.returncode == 2 and "this server itself" in refused.stderr, spelling
    assert f"alice@{a.host}" not in contacts(a, "carol")


class _LegacyPeer:
    """A peer of an older kind: serves a discovery document without ``http-sig`` and signs
    nothing (a tiny HTTP server on loopback)."""

    def __init__(self) -> None:
        import http.server
        import threading

        port = free_port()
        self.host = f"127.0.0.1:{port}"
        document = orjson.dumps(
            {
                "enabled": True,
                "apiVersion": "1.1.0",
                "endPoint": f"http://{self.host}/ocm",
                "provider": "Legacy Leitstelle",
                "capabilities": ["/invite-accepted"],
                "resourceTypes": [
                    {"name": "file", "shareTypes": ["user"], "protocols": {"webdav": "/dav/"}}
                ],
            }
        )

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = self.path in ("/.well-known/ocm", "/ocm-provider")
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(document if found else b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_unsigned_only_from_non_signing_peers_and_only_if_allowed(
    orgs: tuple[Org, Org], tmp_path: Path
) -> None:
    a, b = orgs
    lenient = make_org(tmp_path, "d", "Leitstelle Ost", run=False)
    with (lenient.data / "config.toml").open("a") as config:
        config.write("accept_unsigned = true\n")
    lenient.cli("user", "add", "ida")
    lenient.server = start_server(lenient.data, port=int(lenient.host.rsplit(":", 1)[1]))
    legacy = _LegacyPeer()
    try:
        assert (
            "must-use-http-sig"
            not in httpx.get(lenient.url + "/.well-known/ocm").json()["criteria"]
        )
        token = fresh_token(lenient, "ida")
        unsigned_legacy = send(post(lenient, acceptance_from(legacy.host, token)))
        assert unsigned_legacy.status_code == 200, unsigned_legacy.text
        assert f"mallory@{legacy.host}" in contacts(lenient, "ida")
        unsigned_signer = send(post(lenient, acceptance(b, fresh_token(lenient, "ida"))))
        assert_refused(unsigned_signer, 401, "SIGNATURE_REQUIRED")
        strict = send(post(a, acceptance_from(legacy.host, fresh_token(a, "erin"))))
        assert_refused(strict, 401, "SIGNATURE_REQUIRED")
    finally:
        legacy.close()
        stop_server(lenient.server)


def acceptance_from(host: str, token: str) -> bytes:
    return orjson.dumps(
        {
            "recipientProvider": host,
            "token": token,
            "userID": "mallory",
            "email": "",
            "name": "Mallory",
        }
    )
