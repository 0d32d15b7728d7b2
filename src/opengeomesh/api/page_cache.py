"""Repeated reads of a local layer answered from memory: many map clients polling the same
items page get the bytes made for the first of them, while the database is unchanged.

An answer is kept only when asked for a second time (so one client paging through a layer
does not push out the pages many clients share), only if the endpoint marked it as a local
collection's features (``mark_cacheable``; never a mounted or upstream layer, whose data live
on another server) and only for a GET whose headers are all part of its key, so another
``Host``, ``Accept``, ``Origin`` or token never gets it. Every answer is tagged with the
database's data version read before it was made (``PRAGMA data_version`` on SQLite: it changes
with every commit of any connection, this process's or another worker's); once the version
moved, the whole cache is dropped. A bearer token is looked up again on every hit, so a
revoked or expired token is refused at once, and counted against its rate limit. A hit carries
``Age`` (RFC 9111 §5.1).
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opengeomesh.api.auth import token_caller
from opengeomesh.errors import OpenGeoMeshError
from opengeomesh.features.mount_watch import MountWatch
from opengeomesh.features.remote import MountedLayer
from opengeomesh.services import Services

_READS = re.compile(r"/collections/[^/]+/items(?:/[^/]+)?")
# Headers that cannot change an answer; every other header is part of the key.
_IGNORED = frozenset({b"user-agent", b"connection", b"keep-alive", b"accept-encoding", b"te"})
# Requests another path answers: conditional requests, ranges, the workspace's cookie session.
_BYPASS = frozenset(
    {b"cookie", b"if-none-match", b"if-match", b"if-modified-since", b"range", b"cache-control"}
)
_MARK = "page_cache"
_LARGEST = 4 << 20  # an answer larger than this is made anew each time
_REMEMBERED = 20_000  # keys asked for once, remembered to keep their answer the second time


def mark_cacheable(request: Request, layer: MountedLayer | None = None) -> None:
    """Tell the page cache that this answer depends only on the request and the local
    database (and for a mounted ``layer``, on its sender's data, known through its change
    feed), so it may be kept until either changes."""
    request.state.page_cache = layer or True


@dataclass(frozen=True, slots=True)
class _Kept:
    version: int | None
    follows: int | None  # a mounted layer's share, kept while its generation holds
    generation: int | None
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    made: float


class PageCache:
    """ASGI middleware keeping the marked answers of repeated GETs (see the module)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        services: Services,
        data_version: Callable[[], int | None],
        max_bytes: int,
        mounts: MountWatch | None,
    ) -> None:
        self.app = app
        self._services = services
        self._mounts = mounts  # None: answers of mounted layers are not kept
        self._version = data_version  # None: no number, no cache (PostgreSQL)
        self._max = max_bytes
        self._kept: OrderedDict[tuple[Any, ...], _Kept] = OrderedDict()
        self._asked: OrderedDict[int, None] = OrderedDict()  # hashes of keys asked for once
        self._size = 0
        self._at: int | None = -1  # the data version the kept answers belong to

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not _READS.fullmatch(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        kept_headers = []
        token = None
        for name, value in scope["headers"]:
            if name in _BYPASS:
                await self.app(scope, receive, send)
                return
            if name not in _IGNORED:
                kept_headers.append((name, value))
                if name == b"authorization":
                    token = value.decode("latin-1")
        key = (scope["path"], scope["query_string"], tuple(sorted(kept_headers)))
        version = self._version()
        if version != self._at:
            self._drop_all(version)
        found = self._kept.get(key)
        if found is not None and self._holds(found) and self._caller_still_valid(token):
            self._kept.move_to_end(key)
            age = str(int(time.monotonic() - found.made)).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": found.status,
                    "headers": [*found.headers, (b"age", age)],
                }
            )
            await send({"type": "http.response.body", "body": found.body})
            return
        await self._answer_and_keep(key, version, scope, receive, send)

    async def _answer_and_keep(
        self,
        key: tuple[Any, ...],
        version: int | None,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        start: Message | None = None
        parts: list[bytes] = []
        complete = False

        async def capture(message: Message) -> None:
            nonlocal start, complete
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
                complete = not message.get("more_body", False)
            await send(message)

        state = scope.setdefault("state", {})  # where ``request.state`` of the app keeps its marks
        epoch = self._mounts.epoch if self._mounts is not None else 0
        await self.app(scope, receive, capture)
        marked = state.get(_MARK, False)
        if not (marked and complete and start is not None and start["status"] == 200):
            return
        body = b"".join(parts)
        if len(body) > _LARGEST or len(body) > self._max:
            return
        if version is None or version != self._at:  # changed while this answer was made
            return
        if not self._asked_before(key):
            return
        follows = generation = None
        if isinstance(marked, MountedLayer):
            if self._mounts is None:
                return
            self._mounts.follow(marked)
            follows = marked.share.id
            generation = self._mounts.generation(follows)
            if generation is None or self._mounts.epoch != epoch:
                return  # not followed yet, or the layer changed while this answer was made
        headers = list(start["headers"])
        self._keep(key, _Kept(version, follows, generation, 200, headers, body, time.monotonic()))

    def _holds(self, found: _Kept) -> bool:
        """Whether a kept answer of a mounted layer still holds: its sender reported no change
        and its feed stayed open (a local layer's holds while the data version does)."""
        if found.follows is None:
            return True
        return (
            self._mounts is not None and self._mounts.generation(found.follows) == found.generation
        )

    def _caller_still_valid(self, token: str | None) -> bool:
        """Look the bearer token up again and count it, as every request's token is: a token
        revoked or expired since the answer was kept, or one over its rate, is left to the
        app, which refuses it with the reason."""
        if token is None:
            return True
        scheme, _, secret = token.strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return False
        try:
            token_caller(self._services, secret.strip())
        except OpenGeoMeshError:
            return False
        return True

    def _asked_before(self, key: tuple[Any, ...]) -> bool:
        """Whether ``key`` was asked for before (and remember that it now was)."""
        hashed = hash(key)
        if hashed in self._asked:  # stays remembered: kept again at once after a change
            self._asked.move_to_end(hashed)
            return True
        self._asked[hashed] = None
        if len(self._asked) > _REMEMBERED:
            self._asked.popitem(last=False)
        return False

    def _keep(self, key: tuple[Any, ...], kept: _Kept) -> None:
        old = self._kept.pop(key, None)
        if old is not None:
            self._size -= len(old.body)
        self._kept[key] = kept
        self._size += len(kept.body)
        while self._size > self._max and self._kept:
            _, dropped = self._kept.popitem(last=False)
            self._size -= len(dropped.body)

    def _drop_all(self, version: int | None) -> None:
        self._kept.clear()
        self._size = 0
        self._at = version
