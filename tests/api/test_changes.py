"""The change feed in process: JSON pages in change order without the author, paging by
``next``, refusals that name their parameter, who may read it (as for items, share tokens
included), the collection's links to it, and the Server-Sent Events of a stream that ends
when its reader's access ends."""

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from opengeomesh.accounts.tokens import token_hash
from opengeomesh.ocm.sharing import SHARE_TOKEN_PREFIX
from tests.conftest import InProcessClient, World, open_trust_world, share_hydrants

GEOJSON = {"Content-Type": "application/geo+json"}
CHANGES = "/collections/hydrants/changes"
STREAM = {"Accept": "text/event-stream"}


def edit(client: InProcessClient, world: World) -> str:
    """Create, patch, replace and delete a feature as alice: changes 2 to 5 of hydrants (its
    import took number 1)."""
    alice = world.auth("alice")
    body = {"type": "Feature", "id": "h-new", "geometry": None, "properties": {"flow": 1}}
    made = client.post(
        "/collections/hydrants/items", headers={**alice, **GEOJSON}, content=orjson.dumps(body)
    )
    assert made.status_code == 201, made.text
    url = made.headers["location"]
    patch = {"Content-Type": "application/merge-patch+json"}
    assert client.patch(
        url, headers={**alice, **patch}, json={"properties": {"flow": 2}}
    ).is_success
    body["properties"] = {"flow": 3}
    assert client.put(url, headers={**alice, **GEOJSON}, content=orjson.dumps(body)).is_success
    assert client.delete(url, headers=alice).status_code == 204
    return url


def test_the_feed_as_json(client: InProcessClient, world: World) -> None:
    edit(client, world)
    page = client.get(CHANGES, headers=world.auth("bob"))
    assert page.status_code == 200 and page.headers["content-type"] == "application/json"
    body = page.json()
    events = body["events"]
    assert [e["type"].rsplit(".", 1)[1] for e in events] == ["create", "update", "update", "delete"]
    assert [e["changenumber"] for e in events] == [2, 3, 4, 5]
    assert [e["id"] for e in events] == [f"hydrants:{n}" for n in (2, 3, 4, 5)]
    assert {e["source"] for e in events} == {"http://ogm.test/collections/hydrants"}
    assert {e["subject"] for e in events} == {"h-new"}
    assert events[0]["data"] == {
        "type": "Feature",
        "id": "h-new",
        "geometry": None,
        "properties": {"flow": 1},
    }
    assert events[1]["data"]["properties"] == {"flow": 2}
    assert events[0]["datacontenttype"] == "application/geo+json"
    assert events[3]["data"] == "h-new" and events[3]["datacontenttype"] == "text/plain"
    assert all(e["specversion"] == "1.0" and e["time"].endswith("Z") for e in events)
    assert b"alice" not in page.content  # the author is never in the feed
    assert body["numberReturned"] == 4 and body["lastChange"] == 5 == body["currentChange"]
    rels = {link["rel"] for link in body["links"]}
    assert "next" not in rels and {"self", "alternate", "collection"} <= rels

    later = client.get(f"{CHANGES}?since=5", headers=world.auth("bob")).json()
    assert later["events"] == [] and later["lastChange"] == 5
    # the management log still names who did it
    log = client.get("/manage/collections/hydrants/changes", headers=world.auth("alice")).json()
    assert log[0]["actor"] == "alice"


def test_paging_by_next(client: InProcessClient, world: World) -> None:
    edit(client, world)
    url: str | None = f"http://ogm.test{CHANGES}?limit=3"
    seen: list[int] = []
    while url:
        body = client.get(url, headers=world.auth("alice")).json()
        seen += [e["changenumber"] for e in body["events"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
        assert len(body["events"]) <= 3
    assert seen == [2, 3, 4, 5]
    first = client.get(f"{CHANGES}?limit=3&since=1", headers=world.auth("alice")).json()
    (following,) = [link["href"] for link in first["links"] if link["rel"] == "next"]
    assert following == f"http://ogm.test{CHANGES}?since=4&limit=3"


@pytest.mark.parametrize(
    ("query", "headers", "parameter"),
    [
        ("since=-1", {}, "since"),
        ("since=abc", {}, "since"),
        ("since=1.5", {}, "since"),
        ("since=99", {}, "since"),  # ahead of the collection
        ("limit=0", {}, "limit"),
        ("limit=1001", {}, "limit"),
        ("limit=x", {}, "limit"),
        ("since=1&since=2", {}, "since"),
        ("bbox=1,2,3,4", {}, "bbox"),
        ("", {**STREAM, "Last-Event-ID": "last"}, "Last-Event-ID"),
        ("", {**STREAM, "Last-Event-ID": "99"}, "since"),
        ("since=-3", STREAM, "since"),
    ],
)
def test_bad_parameters_are_named(
    client: InProcessClient, world: World, query: str, headers: dict[str, str], parameter: str
) -> None:
    answer = client.get(f"{CHANGES}?{query}", headers={**world.auth("alice"), **headers})
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["parameter"] == parameter


def test_who_may_read_the_feed(client: InProcessClient, world: World) -> None:
    assert client.get(CHANGES).status_code == 401  # private: sign in
    assert client.get(CHANGES, headers=world.auth("carol")).status_code == 404
    assert client.get(CHANGES, headers={**world.auth("carol"), **STREAM}).status_code == 404
    assert client.get(CHANGES, headers=STREAM).status_code == 401
    assert client.get(CHANGES, headers=world.auth("bob")).status_code == 200
    assert client.get("/collections/sectors/changes").status_code == 200  # public
    assert client.get("/collections/nothing/changes", headers=world.auth("root")).status_code == 404


def test_the_collection_links_its_feed(client: InProcessClient, world: World) -> None:
    links = client.get("/collections/hydrants", headers=world.auth("bob")).json()["links"]
    monitor = [link for link in links if link["rel"] == "monitor"]
    assert {link["type"] for link in monitor} == {"application/json", "text/event-stream"}
    assert {link["href"] for link in monitor} == {"http://ogm.test/collections/hydrants/changes"}
    head = client.head(CHANGES, headers={**world.auth("bob"), **STREAM})
    assert head.status_code == 200 and head.headers["content-type"].startswith("text/event-stream")


@pytest.fixture
def sharing_world(tmp_path: Path) -> Iterator[tuple[World, InProcessClient]]:
    with open_trust_world(tmp_path / "data", peer_timeout=2) as opened:
        yield opened


def test_a_share_token_reads_its_collection_only(
    sharing_world: tuple[World, InProcessClient],
) -> None:
    world, client = sharing_world
    token = SHARE_TOKEN_PREFIX + "feed-test-token"
    share_id = share_hydrants(client, world, token, 60)
    shares = world.services.stores.shares
    bearer = {"Authorization": f"Bearer {token}"}
    edit(client, world)
    page = client.get(CHANGES, headers=bearer)
    assert page.status_code == 200 and len(page.json()["events"]) == 4
    assert client.get("/collections/sectors/changes", headers=bearer).status_code == 404

    # a stream with a token about to expire ends by itself at its next read (poll: 2 s)
    brief = SHARE_TOKEN_PREFIX + "feed-test-brief"
    assert shares.add_token(share_id, token_hash(brief), time.time() + 1.5)
    answers: list[Any] = []
    reader = threading.Thread(
        target=lambda: answers.append(
            client.get(CHANGES, headers={"Authorization": f"Bearer {brief}", **STREAM})
        )
    )
    reader.start()
    reader.join(10)
    assert not reader.is_alive() and answers[0].status_code == 200
    assert answers[0].text.startswith("retry: 2000\nid: 5\n\n")

    revoked = client.delete(f"/manage/shares/{share_id}", headers=world.auth("alice"))
    assert revoked.status_code == 204
    assert client.get(CHANGES, headers=bearer).status_code == 401


def read_stream(text: str) -> list[dict[str, Any]]:
    """The blocks of a Server-Sent Events body, each as its fields."""
    blocks = []
    for block in text.split("\n\n"):
        if not block:
            continue
        fields: dict[str, Any] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            fields[name] = value
        blocks.append(fields)
    return blocks


def test_a_stream_in_order_resumed_and_ended_with_access(
    client: InProcessClient, world: World
) -> None:
    services = world.services
    alice = services.accounts.caller_for_user("alice")
    answers: dict[str, Any] = {}

    def subscribe(name: str, headers: dict[str, str]) -> None:
        answers[name] = client.get(CHANGES, headers={**world.auth("bob"), **STREAM, **headers})

    def waiting(count: int) -> None:
        deadline = time.monotonic() + 10
        while services.changes.hub.waiting < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert services.changes.hub.waiting == count

    readers = [
        threading.Thread(target=subscribe, args=("new", {})),
        threading.Thread(target=subscribe, args=("resumed", {"Last-Event-ID": "3"})),
    ]
    try:
        readers[0].start()
        waiting(1)
        edit(client, world)
        readers[1].start()
        waiting(2)
        time.sleep(1)  # both read what there is (a stream checks access before each read)
    finally:
        services.catalog.ungrant(alice, "hydrants", "group:control-room")  # bob's access ends
        for reader in readers:
            if reader.is_alive():
                reader.join(10)
            assert not reader.is_alive()
    new = answers["new"]
    assert new.status_code == 200 and new.headers["content-type"].startswith("text/event-stream")
    assert new.headers["cache-control"] == "no-store"
    blocks = read_stream(new.text)
    assert blocks[0] == {"retry": "2000", "id": "1"}  # from the change it started at
    events = [b for b in blocks if "data" in b]
    assert [b["id"] for b in events] == ["2", "3", "4", "5"]
    assert [orjson.loads(b["data"])["changenumber"] for b in events] == [2, 3, 4, 5]
    assert all("event" not in b for b in blocks)
    resumed = read_stream(answers["resumed"].text)
    assert resumed[0]["id"] == "3"
    assert [b["id"] for b in resumed if "data" in b] == ["4", "5"]
    assert services.changes.hub.waiting == 0
