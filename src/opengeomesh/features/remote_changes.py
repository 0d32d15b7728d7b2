"""The change feed of a mounted layer, from its sender (``{uri}/changes``).

Pages are asked of the sender with the share's token and checked. A live stream is relayed
from the sender's own Server-Sent Events: whenever the sender's stream ends or breaks (a sender
ends streams when their token expires), it is opened again with ``Last-Event-ID`` and a token
renewed if needed, so the subscriber here misses nothing and gets nothing twice. The relay ends
when the sender refuses the share for good (revoked, collection gone) or when the subscriber may
no longer read the mount here. The events' ``source`` and ``id`` become this server's (the API
layer writes them); their author was never in them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import suppress
from functools import partial
from typing import Any

import orjson
from anyio import to_thread

from opengeomesh.errors import NotFound, OpenGeoMeshError
from opengeomesh.features.changes import (
    KEEPALIVE,
    ChangeEvent,
    ChangesPage,
    FeedItem,
    Position,
    read_cloud_event,
)
from opengeomesh.features.remote import MountedLayer, RemoteLayers
from opengeomesh.ocm.client import OutboundClient, PeerUnavailable
from opengeomesh.ocm.event_stream import ServerSentEvent, server_sent_events
from opengeomesh.ocm.inbox import Inbox

log = logging.getLogger("opengeomesh")
EVENT_STREAM = "text/event-stream"
QUEUE = 1000  # events read from the sender ahead of the subscriber
FIRST_PAUSE = 0.1  # seconds before opening a sender's stream again, doubling after failures
LIVELY = 1.0  # seconds a sender's stream must have lasted for its end not to count as failure
REFUSED = (400, 401, 403, 404, 410)  # for good: the share or the collection is gone


class _End:
    """The sender refuses the share for good: the relay ends."""


_END = _End()


class RemoteChanges:
    """The change feeds of mounted layers, asked of and relayed from their senders."""

    def __init__(
        self,
        layers: RemoteLayers,
        inbox: Inbox,
        client: OutboundClient,
        *,
        poll_seconds: float,
        keepalive_seconds: float,
        idle_seconds: float,
        max_event_bytes: int,
    ) -> None:
        self._layers = layers
        self._inbox = inbox
        self._client = client
        self._poll = poll_seconds
        self._keepalive = keepalive_seconds
        self._idle = idle_seconds
        self._max = max_event_bytes

    def page(self, layer: MountedLayer, since: int, limit: int) -> ChangesPage:
        """The sender's page of changes after ``since``, checked."""
        answer = self._layers.read(layer, "/changes", {"since": str(since), "limit": str(limit)})
        return _page(answer, layer, since)

    def start(self, layer: MountedLayer, since: int | None) -> int:
        """The position to relay from: ``since`` (the sender checks it), or the sender's
        current change number (only what comes now). Refusals come before any stream."""
        page = self.page(layer, since or 0, 1)
        return since if since is not None else page.current

    async def follow(
        self,
        layer: MountedLayer,
        since: int,
        still_mounted: Callable[[], bool],
        connected: Callable[[bool], None] = lambda _: None,
    ) -> AsyncGenerator[FeedItem, None]:
        """The position, then the sender's changes after ``since`` as they come, in order and
        none twice, with keep-alives after ``keepalive_seconds`` of silence. Every
        ``poll_seconds`` (and before an event, if longer ago) ``still_mounted()`` must hold.
        ``connected`` is told when the sender's stream opens (True) and when it ends."""
        last = since
        yield Position(last)
        queue: asyncio.Queue[ChangeEvent | _End] = asyncio.Queue(QUEUE)
        pump = asyncio.create_task(self._pump(layer, since, queue, connected))
        try:
            quiet = checked = time.monotonic()
            while True:
                item = await _next(queue, min(self._poll, self._keepalive))
                if isinstance(item, _End) or (item is None and pump.done()):
                    return
                if time.monotonic() - checked >= self._poll:
                    if not await to_thread.run_sync(still_mounted):
                        return
                    checked = time.monotonic()
                if item is not None and item.seq > last:
                    yield item
                    last, quiet = item.seq, time.monotonic()
                elif time.monotonic() - quiet >= self._keepalive:
                    yield KEEPALIVE
                    quiet = time.monotonic()
        finally:
            pump.cancel()

    async def _pump(
        self,
        layer: MountedLayer,
        position: int,
        queue: asyncio.Queue[ChangeEvent | _End],
        connected: Callable[[bool], None],
    ) -> None:
        """Relay into ``queue`` until the sender refuses for good; then ``_END``."""
        try:
            await self._relay(layer, position, queue, connected)
        except Exception:
            log.exception("the change feed of %s from %s failed", layer.id, _host(layer))
        finally:
            with suppress(asyncio.QueueFull):  # else the follower finds the pump done
                queue.put_nowait(_END)

    async def _relay(
        self,
        layer: MountedLayer,
        position: int,
        queue: asyncio.Queue[ChangeEvent | _End],
        connected: Callable[[bool], None],
    ) -> None:
        """Read the sender's stream into ``queue``, opening it again after the last change
        read whenever it ends, until the sender refuses the share for good."""
        pause, fresh = 0.0, False
        while True:
            await asyncio.sleep(pause)
            try:
                token, _ = await to_thread.run_sync(
                    partial(self._inbox.access_token, layer.share, fresh=fresh)
                )
                request = self._client.build(
                    "GET",
                    f"{layer.share.uri}/changes",
                    headers={"Accept": EVENT_STREAM, "Last-Event-ID": str(position)},
                )
                request.headers["Authorization"] = f"Bearer {token}"
                opened = time.monotonic()
                async with self._client.stream(request, idle_timeout=self._idle) as upstream:
                    if upstream.status == 401 and not fresh:
                        pause, fresh = 0.0, True  # once more with a new token
                        continue
                    if upstream.status in REFUSED:
                        host, status = _host(layer), upstream.status
                        log.info("%s ends the change feed of %s (%s)", host, layer.id, status)
                        break
                    media = upstream.headers.get("content-type", "")
                    if upstream.status != 200 or not media.startswith(EVENT_STREAM):
                        raise PeerUnavailable(f"{_host(layer)} answered {upstream.status}")
                    fresh = False
                    connected(True)
                    try:
                        async for item in server_sent_events(
                            upstream.chunks(), max_event_bytes=self._max
                        ):
                            event = _event(item, layer)
                            if event is not None and event.seq > position:
                                await queue.put(event)
                                position = event.seq
                    finally:
                        connected(False)
                # it ended (its token may have expired): open it again, soon unless it ended
                # right after it opened
                lasted = time.monotonic() - opened
                pause = FIRST_PAUSE if lasted > LIVELY else self._longer(pause)
            except NotFound:  # the share was revoked (the token exchange said so)
                break
            except OpenGeoMeshError as exc:  # unreachable, timed out, busy, odd answers
                log.info("change feed of %s from %s: %s", layer.id, _host(layer), exc)
                pause = self._longer(pause)

    def _longer(self, pause: float) -> float:
        return min(max(pause * 2, FIRST_PAUSE), self._keepalive)


async def _next(
    queue: asyncio.Queue[ChangeEvent | _End], seconds: float
) -> ChangeEvent | _End | None:
    """The next item of the queue, or None after ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            return await queue.get()
    except TimeoutError:
        return None


def _host(layer: MountedLayer) -> str:
    return layer.share.sender_host


def _event(item: ServerSentEvent | None, layer: MountedLayer) -> ChangeEvent | None:
    """The change in a block of the sender's stream; None for comments and positions."""
    if item is None or not item.data:
        return None
    try:
        return read_cloud_event(orjson.loads(item.data))
    except (orjson.JSONDecodeError, ValueError) as exc:
        raise PeerUnavailable(f"{_host(layer)} sent an odd event: {exc}") from None


def _page(answer: dict[str, Any], layer: MountedLayer, since: int) -> ChangesPage:
    """A sender's page of changes, checked: events in ascending order after ``since``."""
    raw = answer.get("events")
    if not isinstance(raw, list):
        raise PeerUnavailable(f"{_host(layer)} answered a page of changes without events")
    try:
        events = [read_cloud_event(entry) for entry in raw]
    except ValueError as exc:
        raise PeerUnavailable(f"{_host(layer)} sent an odd event: {exc}") from None
    numbers = [event.seq for event in events]
    if numbers != sorted(set(numbers)) or (numbers and numbers[0] <= since):
        raise PeerUnavailable(f"{_host(layer)} sent changes out of order")
    last = numbers[-1] if numbers else since
    current = answer.get("currentChange")
    links = answer.get("links")
    more = isinstance(links, list) and any(
        isinstance(entry, dict) and entry.get("rel") == "next" for entry in links
    )
    return ChangesPage(
        events=events,
        more=more,
        last=last,
        current=current if isinstance(current, int) and current >= last else last,
    )
