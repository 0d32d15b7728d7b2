"""The attack table: each row an attack on our server with the refusal expected (status and
reason), against real parts: our app in process with its real stores, a real peer server on
loopback whose key signs, hostile OCM servers on loopback (tests/security/hostile.py), the
real outbound client with its address guard resolving real names."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from http_message_signatures import HTTPMessageSigner, algorithms

from opengeomesh.app import create_app
from opengeomesh.ocm.addresses import OcmAddress
from opengeomesh.ocm.invites import encode_invite
from opengeomesh.ocm.keys import Keyring
from opengeomesh.ocm.models import ShareType
from opengeomesh.ocm.payloads import share_body
from opengeomesh.ocm.signatures import COVERED, TAG
from opengeomesh.services import Services
from tests.conftest import InProcessClient, World, fresh_services
from tests.e2e.orgs import Org
from tests.security.conftest import BASE
from tests.security.hostile import Answer, HostileServer, hostile_server, json_answer


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str  # a part of the answer's text that names why


class _Key:
    def __init__(self, private: Any) -> None:
        self._private = private

    def resolve_private_key(self, _: str) -> Any:
        return self._private


def sign(
    request: httpx.Request,
    keyring: Keyring,
    *,
    created: datetime | None = None,
    keyid: str | None = None,
) -> httpx.Request:
    """Sign as RequestSigner does, with the created time or keyid an attack needs."""
    key = keyring.current
    HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=_Key(key.private)).sign(
        request,
        key_id=keyid or key.kid,
        created=created or datetime.now(UTC),
        nonce=secrets.token_urlsafe(16),
        label=TAG,
        tag=TAG,
        include_alg=False,
        covered_component_ids=COVERED,
        body=request.content,
    )
    return request


def notification() -> bytes:
    return orjson.dumps(
        {
            "notificationType": "SHARE_ACCEPTED",
            "resourceType": "feature-collection",
            "providerId": "no-such-share",
            "notification": {},
        }
    )


def new_share(sender_host: str, uri: str, recipient: str = "bob") -> bytes:
    return orjson.dumps(
        share_body(
            share_with=f"{recipient}@ocm.test",
            share_type=ShareType.USER,
            provider_id=secrets.token_hex(8),
            name="Layer",
            description="",
            owner=OcmAddress("mallory", sender_host),
            owner_name="Mallory",
            sender=OcmAddress("mallory", sender_host),
            sender_name="Mallory",
            uri=uri,
            secret=secrets.token_urlsafe(24),
            permission="read",
        )
    )


def post(path: str, body: bytes) -> httpx.Request:
    return httpx.Request(
        "POST", f"{BASE}{path}", content=body, headers={"Content-Type": "application/json"}
    )


@pytest.fixture(scope="module")
def ocm(target: Services) -> Iterator[InProcessClient]:
    client = InProcessClient(create_app(target.settings, target), BASE)
    yield client
    client.close()


def send(client: InProcessClient, request: httpx.Request) -> httpx.Response:
    return client.request(
        request.method, str(request.url), headers=request.headers, content=request.content
    )


def expect(response: httpx.Response, refusal: Refusal) -> None:
    assert response.status_code == refusal.status, response.text
    assert refusal.reason.lower() in response.text.lower(), response.text


# --- signatures -------------------------------------------------------------------------------


def _forged(peer: Org, _: HostileServer) -> list[httpx.Request]:
    request = RequestSignerOf(peer)(post("/ocm/notifications", notification()))
    value = request.headers["Signature"]
    request.headers["Signature"] = value[:10] + ("A" if value[10] != "A" else "B") + value[11:]
    return [request]


def _tampered_body(peer: Org, _: HostileServer) -> list[httpx.Request]:
    request = RequestSignerOf(peer)(post("/ocm/notifications", notification()))
    tampered = notification().replace(b"no-such-share", b"other-share!!")
    return [httpx.Request("POST", request.url, headers=request.headers, content=tampered)]


def _tampered_target(peer: Org, _: HostileServer) -> list[httpx.Request]:
    request = RequestSignerOf(peer)(post("/ocm/notifications", notification()))
    moved = f"{BASE}/ocm/notifications?to=elsewhere"  # the signed @target-uri differs
    return [httpx.Request("POST", moved, headers=request.headers, content=request.content)]


def _replayed(peer: Org, _: HostileServer) -> list[httpx.Request]:
    request = RequestSignerOf(peer)(post("/ocm/notifications", notification()))
    return [request, request]


def _expired(peer: Org, _: HostileServer) -> list[httpx.Request]:
    past = datetime.fromtimestamp(time.time() - 3600, UTC)
    return [sign(post("/ocm/notifications", notification()), peer.keyring(), created=past)]


def _from_the_future(peer: Org, _: HostileServer) -> list[httpx.Request]:
    later = datetime.fromtimestamp(time.time() + 3600, UTC)
    return [sign(post("/ocm/notifications", notification()), peer.keyring(), created=later)]


def _keyid_of_another_host(peer: Org, hostile: HostileServer) -> list[httpx.Request]:
    """Signed with the peer's key under a keyid naming another (real) server."""
    keyid = f"{hostile.host}#{peer.keyring().current.kid.partition('#')[2]}"
    return [sign(post("/ocm/notifications", notification()), peer.keyring(), keyid=keyid)]


def _sender_is_not_the_signer(peer: Org, hostile: HostileServer) -> list[httpx.Request]:
    """A share claiming to come from the hostile server, signed by the peer."""
    body = new_share(hostile.host, f"{hostile.url}/collections/x")
    return [RequestSignerOf(peer)(post("/ocm/shares", body))]


def _unsigned(_: Org, __: HostileServer) -> list[httpx.Request]:
    return [post("/ocm/notifications", notification())]


def _two_signatures(peer: Org, hostile: HostileServer) -> list[httpx.Request]:
    first = RequestSignerOf(peer)(post("/ocm/notifications", notification()))
    second = hostile.signer.sign(post("/ocm/notifications", notification()))
    first.headers["Signature-Input"] += ", " + second.headers["Signature-Input"].replace(
        "ocm=", "ocm2=", 1
    )
    first.headers["Signature"] += ", " + second.headers["Signature"].replace("ocm=", "ocm2=", 1)
    return [first]


def RequestSignerOf(org: Org) -> Callable[[httpx.Request], httpx.Request]:
    from opengeomesh.ocm.signatures import RequestSigner

    return RequestSigner(org.keyring()).sign


def _honest(peer: Org, _: HostileServer) -> list[httpx.Request]:
    return [RequestSignerOf(peer)(post("/ocm/notifications", notification()))]


SIGNATURE_ATTACKS = [
    # the same request signed honestly gets past the signature (to "no such share"): so each
    # refusal below is the attack's
    ("honest, for comparison", _honest, Refusal(400, "no share of yours with this providerId")),
    ("forged signature", _forged, Refusal(401, "does not verify")),
    ("body changed after signing", _tampered_body, Refusal(401, "digest")),
    ("sent to another path than signed", _tampered_target, Refusal(401, "does not verify")),
    ("replayed signature", _replayed, Refusal(401, "replay")),
    ("expired signature", _expired, Refusal(401, "outside the allowed window")),
    ("signature from the future", _from_the_future, Refusal(401, "outside the allowed window")),
    ("keyid of another host", _keyid_of_another_host, Refusal(401, "publishes no key")),
    ("share sender is not the signer", _sender_is_not_the_signer, Refusal(401, "another host")),
    ("unsigned", _unsigned, Refusal(401, "SIGNATURE_REQUIRED")),
    ("two signatures tagged ocm", _two_signatures, Refusal(401, "exactly one")),
]


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[HostileServer]:
    with hostile_server(tmp_path / "hostile-keys") as server:
        yield server


@pytest.mark.parametrize(
    ("attack", "refusal"),
    [pytest.param(a, r, id=name) for name, a, r in SIGNATURE_ATTACKS],
)
def test_signature_attacks(
    ocm: InProcessClient,
    peer: Org,
    hostile: HostileServer,
    attack: Callable[[Org, HostileServer], list[httpx.Request]],
    refusal: Refusal,
) -> None:
    *earlier, last = attack(peer, hostile)
    for request in earlier:
        send(ocm, request)
    expect(send(ocm, last), refusal)


# --- hostile discovery and JWK Sets -------------------------------------------------------------

METADATA = "http://169.254.169.254/latest/meta-data/"
HUGE = b'{"a": "' + b"x" * (2 << 20) + b'"}'


def _discovery(answer: Answer) -> Callable[[HostileServer], None]:
    def change(server: HostileServer) -> None:
        server.answers["/.well-known/ocm"] = answer
        server.answers["/ocm-provider"] = answer

    return change


def _jwks(answer: Answer) -> Callable[[HostileServer], None]:
    def change(server: HostileServer) -> None:
        server.answers["/ocm/jwks"] = answer

    return change


def _jwks_uri(uri: str) -> Callable[[HostileServer], None]:
    return lambda server: server.honest(jwksUri=uri)


REDIRECT = Answer(status=302, headers={"Location": METADATA})
HOSTILE_PEERS = [
    ("discovery huge", _discovery(Answer(body=HUGE)), "more than"),
    ("discovery slow", _discovery(Answer(body=b"{}", delay=4)), "did not answer in time"),
    ("discovery redirects to cloud metadata", _discovery(REDIRECT), "redirects elsewhere"),
    ("discovery not JSON", _discovery(Answer(body=b"<html>", media="text/html")), "not JSON"),
    ("discovery JSON but not an object", _discovery(json_answer([1, 2])), "discovery"),
    ("JWK Set huge", _jwks(Answer(body=HUGE)), "more than"),
    ("JWK Set slow", _jwks(Answer(body=b"{}", delay=4)), "did not answer in time"),
    ("JWK Set redirects to cloud metadata", _jwks(REDIRECT), "redirects elsewhere"),
    ("JWK Set not JSON", _jwks(Answer(body=b"keys", media="text/plain")), "not JSON"),
    ("JWK Set without keys", _jwks(json_answer({"keys": "none"})), "JWK Set is not usable"),
    ("JWK Set a JSON list", _jwks(json_answer([{"kty": "OKP"}])), "JWK Set is not usable"),
    ("jwksUri at cloud metadata", _jwks_uri(METADATA), "169.254.169.254"),
    (
        "jwksUri at an IPv6-mapped metadata address",
        _jwks_uri("http://[::ffff:a9fe:a9fe]/k"),
        "a9fe",
    ),
    ("jwksUri not http", _jwks_uri("file:///etc/passwd"), "not an http"),
]


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessClient]:
    """Our server as in ``target``, but waiting only 2 s for another server."""
    data = tmp_path_factory.mktemp("impatient") / "data"
    with fresh_services(
        data,
        public_url=BASE,
        trust_mode="open",
        allow_private_peers=True,
        peer_timeout=2,
        rate_limit_per_minute_peer=0,
    ) as services:
        client = InProcessClient(create_app(services.settings, services), BASE)
        yield client
        client.close()


@pytest.mark.parametrize(
    ("change", "reason"), [pytest.param(c, r, id=name) for name, c, r in HOSTILE_PEERS]
)
def test_hostile_discovery_and_key_sets(
    impatient: InProcessClient,
    hostile: HostileServer,
    change: Callable[[HostileServer], None],
    reason: str,
) -> None:
    """A notification signed by the hostile server's key: our server must fetch its
    discovery and keys to check it, and refuses (401 SIGNATURE_UNVERIFIABLE) without being
    held up, filled up or led elsewhere."""
    change(hostile)
    started = time.monotonic()
    response = send(impatient, hostile.signer.sign(post("/ocm/notifications", notification())))
    expect(response, Refusal(401, reason))
    assert response.json()["message"] in ("SIGNATURE_UNVERIFIABLE", "SIGNATURE_REFUSED")
    assert time.monotonic() - started < 10


# --- SSRF: invite strings, share URIs, token endpoints ----------------------------------------


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcessClient, str]]:
    """Our server with its default guard: no loopback, private or link-local peers."""
    data = tmp_path_factory.mktemp("guarded") / "data"
    with fresh_services(data, public_url=BASE, rate_limit_per_minute_token=0) as services:
        services.accounts.add_user("bob")
        secret = services.accounts.create_token("bob").secret
        client = InProcessClient(create_app(services.settings, services), BASE)
        yield client, secret
        client.close()


INVITE_HOSTS = [
    ("loopback", "127.0.0.1:8080", Refusal(502, "127.0.0.1")),
    ("a name resolving to loopback", "localhost:8080", Refusal(502, "127.0.0.1")),
    ("the same name, spelt otherwise", "LOCALHOST.:8080", Refusal(502, "127.0.0.1")),
    ("IPv6 loopback", "[::1]:8080", Refusal(502, "::1")),
    ("IPv4-mapped IPv6 loopback", "[::ffff:127.0.0.1]:8080", Refusal(502, "127.0.0.1")),
    ("NAT64 loopback", "[64:ff9b::7f00:1]", Refusal(502, "64:ff9b::7f00:1")),
    ("private 10/8", "10.20.30.40", Refusal(502, "10.20.30.40")),
    ("private 172.16/12", "172.16.0.1", Refusal(502, "172.16.0.1")),
    ("private 192.168/16", "192.168.1.1", Refusal(502, "192.168.1.1")),
    ("shared address space", "100.64.0.1", Refusal(502, "100.64.0.1")),
    ("cloud metadata", "169.254.169.254", Refusal(502, "169.254.169.254")),
    ("IPv6 link-local", "[fe80::1]", Refusal(502, "fe80::1")),
    ("unspecified", "0.0.0.0", Refusal(502, "0.0.0.0")),
    ("loopback as one number", "2130706433", Refusal(400, "not a valid IP address")),
    ("loopback in hex", "0x7f.0.0.1", Refusal(400, "not a valid IP address")),
]


@pytest.mark.parametrize(
    ("host", "refusal"), [pytest.param(h, r, id=name) for name, h, r in INVITE_HOSTS]
)
def test_invite_strings_cannot_reach_inside(
    guarded: tuple[InProcessClient, str], host: str, refusal: Refusal
) -> None:
    client, secret = guarded
    response = client.post(
        "/manage/invites/accept",
        json={"invite": encode_invite("a-token", host)},
        headers={"Authorization": f"Bearer {secret}"},
    )
    expect(response, refusal)


def _share_uri(uri: str) -> Callable[[HostileServer], str]:
    def arrange(server: HostileServer) -> str:
        server.honest()
        return uri

    return arrange


def _token_endpoint(endpoint: str) -> Callable[[HostileServer], str]:
    def arrange(server: HostileServer) -> str:
        server.honest(tokenEndPoint=endpoint)
        return f"{server.url}/collections/layer"

    return arrange


# Our server in these rows may reach loopback (the hostile server lives there); a share's uri
# must lie on its sender's server, and link-local, multicast and unspecified addresses stay
# refused whatever the operator allows.
ELSEWHERE = Refusal(400, "the collection must be on the sender's server")
SHARE_ADDRESSES = [
    ("share uri at cloud metadata", _share_uri(METADATA), ELSEWHERE),
    (
        "share uri at IPv6-mapped metadata",
        _share_uri("http://[::ffff:169.254.169.254]/"),
        ELSEWHERE,
    ),
    ("share uri at IPv6 link-local", _share_uri("http://[fe80::1]/c"), ELSEWHERE),
    ("share uri at multicast", _share_uri("http://224.0.0.1/c"), ELSEWHERE),
    ("share uri at unspecified", _share_uri("http://0.0.0.0:80/c"), ELSEWHERE),
    ("share uri not http", _share_uri("file:///etc/passwd"), Refusal(400, "uri")),
    ("token endpoint at cloud metadata", _token_endpoint(METADATA), Refusal(502, "169.254")),
    (
        "token endpoint at IPv6-mapped metadata",
        _token_endpoint("http://[::ffff:a9fe:a9fe]/token"),
        Refusal(502, "169.254.169.254"),
    ),
    ("token endpoint not http", _token_endpoint("gopher://x/"), Refusal(502, "not an http")),
]


@pytest.mark.parametrize(
    ("arrange", "refusal"), [pytest.param(a, r, id=name) for name, a, r in SHARE_ADDRESSES]
)
def test_shares_cannot_lead_our_server_inside(
    target: Services,
    ocm: InProcessClient,
    hostile: HostileServer,
    arrange: Callable[[HostileServer], str],
    refusal: Refusal,
) -> None:
    """A signed share from the hostile server to bob, who accepts it and reads it: the share's
    uri and the sender's token endpoint are where our server then connects."""
    uri = arrange(hostile)
    received = send(ocm, hostile.signer.sign(post("/ocm/shares", new_share(hostile.host, uri))))
    if received.status_code != 201:  # refused on arrival
        expect(received, refusal)
        return
    bob = {"Authorization": f"Bearer {target.accounts.create_token('bob').secret}"}
    inbox = ocm.get("/manage/received-shares", headers=bob).json()
    share = next(s for s in inbox if s["state"] == "pending")
    accepted = ocm.post(f"/manage/received-shares/{share['id']}/accept", headers=bob)
    assert accepted.status_code == 200, accepted.text
    expect(ocm.get(f"{accepted.json()['mount_url']}/items", headers=bob), refusal)


# --- hostile input: CQL2, JSON, GeoJSON, ids --------------------------------------------------


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _line(points: int) -> bytes:
    """A feature whose LineString has ``points`` positions."""
    coordinates = b",".join(b"[7.1,50.2]" for _ in range(points))
    return (
        b'{"type":"Feature","properties":{},"geometry":{"type":"LineString","coordinates":['
        + coordinates
        + b"]}}"
    )


async def _chunks(total: int) -> AsyncIterator[bytes]:
    """A body sent chunked, without Content-Length."""
    for _ in range(total // 65536):
        yield b" " * 65536


GEOJSON = {"Content-Type": "application/geo+json"}
JSON = {"Content-Type": "application/json"}
ITEMS = "/collections/hydrants/items"
INPUT_ATTACKS: list[tuple[str, str, str, dict[str, Any], Refusal]] = [
    # CQL2 filters that try SQL or code
    ("CQL2 statement after a literal", "GET", ITEMS, {"params": {"filter": "name = 'x'; DROP TABLE features; --"}}, Refusal(400, "filter")),  # noqa: E501
    ("CQL2 closing a parenthesis", "GET", ITEMS, {"params": {"filter": "name = 'x') OR (1=1"}}, Refusal(400, "filter")),  # noqa: E501
    ("CQL2 calling SQLite", "GET", ITEMS, {"params": {"filter": "sqlite_version() = '3'"}}, Refusal(400, "sqlite_version")),  # noqa: E501
    ("CQL2 calling load_extension", "GET", ITEMS, {"params": {"filter": "load_extension('/tmp/x') = 1"}}, Refusal(400, "load_extension")),  # noqa: E501
    ("CQL2 calling pg_sleep", "GET", ITEMS, {"params": {"filter": "pg_sleep(10) = 1"}}, Refusal(400, "pg_sleep")),  # noqa: E501
    ("CQL2 property with a quote", "GET", ITEMS, {"params": {"filter": '"na""me" = 1'}}, Refusal(400, "filter")),  # noqa: E501
    ("CQL2 JSON property with SQL", "GET", ITEMS, {"params": {"filter-lang": "cql2-json", "filter": '{"op":"=","args":[{"property":"name\\" OR 1=1 --"},"x"]}'}}, Refusal(400, "filter")),  # noqa: E501
    ("CQL2 JSON function with code", "GET", ITEMS, {"params": {"filter-lang": "cql2-json", "filter": '{"op":"=","args":[{"function":{"name":"__import__","args":["os"]}},1]}'}}, Refusal(400, "filter")),  # noqa: E501
    ("CQL2 nested 10,000 deep", "GET", ITEMS, {"params": {"filter": "(" * 10000 + "name = 'x'" + ")" * 10000}}, Refusal(400, "filter")),  # noqa: E501
    # JSON bodies
    ("management body over the limit", "POST", "/manage/collections", {"content": b'{"id": "' + b"x" * (2 << 20) + b'"}', "headers": JSON}, Refusal(413, "over")),  # noqa: E501
    ("chunked body over the limit", "POST", "/manage/collections", {"content": _chunks(2 << 20), "headers": JSON}, Refusal(413, "over")),  # noqa: E501
    ("JSON nested 100,000 deep", "POST", "/manage/collections", {"content": _nested(100_000), "headers": JSON}, Refusal(400, "body")),  # noqa: E501
    ("feature nested 100,000 deep", "POST", ITEMS, {"content": b'{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":' + _nested(100_000) + b"}}", "headers": GEOJSON}, Refusal(400, "body")),  # noqa: E501
    ("OCM share nested 30,000 deep", "POST", "/ocm/shares", {"content": _nested(30_000), "headers": JSON}, Refusal(400, "")),  # noqa: E501
    ("OCM body over its limit", "POST", "/ocm/shares", {"content": b"[" * 70_000, "headers": JSON}, Refusal(413, "PAYLOAD_TOO_LARGE")),  # noqa: E501
    # GeoJSON with millions of coordinates
    ("feature with 2 million positions", "POST", ITEMS, {"content": _line(2_000_000), "headers": GEOJSON}, Refusal(413, "over")),  # noqa: E501
    ("import with 2 million positions in one feature", "POST", "/manage/collections/hydrants/import", {"content": b'{"type":"FeatureCollection","features":[' + _line(2_000_000) + b"]}", "headers": GEOJSON}, Refusal(400, "more than 1000000 positions")),  # noqa: E501
    # path traversal in ids
    ("collection id climbing up", "GET", "/collections/..%2F..%2Fetc%2Fpasswd", {}, Refusal(404, "")),  # noqa: E501
    ("feature id climbing up", "GET", f"{ITEMS}/..%2F..%2F..%2Fapi", {}, Refusal(404, "")),
    ("static file climbing up", "GET", "/static/..%2F..%2Fconfig.py", {}, Refusal(404, "")),
    ("static file climbing up, dots", "GET", "/static/../../../../etc/passwd", {}, Refusal(404, "")),  # noqa: E501
    ("new collection id climbing up", "POST", "/manage/collections", {"json": {"id": "../../etc", "title": "x"}}, Refusal(400, "id")),  # noqa: E501
    ("feature written under a climbing id", "PUT", f"{ITEMS}/..%2F..%2Fescape", {"content": b'{"type":"Feature","properties":{},"geometry":null}', "headers": GEOJSON}, Refusal(404, "")),  # noqa: E501
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "options", "refusal"),
    [pytest.param(m, p, o, r, id=name) for name, m, p, o, r in INPUT_ATTACKS],
)
def test_hostile_input(
    client: InProcessClient,
    world: World,
    method: str,
    path: str,
    options: dict[str, Any],
    refusal: Refusal,
) -> None:
    headers = {**world.auth("alice"), **options.pop("headers", {})}
    response = client.request(method, path, headers=headers, **options)
    expect(response, refusal)
    # nothing was harmed: the layer is whole and answers
    after = client.get(f"{ITEMS}?limit=1", headers=world.auth("alice"))
    assert after.status_code == 200 and after.json()["numberMatched"] == 250
