"""Secrets at rest and in logs, through a full share between two real servers: personal
tokens, invite tokens, share secrets and access tokens are stored only as hashes (a share's
secret on the receiving side sealed, since it must be sent back to the token endpoint), key
files are private, and no secret of the flow appears in either server's log, even at debug."""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Iterator

import httpx
import orjson
import pytest

from opengeomesh import samples
from tests.conftest import stop_server
from tests.e2e.conftest import FAST_OUTBOX
from tests.e2e.orgs import Org, eventually, make_org
from tests.e2e.test_sharing_refusals import received_secret

DEBUG = FAST_OUTBOX + 'log_level = "debug"\n'


@pytest.fixture(scope="module")
def orgs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Org, Org]]:
    base = tmp_path_factory.mktemp("secrets")
    a = make_org(base, "a", "Sender", config=DEBUG)
    b = make_org(base, "b", "Receiver", config=DEBUG)
    try:
        a.cli("user", "add", "alice")
        b.cli("user", "add", "bob")
        source = a.data.parent / "hydrants.geojson"
        source.write_bytes(orjson.dumps(samples.hydrants(20)))
        a.cli("collection", "import", "hydrants", str(source), "--create", "--user", "alice")
        yield a, b
    finally:
        for org in (a, b):
            if org.server is not None:
                stop_server(org.server)


def database_bytes(org: Org) -> bytes:
    """Everything the SQLite database holds on disk (the file and its write-ahead log)."""
    return b"".join(p.read_bytes() for p in org.data.glob("opengeomesh.sqlite*"))


def test_no_secret_is_kept_or_logged(orgs: tuple[Org, Org]) -> None:
    a, b = orgs
    secrets: dict[str, str] = {}
    secrets["alice's token"] = a.cli("token", "create", "alice").stdout.strip()
    secrets["bob's token"] = b.cli("token", "create", "bob").stdout.strip()
    alice = {"Authorization": "Bearer " + secrets["alice's token"]}
    bob = {"Authorization": "Bearer " + secrets["bob's token"]}

    # an invite: made through the API, its link opened as a browser would, accepted by bob
    invite = httpx.post(f"{a.url}/manage/invites", headers=alice, json={})
    assert invite.status_code == 201, invite.text
    link = invite.json()["link"]
    secrets["invite token"] = httpx.URL(link).params["token"]
    assert httpx.get(link).status_code == 200
    accepted = httpx.post(
        f"{b.url}/manage/invites/accept", headers=bob, json={"invite": invite.json()["invite"]}
    )
    assert accepted.status_code == 200, accepted.text

    # a share, accepted and read through the mount (a token exchange), then direct access
    made = httpx.post(
        f"{a.url}/manage/shares",
        headers=alice,
        json={"collection": "hydrants", "share_with": f"bob@{b.host}", "permission": "write"},
    )
    assert made.status_code == 201, made.text
    inbox = eventually(lambda: httpx.get(f"{b.url}/manage/received-shares", headers=bob).json())
    share = inbox[0]
    opened = httpx.post(f"{b.url}/manage/received-shares/{share['id']}/accept", headers=bob)
    assert opened.status_code == 200, opened.text
    items = httpx.get(f"{opened.json()['mount_url']}/items", headers=bob)
    assert items.status_code == 200 and len(items.json()["features"]) == 20
    secrets["share secret"] = received_secret(b, "hydrants")
    direct = httpx.post(f"{b.url}/manage/received-shares/{share['id']}/access", headers=bob)
    assert direct.status_code == 200, direct.text
    secrets["access token"] = direct.json()["access_token"]
    holder = {"Authorization": f"Bearer {secrets['access token']}"}
    assert httpx.get(direct.json()["collection_url"] + "/items", headers=holder).status_code == 200
    revoked = httpx.delete(f"{a.url}/manage/shares/{made.json()['id']}", headers=alice)
    assert revoked.status_code == 204
    assert httpx.get(direct.json()["collection_url"], headers=holder).status_code in (401, 404)

    # at rest: never the secret itself, on either side; the hashes are there
    for org in (a, b):
        stored = database_bytes(org)
        for name, secret in secrets.items():
            assert secret.encode() not in stored, f"{name} stored in clear by {org.host}"
    a_stored = database_bytes(a)
    for name in ("alice's token", "share secret", "access token", "invite token"):
        digest = hashlib.sha256(secrets[name].encode()).hexdigest().encode()
        assert digest in a_stored, f"no hash of the {name} on the sending side"
    for org in (a, b):
        keys = sorted((org.data / "keys").iterdir())
        assert keys, "no key files"
        for path in keys:
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode == 0o600, f"{path} has mode {oct(mode)}"

    # in the logs of both servers (uvicorn's access log included): none of them
    logs = {org.host: org.server.output() for org in (a, b) if org.server is not None}
    assert all("GET /" in text for text in logs.values()), "the servers logged nothing"
    for host, text in logs.items():
        for name, secret in secrets.items():
            assert secret not in text, f"the {name} appears in the log of {host}"


def test_key_directory_is_private(orgs: tuple[Org, Org]) -> None:
    for org in orgs:
        mode = stat.S_IMODE((org.data / "keys").stat().st_mode)
        assert mode & 0o077 == 0, f"{org.data / 'keys'} has mode {oct(mode)}"
