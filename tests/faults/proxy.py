"""A TCP proxy a test puts in front of a server (a peer, or PostgreSQL) to play its faults:
passing bytes through, down (its port closed), slow (each connection held before any byte
passes) or failing (every HTTP request answered 503)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

PASS, DOWN, SLOW, FAILING = "pass", "down", "slow", "failing"


class FaultProxy:
    """Listens on ``port`` of loopback and forwards to ``target_port``; ``mode`` picks the
    fault. Changing the mode cuts every open connection, so pooled ones see the fault too."""

    def __init__(self, port: int, target_port: int, *, delay: float = 3.0) -> None:
        self.port = port
        self.target_port = target_port
        self.delay = delay  # how long SLOW holds a connection
        self.mode = PASS
        self.connections = 0  # accepted since start, whatever the mode
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._listen()

    def set(self, mode: str) -> None:
        assert mode in (PASS, DOWN, SLOW, FAILING)
        with self._lock:
            self.mode = mode
            cut, self._open = self._open, set()
        for sock in cut:
            _close(sock)
        if mode == DOWN:
            self._stop_listening()
        elif self._listener is None:
            self._listen()

    def close(self) -> None:
        self.set(DOWN)

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:  # the port of a listener just closed may take a moment to be free
            try:
                listener.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: the proxy is down
            with self._lock:
                self.connections += 1
                self._open.add(client)
                mode = self.mode
            threading.Thread(target=self._serve, args=(client, mode), daemon=True).start()

    def _serve(self, client: socket.socket, mode: str) -> None:
        try:
            if mode == FAILING:
                _read_request(client)
                body = b"the peer is failing (a test's fault proxy)"
                client.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                return
            if mode == SLOW:
                time.sleep(self.delay)
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            upstream.settimeout(None)
            with self._lock:
                self._open.add(upstream)
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
            _pump(client, upstream)
        except OSError:
            pass
        finally:
            _close(client)


def _read_request(sock: socket.socket) -> None:
    """Read one HTTP request (headers and a Content-Length body), so that answering and
    closing does not reset the connection under unread bytes."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return
        body += chunk


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        _close(sink)
        _close(source)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
