"""Two organisations whose servers each run ``serve --workers 2``: any worker answers any
request, so whatever one worker changed holds on the next request, whichever worker answers it.

The workers' process ids come from ``/proc`` (the children of the ``serve`` process) and the
server's own access log, whose lines name the process that answered (``[1234]``). Requests go
out on fresh connections, several at once, until every worker has answered some of them: the
kernel hands connections to whichever worker accepts first, so a plain sequence of requests
might all reach one worker.
"""

import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import orjson
import pytest

from opengeomesh import samples
from opengeomesh.ocm.invites import decode_invite
from opengeomesh.ocm.signatures import RequestSigner
from tests.conftest import Server, child_processes, stop_server
from tests.e2e.conftest import FAST_OUTBOX
from tests.e2e.orgs import Org, eventually, make_org, token
from tests.postgres import fresh_database_url

WORKERS = 2
ACCESS_LINE = re.compile(r'\[(\d+)\] \S+ - "([^"]*)" (\d{3})')


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def worker_orgs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Org, Org]]:
    """Two organisations, each on two workers; in the second round each on its own PostgreSQL
    database (schema)."""
    base = tmp_path_factory.mktemp("workers")
    with ExitStack() as stack:
        config = {"a": FAST_OUTBOX, "b": FAST_OUTBOX}
        if request.param == "postgresql":
            for name in config:
                url = stack.enter_context(fresh_database_url())
                config[name] += f'database_url = "{url}"\n'
        a = make_org(base, "a", "Feuerwehr Musterstadt", config=config["a"], workers=WORKERS)
        stack.callback(_stop, a)
        b = make_org(base, "b", "Leitstelle Nord", config=config["b"], workers=WORKERS)
        stack.callback(_stop, b)
        yield from _prepared(a, b)


def _stop(org: Org) -> None:
    if org.server is not None and org.server.process.poll() is None:
        stop_server(org.server)


def _prepared(a: Org, b: Org) -> Iterator[tuple[Org, Org]]:
    a.cli("user", "add", "alice")
    b.cli("user", "add", "bob", "--display-name", "Bob")
    source = a.data.parent / "hydrants.geojson"
    source.write_bytes(orjson.dumps(samples.hydrants(40)))
    a.cli("collection", "import", "hydrants", str(source), "--create", "--user", "alice")
    text = a.cli("invite", "create", "--user", "alice").stdout.strip()
    b.cli("invite", "accept", text, "--user", "bob")
    yield a, b


def server_of(org: Org) -> Server:
    assert org.server is not None
    return org.server


def workers_of(org: Org) -> set[int]:
    """The worker processes of the org's server (not multiprocessing's resource tracker)."""

    def found() -> set[int]:
        children = child_processes(server_of(org).process.pid)
        return {pid for pid, command in children.items() if "spawn_main" in command}

    def all_started() -> set[int]:
        pids = found()
        return pids if len(pids) == WORKERS else set()

    pids: set[int] = eventually(all_started)
    assert len(pids) == WORKERS, f"expected {WORKERS} workers: {server_of(org).output()}"
    return pids


def answered_by(org: Org, marker: str) -> list[tuple[int, int]]:
    """(worker pid, status) of each logged request whose request line contains ``marker``."""
    found = []
    for line in server_of(org).output().splitlines():
        match = ACCESS_LINE.search(line)
        if match and marker in match.group(2):
            found.append((int(match.group(1)), int(match.group(3))))
    return found


def on_every_worker(
    org: Org,
    send: Callable[[], httpx.Response],
    marker: str,
    *,
    at_least: int = 20,
    at_most: int = 400,
) -> list[httpx.Response]:
    """Send requests (each on a new connection, eight at once) until at least ``at_least``
    were sent and every worker answered some, as its log lines show; every answer."""
    workers = workers_of(org)
    before = len(answered_by(org, marker))
    answers: list[httpx.Response] = []
    with ThreadPoolExecutor(8) as pool:
        while len(answers) < at_most:
            answers += pool.map(lambda _: send(), range(8))
            seen = {pid for pid, _ in answered_by(org, marker)[before:]}
            if len(answers) >= at_least and seen == workers:
                break
    served = answered_by(org, marker)[before:]
    assert {pid for pid, _ in served} == workers, f"not every worker answered: {served}"
    assert len(served) == len(answers)
    return answers


def statuses(answers: list[httpx.Response]) -> set[int]:
    return {a.status_code for a in answers}


def test_two_workers_answer_on_one_port(worker_orgs: tuple[Org, Org]) -> None:
    a, _ = worker_orgs
    workers = workers_of(a)
    log = server_of(a).output()
    assert f"Started parent process [{server_of(a).process.pid}]" in log
    for pid in workers:
        assert f"Started server process [{pid}]" in log
    answers = on_every_worker(a, lambda: httpx.get(f"{a.url}/conformance"), "GET /conformance")
    assert statuses(answers) == {200}


def test_a_collection_made_through_one_worker_is_there_on_every_worker(
    worker_orgs: tuple[Org, Org],
) -> None:
    a, _ = worker_orgs
    alice = token(a, "alice")
    made = httpx.post(
        f"{a.url}/manage/collections", headers=alice, json={"id": "water", "title": "Water"}
    )
    assert made.status_code == 201, made.text
    url = f"{a.url}/collections/water"
    described = on_every_worker(a, lambda: httpx.get(url, headers=alice), "GET /collections/water ")
    assert statuses(described) == {200}

    imported = httpx.post(
        f"{a.url}/manage/collections/water/import",
        headers={**alice, "Content-Type": "application/geo+json"},
        content=orjson.dumps(samples.hydrants(30)),
    )
    assert imported.status_code == 200, imported.text
    pages = on_every_worker(
        a, lambda: httpx.get(f"{url}/items?limit=101", headers=alice), "water/items?limit=101"
    )
    assert {p.json()["numberMatched"] for p in pages} == {30}

    # each worker samples the properties that filters and queryables may name; a change made
    # through one worker must reach the samples of all
    crew = f"{url}/items?filter=crew%3D'red'"
    refused = on_every_worker(a, lambda: httpx.get(crew, headers=alice), "filter=crew")
    assert statuses(refused) == {400}
    added = httpx.post(
        f"{url}/items",
        headers={**alice, "Content-Type": "application/geo+json"},
        content=orjson.dumps(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [9.93, 51.53]},
                "properties": {"crew": "red"},
            }
        ),
    )
    assert added.status_code == 201, added.text
    found = on_every_worker(a, lambda: httpx.get(crew, headers=alice), "filter=crew")
    assert statuses(found) == {200} and {f.json()["numberMatched"] for f in found} == {1}
    queryables = on_every_worker(
        a, lambda: httpx.get(f"{url}/queryables", headers=alice), "water/queryables"
    )
    assert all("crew" in q.json()["properties"] for q in queryables)

    assert httpx.delete(f"{a.url}/manage/collections/water", headers=alice).status_code == 204
    gone = on_every_worker(
        a, lambda: httpx.get(f"{url}?f=json", headers=alice), "GET /collections/water?f=json"
    )
    assert statuses(gone) == {404}


def test_a_share_changed_or_revoked_through_one_worker_is_refused_by_every_worker(
    worker_orgs: tuple[Org, Org],
) -> None:
    a, b = worker_orgs
    alice, bob = token(a, "alice"), token(b, "bob")
    created = httpx.post(
        f"{a.url}/manage/shares",
        headers=alice,
        json={"collection": "hydrants", "share_with": f"bob@{b.host}", "permission": "write"},
    )
    assert created.status_code == 201, created.text
    share = created.json()
    [got] = [s for s in httpx.get(f"{b.url}/manage/received-shares", headers=bob).json()]
    accepted = httpx.post(f"{b.url}/manage/received-shares/{got['id']}/accept", headers=bob)
    assert accepted.status_code == 200, accepted.text
    mount_url = accepted.json()["mount_url"]
    direct = httpx.post(f"{b.url}/manage/received-shares/{got['id']}/access", headers=bob)
    assert direct.status_code == 200, direct.text
    holder = {"Authorization": f"Bearer {direct.json()['access_token']}"}
    items = f"{a.url}/collections/hydrants/items"

    def read(limit: int) -> Callable[[], httpx.Response]:
        return lambda: httpx.get(f"{items}?limit={limit}", headers=holder)

    def mounted(limit: int) -> Callable[[], httpx.Response]:
        return lambda: httpx.get(f"{mount_url}/items?limit={limit}", headers=bob)

    def write() -> httpx.Response:
        feature = {"type": "Feature", "geometry": None, "properties": {"by": "bob"}}
        return httpx.post(
            items,
            headers={**holder, "Content-Type": "application/geo+json"},
            content=orjson.dumps(feature),
        )

    assert statuses(on_every_worker(a, read(11), "items?limit=11")) == {200}
    # B's workers each obtain their own token of A for the mounted layer
    assert statuses(on_every_worker(b, mounted(12), "items?limit=12")) == {200}

    lowered = httpx.patch(
        f"{a.url}/manage/shares/{share['id']}", headers=alice, json={"permission": "read"}
    )
    assert lowered.status_code == 200, lowered.text
    assert statuses(on_every_worker(a, write, "POST /collections/hydrants/items")) == {403}
    assert statuses(on_every_worker(a, read(13), "items?limit=13")) == {200}

    revoked = httpx.delete(f"{a.url}/manage/shares/{share['id']}", headers=alice)
    assert revoked.status_code == 204
    refused = on_every_worker(a, read(14), "items?limit=14")
    assert statuses(refused) == {401}
    assert all("invalid_token" in r.headers["www-authenticate"] for r in refused)
    # through B: a worker still holding a token of A learns at once that it is void
    assert statuses(on_every_worker(b, mounted(15), "items?limit=15")) == {404}

    # each message crossed once, though both of A's workers (and both of B's) run a courier
    assert eventually(lambda: not a.cli("share", "outbox").stdout.count(b.host))
    assert len(answered_by(b, "POST /ocm/shares")) == 1
    assert eventually(lambda: len(answered_by(b, "POST /ocm/notifications")) == 2)
    assert len(answered_by(a, "POST /ocm/notifications")) == 1  # bob's acceptance


def test_many_notifications_each_sent_once(worker_orgs: tuple[Org, Org]) -> None:
    """Both of A's couriers watch one outbox: every permission change reaches B once."""
    a, b = worker_orgs
    alice = token(a, "alice")
    created = httpx.post(
        f"{a.url}/manage/shares",
        headers=alice,
        json={"collection": "hydrants", "share_with": f"bob@{b.host}", "permission": "read"},
    )
    assert created.status_code == 201, created.text
    before = len(answered_by(b, "POST /ocm/notifications"))
    changes = 12
    for n in range(changes):
        changed = httpx.patch(
            f"{a.url}/manage/shares/{created.json()['id']}",
            headers=alice,
            json={"permission": "write" if n % 2 == 0 else "read"},
        )
        assert changed.status_code == 200, changed.text
    gone = httpx.delete(f"{a.url}/manage/shares/{created.json()['id']}", headers=alice)
    assert gone.status_code == 204
    expected = before + changes + 1
    eventually(lambda: len(answered_by(b, "POST /ocm/notifications")) >= expected)
    assert eventually(lambda: not a.cli("share", "outbox").stdout.count(b.host))
    delivered = answered_by(b, "POST /ocm/notifications")
    assert len(delivered) == expected, delivered
    assert {status for _, status in delivered[before:]} == {201}


def test_a_replayed_signature_is_refused_by_every_worker(worker_orgs: tuple[Org, Org]) -> None:
    a, b = worker_orgs
    invite = decode_invite(a.cli("invite", "create", "--user", "alice").stdout.strip())[0]
    body = orjson.dumps(
        {
            "recipientProvider": b.host,
            "token": invite,
            "userID": "mallory",
            "email": "",
            "name": "Mallory",
        }
    )
    request = httpx.Request(
        "POST",
        f"{a.url}/ocm/invite-accepted",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    signed = RequestSigner(b.keyring()).sign(request)

    def send() -> httpx.Response:
        with httpx.Client() as client:
            return client.send(signed)

    first = send()
    assert first.status_code == 200, first.text
    replays = on_every_worker(a, send, "POST /ocm/invite-accepted")[1:]
    assert statuses(replays) == {401}
    assert all("replay" in r.text for r in replays)


def test_followers_on_one_worker_get_writes_made_through_the_other(tmp_path: Path) -> None:
    """PostgreSQL: with polling all but off, a follower of the change feed on one worker gets
    the writes answered by the other worker at once (LISTEN/NOTIFY carries the wake-ups)."""
    with fresh_database_url() as url:
        config = (
            f'database_url = "{url}"\nchange_poll_seconds = 300\nchange_keepalive_seconds = 300\n'
        )
        a = make_org(tmp_path, "a", "Feuerwehr Musterstadt", config=config, workers=WORKERS)
        try:
            a.cli("user", "add", "alice")
            a.cli("collection", "create", "units", "--user", "alice")
            alice = token(a, "alice")
            follower = Follower(f"{a.url}/collections/units/changes", alice)
            follower.start()
            assert eventually(lambda: answered_by(a, "/units/changes")), "no stream"
            (stream_pid, _), *_ = answered_by(a, "/units/changes")
            count = itertools.count()

            def write() -> httpx.Response:
                body = {"type": "Feature", "geometry": None, "properties": {"n": next(count)}}
                return httpx.post(
                    f"{a.url}/collections/units/items",
                    headers={**alice, "Content-Type": "application/geo+json"},
                    content=orjson.dumps(body),
                )

            began = time.monotonic()
            answers = on_every_worker(a, write, "/units/items")
            assert statuses(answers) == {201}
            others = [pid for pid, _ in answered_by(a, "/units/items") if pid != stream_pid]
            assert others, "no write reached the other worker"
            assert eventually(lambda: len(follower.numbers) >= len(answers), 10)
            assert time.monotonic() - began < 15  # not by a poll: those come every 300 s
            assert follower.numbers == list(range(1, len(answers) + 1))
        finally:
            _stop(a)


class Follower(threading.Thread):
    """Collects the change numbers of a Server-Sent Events stream."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.url, self.headers = url, {**headers, "Accept": "text/event-stream"}
        self.numbers: list[int] = []

    def run(self) -> None:
        try:
            with httpx.stream("GET", self.url, headers=self.headers, timeout=None) as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        self.numbers.append(int(orjson.loads(line[6:])["changenumber"]))
        except httpx.RemoteProtocolError:
            pass  # the server stopping at the end of the test cuts the stream
