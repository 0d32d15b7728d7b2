"""The outbound client and the discovery client, against scripted peers (httpx.MockTransport)
and against the real address guard."""

import httpx
import pytest

from opengeomesh.ocm.client import AddressRefused, OutboundClient, PeerUnavailable
from opengeomesh.ocm.discovery import DiscoveryClient

LEGACY = {
    "enabled": True,
    "apiVersion": "1.1.0",
    "endpoint": "https://old.example/ocm",
    "capabilities": ["/invite-accepted"],
    "resourceTypes": [],
}


def scripted(routes: dict[str, httpx.Response], seen: list[str]) -> OutboundClient:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return routes.get(str(request.url), httpx.Response(404))

    return OutboundClient(
        allow_private=False, transport=httpx.MockTransport(answer), max_response_bytes=2048
    )


def test_legacy_path_cache_and_refresh() -> None:
    seen: list[str] = []
    client = scripted({"https://old.example/ocm-provider": httpx.Response(200, json=LEGACY)}, seen)
    discovery = DiscoveryClient(client, ttl=60, allow_http=False)
    server = discovery.discover("old.example")
    assert server.end_point == "https://old.example/ocm" and "invites" in server.capabilities
    assert seen == ["https://old.example/.well-known/ocm", "https://old.example/ocm-provider"]
    discovery.discover("old.example")
    assert len(seen) == 2  # cached
    discovery.discover("old.example", refresh=True)
    assert len(seen) == 4


def test_http_only_in_development() -> None:
    seen: list[str] = []
    doc = {**LEGACY, "endPoint": "http://dev.example:8001/ocm"}
    client = scripted(
        {"http://dev.example:8001/.well-known/ocm": httpx.Response(200, json=doc)}, seen
    )
    with pytest.raises(PeerUnavailable):
        DiscoveryClient(client, ttl=60, allow_http=False).discover("dev.example:8001")
    DiscoveryClient(client, ttl=60, allow_http=True).discover("dev.example:8001")


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (
            httpx.Response(302, headers={"Location": "https://evil.example/x"}),
            "redirects elsewhere",
        ),
        (httpx.Response(200, content=b"x" * 5000), "more than"),
        (httpx.Response(200, content=b"<html>"), "not JSON"),
    ],
)
def test_bad_answers(response: httpx.Response, reason: str) -> None:
    client = scripted({"https://peer.example/doc": response}, [])
    with pytest.raises(PeerUnavailable, match=reason):
        client.get_json("https://peer.example/doc")


def test_same_host_redirect_is_followed() -> None:
    client = scripted(
        {
            "https://peer.example/a": httpx.Response(301, headers={"Location": "/b"}),
            "https://peer.example/b": httpx.Response(200, json={"ok": True}),
        },
        [],
    )
    assert client.get_json("https://peer.example/a") == {"ok": True}


def test_names_resolving_to_loopback_are_refused() -> None:
    client = OutboundClient(allow_private=False, timeout=2)
    for url in ("http://localhost:9/x", "http://127.0.0.1:9/x", "http://[::ffff:127.0.0.1]:9/x"):
        with pytest.raises(AddressRefused):
            client.get_json(url)
    with pytest.raises(PeerUnavailable, match="not an http"):
        client.get_json("file:///etc/passwd")


def test_a_trickling_peer_is_cut_off() -> None:
    """A total deadline per exchange: a peer sending a byte now and then cannot hold a worker."""
    import socket
    import threading
    import time

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = server.accept()
        conn.recv(4096)
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n" + b"X-Slow: 1\r\n" * 50
        for byte in head:  # the headers too arrive a byte at a time
            if stop.is_set():
                break
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.2)
        while not stop.is_set():
            try:
                conn.sendall(b"x")
            except OSError:
                break
            time.sleep(0.2)
        conn.close()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    client = OutboundClient(allow_private=True, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(PeerUnavailable, match="in time"):
        client.get_json(f"http://127.0.0.1:{port}/.well-known/ocm")
    assert time.monotonic() - started < 2.5
    stop.set()
    server.close()
