"""Streams from other servers: the Server-Sent Events reader (line endings, chunks, comments,
limits) and the outbound client's streams (address guard, refusals read whole, idle timeout)."""

import socket
import threading
import time
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from opengeomesh.ocm.client import AddressRefused, OutboundClient, PeerTimeout, PeerUnavailable
from opengeomesh.ocm.event_stream import ServerSentEvent, server_sent_events


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def read(parts: list[bytes], limit: int = 1000) -> list[ServerSentEvent | None]:
    async def main() -> list[ServerSentEvent | None]:
        return [e async for e in server_sent_events(_chunks(parts), max_event_bytes=limit)]

    return anyio.run(main)


def test_events_comments_and_line_endings() -> None:
    text = (
        b"retry: 2000\nid: 4\n\n"
        b": keep-alive\n\n"
        b'id: 5\r\ndata: {"a":\r\ndata:  1}\r\n\r\n'
        b"event: note\rdata: x\r\r"
        b"data: cut off at the end"
    )
    expected = [
        ServerSentEvent("", "4", ""),
        None,
        ServerSentEvent('{"a":\n 1}', "5", ""),
        ServerSentEvent("x", None, "note"),
    ]
    assert read([text]) == expected
    # the same bytes in pieces of every size, CRLF split between them included
    for size in (1, 2, 3, 7):
        assert read([text[i : i + size] for i in range(0, len(text), size)]) == expected


def test_limits() -> None:
    with pytest.raises(PeerUnavailable, match="line"):
        read([b"data: " + b"x" * 2000])
    with pytest.raises(PeerUnavailable, match="event"):
        read([b"data: " + b"x" * 600 + b"\n", b"data: " + b"x" * 600 + b"\n"])
    assert read([b"id: a\0b\ndata: y\n\n"]) == [ServerSentEvent("y", None, "")]


def test_streams_are_guarded_too() -> None:
    client = OutboundClient(allow_private=False, timeout=2)

    async def main(url: str) -> None:
        async with client.stream(httpx.Request("GET", url), idle_timeout=1):
            pass

    for url in ("http://localhost:9/x", "http://127.0.0.1:9/x", "http://[::1]:9/x"):
        with pytest.raises(AddressRefused):
            anyio.run(main, url)


def test_a_refusal_is_read_whole_and_a_stream_in_pieces() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/refused":
            return httpx.Response(404, json={"detail": "gone"})
        return httpx.Response(200, content=_chunks([b"data: 1\n\n", b"data: 2\n\n"]))

    client = OutboundClient(allow_private=False, stream_transport=httpx.MockTransport(answer))

    async def main() -> tuple[int, bytes, list[bytes]]:
        async with client.stream(
            httpx.Request("GET", "https://peer.example/refused"), idle_timeout=1
        ) as refused:
            status, body = refused.status, refused.body
        async with client.stream(
            httpx.Request("GET", "https://peer.example/changes"), idle_timeout=1
        ) as stream:
            assert stream.status == 200 and stream.body == b""
            return status, body, [c async for c in stream.chunks()]

    status, body, chunks = anyio.run(main)
    assert status == 404 and b"gone" in body
    assert b"".join(chunks) == b"data: 1\n\ndata: 2\n\n"


def test_a_silent_peer_times_out() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    done = threading.Event()

    def silent() -> None:
        conn, _ = server.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n: hi\n\n")
        done.wait(10)
        conn.close()

    threading.Thread(target=silent, daemon=True).start()
    client = OutboundClient(allow_private=True, timeout=2)

    async def main() -> list[bytes]:
        seen: list[bytes] = []
        async with client.stream(
            httpx.Request("GET", f"http://127.0.0.1:{port}/changes"), idle_timeout=0.3
        ) as stream:
            async for chunk in stream.chunks():
                seen.append(chunk)
        return seen

    started = time.monotonic()
    with pytest.raises(PeerTimeout, match="silent"):
        anyio.run(main)
    assert time.monotonic() - started < 2
    done.set()
    server.close()
