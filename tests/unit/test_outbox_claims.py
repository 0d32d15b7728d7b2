"""The outbox with several senders (the couriers of several workers, CLI commands): each
message is claimed by one at a time, posted only while its claim has time left, and a sender
whose claim ran out can neither finish nor release it."""

import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import httpx
import orjson
import pytest

from opengeomesh.ocm import outbox as outbox_module
from opengeomesh.ocm.client import OutboundClient
from opengeomesh.ocm.discovery import DiscoveryClient
from opengeomesh.ocm.outbox import LEASE, SEND_MARGIN, Outbox
from opengeomesh.services import Services
from opengeomesh.storage.sqlite.database import Database
from opengeomesh.storage.sqlite.shares import SqliteShareStore

PEER = "peer.example"


def _store(path: Path) -> SqliteShareStore:
    """A store on its own connections, as another process has."""
    database = Database(path)
    database.migrate()
    return SqliteShareStore(database)


def test_each_message_is_claimed_once_by_concurrent_senders(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    stores = [_store(path), _store(path)]  # two "processes"
    for number in range(120):
        stores[0].enqueue(PEER, f'{{"n": {number}}}')
    claimed: list[int] = []
    lock = threading.Lock()

    def courier(store: SqliteShareStore) -> None:
        while items := store.claim_due(time.time(), LEASE, limit=3):
            with lock:
                claimed.extend(item.id for item in items)

    threads = [threading.Thread(target=courier, args=(s,)) for s in stores for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 120 and set(Counter(claimed).values()) == {1}
    assert stores[1].claim_due(time.time(), LEASE) == []  # all held until the lease ends


def test_a_sender_whose_claim_ran_out_cannot_finish_or_release_it(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    first, second = _store(path), _store(path)
    first.enqueue(PEER, "{}")
    now = time.time()
    [late] = first.claim_due(now, lease=5)
    assert first.claim_due(now + 4, lease=5) == []  # still held
    [taken] = second.claim_due(now + 6, lease=5)  # the first claim ran out
    assert taken.id == late.id and taken.claimed_until > late.claimed_until
    assert not first.retry_later(late, now + 100, "slow")  # would hand it to a third sender
    assert not first.sent(late)
    [row] = second.waiting()
    assert row.claimed_until == taken.claimed_until and row.attempts == 0
    assert second.sent(taken)
    assert second.waiting() == []


def test_a_claim_without_time_left_is_not_posted(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discovery took so long that the claim could run out during the post: the message is
    left for another attempt instead of risking a second sender posting it too."""
    clock = [time.time()]
    monkeypatch.setattr(outbox_module, "time", SimpleNamespace(time=lambda: clock[0]))
    posts: list[bytes] = []
    slow = [True]

    def peer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/ocm":
            if slow[0]:
                clock[0] += LEASE - SEND_MARGIN  # the claim has less than the post needs left
            document = {"enabled": True, "apiVersion": "1.2.0", "endPoint": f"https://{PEER}/ocm"}
            return httpx.Response(200, json=document)
        posts.append(request.content)
        return httpx.Response(201, json={})

    client = OutboundClient(allow_private=False, timeout=10, transport=httpx.MockTransport(peer))
    federation = services.federation
    outbox = Outbox(
        store=services.stores.shares,
        client=client,
        discovery=DiscoveryClient(client, ttl=0, allow_http=False),
        signer=federation.signer,
        sharing=federation.sharing,
        policy=federation.policy,
        retry_seconds=1,
    )
    body = orjson.dumps({"notificationType": "SHARE_UNSHARED", "providerId": "p"}).decode()
    services.stores.shares.enqueue(PEER, body)
    clock[0] = time.time()
    assert outbox.deliver_due() == 1
    assert posts == []
    [waiting] = services.stores.shares.waiting()
    assert waiting.attempts == 1 and "ran out of time" in waiting.last_error
    assert waiting.claimed_until == 0  # released for the next attempt
    slow[0] = False
    clock[0] += 10
    assert outbox.deliver_due() == 1
    assert posts == [body.encode()] and services.stores.shares.waiting() == []
