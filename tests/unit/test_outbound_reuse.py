"""Kept-alive connections of the outbound client, against a real HTTP/1.1 peer on loopback that
counts the TCP connections it accepts: GETs share one, each exchange keeps its own deadline,
and a connection is not reused once the guard would refuse where its peer's name now leads."""

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from opengeomesh.ocm import client as outbound
from opengeomesh.ocm.client import AddressRefused, OutboundClient, PeerTimeout


class Peer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.connections = 0
        self.delay = 0.0
        self.drop_second = False  # close a kept connection when its second request comes

    def get_request(self) -> tuple[socket.socket, Any]:
        self.connections += 1
        return super().get_request()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the client closes
    server: Peer

    def _answer(self) -> None:
        self.served = getattr(self, "served", 0) + 1
        if self.server.drop_second and self.served == 2:
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        time.sleep(self.server.delay)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the client gave up waiting (the deadline test)
            self.close_connection = True

    do_GET = _answer
    do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def peer() -> Iterator[Peer]:
    server = Peer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_gets_share_one_connection(peer: Peer) -> None:
    client = OutboundClient(allow_private=True, timeout=5)
    url = f"http://127.0.0.1:{peer.server_port}/doc"
    for _ in range(10):
        assert client.get_json(url) == {"ok": True}
    assert peer.connections == 1
    client.close()


def test_other_methods_get_a_connection_each(peer: Peer) -> None:
    """A token exchange or a signed notification never rides on a kept connection."""
    client = OutboundClient(allow_private=True, timeout=5)
    url = f"http://127.0.0.1:{peer.server_port}/token"
    for _ in range(3):
        assert client.send(client.build("POST", url, content=b"x=1")).status == 200
    assert peer.connections == 3
    client.close()


def test_a_reused_connection_still_has_a_deadline_per_exchange(peer: Peer) -> None:
    client = OutboundClient(allow_private=True, timeout=1.0)
    url = f"http://127.0.0.1:{peer.server_port}/doc"
    client.get_json(url)
    time.sleep(1.2)  # longer than one exchange may take: the next one starts its own clock
    assert client.get_json(url) == {"ok": True}
    assert peer.connections == 1
    peer.delay = 3.0
    started = time.monotonic()
    with pytest.raises(PeerTimeout):
        client.get_json(url)
    assert time.monotonic() - started < 2.0
    peer.delay = 0.0
    assert client.get_json(url) == {"ok": True}  # the timed-out connection was not reused
    assert peer.connections == 2
    client.close()


def test_no_reuse_once_the_name_leads_to_a_refused_address(
    peer: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding after the connection was made: the kept connection is dropped and the new
    one is refused, instead of the old connection carrying on."""
    real = socket.getaddrinfo
    leads_to = {"peer.test": "127.0.0.1"}

    def resolve(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        return real(leads_to.get(host, host), port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(outbound, "RECHECK_S", 0.0)
    client = OutboundClient(allow_private=True, timeout=5)
    url = f"http://peer.test:{peer.server_port}/doc"
    for _ in range(3):
        assert client.get_json(url) == {"ok": True}
    assert peer.connections == 1
    leads_to["peer.test"] = "169.254.169.254"  # cloud metadata: never
    with pytest.raises(AddressRefused):
        client.get_json(url)
    leads_to["peer.test"] = "127.0.0.1"
    assert client.get_json(url) == {"ok": True}
    assert peer.connections == 2  # a new connection, through the guard again
    client.close()


def test_a_get_is_sent_again_when_a_kept_connection_was_closed(peer: Peer) -> None:
    """The peer closes an idle connection just as it is reused (its idle timeout): the GET goes
    once more on a new connection instead of failing."""
    client = OutboundClient(allow_private=True, timeout=5)
    url = f"http://127.0.0.1:{peer.server_port}/doc"
    peer.drop_second = True
    assert client.get_json(url) == {"ok": True}
    assert client.get_json(url) == {"ok": True}
    assert peer.connections == 2
    client.close()
