"""A peer that is down (its port closed), slow (answers after peer_timeout) or failing (503)
while shares are delivered, notifications sent and access tokens exchanged: nothing is lost,
the outbox retries with backoff and gives up visibly after ``outbox_max_attempts``, and a
synchronous exchange gives its caller a clear 502 or 504. Real servers, real signatures; the
faults are played by a TCP proxy in front of each server (tests/faults/proxy.py)."""

from __future__ import annotations

import itertools
import sqlite3
import time
from contextlib import closing
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.orgs import Org, eventually
from tests.faults.conftest import MAX_ATTEMPTS, ProxiedOrg, token
from tests.faults.proxy import DOWN, FAILING, PASS, SLOW

FAULTS = (DOWN, SLOW, FAILING)
# what the sender records of each fault, and what a synchronous caller gets
SAID = {DOWN: "cannot be reached", SLOW: "in time", FAILING: "503"}
STATUS = {DOWN: 502, SLOW: 504, FAILING: 502}
# reading through the mount with a token kept from before: a sender's 503 is passed on as
# this server's 503 with Retry-After (api/problems.py)
READ_STATUS = {**STATUS, FAILING: 503}
_layers = itertools.count()


def sectors() -> str:
    """A layer of A not shared yet (each test shares its own)."""
    return f"sectors-{next(_layers)}"


def sent(a: ProxiedOrg, share_id: int) -> dict[str, Any]:
    found = httpx.get(f"{a.direct}/manage/shares/{share_id}", headers=token(a, "alice"))
    assert found.status_code == 200, found.text
    return dict(found.json())


def received(b: ProxiedOrg, name: str) -> list[dict[str, Any]]:
    found = httpx.get(f"{b.direct}/manage/received-shares", headers=token(b, "bob"))
    assert found.status_code == 200, found.text
    return [s for s in found.json() if s["name"] == name]


def outbox(org: Org) -> list[dict[str, Any]]:
    """The operator's listing of the outbox (``opengeomesh share outbox``)."""
    return list(orjson.loads(org.cli("share", "outbox", "--json").stdout))


def tried(org: Org) -> list[tuple[int, str]]:
    """Attempts and last error of each message in the outbox, read from the database (faster
    than the CLI, for polling)."""
    with closing(sqlite3.connect(org.data / "opengeomesh.sqlite")) as db:
        return db.execute("SELECT attempts, last_error FROM outbox ORDER BY id").fetchall()


def given_up(org: Org) -> list[int]:
    """The ids of the messages the outbox gave up on, from the database."""
    with closing(sqlite3.connect(org.data / "opengeomesh.sqlite")) as db:
        rows = db.execute("SELECT id FROM outbox WHERE failed_at IS NOT NULL ORDER BY id")
        return [row[0] for row in rows]


def share(a: ProxiedOrg, b: ProxiedOrg, layer: str) -> dict[str, Any]:
    made = httpx.post(
        f"{a.direct}/manage/shares",
        headers=token(a, "alice"),
        json={"collection": layer, "share_with": f"bob@{b.host}"},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    return dict(made.json())


def accepted_share(a: ProxiedOrg, b: ProxiedOrg, layer: str) -> tuple[dict[str, Any], int]:
    """A share of ``layer`` from alice to bob, delivered and accepted (no fault)."""
    made = share(a, b, layer)
    assert made["state"] == "pending", made
    (got,) = received(b, layer)
    decided = httpx.post(
        f"{b.direct}/manage/received-shares/{got['id']}/accept", headers=token(b, "bob")
    )
    assert decided.status_code == 200, decided.text
    assert eventually(lambda: sent(a, made["id"])["state"] == "accepted")
    return made, int(got["id"])


@pytest.fixture(autouse=True)
def no_fault_left(proxied_orgs: tuple[ProxiedOrg, ProxiedOrg]) -> Any:
    yield
    for org in proxied_orgs:
        org.fault.set(PASS)
        assert org.server is not None and org.server.process.poll() is None, "a server died"


@pytest.mark.parametrize("fault", FAULTS)
def test_a_share_waits_out_a_faulty_recipient_and_arrives_once(
    proxied_orgs: tuple[ProxiedOrg, ProxiedOrg], fault: str
) -> None:
    a, b = proxied_orgs
    layer = sectors()
    b.fault.set(fault)
    made = share(a, b, layer)
    assert made["state"] == "sending", made
    assert made["delivery"]["attempts"] >= 1 and made["delivery"]["failed"] is None
    assert SAID[fault] in made["delivery"]["last_error"], made["delivery"]
    time.sleep(0.4)  # another attempt or two fails meanwhile
    assert received(b, layer) == [] if fault != SLOW else True  # slow: B may have it already
    b.fault.set(PASS)
    assert eventually(lambda: sent(a, made["id"])["state"] == "pending", 20), sent(a, made["id"])
    assert sent(a, made["id"])["delivery"] is None  # out of the outbox
    (got,) = received(b, layer)  # once, however often it was sent
    assert got["state"] == "pending" and got["sender"] == f"alice@{a.host}"


@pytest.mark.parametrize("fault", FAULTS)
def test_notifications_wait_out_a_faulty_peer(
    proxied_orgs: tuple[ProxiedOrg, ProxiedOrg], fault: str
) -> None:
    a, b = proxied_orgs
    bob = token(b, "bob")
    # B accepts one share and declines another while A is faulty: A learns both once back
    first, second = share(a, b, sectors()), share(a, b, sectors())
    (got_first,) = received(b, first["collection"])
    (got_second,) = received(b, second["collection"])
    a.fault.set(fault)
    url = f"{b.direct}/manage/received-shares"
    assert httpx.post(f"{url}/{got_first['id']}/accept", headers=bob).status_code == 200
    assert httpx.post(f"{url}/{got_second['id']}/decline", headers=bob).status_code == 200
    assert eventually(lambda: sum(1 for n, _ in tried(b) if n >= 1) >= 2, 20), tried(b)
    assert all(SAID[fault] in error for n, error in tried(b) if n), tried(b)
    if fault != SLOW:  # a slow A may have taken a notification whose answer B missed
        assert sent(a, first["id"])["state"] == sent(a, second["id"])["state"] == "pending"
    a.fault.set(PASS)
    assert eventually(lambda: sent(a, first["id"])["state"] == "accepted", 20)
    assert eventually(lambda: sent(a, second["id"])["state"] == "declined", 20)
    assert eventually(lambda: tried(b) == [], 10), tried(b)

    # A revokes while B is faulty: B drops the share once it hears of it
    b.fault.set(fault)
    gone = httpx.delete(f"{a.direct}/manage/shares/{first['id']}", headers=token(a, "alice"))
    assert gone.status_code == 204
    assert eventually(lambda: any(n >= 1 for n, _ in tried(a)), 20), tried(a)
    b.fault.set(PASS)  # (the revocation holds on A at once: tested in tests/e2e)
    assert eventually(lambda: received(b, first["collection"]) == [], 20)
    assert eventually(lambda: tried(a) == [], 10), tried(a)


def test_the_token_exchange_with_a_faulty_sender_is_a_clear_502_or_504(
    proxied_orgs: tuple[ProxiedOrg, ProxiedOrg],
) -> None:
    a, b = proxied_orgs
    bob = token(b, "bob")
    layer = sectors()
    _, received_id = accepted_share(a, b, layer)
    mount = f"{b.direct}/collections/ocm-{received_id}/items"
    access = f"{b.direct}/manage/received-shares/{received_id}/access"
    for fault in FAULTS:
        a.fault.set(fault)
        # the first round exchanges a token for the read; later ones read with the kept token
        for url, method, status in ((mount, "GET", READ_STATUS), (access, "POST", STATUS)):
            answer = httpx.request(method, url, headers=bob, timeout=30)
            assert answer.status_code == status[fault], (fault, url, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
            problem = answer.json()
            assert problem["status"] == status[fault] and a.host in problem["detail"], problem
            assert answer.status_code != 503 or answer.headers["retry-after"]
        a.fault.set(PASS)
        # nothing wrong was kept: the very next request works
        page = httpx.get(mount, headers=bob, timeout=30)
        assert page.status_code == 200 and len(page.json()["features"]) == 5, page.text
        fresh = httpx.post(access, headers=bob, timeout=30)
        assert fresh.status_code == 200, fresh.text
        holder = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
        direct = httpx.get(f"{a.direct}/collections/{layer}/items", headers=holder)
        assert direct.status_code == 200


def test_the_outbox_gives_up_visibly_and_is_sent_again_by_hand(
    proxied_orgs: tuple[ProxiedOrg, ProxiedOrg],
) -> None:
    a, b = proxied_orgs
    layer = sectors()
    b.fault.set(DOWN)
    made = share(a, b, layer)

    def failed() -> Any:
        return sent(a, made["id"])["delivery"]["failed"]

    assert eventually(failed, 20), sent(a, made["id"])
    shown = sent(a, made["id"])
    assert shown["state"] == "refused" and shown["delivery"]["attempts"] == MAX_ATTEMPTS
    assert f"not delivered after {MAX_ATTEMPTS} attempts" in shown["problem"]
    (listed,) = [
        s for s in orjson.loads(a.cli("share", "list", "--json").stdout) if s["id"] == made["id"]
    ]
    assert listed["state"] == "refused" and "not delivered" in listed["problem"]
    (message,) = [m for m in outbox(a) if m["what"] == f"share {made['id']}"]
    assert message["state"] == "failed" and message["attempts"] == MAX_ATTEMPTS
    assert message["failed"] and "cannot be reached" in message["last_error"]
    assert a.server is not None and "gave up on outbox message" in a.server.output()
    time.sleep(1)  # failed means failed: no more attempts
    assert tried(a) == [(MAX_ATTEMPTS, message["last_error"])]

    b.fault.set(PASS)
    retried = a.cli("share", "outbox", "--retry", str(message["id"]), "--json")
    assert orjson.loads(retried.stdout) == []  # sent at once, gone from the outbox
    assert sent(a, made["id"])["state"] == "pending" and tried(a) == []
    assert len(received(b, layer)) == 1
    assert a.cli("share", "outbox", "--retry", "999999", check=False).returncode == 1

    # a notification too: B accepts while A is down, gives up, and sends it again by hand
    (got,) = received(b, layer)
    a.fault.set(DOWN)
    decided = httpx.post(
        f"{b.direct}/manage/received-shares/{got['id']}/accept", headers=token(b, "bob")
    )
    assert decided.status_code == 200
    assert eventually(lambda: len(given_up(b)) == 1, 20), tried(b)
    assert tried(b)[0][0] == MAX_ATTEMPTS
    a.fault.set(PASS)
    retried = b.cli("share", "outbox", "--retry", str(given_up(b)[0]), "--json")
    assert orjson.loads(retried.stdout) == [] and sent(a, made["id"])["state"] == "accepted"
