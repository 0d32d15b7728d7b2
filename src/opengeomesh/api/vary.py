"""``Vary: Accept`` on every answer: the OGC API chooses JSON or HTML by the ``Accept`` header,
so caches must keep the two apart (RFC 9110 §12.5.5)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class VaryOnAccept:
    """ASGI middleware that adds ``Vary: Accept`` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"vary", b"Accept")]
            await send(message)

        await self.app(scope, receive, sending)
