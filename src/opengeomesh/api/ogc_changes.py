"""``GET /collections/{collectionId}/changes``: a collection's change feed (features/changes.py)
as JSON pages, or, asked with ``Accept: text/event-stream``, as Server-Sent Events; for a
mounted share asked of, or relayed from, its sender (features/remote_changes.py).

Server-Sent Events: the stream opens with ``retry`` and an ``id`` without data (the position
it starts from, so that a client reconnecting at once misses nothing); then one event per
change, ``id: <change number>`` and ``data:`` the CloudEvent on one line, with no ``event``
field (so ``EventSource.onmessage`` sees every change; the type is in the CloudEvent); and
``: keep-alive`` comments in silence. ``Last-Event-ID`` (or ``since``) resumes after a change.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from opengeomesh.accounts.models import Caller
from opengeomesh.api.auth import CurrentCaller, caller_again, services_of
from opengeomesh.api.ogc import EVENT_STREAM, JSON, Named, base_url, check_parameters, link
from opengeomesh.errors import OpenGeoMeshError
from opengeomesh.features.changes import (
    ChangeEvent,
    ChangesPage,
    FeedItem,
    Position,
    check_limit,
    check_position,
)
from opengeomesh.features.remote import MountedLayer

CHANGES_PARAMETERS = ("since", "limit")
RETRY_MS = 2000
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


async def changes(collection_id: str, request: Request, caller: CurrentCaller) -> Response:
    """``GET /collections/{collectionId}/changes?since=N&limit=M``."""
    params = check_parameters(request, CHANGES_PARAMETERS)
    since = check_position(params.get("since"), "since")
    limit = check_limit(params.get("limit"))
    services = services_of(request)
    layer = await run_in_threadpool(services.mounts.find, caller, collection_id)
    if _wants_stream(request.headers.get("accept", "")):
        resume = _last_event_id(request)
        start = resume if resume is not None else since
        return await _stream(request, caller, collection_id, layer, start, limit)
    start = since or 0
    found: Named
    if layer is not None:
        found = layer
        page = await run_in_threadpool(services.mount_changes.page, layer, start, limit)
    else:
        found, page = await run_in_threadpool(
            services.changes.page, caller, collection_id, start, limit
        )
    return Response(
        orjson.dumps(_page_body(base_url(request), found, start, limit, page)), media_type=JSON
    )


def _page_body(
    base: str, found: Named, since: int, limit: int, page: ChangesPage
) -> dict[str, Any]:
    collection_url = f"{base}/collections/{found.id}"
    url = f"{collection_url}/changes"
    links = [link(f"{url}?since={since}&limit={limit}", "self", JSON, "This page")]
    if page.more:
        links.append(link(f"{url}?since={page.last}&limit={limit}", "next", JSON, "Next page"))
    links += [
        link(f"{url}?since={page.last}", "alternate", EVENT_STREAM, "What follows, live"),
        link(collection_url, "collection", JSON, found.title),
    ]
    return {
        "events": [event.cloud_event(collection_url, found.id) for event in page.events],
        "numberReturned": len(page.events),
        "lastChange": page.last,
        "currentChange": page.current,
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "links": links,
    }


async def _stream(
    request: Request,
    caller: Caller,
    collection_id: str,
    layer: MountedLayer | None,
    since: int | None,
    limit: int,
) -> Response:
    """The feed as Server-Sent Events. Refusals (no access, a bad position, a sender that
    refuses) are answered before the stream starts; later the stream just ends."""
    services = services_of(request)
    caller_now = caller_again(request)
    if layer is not None:
        start = await run_in_threadpool(services.mount_changes.start, layer, since)
    else:
        collection, start = await run_in_threadpool(
            services.changes.start, caller, collection_id, since
        )
    if request.method == "HEAD":
        return Response(media_type=EVENT_STREAM, headers=STREAM_HEADERS)
    items: AsyncGenerator[FeedItem, None]
    if layer is not None:
        mounted = layer

        def still_mounted() -> bool:
            try:
                found = services.mounts.find(caller_now(), mounted.id)
            except OpenGeoMeshError:
                return False
            return found is not None and found.share.id == mounted.share.id

        items = services.mount_changes.follow(layer, start, still_mounted)
    else:
        items = services.changes.follow(collection, start, caller_now, batch=limit)
    source = f"{base_url(request)}/collections/{collection_id}"
    return StreamingResponse(
        _server_sent_events(items, source, collection_id),
        media_type=EVENT_STREAM,
        headers=STREAM_HEADERS,
    )


async def _server_sent_events(
    items: AsyncGenerator[FeedItem, None], source: str, collection_id: str
) -> AsyncIterator[bytes]:
    """The feed's items as Server-Sent Events; when the client goes, the feed is closed at
    once (its waiter unregistered, a relay's upstream stream closed)."""
    async with aclosing(items):
        async for item in items:
            if isinstance(item, ChangeEvent):
                data = orjson.dumps(item.cloud_event(source, collection_id))  # one line
                yield b"id: %d\ndata: %s\n\n" % (item.seq, data)
            elif isinstance(item, Position):
                yield b"retry: %d\nid: %d\n\n" % (RETRY_MS, item.seq)
            else:
                yield b": keep-alive\n\n"


def _wants_stream(accept: str) -> bool:
    """Whether ``Accept`` names ``text/event-stream`` (with a weight above 0)."""
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() == EVENT_STREAM:
            return not any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00") for p in params)
    return False


def _last_event_id(request: Request) -> int | None:
    """``Last-Event-ID`` (a reconnecting client's last change); empty means none."""
    value = request.headers.get("last-event-id")
    if value is None or not value.strip():
        return None
    return check_position(value, "Last-Event-ID")
