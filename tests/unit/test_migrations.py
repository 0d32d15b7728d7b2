"""Migrations: alembic on SQLite, databases from before alembic, and the SQL splitter."""

import sqlite3
from importlib import resources
from pathlib import Path

from opengeomesh.storage.migrations import split_statements
from opengeomesh.storage.sqlite.database import Database


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


def test_new_database_is_at_the_newest_revision(tmp_path: Path) -> None:
    database = Database(tmp_path / "new.sqlite")
    first = database.migrate()
    assert database.migrate() == first  # a second run changes nothing
    assert {"users", "collections", "shares_sent", "outbox", "alembic_version"} <= _tables(
        database.path
    )
    database.close()


def test_database_from_before_alembic_is_stamped_then_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    scripts = resources.files("opengeomesh.storage.sqlite.migrations")
    with sqlite3.connect(path, isolation_level=None) as conn:
        for name in ("0001_initial", "0002_federation"):
            conn.executescript(scripts.joinpath(f"{name}.sql").read_text("utf-8"))
        conn.execute("INSERT INTO peers(host, updated) VALUES ('b.example', 'now')")
        conn.execute("PRAGMA user_version = 2")
    conn.close()
    database = Database(path)
    database.migrate()
    assert {"shares_sent", "feature_changes"} <= _tables(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT host FROM peers").fetchall() == [("b.example",)]
    conn.close()
    database.close()


def test_statements_split_at_line_ends_outside_dollar_bodies() -> None:
    script = """-- a comment; with a semicolon
CREATE TABLE a (x int);
CREATE FUNCTION f() RETURNS trigger AS $$
BEGIN
  PERFORM 1;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
SELECT 'a;b'
"""
    assert list(split_statements(script)) == [
        "CREATE TABLE a (x int);",
        "CREATE FUNCTION f() RETURNS trigger AS $$\nBEGIN\n  PERFORM 1;\n  RETURN NULL;\n"
        "END $$ LANGUAGE plpgsql;",
        "SELECT 'a;b'",
    ]
