"""Webhooks between two real servers (on SQLite, then each on its own PostgreSQL schema),
with real receivers on loopback that check every signature: each event type arrives once,
signed, in order per share; a receiver that is down gets its deliveries, in order, after it
comes back on the same port."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from opengeomesh import samples
from opengeomesh.config import load_settings
from opengeomesh.services import Services, open_services
from opengeomesh.webhooks.models import EVENT_TYPES
from tests.conftest import start_server, stop_server
from tests.e2e.conftest import FAST_OUTBOX
from tests.e2e.orgs import Org, eventually, make_org
from tests.postgres import fresh_database_url
from tests.webhook_receiver import Receiver


@dataclass
class Hooked:
    a: Org
    b: Org
    at_a: Receiver  # the operator's endpoint on A: every event of A
    at_b: Receiver  # bob's endpoint on B: his shares
    hook_a: int
    hook_b: int
    alice: dict[str, str]
    bob: dict[str, str]


def _seed(org: Org, user: str, layers: dict[str, Any]) -> dict[str, str]:
    """Set the org up in-process before its server starts (as the CLI would, quicker): a
    user, their layers, their token."""
    with contextmanager_services(org) as services:
        services.accounts.add_user(user, user.title())
        caller = services.accounts.caller_for_user(user)
        for name, layer in layers.items():
            services.catalog.create(caller, name, title=name)
            services.catalog.import_features(caller, name, io.BytesIO(orjson.dumps(layer)))
        secret = services.accounts.create_token(user).secret
    return {"Authorization": f"Bearer {secret}"}


@contextmanager
def contextmanager_services(org: Org) -> Iterator[Services]:
    services = open_services(load_settings({"data_dir": org.data}, environ={}))
    try:
        yield services
    finally:
        services.close()


def _started(org: Org) -> Org:
    org.server = start_server(org.data, port=int(org.host.rsplit(":", 1)[1]))
    return org


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hooked(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hooked]:
    base = tmp_path_factory.mktemp("webhooks")
    with ExitStack() as stack:
        config = {"a": FAST_OUTBOX, "b": FAST_OUTBOX}
        if request.param == "postgresql":
            for name in config:
                config[name] += f'database_url = "{stack.enter_context(fresh_database_url())}"\n'
        a = make_org(base, "a", "Feuerwehr Musterstadt", config=config["a"], run=False)
        b = make_org(base, "b", "Leitstelle Nord", config=config["b"], run=False)
        layers = {"hydrants": samples.hydrants(20), "sectors": samples.incident_sectors()}
        alice, bob = _seed(a, "alice", layers), _seed(b, "bob", {})
        for org in (a, b):
            stack.callback(_stop, _started(org))
        at_a, at_b = Receiver(port=0).start(), Receiver(port=0).start()
        stack.callback(at_a.stop)
        stack.callback(at_b.stop)
        made_a = orjson.loads(a.cli("webhook", "add", at_a.url, "--json").stdout)
        made_b = httpx.post(f"{b.url}/manage/webhooks", headers=bob, json={"url": at_b.url})
        assert made_b.status_code == 201, made_b.text
        assert made_a["owner"] is None and made_b.json()["owner"] == "bob"
        at_a.secrets.append(made_a["secret"])
        at_b.secrets.append(made_b.json()["secret"])
        tested = a.cli("webhook", "test", str(made_a["id"]))
        assert tested.stdout.startswith("delivered msg_"), tested.stdout + tested.stderr
        assert [r.event["type"] for r in at_a.received] == ["webhook.test"]
        at_a.received.clear()
        invite = httpx.post(f"{a.url}/manage/invites", headers=alice)
        assert invite.status_code == 201, invite.text
        accepted = httpx.post(
            f"{b.url}/manage/invites/accept", headers=bob, json={"invite": invite.json()["invite"]}
        )
        assert accepted.status_code == 200, accepted.text
        yield Hooked(a, b, at_a, at_b, made_a["id"], made_b.json()["id"], alice, bob)


def _stop(org: Org) -> None:
    if org.server is not None and org.server.process.poll() is None:
        stop_server(org.server)


def _share(h: Hooked, alice: dict[str, str], collection: str, permission: str = "read") -> int:
    made = httpx.post(
        f"{h.a.url}/manage/shares",
        headers=alice,
        json={"collection": collection, "share_with": f"bob@{h.b.host}", "permission": permission},
    )
    assert made.status_code == 201, made.text
    assert made.json()["state"] == "pending", made.text
    return int(made.json()["id"])


def _received_id(h: Hooked, bob: dict[str, str], name: str) -> int:
    found = httpx.get(f"{h.b.url}/manage/received-shares", headers=bob).json()
    return int(next(s["id"] for s in found if s["name"] == name and s["state"] == "pending"))


def _kinds(receiver: Receiver, share: int | None = None) -> list[str]:
    return [
        e["type"]
        for e in receiver.events()
        if share is None or e["data"].get("share", {}).get("id") == share
    ]


def test_every_event_arrives_once_signed_in_order_per_share(hooked: Hooked) -> None:
    h = hooked
    alice, bob = h.alice, h.bob
    assert eventually(lambda: _kinds(h.at_a) == ["invite.accepted"])

    first = _share(h, alice, "hydrants", "write")
    first_at_b = _received_id(h, bob, "hydrants")
    accepted = httpx.post(f"{h.b.url}/manage/received-shares/{first_at_b}/accept", headers=bob)
    assert accepted.status_code == 200, accepted.text
    assert eventually(lambda: "share.accepted" in _kinds(h.at_a, first))  # B told A
    patched = httpx.patch(
        f"{h.a.url}/manage/shares/{first}", headers=alice, json={"permission": "read"}
    )
    assert patched.status_code == 200, patched.text
    for n in range(3):  # three edits in a row: one coalesced layer.changed
        feature = {"type": "Feature", "geometry": None, "properties": {"n": n}}
        added = httpx.post(f"{h.a.url}/collections/hydrants/items", headers=alice, json=feature)
        assert added.status_code == 201, added.text
    second = _share(h, alice, "sectors")
    second_at_b = _received_id(h, bob, "sectors")
    declined = httpx.post(f"{h.b.url}/manage/received-shares/{second_at_b}/decline", headers=bob)
    assert declined.status_code == 200, declined.text
    assert eventually(lambda: "share.permission_changed" in _kinds(h.at_b, first_at_b))
    revoked = httpx.delete(f"{h.a.url}/manage/shares/{first}", headers=alice)
    assert revoked.status_code == 204, revoked.text

    at_a_expected = {
        first: ["share.accepted", "share.permission_changed", "share.revoked"],
        second: ["share.declined"],
    }
    at_b_expected = {
        first_at_b: [
            "share.received",
            "share.accepted",
            "share.permission_changed",
            "share.revoked",
        ],
        second_at_b: ["share.received", "share.declined"],
    }
    assert eventually(lambda: len(h.at_a.received) == 6 and len(h.at_b.received) == 6)
    time.sleep(1.0)  # nothing more comes: every event once
    for share, kinds in at_a_expected.items():
        assert _kinds(h.at_a, share) == kinds
    for share, kinds in at_b_expected.items():
        assert _kinds(h.at_b, share) == kinds
    assert _kinds(h.at_a).count("layer.changed") == 1
    assert _kinds(h.at_a).count("invite.accepted") == 1
    assert set(_kinds(h.at_a)) | set(_kinds(h.at_b)) == set(EVENT_TYPES)
    for receiver in (h.at_a, h.at_b):
        assert all(r.verified for r in receiver.received)
        ids = [r.headers["webhook-id"] for r in receiver.received]
        assert len(set(ids)) == len(ids)
    events = {e["type"]: e for e in h.at_a.events()}
    assert events["layer.changed"]["data"]["collection"]["id"] == "hydrants"
    assert events["layer.changed"]["data"]["changes"] == f"{h.a.url}/collections/hydrants/changes"
    assert events["invite.accepted"]["data"]["contact"]["address"] == f"bob@{h.b.host}"
    assert events["share.revoked"]["server"] == h.a.host
    listed = orjson.loads(h.a.cli("webhook", "deliveries", str(h.hook_a), "--json").stdout)
    assert {d["status"] for d in listed} == {"delivered"} and len(listed) == 7  # and the test
    got = {e["type"]: e for e in h.at_b.events()}["share.received"]["data"]["share"]
    assert got["direction"] == "received" and got["peer"] == h.a.host and got["recipient"] == "bob"


def test_a_receiver_that_was_down_gets_its_deliveries_in_order(hooked: Hooked) -> None:
    h = hooked
    alice, bob = h.alice, h.bob
    port = h.at_b.port
    h.at_b.stop()
    h.at_b.received.clear()
    _share(h, alice, "hydrants")
    at_b = _received_id(h, bob, "hydrants")
    accepted = httpx.post(f"{h.b.url}/manage/received-shares/{at_b}/accept", headers=bob)
    assert accepted.status_code == 200, accepted.text

    def waiting() -> list[dict[str, Any]]:
        listed = httpx.get(f"{h.b.url}/manage/webhooks/{h.hook_b}/deliveries", headers=bob)
        assert listed.status_code == 200, listed.text
        return [d for d in listed.json() if d["status"] == "pending"]

    # the first is retried; the second waits behind it, untried
    assert eventually(lambda: [d["attempts"] > 0 for d in waiting()] == [False, True])
    pending = waiting()
    assert [d["event_type"] for d in pending] == ["share.accepted", "share.received"]
    assert pending[1]["last_error"] and pending[1]["next_attempt"] is not None
    assert h.at_b.received == []

    h.at_b.port = port
    h.at_b.start()  # back on the same port
    assert eventually(lambda: len(h.at_b.received) == 2, seconds=20)
    time.sleep(0.5)
    assert _kinds(h.at_b, at_b) == ["share.received", "share.accepted"]
    assert all(r.verified for r in h.at_b.received) and waiting() == []
