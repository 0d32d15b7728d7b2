"""Webhooks through the client against the real app, which delivers to a real receiver on
loopback; and the receivers' verify helper against the server's signatures, the published
example of Standard Webhooks, a verifier written from the specification, and the event
examples of docs/webhooks.md."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pydantic import BaseModel

from opengeomesh.api import manage_webhooks
from opengeomesh.app import create_app
from opengeomesh.client import (
    AsyncClient,
    Client,
    Event,
    Forbidden,
    InvalidInput,
    InvalidSignature,
    NotFound,
    models,
    webhooks,
)
from opengeomesh.webhooks.models import EVENT_TYPES
from opengeomesh.webhooks.signing import new_secret, signed_headers
from tests.client.conftest import BASE, in_process
from tests.conftest import InProcessClient, World, fresh_services, populate
from tests.webhook_receiver import Receiver, spec_verify

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def hooked(tmp_path: Path) -> Iterator[tuple[InProcessClient, World]]:
    """A server that may call loopback (as in development) and retries after 0.1 s."""
    with fresh_services(
        tmp_path / "data", allow_private_peers=True, delivery_retry_seconds=0.1
    ) as services:
        world = populate(services, hydrant_count=5)
        app_client = InProcessClient(create_app(services.settings, services), BASE)
        yield app_client, world
        app_client.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver(port=0).start()
    yield started
    started.stop()


def test_endpoints_test_sends_and_deliveries(
    hooked: tuple[InProcessClient, World], receiver: Receiver
) -> None:
    app_client, world = hooked
    with Client(BASE, world.tokens["alice"], transport=in_process(app_client)) as alice:
        made = alice.create_webhook(receiver.url, events=["share.received", "share.revoked"])
        assert isinstance(made, models.NewWebhook) and made.secret.startswith("whsec_")
        assert made.owner == "alice" and made.events == ["share.received", "share.revoked"]
        assert sorted(alice.create_webhook(receiver.url).events) == sorted(EVENT_TYPES)
        listed = alice.list_webhooks()
        assert listed[0].id == made.id and len(listed) == 2
        assert alice.get_webhook(made.id) == listed[0]
        assert not hasattr(listed[0], "secret")

        receiver.secrets.append(made.secret)
        delivery = alice.send_webhook_test(made.id)
        assert isinstance(delivery, models.WebhookDelivery)
        assert (delivery.status, delivery.event_type, delivery.last_status) == (
            "delivered",
            "webhook.test",
            204,
        )
        [got] = receiver.received
        assert got.verified  # the independent verifier agrees
        event = webhooks.verify(made.secret, got.headers, got.body)
        assert isinstance(event, Event) and event.type == "webhook.test"
        assert event.message_id == delivery.message_id == got.headers["webhook-id"]
        assert event.data["endpoint"] == {"id": made.id, "url": receiver.url}
        assert event.share is None and event.server == "127.0.0.1:8080"  # public_url
        with pytest.raises(InvalidSignature, match="no v1 signature"):
            webhooks.verify(new_secret(), got.headers, got.body)  # another endpoint's secret

        receiver.answer = 500  # the receiver fails: pending, with its status, retried later
        failed = alice.send_webhook_test(made.id)
        assert (failed.status, failed.last_status, failed.attempts) == ("pending", 500, 1)
        assert failed.next_attempt is not None and failed.last_error
        deliveries = alice.list_webhook_deliveries(made.id, limit=1)
        assert [d.message_id for d in deliveries] == [failed.message_id]
        assert len(alice.list_webhook_deliveries(made.id)) == 2

        alice.delete_webhook(made.id)
        with pytest.raises(NotFound) as gone:
            alice.get_webhook(made.id)
        assert str(made.id) in gone.value.detail
        assert [w.id for w in alice.list_webhooks()] != [made.id]


def test_refusals_are_typed_with_the_field(
    hooked: tuple[InProcessClient, World], receiver: Receiver
) -> None:
    app_client, world = hooked
    transport = in_process(app_client)
    with (
        Client(BASE, world.tokens["alice"], transport=transport) as alice,
        Client(BASE, world.tokens["bob"], transport=transport) as bob,
        Client(BASE, world.tokens["root"], transport=transport) as root,
    ):
        with pytest.raises(InvalidInput) as unknown:
            alice.create_webhook(receiver.url, events=["share.exploded"])
        assert unknown.value.parameter is not None and "events" in unknown.value.parameter
        with pytest.raises(InvalidInput) as bad_url:
            alice.create_webhook("ftp://hooks.example.org/x")
        assert bad_url.value.parameter == "url" and "http" in bad_url.value.detail
        with pytest.raises(Forbidden):
            bob.create_webhook(receiver.url, server_wide=True)
        everything = root.create_webhook(receiver.url, server_wide=True)
        assert everything.owner is None
        with pytest.raises(NotFound):
            bob.get_webhook(everything.id)  # not bob's
        with pytest.raises(NotFound):
            bob.send_webhook_test(everything.id)
        assert [w.id for w in root.list_webhooks()] == [everything.id]


def test_the_async_client_does_the_same(
    hooked: tuple[InProcessClient, World], receiver: Receiver
) -> None:
    _, world = hooked
    app = create_app(world.services.settings, world.services)

    async def flow() -> None:
        transport = httpx.ASGITransport(app)
        async with AsyncClient(BASE, world.tokens["bob"], transport=transport) as bob:
            made = await bob.create_webhook(receiver.url, events=["share.received"])
            assert [w.id for w in await bob.list_webhooks()] == [made.id]
            assert (await bob.get_webhook(made.id)).events == ["share.received"]
            sent = await bob.send_webhook_test(made.id)
            assert sent.status == "delivered"
            listed = await bob.list_webhook_deliveries(made.id)
            assert [d.message_id for d in listed] == [sent.message_id]
            await bob.delete_webhook(made.id)
            with pytest.raises(NotFound):
                await bob.list_webhook_deliveries(made.id)

    asyncio.run(flow())
    [got] = receiver.received
    assert got.event["type"] == "webhook.test"


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (models.Webhook, manage_webhooks.WebhookOut),
        (models.NewWebhook, manage_webhooks.WebhookCreated),
        (models.WebhookDelivery, manage_webhooks.WebhookDeliveryOut),
    ],
)
def test_models_hold_what_the_server_answers(
    ours: type[BaseModel], theirs: type[BaseModel]
) -> None:
    assert set(ours.model_fields) == set(theirs.model_fields)


# --- verify ----------------------------------------------------------------------------------

# The example of the Standard Webhooks reference libraries' tests.
EXAMPLE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EXAMPLE_HEADERS = {
    "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "webhook-timestamp": "1614265330",
    "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}
EXAMPLE_BODY = b'{"test": 2432232314}'


def test_the_published_example_verifies() -> None:
    at = 1614265330
    assert webhooks.verify_signature(EXAMPLE_SECRET, EXAMPLE_HEADERS, EXAMPLE_BODY, now=at) == (
        "msg_p5jXN8AQM9LWM0D4loKWxJek"
    )
    no_prefix = EXAMPLE_SECRET.removeprefix("whsec_")  # as the reference libraries take it
    webhooks.verify_signature(no_prefix, EXAMPLE_HEADERS, EXAMPLE_BODY, now=at)
    with pytest.raises(InvalidSignature, match="not a webhook event"):  # signed, not an event
        webhooks.verify(EXAMPLE_SECRET, EXAMPLE_HEADERS, EXAMPLE_BODY, now=at)
    with pytest.raises(InvalidSignature, match="too old"):
        webhooks.verify_signature(EXAMPLE_SECRET, EXAMPLE_HEADERS, EXAMPLE_BODY)


def _signed(secret: str, body: bytes, now: float) -> dict[str, str]:
    return signed_headers(secret, "msg_1_2", body, now)


BODY = orjson.dumps(
    {
        "type": "layer.changed",
        "timestamp": "2026-11-29T06:10:00.000000Z",
        "server": "feuerwehr.example",
        "data": {"collection": {"id": "hydrants"}, "changes": "https://x.example/c"},
    }
)


def test_what_the_server_signs_verifies_in_any_header_case() -> None:
    secret, now = new_secret(), time.time()
    headers = _signed(secret, BODY, now)
    event = webhooks.verify(secret, headers, BODY)
    assert (event.type, event.server, event.message_id) == (
        "layer.changed",
        "feuerwehr.example",
        "msg_1_2",
    )
    message = Message()  # as http.server hands them over
    for name, value in headers.items():
        message[name.title()] = value
    assert webhooks.verify(secret, message, BODY) == event
    upper = {name.upper(): value for name, value in headers.items()}
    assert webhooks.verify(secret, upper, BODY) == event
    rotated = {**headers, "webhook-signature": f"v1,AAAA v2,BBBB {headers['webhook-signature']}"}
    assert webhooks.verify(secret, rotated, BODY) == event
    late = _signed(secret, BODY, now - 600)
    assert webhooks.verify(secret, late, BODY, tolerance=900).message_id == "msg_1_2"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("body", "no v1 signature"),
        ("id", "no v1 signature"),
        ("timestamp", "no v1 signature"),
        ("secret", "no v1 signature"),
        ("version", "no v1 signature"),
        ("stale", "too old"),
        ("future", "in the future"),
        ("not a number", "not a number"),
        ("missing", "missing"),
    ],
)
def test_tampered_stale_or_incomplete_deliveries_are_refused(change: str, reason: str) -> None:
    secret, body, now = new_secret(), BODY, time.time()
    headers = _signed(secret, body, now)
    if change == "body":
        body = body.replace(b"hydrants", b"hydrantz")
    elif change == "id":
        headers["webhook-id"] = "msg_2"
    elif change == "timestamp":
        headers["webhook-timestamp"] = str(int(now) + 1)
    elif change == "secret":
        secret = new_secret()
    elif change == "version":
        headers["webhook-signature"] = "v2," + headers["webhook-signature"][3:]
    elif change == "stale":
        headers = _signed(secret, body, now - 301)
    elif change == "future":
        headers = _signed(secret, body, now + 301)
    elif change == "not a number":
        headers["webhook-timestamp"] = "1e9"
    else:
        del headers["webhook-signature"]
    assert not spec_verify(secret, headers, body)  # the independent verifier agrees
    with pytest.raises(InvalidSignature, match=reason):
        webhooks.verify(secret, headers, body)


def test_a_secret_that_is_not_one_is_named() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        webhooks.verify("whsec_not base64!", _signed(new_secret(), BODY, time.time()), BODY)


def _documented_events(page: str) -> list[dict[str, Any]]:
    blocks = re.findall(r"```json\n(.*?)```", (DOCS / page).read_text(), flags=re.S)
    return [orjson.loads(block) for block in blocks]


@pytest.mark.parametrize("page", ["integration.md", "webhooks.md"])
def test_the_documented_events_read_as_typed_events(page: str) -> None:
    found = _documented_events(page)
    if page == "integration.md":  # the catalogue: one example of every type
        assert sorted(e["type"] for e in found) == sorted({*EVENT_TYPES, "webhook.test"})
    assert {e["type"] for e in found} <= {*EVENT_TYPES, "webhook.test"}
    assert set(webhooks.EVENT_TYPES) == set(EVENT_TYPES)
    for example in found:
        event = Event.model_validate({**example, "message_id": "msg_x"})
        share = event.share
        assert (share is not None) == event.type.startswith("share.")
        if share is not None:  # every member of the share read, none left over
            shown = set(event.data["share"])
            read = {f.alias or name for name, f in type(share).model_fields.items()}
            assert shown <= read
            assert (share.direction == "received") == bool(share.sender)
            assert (share.direction == "sent") == bool(share.share_with)
