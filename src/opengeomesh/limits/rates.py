"""Rate limits: requests per minute for one key (a token, a peer server, a client address),
counted in fixed one-minute windows in the database so that every worker shares one count.

Each process counts its own hits at once (a dictionary, no I/O on the request's path) and
adds them to the database's count about once a second (:meth:`RateLimiter.flush`, from a
background thread). A key's count is the database's total at the last flush plus the hits
not flushed yet, so a limit holds exactly within a process and to within a second's hits of
the other processes across them.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Protocol

from opengeomesh.errors import OpenGeoMeshError

log = logging.getLogger("opengeomesh")
WINDOW_SECONDS = 60


class TooManyRequests(OpenGeoMeshError):
    """A key used up its requests for this window; ``retry_after`` seconds until the next."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class RateLimitStore(Protocol):
    """Where the counts of all processes meet."""

    def add_hits(self, window: int, hits: Mapping[str, int]) -> dict[str, int]:
        """Add ``hits`` to the keys' counts of ``window`` and return the new totals; counts of
        windows before ``window`` are dropped."""
        ...


class RateLimiter:
    """Counts requests per key and refuses those over the key's limit for this window."""

    def __init__(
        self,
        store: RateLimitStore,
        *,
        flush_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._window = -1
        self._pending: Counter[str] = Counter()  # hits of this window not flushed yet
        self._shared: dict[str, int] = {}  # the database's totals at the last flush
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def hit(self, kind: str, key: str, limit: int) -> None:
        """Count one request of ``key`` (``kind`` names what it is, for the message); raise
        :class:`TooManyRequests` past ``limit`` per minute. A limit of 0 counts nothing."""
        if limit <= 0:
            return
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        name = f"{kind}:{key}"
        with self._lock:
            if window != self._window:  # a new window: earlier counts no longer matter
                self._window = window
                self._pending.clear()
                self._shared.clear()
            self._pending[name] += 1
            count = self._shared.get(name, 0) + self._pending[name]
        if count > limit:
            retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
            raise TooManyRequests(
                f"more than {limit} requests a minute for this {kind}; try again in"
                f" {retry_after} s",
                retry_after,
            )

    def check(self, kind: str, key: str, limit: int) -> None:
        """Raise :class:`TooManyRequests` if ``key`` is over ``limit`` already, counting
        nothing (for a request that is counted later, under another key, once known)."""
        if limit <= 0:
            return
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        name = f"{kind}:{key}"
        with self._lock:
            count = 0
            if window == self._window:
                count = self._shared.get(name, 0) + self._pending[name]
        if count >= limit:
            retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
            raise TooManyRequests(
                f"more than {limit} requests a minute for this {kind}; try again in"
                f" {retry_after} s",
                retry_after,
            )

    def flush(self) -> None:
        """Add this process's new hits to the shared counts and learn the totals of the
        others'. A busy database keeps the hits for the next flush."""
        with self._lock:
            window, hits = self._window, dict(self._pending)  # only keys used since the last
            self._pending.clear()
        if not hits:
            return
        try:
            totals = self._store.add_hits(window, hits)
        except OpenGeoMeshError:  # busy: count them next time (if still this window)
            with self._lock:
                if self._window == window:
                    self._pending.update(hits)
            return
        with self._lock:
            if self._window == window:
                for name, total in totals.items():
                    # hits counted while the flush ran stay pending; the total has ours
                    self._shared[name] = total

    def start(self) -> None:
        """Flush about once a second in a background thread (a server process)."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="rate-limits", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(timeout=5)
        self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stopping.wait(self._flush_seconds):
            try:
                self.flush()
            except Exception:  # a database gone for a moment must not end the counting
                log.exception("rate limits: the counts could not be shared")
