"""The physical limit of ``bench/compare.py``: an ASGI app that answers each request target
with response bytes captured beforehand from OpenGeoMesh, straight from memory.

Served by the same uvicorn (same HTTP parser, workers and logging) as the real servers, it
costs what the ASGI server and the network stack cost and nothing more: no routing, no
database, no encoding. ``OGM_BENCH_RESPONSES`` names the pickle of ``{target: (status,
content type, body)}`` that ``compare.py`` wrote. ``floor`` serves the same bytes through
FastAPI, for the share of the limit the framework itself leaves.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response

Message = dict[str, Any]

_RESPONSES: dict[str, tuple[int, bytes, bytes]] = pickle.loads(
    Path(os.environ["OGM_BENCH_RESPONSES"]).read_bytes()
)
_MISSING = (404, b"text/plain", b"not captured")


async def app(
    scope: Message,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """Answer a GET with the captured bytes of its target (path and query)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    query = scope["query_string"]
    target = scope["raw_path"].decode("latin-1")
    if query:
        target += "?" + query.decode("latin-1")
    status, media, body = _RESPONSES.get(target, _MISSING)
    headers = [(b"content-type", media), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _floor() -> FastAPI:
    """The same bytes through a FastAPI app with one plain (``def``) endpoint, as
    OpenGeoMesh's endpoints are: what the framework and its hop to a worker thread cost."""
    floor = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @floor.get("/{path:path}")
    def captured(request: Request) -> Response:
        target = request.scope["raw_path"].decode("latin-1")
        if request.scope["query_string"]:
            target += "?" + request.scope["query_string"].decode("latin-1")
        status, media, body = _RESPONSES.get(target, _MISSING)
        return Response(body, status, media_type=media.decode())

    return floor


floor = _floor()
