"""Which mounted layers' answers this process may keep: those whose sender's change feed it
follows at this moment.

While a mounted layer is read again and again, this process follows the sender's change feed
(the same relay as a subscriber's, ``remote_changes.py``). Each layer has a generation that
moves whenever the sender reports a change, the feed opens or ends, or a write through the
mount is made here; an answer kept under one generation is good until it moves. A layer whose
feed is not open has no generation, so nothing of it is kept or answered from memory: what a
reader gets lags the sender by the feed's latency at most. Following stops after
``idle_seconds`` without reads.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from contextlib import suppress

from anyio import to_thread

from opengeomesh.errors import OpenGeoMeshError
from opengeomesh.features.changes import ChangeEvent
from opengeomesh.features.remote import MountedLayer
from opengeomesh.features.remote_changes import RemoteChanges

log = logging.getLogger("opengeomesh")
IDLE_SECONDS = 300.0  # a mounted layer not read for this long is no longer followed


class MountWatch:
    """The generations of the mounted layers this process follows (see the module)."""

    def __init__(self, changes: RemoteChanges, *, idle_seconds: float = IDLE_SECONDS) -> None:
        self._changes = changes
        self._idle = idle_seconds
        self._lock = threading.Lock()  # writes through a mount bump from worker threads
        self._live: dict[int, int] = {}  # share id → generation, while its feed is open
        self._used: dict[int, float] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._next = 0
        self.epoch = 0  # moves with every generation, for answers made while it moved

    def generation(self, share_id: int) -> int | None:
        """The share's generation while its feed is open, else None; counts as a read."""
        with self._lock:
            self._used[share_id] = time.monotonic()
            return self._live.get(share_id)

    def changed(self, share_id: int) -> None:
        """Something of the share changed (a write through the mount here)."""
        with self._lock:
            if share_id in self._live:
                self._bump(share_id, live=True)

    def follow(self, layer: MountedLayer) -> None:
        """Start following the layer's feed, unless this process does already (call on the
        event loop)."""
        share_id = layer.share.id
        task = self._tasks.get(share_id)
        if task is None or task.done():
            self._tasks[share_id] = asyncio.get_running_loop().create_task(self._run(layer))

    async def close(self) -> None:
        """Stop following every feed."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def _bump(self, share_id: int, *, live: bool) -> None:
        self._next += 1
        self.epoch += 1
        if live:
            self._live[share_id] = self._next
        else:
            self._live.pop(share_id, None)

    def _connected(self, share_id: int, is_open: bool) -> None:
        with self._lock:
            self._bump(share_id, live=is_open)

    async def _run(self, layer: MountedLayer) -> None:
        share_id = layer.share.id
        with self._lock:
            self._used[share_id] = time.monotonic()
        try:
            start = await to_thread.run_sync(self._changes.start, layer, None)
            feed = self._changes.follow(
                layer, start, lambda: True, lambda is_open: self._connected(share_id, is_open)
            )
            async for item in feed:
                if isinstance(item, ChangeEvent):
                    self.changed(share_id)
                with self._lock:
                    idle = time.monotonic() - self._used.get(share_id, 0.0) > self._idle
                if idle:
                    break
            await feed.aclose()
        except OpenGeoMeshError as exc:  # the sender refuses or cannot be reached: not kept
            log.info("not following the changes of %s: %s", layer.id, exc)
        except Exception:  # a bug here must not end in an unread task: nothing kept either
            log.exception("following the changes of %s failed", layer.id)
        finally:
            with self._lock:
                self._bump(share_id, live=False)
                self._used.pop(share_id, None)
