"""Schema migrations of both databases, run by alembic.

One linear history (``versions/``); each revision applies the SQL file of its name written for
the database at hand: ``storage/sqlite/migrations/`` or ``storage/postgres/migrations/``.
Databases made before alembic (SQLite with ``PRAGMA user_version``) are stamped at their version
first. Downgrades are not supported: restore a backup instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources

from alembic import command, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from opengeomesh.errors import InvalidInput

SQL_PACKAGES = {
    "sqlite": "opengeomesh.storage.sqlite.migrations",
    "postgresql": "opengeomesh.storage.postgres.migrations",
}
_LOCK_ID = 0x0_6E0_3E5_4  # pg_advisory_xact_lock key: one migrating process at a time


def upgrade(url: str) -> str:
    """Bring the database at ``url`` (``sqlite:///PATH`` or ``postgresql://…``) to the newest
    revision in one transaction; returns the revision it is at."""
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_ID})")
            config = _config(conn)
            if conn.dialect.name == "sqlite" and _revision(conn) is None:
                legacy = conn.exec_driver_sql("PRAGMA user_version").scalar() or 0
                if legacy:
                    command.stamp(config, f"{legacy:04d}")
            command.upgrade(config, "head")
            revision = _revision(conn)
    finally:
        engine.dispose()
    assert revision is not None
    return revision


def check_revision(url: str) -> str:
    """The database's revision, if it is the newest; otherwise the operator must migrate (for
    processes that must not migrate themselves, such as one of several workers)."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            current = _revision(conn)
            newest = ScriptDirectory.from_config(_config(conn)).get_current_head()
    finally:
        engine.dispose()
    if current is None or current != newest:
        raise InvalidInput(
            "database",
            f"the database is at schema revision {current or 'none'}, this server needs"
            f" {newest}: run `opengeomesh db upgrade`",
        )
    return current


def apply_sql(name: str) -> None:
    """Run ``name.sql`` for the database alembic is migrating (called from a revision)."""
    conn = op.get_bind()
    script = resources.files(SQL_PACKAGES[conn.dialect.name]).joinpath(f"{name}.sql")
    for statement in split_statements(script.read_text("utf-8")):
        conn.exec_driver_sql(statement)


def split_statements(script: str) -> Iterator[str]:
    """The statements of a SQL file: each ends with ``;`` at the end of a line (outside a
    ``$$`` body); whole-line ``--`` comments are dropped."""
    lines: list[str] = []
    quoted = False
    for line in script.splitlines():
        if not quoted and line.lstrip().startswith("--"):
            continue
        lines.append(line)
        quoted ^= line.count("$$") % 2 == 1
        if not quoted and line.rstrip().endswith(";"):
            statement = "\n".join(lines).strip()
            lines = []
            if statement != ";":
                yield statement
    rest = "\n".join(lines).strip()
    if rest:
        yield rest


def _revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", "opengeomesh.storage:migrations")
    config.attributes["connection"] = conn
    return config


def _engine(url: str) -> Engine:
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine = create_engine(url, poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        # pysqlite opens transactions lazily and never around DDL: take them ourselves.
        @event.listens_for(engine, "connect")
        def _autocommit(dbapi_connection: object, _record: object) -> None:
            dbapi_connection.isolation_level = None  # type: ignore[attr-defined]

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
