"""The change feed across two real servers: a subscriber on B's mounted layer gets every one of
50 concurrent edits made on A, in order and none twice; it disconnects, more edits happen, and
it resumes with Last-Event-ID missing nothing, also across the renewal of B's short-lived
tokens (A ends a stream when its token expires); JSON pages through B carry B's links; and
revoking the share ends B's stream."""

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import stop_server
from tests.e2e.conftest import FAST_OUTBOX
from tests.e2e.orgs import Org, eventually, make_org, token
from tests.postgres import fresh_database_url

pytestmark = pytest.mark.e2e

# fast polls and keep-alives; tokens of three seconds, so that B's relay renews them often
FEED = FAST_OUTBOX + (
    "change_poll_seconds = 0.3\nchange_keepalive_seconds = 1\nshare_token_minutes = 0.05\n"
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def feed_orgs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Org, Org]]:
    """A and B; in the second round A runs two workers on PostgreSQL (B stays on SQLite)."""
    base = tmp_path_factory.mktemp("feed")
    with ExitStack() as stack:
        config, workers = FEED, 1
        if request.param == "postgresql":
            config += f'database_url = "{stack.enter_context(fresh_database_url())}"\n'
            workers = 2
        a = make_org(base, "a", "Feuerwehr Musterstadt", config=config, workers=workers)
        stack.callback(_stop, a)
        b = make_org(base, "b", "Leitstelle Nord", config=FEED)
        stack.callback(_stop, b)
        a.cli("user", "add", "alice")
        b.cli("user", "add", "bob")
        a.cli("collection", "create", "units", "--user", "alice")
        text = a.cli("invite", "create", "--user", "alice").stdout.strip()
        b.cli("invite", "accept", text, "--user", "bob")
        yield a, b


def _stop(org: Org) -> None:
    if org.server is not None and org.server.process.poll() is None:
        stop_server(org.server)


class Subscriber(threading.Thread):
    """Reads a Server-Sent Events stream until it has ``until`` changes or the stream ends."""

    def __init__(self, url: str, headers: dict[str, str], until: int | None = None) -> None:
        super().__init__(daemon=True)
        self.url, self.headers, self.until = url, headers, until
        self.events: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.start_id: str | None = None
        self.keepalives = 0
        self.ended = False
        self.status: int | None = None
        self.failure: Exception | None = None

    def run(self) -> None:
        try:
            headers = {**self.headers, "Accept": "text/event-stream"}
            with httpx.stream("GET", self.url, headers=headers, timeout=30) as response:
                self.status = response.status_code
                block: dict[str, str] = {}
                for line in response.iter_lines():
                    if line.startswith(":"):
                        self.keepalives += 1
                    elif line:
                        name, _, value = line.partition(": ")
                        block[name] = value
                    elif "data" in block:
                        self.events.append(orjson.loads(block["data"]))
                        self.ids.append(block["id"])
                        if self.until is not None and len(self.events) >= self.until:
                            return
                        block = {}
                    else:
                        self.start_id = self.start_id or block.get("id")
                        block = {}
            self.ended = True
        except Exception as exc:  # reported by the test
            self.failure = exc

    def started(self) -> bool:
        return eventually(lambda: self.start_id is not None or self.failure, 15) and (
            self.start_id is not None
        )


def numbers(events: list[dict[str, Any]]) -> list[int]:
    return [int(event["changenumber"]) for event in events]


def edits(a: Org, alice: dict[str, str], first: int, count: int) -> None:
    """``count`` features made on A at once, from ten threads."""

    def make(n: int) -> None:
        body = {"type": "Feature", "geometry": None, "properties": {"n": n}}
        made = httpx.post(
            f"{a.url}/collections/units/items",
            headers={**alice, "Content-Type": "application/geo+json"},
            content=orjson.dumps(body),
            timeout=30,
        )
        assert made.status_code == 201, made.text

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(make, range(first, first + count)))


def test_a_subscriber_on_the_mount_gets_everything_once(feed_orgs: tuple[Org, Org]) -> None:
    a, b = feed_orgs
    alice, bob = token(a, "alice"), token(b, "bob")
    made = httpx.post(
        f"{a.url}/manage/shares",
        headers=alice,
        json={"collection": "units", "share_with": f"bob@{b.host}", "permission": "read"},
    )
    assert made.status_code == 201, made.text
    pending = eventually(
        lambda: [
            s
            for s in httpx.get(f"{b.url}/manage/received-shares", headers=bob).json()
            if s["state"] == "pending"
        ]
    )
    received = httpx.post(
        f"{b.url}/manage/received-shares/{pending[0]['id']}/accept", headers=bob
    ).json()
    mount = received["mount_url"]
    links = httpx.get(mount, headers=bob).json()["links"]
    assert {"href": f"{mount}/changes", "rel": "monitor", "type": "text/event-stream"}.items() <= (
        next(link for link in links if link["type"] == "text/event-stream").items()
    )

    # 50 concurrent edits on A reach the subscriber on B's mount, in order, none twice
    first = Subscriber(f"{mount}/changes", bob, until=50)
    first.start()
    assert first.started(), first.failure
    edits(a, alice, 0, 50)
    first.join(30)
    assert not first.is_alive() and first.failure is None and first.status == 200
    assert len(first.events) == 50
    assert numbers(first.events) == sorted(set(numbers(first.events)))
    assert first.ids == [str(n) for n in numbers(first.events)]
    assert sorted(e["data"]["properties"]["n"] for e in first.events) == list(range(50))
    assert {e["source"] for e in first.events} == {mount}
    assert all(e["id"] == f"{received['collection']}:{e['changenumber']}" for e in first.events)
    on_a = httpx.get(f"{a.url}/collections/units/changes?limit=1000", headers=alice).json()
    assert numbers(first.events) == numbers(on_a["events"])[-50:]
    assert b"alice" not in orjson.dumps(first.events)

    # it went away; more edits; it comes back with Last-Event-ID and misses nothing, even
    # with B's token renewed meanwhile (A ended the stream it relayed when its token expired)
    edits(a, alice, 50, 10)
    again = Subscriber(f"{mount}/changes", {**bob, "Last-Event-ID": first.ids[-1]}, until=20)
    again.start()
    assert eventually(lambda: len(again.events) >= 10 or again.failure), again.failure
    time.sleep(4)  # past the lifetime of the token B holds now
    edits(a, alice, 60, 10)
    again.join(30)
    assert again.failure is None and len(again.events) == 20
    after = numbers(first.events)[-1]
    assert numbers(again.events) == list(range(after + 1, after + 21))
    assert again.keepalives >= 2

    # the JSON pages through B: the same changes, B's links
    seen: list[int] = []
    url: str | None = f"{mount}/changes?limit=30"
    while url:
        page = httpx.get(url, headers=bob, timeout=30).json()
        assert url.startswith(mount) and {e["source"] for e in page["events"]} <= {mount}
        seen += numbers(page["events"])
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert seen == numbers(on_a["events"]) + numbers(again.events)
    ahead = httpx.get(f"{mount}/changes?since=9999", headers=bob)
    assert ahead.status_code == 400 and ahead.json()["parameter"] == "since"
    ahead = httpx.get(
        f"{mount}/changes", headers={**bob, "Accept": "text/event-stream", "Last-Event-ID": "9999"}
    )
    assert ahead.status_code == 400 and ahead.json()["parameter"] == "since"

    # revoking the share ends B's stream
    last = Subscriber(f"{mount}/changes", bob)
    last.start()
    assert last.started(), last.failure
    revoked = httpx.delete(f"{a.url}/manage/shares/{made.json()['id']}", headers=alice)
    assert revoked.status_code == 204
    last.join(15)
    assert not last.is_alive() and last.ended and last.failure is None
    gone = httpx.get(f"{mount}/changes", headers={**bob, "Accept": "text/event-stream"})
    assert gone.status_code == 404
