"""What a database driver's error means for a request: the database is full, or out of reach
for now. Both drivers' errors are told apart here, so that the API answers 507 or 503 (with
Retry-After) instead of a 500, and the server keeps running until the database is back."""

from __future__ import annotations

import errno
import sqlite3

from opengeomesh.errors import DatabaseUnavailable, OpenGeoMeshError, StorageFull

FULL = "the database's disk is full; nothing was written. Try again once space is freed"
DISK_FULL = "the disk is full; nothing was written. Try again once space is freed"
UNAVAILABLE = "the database cannot be used now; nothing was changed. Try again shortly"
# SQLite's primary result codes (the low byte of an extended one)
_SQLITE_FULL = 13
_SQLITE_OUT_OF_REACH = frozenset({10, 14})  # SQLITE_IOERR, SQLITE_CANTOPEN


def driver_errors() -> tuple[type[Exception], ...]:
    """The drivers' error classes, for handlers that map them with :func:`storage_error`."""
    import psycopg
    import psycopg_pool

    return (sqlite3.DatabaseError, psycopg.Error, psycopg_pool.PoolTimeout, OSError)


def storage_error(exc: BaseException) -> OpenGeoMeshError | None:
    """The domain error ``exc`` (or the error it was raised from) stands for, if it says the
    database is full or cannot be reached; None for anything else (a defect: a 500)."""
    for error in (exc, exc.__cause__):
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:  # a spool, say
            return StorageFull(DISK_FULL)
        if isinstance(error, sqlite3.DatabaseError):
            code = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF
            if code == _SQLITE_FULL:
                return StorageFull(FULL)
            if code in _SQLITE_OUT_OF_REACH:
                return DatabaseUnavailable(UNAVAILABLE)
        found = _postgres_error(error) if error is not None else None
        if found is not None:
            return found
    return None


def _postgres_error(exc: BaseException) -> OpenGeoMeshError | None:
    try:
        import psycopg
        import psycopg_pool
    except ImportError:  # pragma: no cover - installed with the package
        return None
    if isinstance(exc, psycopg.errors.DiskFull):
        return StorageFull(FULL)
    if isinstance(exc, psycopg.OperationalError | psycopg_pool.PoolTimeout):
        return DatabaseUnavailable(UNAVAILABLE)
    return None
