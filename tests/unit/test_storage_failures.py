"""Which driver errors mean "the database is full" (507) or "out of reach" (503); the rest
stay defects (500). The real paths are tested in tests/faults/test_database_faults.py."""

import errno
import sqlite3

import psycopg
import psycopg_pool

from opengeomesh.errors import DatabaseUnavailable, StorageFull
from opengeomesh.storage.failures import storage_error


def sqlite_error(code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("x")
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


def test_full_and_out_of_reach_are_told_apart_from_defects() -> None:
    assert isinstance(storage_error(sqlite_error(13)), StorageFull)  # SQLITE_FULL
    assert isinstance(storage_error(sqlite_error(10 | (4 << 8))), DatabaseUnavailable)  # IOERR_*
    assert storage_error(sqlite_error(1)) is None  # SQLITE_ERROR: a defect
    assert isinstance(storage_error(psycopg.errors.DiskFull("x")), StorageFull)
    assert isinstance(storage_error(psycopg.OperationalError("x")), DatabaseUnavailable)
    assert isinstance(storage_error(psycopg_pool.PoolTimeout("x")), DatabaseUnavailable)
    assert storage_error(psycopg.errors.UndefinedTable("x")) is None
    assert isinstance(storage_error(OSError(errno.ENOSPC, "No space")), StorageFull)
    assert storage_error(OSError(errno.EACCES, "denied")) is None
    wrapped = RuntimeError("while importing")
    wrapped.__cause__ = sqlite_error(13)
    assert isinstance(storage_error(wrapped), StorageFull)
