"""The gateway in front of an upstream OGC API server, in process, against a small fake upstream
served over real HTTP on loopback: the management API (add, list, refresh, expose, remove),
credentials reaching the upstream and never coming back, timeouts and refused connections,
and what is forwarded (``datetime``, ``filter`` under Part 3, writes under Part 4)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest

from opengeomesh.app import create_app
from tests.conftest import InProcessClient, World, fresh_services, populate

PART3 = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter"
PART4 = "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete"
CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
SECRETS = ("pa55word", "t0ken-value", "k3y-value")


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeUpstream:
    """An OGC API with one collection ``hydrants`` (three features, two per page) under
    ``/api``; it records every request. ``silent`` makes it accept and never answer (until the
    test ends); writes are answered as a Part 4 server would."""

    url: str = ""
    conforms: list[str] = field(default_factory=lambda: [CORE])
    seen: list[Seen] = field(default_factory=list)
    silent: bool = False
    released: threading.Event = field(default_factory=threading.Event)
    stop: Callable[[], None] = lambda: None
    bare_writes: bool = False  # a 201 with only a Location, no feature
    refuse_credentials: bool = False  # 401 to every items request

    def items_requests(self) -> list[Seen]:
        return [s for s in self.seen if "/items" in s.path]


def _feature(fid: str, name: str) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": fid,
        "geometry": {"type": "Point", "coordinates": [9.9, 51.5]},
        "properties": {"name": name},
    }


FEATURES = [_feature(str(n), f"Hydrant {n}") for n in (1, 2, 3)]


def _handler(fake: FakeUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def _answer(self, status: int, body: Any = None, **headers: str) -> None:
            data = b"" if body is None else orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", headers.pop("content_type", "application/json"))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen = Seen(
                self.command,
                parts.path,
                dict(parse_qsl(parts.query)),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            fake.seen.append(seen)
            if fake.silent:
                fake.released.wait(30)
                return
            path = parts.path
            if fake.refuse_credentials and "/items" in path:
                return self._answer(401, {"detail": "who are you"})
            geojson = "application/geo+json"
            if path == "/api/conformance":
                return self._answer(200, {"conformsTo": fake.conforms})
            if path == "/api/collections/hydrants":
                return self._answer(
                    200,
                    {
                        "id": "hydrants",
                        "title": "Hydrants upstream",
                        "description": "From the fake",
                        "extent": {"spatial": {"bbox": [[9.9, 51.5, 9.9, 51.5]]}},
                        "links": [],
                    },
                )
            if path == "/api/collections/hydrants/items" and self.command == "GET":
                limit = int(seen.query.get("limit", "10"))
                offset = int(seen.query.get("offset", "0"))
                links = [{"rel": "self", "href": f"{fake.url}/collections/hydrants/items"}]
                if offset + limit < len(FEATURES):
                    href = (
                        f"{fake.url}/collections/hydrants/items?limit={limit}"
                        f"&offset={offset + limit}"
                    )
                    links.append({"rel": "next", "href": href, "type": geojson})
                page = {
                    "type": "FeatureCollection",
                    "features": FEATURES[offset : offset + limit],
                    "numberMatched": len(FEATURES),
                    "links": links,
                }
                return self._answer(200, page, content_type=geojson)
            if path == "/api/collections/hydrants/items" and self.command == "POST":
                made = dict(orjson.loads(body), id="new-1")
                location = f"{fake.url}/collections/hydrants/items/new-1"
                if fake.bare_writes:
                    return self._answer(201, Location=location)
                return self._answer(
                    201, made, content_type=geojson, Location=location, ETag='"up-v1"'
                )
            if path.startswith("/api/collections/hydrants/items/"):
                fid = path.rsplit("/", 1)[-1]
                if self.command == "GET":
                    found = next((f for f in FEATURES if f["id"] == fid), None)
                    if found is None:
                        return self._answer(404, {"detail": "no such feature"})
                    return self._answer(200, found, content_type=geojson, ETag='"up-get"')
                if self.command == "PUT" and seen.headers.get("if-match") == '"stale"':
                    return self._answer(412, {"detail": "changed meanwhile"})
                if self.command == "PUT":
                    return self._answer(
                        200, dict(orjson.loads(body), id=fid), content_type=geojson, ETag='"up-v2"'
                    )
                if self.command == "PATCH":
                    patched = dict(FEATURES[0], id=fid, properties=orjson.loads(body)["properties"])
                    return self._answer(200, patched, content_type=geojson, ETag='"up-v3"')
                if self.command == "DELETE":
                    return self._answer(204)
            return self._answer(404, {"detail": "not here"})

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream))
    server.daemon_threads = True
    upstream.url = f"http://127.0.0.1:{server.server_address[1]}/api"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stopped: list[bool] = []

    def stop() -> None:
        if not stopped:
            stopped.append(True)
            upstream.released.set()
            server.shutdown()
            server.server_close()

    upstream.stop = stop
    yield upstream
    stop()


@dataclass
class Gateway:
    client: InProcessClient
    world: World
    fake: FakeUpstream

    @property
    def root(self) -> dict[str, str]:
        return self.world.auth("root")

    @property
    def alice(self) -> dict[str, str]:
        return self.world.auth("alice")

    def add(self, name: str = "fake", **extra: Any) -> Any:
        body = {"name": name, "url": self.fake.url, "allow_private": True, **extra}
        return self.client.post("/manage/upstreams", headers=self.root, json=body)

    def expose(self, name: str = "fake", local: str = "up-hydrants") -> Any:
        body = {"collection": "hydrants", "id": local, "owner": "alice"}
        return self.client.post(
            f"/manage/upstreams/{name}/collections", headers=self.root, json=body
        )


@pytest.fixture
def gateway(tmp_path: Path, fake: FakeUpstream) -> Iterator[Gateway]:
    with fresh_services(tmp_path / "data", peer_timeout=1.0) as services:
        world = populate(services, hydrant_count=3)
        client = InProcessClient(create_app(services.settings, services), "http://ogm.test")
        try:
            yield Gateway(client, world, fake)
        finally:
            client.close()


def _no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
    assert base64.b64encode(b"ogm:pa55word").decode() not in text


# 1. the management API


def test_upstreams_are_managed_by_operators(gateway: Gateway) -> None:
    client, fake = gateway.client, gateway.fake
    assert client.get("/manage/upstreams", headers=gateway.alice).status_code == 403
    denied = client.post(
        "/manage/upstreams", headers=gateway.alice, json={"name": "x", "url": fake.url}
    )
    assert denied.status_code == 403

    added = gateway.add(auth="basic", username="ogm", secret="pa55word")
    assert added.status_code == 201, added.text
    shown = added.json()
    assert shown["name"] == "fake" and shown["url"] == fake.url and shown["auth"] == "basic"
    assert shown["username"] == "ogm" and shown["secret"] == "********"
    assert shown["filter"] is False and shown["write"] is False and shown["collections"] == []
    _no_secret(added.text)
    assert fake.seen[-1].path == "/api/conformance"  # read with the credentials given
    assert fake.seen[-1].headers["authorization"].startswith("Basic ")
    assert gateway.add().status_code == 409  # the name is taken

    listed = client.get("/manage/upstreams", headers=gateway.root)
    assert listed.status_code == 200 and [u["name"] for u in listed.json()] == ["fake"]
    assert listed.json()[0]["secret"] == "********"
    _no_secret(listed.text)

    # after an upgrade the upstream declares Part 3 and Part 4: refresh reads it again
    fake.conforms = [CORE, PART3, PART4]
    refreshed = client.post("/manage/upstreams/fake/refresh", headers=gateway.root)
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["filter"] is True and refreshed.json()["write"] is True
    _no_secret(refreshed.text)
    assert client.post("/manage/upstreams/nope/refresh", headers=gateway.root).status_code == 404

    exposed = gateway.expose()
    assert exposed.status_code == 201, exposed.text
    assert exposed.json()["id"] == "up-hydrants"
    described = client.get("/collections/up-hydrants", headers=gateway.alice)
    assert described.status_code == 200
    assert described.json()["title"] == "Hydrants upstream"
    assert described.json()["extent"]["spatial"]["bbox"] == [[9.9, 51.5, 9.9, 51.5]]
    assert (
        client.get("/collections/up-hydrants", headers=gateway.world.auth("carol")).status_code
        == 404
    )
    assert gateway.expose(local="hydrants").status_code == 409  # a local id taken
    missing = client.post(
        "/manage/upstreams/fake/collections",
        headers=gateway.root,
        json={"collection": "nothing", "owner": "alice"},
    )
    assert missing.status_code == 404
    listed = client.get("/manage/upstreams", headers=gateway.root).json()
    assert listed[0]["collections"] == ["up-hydrants"]

    refused = client.delete("/manage/upstreams/fake", headers=gateway.root)
    assert refused.status_code == 409 and "up-hydrants" in refused.json()["detail"]
    assert client.delete("/manage/upstreams/fake", headers=gateway.alice).status_code == 403
    gone = client.delete("/manage/collections/up-hydrants", headers=gateway.alice)
    assert gone.status_code == 204, gone.text
    assert client.delete("/manage/upstreams/fake", headers=gateway.root).status_code == 204
    assert client.get("/manage/upstreams", headers=gateway.root).json() == []
    assert client.delete("/manage/upstreams/fake", headers=gateway.root).status_code == 404


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"name": "Not Valid"}, "name"),
        ({"url": "ftp://ogc.example"}, "url"),
        ({"url": "https://u:pa55word@ogc.example"}, "url"),
        ({"auth": "magic"}, "auth"),
        ({"auth": "bearer"}, "secret"),
        ({"auth": "basic", "secret": "pa55word"}, "username"),
        ({"auth": "header", "secret": "k3y-value", "header": "Host"}, "header"),
        ({"auth": "header", "secret": "k3y-value", "header": "bad header"}, "header"),
        ({"secret": "t0ken-value"}, "auth"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_registrations_name_the_field(
    gateway: Gateway, body: dict[str, Any], parameter: str
) -> None:
    sent = {"name": "fake", "url": gateway.fake.url, "allow_private": True, **body}
    refused = gateway.client.post("/manage/upstreams", headers=gateway.root, json=sent)
    assert refused.status_code == 400, refused.text
    assert refused.json()["parameter"] == parameter
    _no_secret(refused.text)  # what was sent is not echoed
    assert gateway.client.get("/manage/upstreams", headers=gateway.root).json() == []


def test_a_bad_exposure_names_the_field(gateway: Gateway) -> None:
    assert gateway.add().status_code == 201
    refused = gateway.client.post(
        "/manage/upstreams/fake/collections",
        headers=gateway.root,
        json={"collection": "hydrants"},
    )
    assert refused.status_code == 400 and refused.json()["parameter"] == "owner"


# 2. credentials reach the upstream, and never come back


@pytest.mark.parametrize(
    ("auth", "header", "expected"),
    [
        (
            {"auth": "basic", "username": "ogm", "secret": "pa55word"},
            "authorization",
            "Basic " + base64.b64encode(b"ogm:pa55word").decode(),
        ),
        ({"auth": "bearer", "secret": "t0ken-value"}, "authorization", "Bearer t0ken-value"),
        (
            {"auth": "header", "header": "X-Api-Key", "secret": "k3y-value"},
            "x-api-key",
            "k3y-value",
        ),
    ],
)
def test_credentials_reach_the_upstream_and_never_leak(
    gateway: Gateway, auth: dict[str, str], header: str, expected: str
) -> None:
    client, fake = gateway.client, gateway.fake
    assert gateway.add(**auth).status_code == 201
    assert gateway.expose().status_code == 201
    url = "/collections/up-hydrants/items"
    first = client.get(url, params={"limit": 2}, headers=gateway.alice)
    assert first.status_code == 200, first.text
    assert [f["id"] for f in first.json()["features"]] == ["1", "2"]
    following = next(x["href"] for x in first.json()["links"] if x["rel"] == "next")
    assert following.startswith("http://ogm.test/collections/up-hydrants/items?")
    second = client.get(following, headers=gateway.alice)
    assert [f["id"] for f in second.json()["features"]] == ["3"]
    one = client.get(f"{url}/2", headers=gateway.alice)
    assert one.status_code == 200 and one.json()["properties"]["name"] == "Hydrant 2"
    queried = [s for s in fake.items_requests() if s.method == "GET"]
    assert len(queried) == 3
    assert all(s.headers.get(header) == expected for s in queried)
    # the caller's own credentials do not travel to the upstream
    assert all(gateway.world.tokens["alice"] not in str(s.headers) for s in fake.seen)
    for answer in (first, second, one):
        _no_secret(answer.text + str(answer.headers))
        assert "127.0.0.1" not in answer.text  # the upstream's links are ours
    listed = client.get("/manage/upstreams", headers=gateway.root)
    _no_secret(listed.text)
    described = client.get("/collections/up-hydrants", headers=gateway.alice)
    _no_secret(described.text)


# 3. an upstream that does not answer, or cannot be reached


def test_a_silent_upstream_is_a_504_naming_it(gateway: Gateway) -> None:
    client, fake = gateway.client, gateway.fake
    assert gateway.add().status_code == 201
    assert gateway.expose().status_code == 201
    fake.silent = True
    started = time.monotonic()
    waited = client.get("/collections/up-hydrants/items", headers=gateway.alice)
    took = time.monotonic() - started
    assert waited.status_code == 504, waited.text
    assert took < 5  # peer_timeout is 1 s here
    assert waited.headers["content-type"].startswith("application/problem+json")
    assert "upstream 'fake'" in waited.json()["detail"]
    fake.released.set()


def test_a_refused_connection_is_a_502(gateway: Gateway) -> None:
    assert gateway.add().status_code == 201
    assert gateway.expose().status_code == 201
    gateway.fake.stop()  # nobody listens on its port any more
    started = time.monotonic()
    refused = gateway.client.get("/collections/up-hydrants/items", headers=gateway.alice)
    assert refused.status_code == 502, refused.text
    assert time.monotonic() - started < 5
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "upstream 'fake'" in refused.json()["detail"]


# 4. what is forwarded


def test_datetime_and_filter_are_forwarded_as_declared(gateway: Gateway) -> None:
    client, fake = gateway.client, gateway.fake
    assert gateway.add().status_code == 201
    assert gateway.expose().status_code == 201
    url = "/collections/up-hydrants/items"
    period = "2024-01-01T00:00:00Z/.."
    timed = client.get(url, params={"datetime": period}, headers=gateway.alice)
    assert timed.status_code == 200, timed.text
    assert fake.items_requests()[-1].query["datetime"] == period

    asked = {"filter": "name = 'Hydrant 1'", "filter-lang": "cql2-text"}
    refused = client.get(url, params=asked, headers=gateway.alice)
    assert refused.status_code == 400 and "Part 3" in refused.json()["detail"]
    assert refused.json()["parameter"] == "filter"
    assert "filter" not in fake.items_requests()[-1].query  # nothing went up

    fake.conforms = [CORE, PART3]
    assert client.post("/manage/upstreams/fake/refresh", headers=gateway.root).status_code == 200
    filtered = client.get(url, params=asked, headers=gateway.alice)
    assert filtered.status_code == 200, filtered.text
    sent = fake.items_requests()[-1].query
    assert sent["filter"] == asked["filter"] and sent["filter-lang"] == "cql2-text"


def test_writes_are_forwarded_only_under_part_4(gateway: Gateway) -> None:
    client, fake = gateway.client, gateway.fake
    assert gateway.add(auth="bearer", secret="t0ken-value").status_code == 201
    assert gateway.expose().status_code == 201
    url = "/collections/up-hydrants/items"
    geojson = {**gateway.alice, "Content-Type": "application/geo+json"}
    feature = orjson.dumps(_feature("x", "Hydrant new"))
    before = len(fake.seen)
    assert client.post(url, headers=geojson, content=feature).status_code == 403
    assert client.put(f"{url}/1", headers=geojson, content=feature).status_code == 403
    assert client.delete(f"{url}/1", headers=gateway.alice).status_code == 403
    assert all(s.method == "GET" for s in fake.seen[before:])  # no write went up

    fake.conforms = [CORE, PART4]
    assert client.post("/manage/upstreams/fake/refresh", headers=gateway.root).status_code == 200
    services = gateway.world.services
    alice = services.accounts.caller_for_user("alice")
    services.catalog.grant(alice, "up-hydrants", "group:control-room", "read")
    bob_reads = client.post(
        url,
        headers={**gateway.world.auth("bob"), "Content-Type": "application/geo+json"},
        content=feature,
    )
    assert bob_reads.status_code == 403  # a read grant does not write upstream

    created = client.post(url, headers=geojson, content=feature)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "http://ogm.test/collections/up-hydrants/items/new-1"
    assert created.headers["etag"] == '"up-v1"'
    assert created.json()["id"] == "new-1"
    up = fake.seen[-1]
    assert (up.method, up.path) == ("POST", "/api/collections/hydrants/items")
    assert up.headers["content-type"] == "application/geo+json"
    assert up.headers["authorization"] == "Bearer t0ken-value"
    assert orjson.loads(up.body)["properties"]["name"] == "Hydrant new"
    _no_secret(created.text + str(created.headers))

    replaced = client.put(f"{url}/1", headers={**geojson, "If-Match": '"up-get"'}, content=feature)
    assert replaced.status_code == 200, replaced.text
    assert replaced.headers["etag"] == '"up-v2"'
    up = fake.seen[-1]
    assert (up.method, up.path) == ("PUT", "/api/collections/hydrants/items/1")
    assert up.headers["if-match"] == '"up-get"'

    patched = client.patch(
        f"{url}/1",
        headers={**gateway.alice, "Content-Type": "application/merge-patch+json"},
        content=orjson.dumps({"properties": {"name": "Hydrant 1b"}}),
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == '"up-v3"'
    assert patched.json()["properties"]["name"] == "Hydrant 1b"
    assert fake.seen[-1].method == "PATCH"

    deleted = client.delete(f"{url}/1", headers=gateway.alice)
    assert deleted.status_code == 204, deleted.text
    assert (fake.seen[-1].method, fake.seen[-1].path) == (
        "DELETE",
        "/api/collections/hydrants/items/1",
    )


def test_upstream_answers_to_writes_are_mapped(gateway: Gateway) -> None:
    client, fake = gateway.client, gateway.fake
    fake.conforms = [CORE, PART4]
    assert gateway.add().status_code == 201
    assert gateway.expose().status_code == 201
    url = "/collections/up-hydrants/items"
    geojson = {**gateway.alice, "Content-Type": "application/geo+json"}
    feature = orjson.dumps(_feature("x", "Hydrant new"))

    fake.bare_writes = True  # created there, answered with a Location only: ours is given
    created = client.post(url, headers=geojson, content=feature)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "http://ogm.test/collections/up-hydrants/items/new-1"

    stale = client.put(f"{url}/1", headers={**geojson, "If-Match": '"stale"'}, content=feature)
    assert stale.status_code == 412, stale.text
    assert "upstream 'fake'" in stale.json()["detail"]


def test_refused_credentials_are_a_502_not_the_callers_fault(gateway: Gateway) -> None:
    assert gateway.add(auth="bearer", secret="t0ken-value").status_code == 201
    assert gateway.expose().status_code == 201
    gateway.fake.refuse_credentials = True
    refused = gateway.client.get("/collections/up-hydrants/items", headers=gateway.alice)
    assert refused.status_code == 502, refused.text
    assert "upstream 'fake'" in refused.json()["detail"]
    _no_secret(refused.text)
