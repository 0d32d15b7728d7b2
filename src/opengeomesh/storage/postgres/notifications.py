"""Wake-ups for the live change feed across worker processes: PostgreSQL LISTEN/NOTIFY.

Feature writers send ``pg_notify('ogm_changes', '<collection key>:<change number>')`` in their
transaction, so a notification arrives only once its change is committed. One thread per
process listens and wakes the local subscribers of that collection; the database stays the
source of truth (subscribers re-read from their last change number).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

CHANNEL = "ogm_changes"
log = logging.getLogger(__name__)


class ChangeListener:
    """A thread that calls ``wake(collection_key)`` for each change notification; it reconnects
    after a lost connection and then wakes everyone (``wake_all``), since it may have missed
    notifications meanwhile."""

    def __init__(self, url: str, wake: Callable[[int], None], wake_all: Callable[[], None]) -> None:
        self._url = url
        self._wake = wake
        self._wake_all = wake_all
        self._stopping = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ogm-change-listener", daemon=True)

    def start(self, timeout: float = 10) -> None:
        """Start listening; returns once LISTEN is in place (or after ``timeout``)."""
        self._thread.start()
        self._listening.wait(timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if self._listening.is_set():
                        self._wake_all()  # back after a gap: notifications may be lost
                    self._listening.set()
                    backoff = 0.5
                    while not self._stopping.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._deliver(note.payload)
            except psycopg.Error as exc:
                log.warning("change listener lost its connection (%s); retrying", exc)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 30)

    def _deliver(self, payload: str) -> None:
        key, _, _ = payload.partition(":")
        if key.isdigit():
            self._wake(int(key))
