"""The management API of webhooks against a real receiver on loopback: endpoints (secret
shown once, events, who sees what), test sends, deliveries with their status and retries,
events queued by gestures, and the address guard at registration and at delivery."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openapi_schema_validator import OAS30Validator

from opengeomesh.app import create_app
from opengeomesh.ocm.client import OutboundClient
from opengeomesh.ocm.secretbox import SecretBox
from opengeomesh.services import Services
from opengeomesh.webhooks.delivery import WebhookSender, secret_context
from opengeomesh.webhooks.models import EVENT_TYPES, DeliveryStatus
from opengeomesh.webhooks.signing import new_secret
from tests.conftest import InProcessClient, World, fresh_services, populate
from tests.webhook_receiver import Receiver


@pytest.fixture
def hooked(tmp_path: Path) -> Iterator[tuple[InProcessClient, World]]:
    """A server that may call loopback (as in development) and retries after 0.1 s."""
    with fresh_services(
        tmp_path / "data", allow_private_peers=True, delivery_retry_seconds=0.1
    ) as services:
        world = populate(services, hydrant_count=5)
        client = InProcessClient(create_app(services.settings, services), "http://ogm.test")
        yield client, world
        client.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver(port=0).start()
    yield started
    started.stop()


def _add(client: InProcessClient, world: World, user: str, **body: object) -> dict[str, object]:
    made = client.post("/manage/webhooks", headers=world.auth(user), json=body)
    assert made.status_code == 201, made.text
    return dict(made.json())


def test_an_endpoint_is_registered_and_its_secret_shown_once(
    hooked: tuple[InProcessClient, World], receiver: Receiver
) -> None:
    client, world = hooked
    made = _add(client, world, "alice", url=receiver.url)
    assert str(made["secret"]).startswith("whsec_") and made["owner"] == "alice"
    assert sorted(made["events"]) == sorted(EVENT_TYPES)  # type: ignore[call-overload]
    listed = client.get("/manage/webhooks", headers=world.auth("alice")).json()
    assert [e["id"] for e in listed] == [made["id"]] and "secret" not in listed[0]
    one = client.get(f"/manage/webhooks/{made['id']}", headers=world.auth("alice")).json()
    assert one == listed[0]
    chosen = _add(client, world, "alice", url=receiver.url, events=["share.received"])
    assert chosen["events"] == ["share.received"]


def test_who_sees_and_removes_which_endpoint(
    hooked: tuple[InProcessClient, World], receiver: Receiver
) -> None:
    client, world = hooked
    alices = _add(client, world, "alice", url=receiver.url)
    server = _add(client, world, "root", url=receiver.url, server_wide=True)
    assert server["owner"] is None
    refused = client.post(
        "/manage/webhooks",
        headers=world.auth("bob"),
        json={"url": receiver.url, "server_wide": True},
    )
    assert refused.status_code == 403
    assert client.get("/manage/webhooks", headers=world.auth("bob")).json() == []
    assert (
        client.get(f"/manage/webhooks/{alices['id']}", headers=world.auth("bob")).status_code == 404
    )
    operator = client.get("/manage/webhooks", headers=world.auth("root")).json()
    assert [e["id"] for e in operator] == [alices["id"], server["id"]]
    assert (
        client.delete(f"/manage/webhooks/{alices['id']}", headers=world.auth("bob")).status_code
        == 404
    )
    assert (
        client.delete(f"/manage/webhooks/{alices['id']}", headers=world.auth("alice")).status_code
        == 204
    )
    assert (
        client.get(f"/manage/webhooks/{alices['id']}", headers=world.auth("alice")).status_code
        == 404
    )
    assert client.get("/manage/webhooks").status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://hooks.example.org/x"}, "url"),
        ({"url": "https://user:pw@hooks.example.org/x"}, "url"),
        ({"url": "https://hooks.example.org:99999/x"}, "url"),
        ({"url": "https://hooks.example.org/x", "events": ["share.exploded"]}, "events"),
        ({"url": "https://hooks.example.org/x", "secret": "mine"}, "secret"),
        ({"url": "https://hooks.example.org/x", "server_wide": "yes"}, "server_wide"),
    ],
)
def test_bad_registrations_name_their_field(
    hooked: tuple[InProcessClient, World], body: dict[str, object], field: str
) -> None:
    client, world = hooked
    refused = client.post("/manage/webhooks", headers=world.auth("alice"), json=body)
    assert refused.status_code == 400, refused.text
    assert field in str(refused.json().get("parameter", "")) + refused.json()["detail"]
    assert client.get("/manage/webhooks", headers=world.auth("alice")).json() == []


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "https://10.1.2.3/hook", "https://localhost/x"]
)
def test_private_targets_are_refused_as_for_peers(
    client: InProcessClient, world: World, url: str
) -> None:
    refused = client.post("/manage/webhooks", headers=world.auth("alice"), json={"url": url})
    assert refused.status_code == 400 and refused.json()["parameter"] == "url"


def test_a_test_send_is_signed_and_listed_as_delivered(
    hooked: tuple[InProcessClient, World], receiver: Receiver
) -> None:
    client, world = hooked
    made = _add(client, world, "alice", url=receiver.url)
    receiver.secrets.append(str(made["secret"]))
    sent = client.post(f"/manage/webhooks/{made['id']}/test", headers=world.auth("alice"))
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "delivered" and sent.json()["last_status"] == 204
    assert sent.json()["next_attempt"] is None and sent.json()["attempts"] == 1
    [got] = receiver.received
    assert got.verified and got.headers["webhook-id"] == sent.json()["message_id"]
    assert got.headers["content-type"] == "application/json"
    assert got.event["type"] == "webhook.test" and got.event["data"]["endpoint"]["id"] == made["id"]
    listed = client.get(f"/manage/webhooks/{made['id']}/deliveries", headers=world.auth("alice"))
    assert [d["id"] for d in listed.json()] == [sent.json()["id"]]


def test_a_refused_delivery_is_retried_with_backoff(
    hooked: tuple[InProcessClient, World], receiver: Receiver
) -> None:
    client, world = hooked
    made = _add(client, world, "alice", url=receiver.url)
    receiver.secrets.append(str(made["secret"]))
    receiver.answer = 503
    sent = client.post(f"/manage/webhooks/{made['id']}/test", headers=world.auth("alice")).json()
    assert sent["status"] == "pending" and sent["last_status"] == 503
    assert sent["last_error"] == "answered 503" and sent["next_attempt"] is not None
    receiver.answer = 200
    services: Services = world.services
    deadline = time.monotonic() + 5
    while services.webhooks.sender.deliver_due() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    [now] = client.get(
        f"/manage/webhooks/{made['id']}/deliveries", headers=world.auth("alice")
    ).json()
    assert now["status"] == "delivered" and now["attempts"] == 2 and now["last_status"] == 200
    assert [r.headers["webhook-id"] for r in receiver.received] == [sent["message_id"]] * 2
    assert all(r.verified for r in receiver.received)


def test_edits_queue_one_coalesced_layer_event_for_the_owner_and_the_operator(
    hooked: tuple[InProcessClient, World], receiver: Receiver
) -> None:
    client, world = hooked
    alices = _add(client, world, "alice", url=receiver.url, events=["layer.changed"])
    bobs = _add(client, world, "bob", url=receiver.url, events=["layer.changed"])
    server = _add(
        client, world, "root", url=receiver.url, events=["layer.changed"], server_wide=True
    )
    for n in range(3):
        feature = {"type": "Feature", "geometry": None, "properties": {"n": n}}
        added = client.post(
            "/collections/hydrants/items", headers=world.auth("alice"), json=feature
        )
        assert added.status_code == 201, added.text

    def deliveries(endpoint: dict[str, object], user: str) -> list[dict[str, object]]:
        found = client.get(
            f"/manage/webhooks/{endpoint['id']}/deliveries", headers=world.auth(user)
        )
        return list(found.json())

    assert [d["event_type"] for d in deliveries(alices, "alice")] == ["layer.changed"]
    assert [d["event_type"] for d in deliveries(server, "root")] == ["layer.changed"]
    assert deliveries(bobs, "bob") == []  # bob reads hydrants, but does not own it
    [waiting] = deliveries(alices, "alice")
    assert waiting["status"] == "pending" and waiting["attempts"] == 0


def test_the_address_guard_refuses_a_private_target_at_delivery(services: Services) -> None:
    """An endpoint whose name resolves to loopback (stored as if registered elsewhere) fails
    for good at its first attempt when private addresses are not allowed."""
    alice = services.accounts.add_user("alice")
    secrets = SecretBox(services.settings.data_dir / "keys")
    url = "http://localhost:9/hook"
    endpoint = services.stores.webhooks.add_endpoint(
        alice.id, url, ("share.received",), secrets.seal(new_secret(), secret_context(url))
    )
    [queued] = services.stores.webhooks.queue(
        event_type="share.received",
        user_id=alice.id,
        subject="share:received:1",
        payload="{}",
        message_id="msg_guard",
    )
    sender = WebhookSender(
        services.stores.webhooks, secrets, OutboundClient(allow_private=False), retry_seconds=1
    )
    done = sender.deliver(queued)
    assert done is not None and done.status is DeliveryStatus.FAILED and done.attempts == 1
    assert "127.0.0.1" in done.last_error and "does not connect to" in done.last_error
    assert done.endpoint_id == endpoint.id


def test_answers_follow_the_api_document(
    hooked: tuple[InProcessClient, World], receiver: Receiver
) -> None:
    client, world = hooked
    document = client.get("/api").json()
    paths = document["paths"]

    def check(path: str, method: str, status: str, answer: object) -> None:
        declared = paths[path][method]["responses"]
        assert {"400", "401", "403", "404"} <= set(declared), declared.keys()
        schema = declared[status]["content"]["application/json"]["schema"]
        OAS30Validator({**schema, "components": document["components"]}).validate(answer)

    made = client.post("/manage/webhooks", headers=world.auth("alice"), json={"url": receiver.url})
    check("/manage/webhooks", "post", "201", made.json())
    webhook_id = made.json()["id"]
    check(
        "/manage/webhooks",
        "get",
        "200",
        client.get("/manage/webhooks", headers=world.auth("alice")).json(),
    )
    sent = client.post(f"/manage/webhooks/{webhook_id}/test", headers=world.auth("alice"))
    check("/manage/webhooks/{webhook_id}/test", "post", "200", sent.json())
    listed = client.get(f"/manage/webhooks/{webhook_id}/deliveries", headers=world.auth("alice"))
    check("/manage/webhooks/{webhook_id}/deliveries", "get", "200", listed.json())
    assert "204" in paths["/manage/webhooks/{webhook_id}"]["delete"]["responses"]
    assert "secret" in document["components"]["schemas"]["WebhookCreated"]["required"]
