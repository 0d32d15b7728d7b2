"""PostgreSQL for tests: one test database with PostGIS, and a fresh schema per use.

``OGM_TEST_POSTGRES_URL`` names the test database (default: the machine's PostgreSQL, database
``ogm_test``, created when missing). Without a reachable PostgreSQL the tests that need it are
skipped, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

TEST_URL = os.environ.get("OGM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/ogm_test")


@functools.cache
def _prepare() -> str | None:
    """Create the test database and PostGIS in it; the reason it cannot be used, or None."""
    base, _, name = TEST_URL.rpartition("/")
    name = name.split("?", 1)[0]
    try:
        with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=5) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if found.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        with psycopg.connect(TEST_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except psycopg.Error as exc:
        return f"PostgreSQL with PostGIS at {TEST_URL} is not usable: {exc}"
    return None


def require_postgres() -> None:
    """Skip (fail under CI=true) when the test database cannot be used."""
    problem = _prepare()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(problem)
    pytest.skip(problem)


@contextmanager
def fresh_database_url() -> Iterator[str]:
    """A database URL whose tables live in a new, empty schema (dropped afterwards)."""
    require_postgres()
    schema = "t_" + secrets.token_hex(6)
    with psycopg.connect(TEST_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    joiner = "&" if "?" in TEST_URL else "?"
    try:
        yield f"{TEST_URL}{joiner}options=-csearch_path%3D{schema},public"
    finally:
        with psycopg.connect(TEST_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
