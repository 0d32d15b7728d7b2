"""A size limit on every request body, declared (``Content-Length``) or chunked: past it the
answer is 413 problem details, whatever the route would have made of a cut-off body."""

from __future__ import annotations

import re

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opengeomesh.config import Settings
from opengeomesh.errors import PayloadTooLarge

_IMPORT = re.compile(r"^/manage/collections/[^/]+/import$")
_FEATURES = re.compile(r"^/collections/[^/]+/items(/[^/]+)?$")
_OCM = re.compile(r"^/ocm/")


def body_limit(settings: Settings, path: str) -> int:
    """The largest body a request to ``path`` may send: imports, features and OCM requests
    have their own settings, every other request ``max_body_bytes``."""
    if _IMPORT.match(path):
        return settings.max_import_bytes
    if _FEATURES.match(path):
        return settings.max_feature_bytes
    if _OCM.match(path):
        return settings.max_ocm_body_bytes
    return settings.max_body_bytes


class BodyTooLarge(PayloadTooLarge):
    """Raised from ``receive`` when the body passes the limit."""


class BodyLimits:
    """ASGI middleware: refuse a body over its limit with 413 (RFC 9110 §15.5.14)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(self.settings, scope["path"])
        declared = next(
            (int(v) for k, v in scope["headers"] if k == b"content-length" and v.isdigit()), 0
        )
        seen = 0
        over = False
        started = replaced = False

        async def receiving() -> Message:
            nonlocal seen, over
            if declared > limit:  # refused at the first read, before a byte is taken
                over = True
                raise BodyTooLarge(f"the body is over {limit} bytes")
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise BodyTooLarge(f"the body is over {limit} bytes")
            return message

        async def sending(message: Message) -> None:
            nonlocal started, replaced
            if replaced:
                return  # the route's own answer to a cut-off body is dropped
            start = message["type"] == "http.response.start"
            if over and start and message["status"] != 413:  # a route read a cut-off body
                started = replaced = True
                await _too_large(send, limit)
                return
            started = started or start
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        except BodyTooLarge:
            if not started:
                await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    body = orjson.dumps(
        {
            "type": "about:blank",
            "title": "Payload too large",
            "status": 413,
            "detail": f"the body is over {limit} bytes",
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
