"""One PostgreSQL/PostGIS database: a pool of connections per process and its migrations."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool

from opengeomesh.errors import Busy
from opengeomesh.storage.migrations import check_revision, upgrade
from opengeomesh.storage.postgres.notifications import ChangeListener

# The errors that mean "another transaction won; the same request may succeed if repeated".
RETRYABLE = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)
POOL_WAIT = 5.0  # seconds a request waits for a connection (the database may be out of reach)


class PgDatabase:
    """A PostgreSQL database shared by the threads (and worker processes) of a server.

    Connections are in autocommit mode outside :meth:`transaction` and :meth:`snapshot`.
    """

    def __init__(self, url: str, *, max_connections: int = 10) -> None:
        self.url = url
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True},
            open=False,
            name="opengeomesh",
            # a connection broken while the database was out of reach is replaced, not handed
            # to a request; a request waits this long for one, then gets a 503
            check=ConnectionPool.check_connection,
            timeout=POOL_WAIT,
        )
        self._opened = False
        self._opening = threading.Lock()
        self._listener: ChangeListener | None = None

    def _ready(self) -> ConnectionPool:
        if not self._opened:
            with self._opening:  # threads of a new server may all ask at once
                if not self._opened:
                    self._pool.open(wait=True, timeout=10)
                    self._opened = True
        return self._pool

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A connection from the pool for statements that each stand alone."""
        with self._ready().connection() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A write transaction: everything in it is kept, or nothing on an error."""
        with self._ready().connection() as conn:
            try:
                with conn.transaction():
                    yield conn
            except RETRYABLE:
                raise Busy("the database is busy with another write; try again shortly") from None

    @contextmanager
    def snapshot(self) -> Iterator[psycopg.Connection]:
        """A read-only transaction: several queries see one state of the database."""
        with self._ready().connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield conn

    def check_schema(self) -> str:
        """The schema revision if it is the newest, else :class:`InvalidInput`."""
        return check_revision(self.url)

    def migrate(self) -> str:
        """Apply the migrations not applied yet (alembic); returns the schema revision."""
        return upgrade(self.url)

    def listen_for_changes(self, wake: Callable[[int], None], wake_all: Callable[[], None]) -> None:
        """Wake local followers on every committed feature write of any process (LISTEN)."""
        if self._listener is None:
            self._listener = ChangeListener(self.url, wake, wake_all)
            self._listener.start()

    def data_version(self) -> None:
        """PostgreSQL has no commit counter that is both cheap and transactional: no page
        cache (docs/operator.md)."""
        return None

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        with self._opening:
            if self._opened:
                self._pool.close()
                self._opened = False
