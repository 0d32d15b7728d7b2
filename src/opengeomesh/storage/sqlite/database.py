"""One SQLite database file: connections per thread, WAL mode and SQL functions."""

from __future__ import annotations

import sqlite3
import struct
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import shapely
from shapely.geometry import box

from opengeomesh.errors import Busy, Conflict
from opengeomesh.storage.migrations import check_revision, upgrade
from opengeomesh.storage.sqlite import predicates

_POINT_WKB = struct.Struct("<bIdd")


def now_text() -> str:
    """The current time as stored: RFC 3339 in UTC."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def stored_time(text: str) -> datetime:
    """A time read from a NOT NULL column."""
    return datetime.fromisoformat(text)


@contextmanager
def name_taken_is_conflict(detail: str) -> Iterator[None]:
    """A write that breaks a UNIQUE constraint is a :class:`Conflict`: the callers check that
    a name is free first, but another thread or worker process may take it in between."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" not in str(exc):
            raise
        raise Conflict(detail) from None


def _intersects(wkb: bytes | None, minx: float, miny: float, maxx: float, maxy: float) -> int:
    """SQL function ``ogm_intersects``: does a WKB geometry meet a box (edges included)?

    Points, the common case, are read straight from their 21 WKB bytes.
    """
    if wkb is None:
        return 0
    if len(wkb) == 21 and wkb[0] == 1:
        _, kind, x, y = _POINT_WKB.unpack(wkb)
        if kind == 1:
            return int(minx <= x <= maxx and miny <= y <= maxy)
    return int(shapely.from_wkb(wkb).intersects(box(minx, miny, maxx, maxy)))


class Database:
    """A SQLite file shared by the threads of one process; each thread has its own connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._open_connections: dict[int, sqlite3.Connection] = {}
        self._lock = threading.Lock()
        self._watch: sqlite3.Connection | None = None
        self._watch_lock = threading.Lock()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use and closed when the thread ends
        (worker pools retire idle threads; their connections must not outlive them)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._lock:
                self._open_connections[id(conn)] = conn
            weakref.finalize(threading.current_thread(), self._forget, id(conn))
        return conn

    def _forget(self, key: int) -> None:
        with self._lock:
            conn = self._open_connections.pop(key, None)
        if conn is not None:
            conn.close()

    @property
    def open_connections(self) -> int:
        """How many connections are open (one per live thread that used the database)."""
        with self._lock:
            return len(self._open_connections)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA cache_size=-8000")  # 8 MB per connection (one per thread)
        conn.create_function("ogm_intersects", 5, _intersects, deterministic=True)
        predicates.register(conn)  # exact tests of CQL2 filters (filters.py)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: everything in it is kept, or nothing on an error."""
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise Busy("the database is busy with another write; try again shortly") from None
            raise
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already (a full disk); the thread's connection must
            # not stay inside a transaction, or its next BEGIN fails
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several queries see one state of the database."""
        conn = self.connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def check_schema(self) -> str:
        """The schema revision, if it is this version's; otherwise the operator must migrate
        (for processes that must not migrate themselves, such as one of several workers)."""
        return check_revision(f"sqlite:///{self.path}")

    def migrate(self) -> str:
        """Apply the migrations not applied yet (alembic); returns the schema revision."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return upgrade(f"sqlite:///{self.path}")

    def listen_for_changes(self, wake: Callable[[int], None], wake_all: Callable[[], None]) -> None:
        """SQLite cannot tell other processes' writes: followers poll for them."""

    def data_version(self) -> int:
        """``PRAGMA data_version`` of a connection that never writes: it changes with every
        commit of every other connection, in this process or another (a few microseconds)."""
        with self._watch_lock:
            if self._watch is None:
                self._watch = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False
                )
            version: int = self._watch.execute("PRAGMA data_version").fetchone()[0]
            return version

    def close(self) -> None:
        with self._lock:
            for conn in self._open_connections.values():
                conn.close()
            self._open_connections.clear()
        self._local = threading.local()
        with self._watch_lock:
            if self._watch is not None:
                self._watch.close()
                self._watch = None
