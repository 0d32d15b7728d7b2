"""Reading another server's ``text/event-stream`` (Server-Sent Events, WHATWG HTML §9.2) with
bounded memory: lines end with CRLF, LF or CR; a line past the limit ends the stream."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from opengeomesh.ocm.client import PeerUnavailable

_END_OF_LINE = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One event block: its data lines joined with LF (empty for a block with only an
    ``id``, which moves the reader's last event id on), its ``id`` if it had one, its type."""

    data: str
    id: str | None
    event: str


async def server_sent_events(
    chunks: AsyncIterator[bytes], *, max_event_bytes: int
) -> AsyncIterator[ServerSentEvent | None]:
    """The events of a stream of bytes; None for each comment line (a keep-alive). An event
    cut off by the end of the stream is dropped, as the format says."""
    buffer = bytearray()
    data: list[str] = []
    size = 0
    event_id: str | None = None
    event_type = ""
    async for chunk in chunks:
        buffer += chunk
        while (found := _END_OF_LINE.search(buffer)) is not None:
            if found.group() == b"\r" and found.end() == len(buffer):
                break  # perhaps the first half of a CRLF split between chunks
            line = bytes(buffer[: found.start()]).decode("utf-8", "replace")
            del buffer[: found.end()]
            if not line:
                if data or event_id is not None:
                    yield ServerSentEvent("\n".join(data), event_id, event_type)
                data, size, event_id, event_type = [], 0, None, ""
                continue
            if line.startswith(":"):
                yield None
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
                size += len(value) + 1
            elif name == "id" and "\0" not in value:
                event_id = value
            elif name == "event":
                event_type = value
            if size > max_event_bytes:
                raise PeerUnavailable(f"an event of the stream is over {max_event_bytes} bytes")
        if len(buffer) > max_event_bytes:
            raise PeerUnavailable(f"a line of the stream is over {max_event_bytes} bytes")
