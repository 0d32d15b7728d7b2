"""The sending side's checks through the management API, in order and each named: the trust
policy, the collection and what the user may grant, the operator's sharing rules."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from opengeomesh.app import create_app
from tests.conftest import InProcessClient, World, fresh_services, populate

PEER = "leitstelle.invalid"  # RFC 6761: never resolves, so nothing leaves this machine


@pytest.fixture
def open_world(tmp_path: Path) -> Iterator[tuple[World, InProcessClient]]:
    with fresh_services(tmp_path / "data", trust_mode="open", peer_timeout=2) as services:
        world = populate(services)
        client = InProcessClient(create_app(services.settings, services), "http://ogm.test")
        yield world, client
        client.close()


def share(client: InProcessClient, world: World, user: str, **body: str) -> dict[str, object]:
    response = client.post("/manage/shares", headers=world.auth(user), json=body)
    return {"status": response.status_code, **response.json()}


def test_rules_decide_for_peers_that_are_not_trusted(
    open_world: tuple[World, InProcessClient],
) -> None:
    world, client = open_world
    ask = {"collection": "hydrants", "share_with": f"bob@{PEER}"}
    refused = share(client, world, "alice", **ask)
    assert refused["status"] == 403 and "sharing policy" in str(refused["detail"])

    root = world.auth("root")
    rules = f"/manage/collections/hydrants/sharing-rules/{PEER}"
    assert (
        client.put(rules, headers=world.auth("alice"), json={"permission": "read"}).status_code
        == 403
    )
    assert client.put(rules, headers=root, json={"permission": "read"}).status_code == 200
    write = share(client, world, "alice", **ask, permission="write")
    assert write["status"] == 403 and "read-only" in str(write["detail"])

    # allowed: kept and waiting, as the peer cannot be reached
    made = share(client, world, "alice", **ask)
    assert made["status"] == 201 and made["state"] == "sending"
    assert made["delivery"] and made["delivery"]["attempts"] == 1  # type: ignore[index]
    assert client.get(f"/manage/shares/{made['id']}", headers=world.auth("bob")).status_code == 404

    # a wildcard rule for the whole domain gives write; the exact host's rule still wins
    wildcard = "/manage/collections/hydrants/sharing-rules/*.invalid"
    assert client.put(wildcard, headers=root, json={"permission": "write"}).status_code == 200
    assert share(client, world, "alice", **ask, permission="write")["status"] == 403
    assert client.delete(rules, headers=root).status_code == 204
    assert share(client, world, "alice", **ask, permission="write")["status"] == 201
    listed = client.get("/manage/collections/hydrants/sharing-rules", headers=root).json()
    assert listed == [{"domain": "*.invalid", "permission": "write"}]

    # a rule can also keep a collection from a server the operator trusts
    client.put(f"/manage/peers/{PEER}", headers=root, json={"status": "trusted"})
    assert client.put(rules, headers=root, json={"permission": "none"}).status_code == 200
    kept = share(client, world, "alice", **ask)
    assert kept["status"] == 403 and "may not go to" in str(kept["detail"])


def test_shares_follow_what_their_sender_still_holds(
    open_world: tuple[World, InProcessClient],
) -> None:
    world, client = open_world
    root, alice = world.auth("root"), world.auth("alice")
    client.put(
        "/manage/collections/hydrants/sharing-rules/*", headers=root, json={"permission": "write"}
    )
    client.put(
        "/manage/collections/hydrants/grants",
        headers=alice,
        json={"subject": "user:carol", "permission": "write"},
    )
    made = share(client, world, "carol", collection="hydrants", share_with=f"x@{PEER}")
    made_write = share(
        client, world, "carol", collection="hydrants", share_with=f"y@{PEER}", permission="write"
    )
    assert made["status"] == made_write["status"] == 201

    def carols() -> dict[str, str]:
        found = client.get("/manage/shares", headers=world.auth("carol")).json()
        return {s["share_with"]: s["permission"] for s in found}

    assert carols() == {f"x@{PEER}": "read", f"y@{PEER}": "write"}
    client.put(
        "/manage/collections/hydrants/grants",
        headers=alice,
        json={"subject": "user:carol", "permission": "read"},
    )
    assert carols() == {f"x@{PEER}": "read", f"y@{PEER}": "read"}  # she may only read now
    assert (
        client.delete("/manage/collections/hydrants/grants/user:carol", headers=alice).status_code
        == 204
    )
    assert carols() == {}  # she cannot read it any more: her shares are gone


def test_what_a_user_may_grant(open_world: tuple[World, InProcessClient]) -> None:
    world, client = open_world
    client.put(
        "/manage/collections/hydrants/sharing-rules/*",
        headers=world.auth("root"),
        json={"permission": "write"},
    )
    # bob reads hydrants through his group: read-only shares only
    bob = share(
        client, world, "bob", collection="hydrants", share_with=f"x@{PEER}", permission="write"
    )
    assert bob["status"] == 403 and "permissions" in str(bob["detail"])
    carol = share(client, world, "carol", collection="hydrants", share_with=f"x@{PEER}")
    assert carol["status"] == 404
    here = world.services.federation.host
    own = share(client, world, "alice", collection="hydrants", share_with=f"bob@{here}")
    assert own["status"] == 400 and "local grant" in str(own["detail"])
    odd = share(client, world, "alice", collection="hydrants", share_with="no-address")
    assert odd["status"] == 400 and odd["parameter"] == "share_with"
