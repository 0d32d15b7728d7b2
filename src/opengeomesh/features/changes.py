"""The change feed of a collection: its single-feature writes in change-number order, as pages
and as a live stream, each change a CloudEvent in the shape of OGC API – Publish-Subscribe.

The database is the source of truth: a follower reads the changes after the last number it
has seen. :class:`ChangeHub` only hints that a collection changed, so followers read at once
instead of at their next poll; writes it never hears of (another process) arrive at the poll.
Every read of a follower checks the caller's access again first, so a follower never gets a
change after its access ended (a share revoked, a token expired, the collection deleted).

The author of a change (a user, or the OCM address behind a share) is never in the feed:
recipients in other organisations must not learn who edited. It stays in the management log.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from anyio import to_thread

from opengeomesh.accounts.models import Caller
from opengeomesh.errors import Busy, InvalidInput, NotFound, OpenGeoMeshError
from opengeomesh.features.catalog import Catalog
from opengeomesh.features.models import Access, ChangeAction, Collection, FeatureChange
from opengeomesh.features.store import FeatureWriter
from opengeomesh.features.timeval import rfc3339

EVENT_PREFIX = "org.ogc.api.collection.item."
EVENT_TYPES = {
    ChangeAction.CREATE: EVENT_PREFIX + "create",
    ChangeAction.REPLACE: EVENT_PREFIX + "update",
    ChangeAction.UPDATE: EVENT_PREFIX + "update",
    ChangeAction.DELETE: EVENT_PREFIX + "delete",
}
KNOWN_TYPES = frozenset(EVENT_TYPES.values())
GEOJSON = "application/geo+json"
TEXT = "text/plain"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_POSITION = 2**63 - 1


# --- wake-up hints ---------------------------------------------------------------------------


class ChangeWaiter:
    """One follower's wake-up call: registered with the hub for one collection. ``arm`` before
    reading the database, then ``wait``: a wake-up that came in between is not lost."""

    def __init__(self, hub: ChangeHub, collection_key: int) -> None:
        self._hub = hub
        self.collection_key = collection_key
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def arm(self) -> None:
        self._event.clear()

    async def wait(self, timeout: float) -> bool:
        """Whether a wake-up came (True) or ``timeout`` seconds passed (False)."""
        try:
            async with asyncio.timeout(timeout):
                await self._event.wait()
        except TimeoutError:
            return False
        return True

    def wake(self) -> None:
        """Set the event on the waiter's own loop (callable from any thread)."""
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # its loop is closed: nobody waits any more
            self._hub.forget(self)

    def close(self) -> None:
        self._hub.forget(self)

    def __enter__(self) -> ChangeWaiter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class ChangeHub:
    """Wake-up hints for the followers of each collection, in one process.

    ``wake(key)`` is all a writer or a listener has to call, from any thread: ``Editing`` after
    each committed write, and (with PostgreSQL) a LISTEN/NOTIFY thread for writes of other
    processes. A hint carries no data; followers read the database."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[int, set[ChangeWaiter]] = {}

    def wake(self, collection_key: int) -> None:
        """Wake every follower of the collection (thread-safe)."""
        with self._lock:
            waiters = list(self._waiters.get(collection_key, ()))
        for waiter in waiters:
            waiter.wake()

    def wake_all(self) -> None:
        """Wake every follower of every collection (after hints may have been lost)."""
        with self._lock:
            waiters = [waiter for found in self._waiters.values() for waiter in found]
        for waiter in waiters:
            waiter.wake()

    def watch(self, collection_key: int) -> ChangeWaiter:
        """Register a waiter for the collection (on the event loop that will wait)."""
        waiter = ChangeWaiter(self, collection_key)
        with self._lock:
            self._waiters.setdefault(collection_key, set()).add(waiter)
        return waiter

    def forget(self, waiter: ChangeWaiter) -> None:
        with self._lock:
            found = self._waiters.get(waiter.collection_key)
            if found is not None:
                found.discard(waiter)
                if not found:
                    del self._waiters[waiter.collection_key]

    @property
    def waiting(self) -> int:
        """How many followers wait (for tests and diagnostics)."""
        with self._lock:
            return sum(len(found) for found in self._waiters.values())


# --- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One change as the feed shows it, without the author."""

    seq: int
    type: str
    feature_id: str
    time: str
    data: Any  # the feature as written (a GeoJSON object), or for a delete its id (text)

    @classmethod
    def of(cls, change: FeatureChange) -> ChangeEvent:
        if change.action is ChangeAction.DELETE:
            data: Any = change.feature_id
        else:  # None for writes recorded before the feed existed (migration 0005)
            data = None if change.feature is None else orjson.loads(change.feature)
        return cls(
            seq=change.version,
            type=EVENT_TYPES[change.action],
            feature_id=change.feature_id,
            time=rfc3339(change.at) or "",
            data=data,
        )

    def cloud_event(self, source: str, collection_id: str) -> dict[str, Any]:
        """The CloudEvents 1.0 JSON of the change (OGC API – Publish-Subscribe types):
        ``source`` is the collection's URL, ``subject`` the feature id, ``id`` unique per event,
        ``changenumber`` (an extension) the collection's change number of the write."""
        event: dict[str, Any] = {
            "specversion": "1.0",
            "type": self.type,
            "source": source,
            "subject": self.feature_id,
            "id": f"{collection_id}:{self.seq}",
            "time": self.time,
            "changenumber": self.seq,
        }
        if self.data is not None:
            event["datacontenttype"] = TEXT if isinstance(self.data, str) else GEOJSON
            event["data"] = self.data
        return event


def read_cloud_event(raw: Any) -> ChangeEvent:
    """A CloudEvent of another server's feed, checked (``ValueError`` says what is wrong);
    its ``source`` and ``id`` are the other server's and are not kept."""
    if not isinstance(raw, dict):
        raise ValueError("an event is not a JSON object")
    seq, kind, subject = raw.get("changenumber"), raw.get("type"), raw.get("subject")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 < seq <= MAX_POSITION:
        raise ValueError("an event has no usable changenumber")
    if kind not in KNOWN_TYPES:
        raise ValueError(f"an event has an unknown type {str(kind)[:80]!r}")
    if not isinstance(subject, str) or not subject:
        raise ValueError("an event has no subject (feature id)")
    moment = raw.get("time")
    data = raw.get("data")
    if kind == EVENT_TYPES[ChangeAction.DELETE]:
        data = subject
    elif data is not None and (not isinstance(data, dict) or data.get("type") != "Feature"):
        raise ValueError("an event's data is not a GeoJSON feature")
    return ChangeEvent(
        seq=seq,
        type=str(kind),
        feature_id=subject,
        time=moment if isinstance(moment, str) else "",
        data=data,
    )


@dataclass(frozen=True, slots=True)
class ChangesPage:
    """Changes after a position: ``last`` is the highest change number in the page (``since``
    when it is empty), ``current`` the collection's change number when it was read (higher
    when an import, which is not in the feed, came later), ``more`` if more changes wait."""

    events: list[ChangeEvent]
    more: bool
    last: int
    current: int


@dataclass(frozen=True, slots=True)
class Position:
    """A follower's starting point, sent before any change (SSE: an ``id`` without data)."""

    seq: int


class KeepAlive:
    """Nothing happened for a while: a sign of life for the follower."""


KEEPALIVE = KeepAlive()
FeedItem = ChangeEvent | Position | KeepAlive


def check_position(value: str | None, name: str) -> int | None:
    """A change number given as text (``since``, ``Last-Event-ID``): 0 or more."""
    if value is None:
        return None
    text = value.strip()
    if not _digits(text, 19) or int(text) > MAX_POSITION:
        raise InvalidInput(name, "must be a change number: a whole number, 0 or more")
    return int(text)


def check_limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not _digits(value, 4) or not 1 <= int(value) <= MAX_LIMIT:
        raise InvalidInput("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
    return int(value)


def _digits(text: str, most: int) -> bool:
    return 0 < len(text) <= most and text.isascii() and text.isdigit()


# --- the feed ----------------------------------------------------------------------------------


class ChangeFeed:
    """The change feeds of this server's collections, for callers who may read them."""

    def __init__(
        self,
        catalog: Catalog,
        writer: FeatureWriter,
        hub: ChangeHub,
        *,
        poll_seconds: float,
        keepalive_seconds: float,
    ) -> None:
        self._catalog = catalog
        self._writer = writer
        self.hub = hub
        self.poll_seconds = poll_seconds
        self.keepalive_seconds = keepalive_seconds

    def page(
        self, caller: Caller, collection_id: str, since: int, limit: int
    ) -> tuple[Collection, ChangesPage]:
        """The changes after ``since`` (a page of at most ``limit``)."""
        collection = self._catalog.require(caller, collection_id, Access.READ)
        return collection, self._read(collection, since, limit)

    def start(
        self, caller: Caller, collection_id: str, since: int | None
    ) -> tuple[Collection, int]:
        """Check a follower before its stream starts: the collection and the position to follow
        from (``since``, or the collection's current change number: only what comes now)."""
        collection = self._catalog.require(caller, collection_id, Access.READ)
        if since is None:
            return collection, collection.change_seq
        _check_since(collection, since)
        return collection, since

    async def follow(
        self,
        collection: Collection,
        since: int,
        caller_now: Callable[[], Caller],
        *,
        batch: int = DEFAULT_LIMIT,
    ) -> AsyncGenerator[FeedItem, None]:
        """The position, then each change after ``since`` as it comes, strictly in order and
        none twice, with a keep-alive after ``keepalive_seconds`` of silence. Before each read
        the caller (``caller_now()``, which looks the token up again) must still be allowed to
        read the collection; when not, the stream ends. Reads run in worker threads; waiting
        holds none."""
        last = since
        yield Position(last)
        quiet_since = time.monotonic()
        with self.hub.watch(collection.key) as waiter:
            while True:
                waiter.arm()  # before the read, so that a write during it wakes the wait
                try:
                    page = await to_thread.run_sync(
                        self._recheck_and_read, caller_now, collection, last, batch
                    )
                except Busy:
                    page = ChangesPage([], False, last, last)
                except OpenGeoMeshError:  # access gone, token expired, collection deleted
                    return
                for event in page.events:
                    yield event
                if page.events:
                    last, quiet_since = page.last, time.monotonic()
                    if page.more:
                        continue
                left = self.keepalive_seconds - (time.monotonic() - quiet_since)
                if left <= 0:
                    yield KEEPALIVE
                    quiet_since = time.monotonic()
                    continue  # and check the caller again now
                await waiter.wait(min(self.poll_seconds, left))

    def _recheck_and_read(
        self, caller_now: Callable[[], Caller], collection: Collection, since: int, limit: int
    ) -> ChangesPage:
        current = self._catalog.require(caller_now(), collection.id, Access.READ)
        if current.key != collection.key:
            raise NotFound(f"collection {collection.id!r} was deleted")
        return self._read(current, since, limit)

    def _read(self, collection: Collection, since: int, limit: int) -> ChangesPage:
        _check_since(collection, since)
        found = self._writer.changes_since(collection, since, limit + 1)
        events = [ChangeEvent.of(change) for change in found[:limit]]
        last = events[-1].seq if events else since
        return ChangesPage(
            events=events,
            more=len(found) > limit,
            last=last,
            current=max(last, collection.change_seq),
        )


def _check_since(collection: Collection, since: int) -> None:
    if since > collection.change_seq:
        raise InvalidInput(
            "since",
            f"{since} is ahead of the collection's last change ({collection.change_seq}):"
            " was it deleted and made again?",
        )
