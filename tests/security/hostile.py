"""A hostile OCM server on loopback: a real HTTP server whose answers each test row sets
(huge, slow, redirecting, not JSON), with real signing keys for the requests it sends."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson

from opengeomesh.ocm.discovery import our_discovery
from opengeomesh.ocm.keys import Keyring
from opengeomesh.ocm.signatures import RequestSigner


@dataclass
class Answer:
    """What the server answers at one path."""

    status: int = 200
    body: bytes = b""
    media: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def json_answer(document: object) -> Answer:
    return Answer(body=orjson.dumps(document))


@dataclass
class HostileServer:
    url: str
    host: str
    keyring: Keyring
    answers: dict[str, Answer]

    @property
    def signer(self) -> RequestSigner:
        return RequestSigner(self.keyring)

    def honest(self, **discovery: object) -> None:
        """Answer like a real OCM server (discovery, JWK Set, a token endpoint), with
        ``discovery`` fields changed."""
        document = our_discovery(
            self.url,
            "Hostile",
            capabilities=("exchange-token", "http-sig", "notifications"),
            criteria=(),
            token_endpoint=True,
        )
        document.update(discovery)
        self.answers.clear()
        self.answers["/.well-known/ocm"] = json_answer(document)
        self.answers["/ocm/jwks"] = json_answer(self.keyring.jwks())
        token = {"access_token": "hostile-token", "token_type": "Bearer", "expires_in": 600}
        self.answers["/ocm/token"] = json_answer(token)


@contextmanager
def hostile_server(keys: Path) -> Iterator[HostileServer]:
    answers: dict[str, Answer] = {}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            answer = answers.get(self.path.split("?")[0], Answer(status=404, body=b"{}"))
            if answer.delay:
                time.sleep(answer.delay)
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.media)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(answer.body)  # unless the client gave up, as it should

        do_GET = do_POST = _answer

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    host = f"127.0.0.1:{port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    keyring = Keyring(keys, host, timedelta(days=7))
    hostile = HostileServer(f"http://{host}", host, keyring, answers)
    hostile.honest()
    try:
        yield hostile
    finally:
        server.shutdown()
        server.server_close()
