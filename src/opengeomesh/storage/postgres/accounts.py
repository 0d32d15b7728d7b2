"""PostgreSQL implementation of the account store."""

from __future__ import annotations

from typing import Any

import psycopg

from opengeomesh.accounts.models import ApiToken, Group, User
from opengeomesh.storage.postgres.columns import now, utc, utc_or_none
from opengeomesh.storage.postgres.database import PgDatabase

_USER_COLUMNS = "u.id, u.name, u.display_name, u.is_admin, u.created, u.email"


def _user(row: Any) -> User:
    return User(
        id=row[0],
        name=row[1],
        display_name=row[2],
        is_admin=row[3],
        created=utc(row[4]),
        email=row[5],
    )


def _token(row: Any) -> ApiToken:
    return ApiToken(
        id=row[0],
        user_name=row[1],
        label=row[2],
        created=utc(row[3]),
        last_used=utc_or_none(row[4]),
    )


class PgAccountStore:
    """Users, groups and token hashes in PostgreSQL."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def add_user(self, name: str, display_name: str, is_admin: bool, email: str = "") -> User:
        with self._db.connection() as conn:
            row = conn.execute(
                "INSERT INTO users AS u (name, display_name, is_admin, created, email)"
                f" VALUES (%s, %s, %s, %s, %s) RETURNING {_USER_COLUMNS}",
                (name, display_name, is_admin, now(), email),
            ).fetchone()
        return _user(row)

    def get_user(self, name: str) -> User | None:
        with self._db.connection() as conn:
            row = conn.execute(
                f"SELECT {_USER_COLUMNS} FROM users u WHERE u.name = %s", (name,)
            ).fetchone()
        return None if row is None else _user(row)

    def list_users(self) -> list[User]:
        with self._db.connection() as conn:
            rows = conn.execute(
                f'SELECT {_USER_COLUMNS} FROM users u ORDER BY u.name COLLATE "C"'
            ).fetchall()
        return [_user(row) for row in rows]

    def add_group(self, name: str) -> Group:
        with self._db.connection() as conn:
            row = conn.execute(
                "INSERT INTO user_groups(name, created) VALUES (%s, %s) RETURNING id",
                (name, now()),
            ).fetchone()
        assert row is not None
        return Group(id=row[0], name=name)

    def get_group(self, name: str) -> Group | None:
        with self._db.snapshot() as conn:
            row = conn.execute(
                "SELECT id, name FROM user_groups WHERE name = %s", (name,)
            ).fetchone()
            if row is None:
                return None
            return Group(id=row[0], name=row[1], members=_members(conn, row[0]))

    def list_groups(self) -> list[Group]:
        with self._db.snapshot() as conn:
            rows = conn.execute(
                'SELECT id, name FROM user_groups ORDER BY name COLLATE "C"'
            ).fetchall()
            return [Group(id=r[0], name=r[1], members=_members(conn, r[0])) for r in rows]

    def add_member(self, group_id: int, user_id: int) -> bool:
        with self._db.connection() as conn:
            cur = conn.execute(
                "INSERT INTO group_members(group_id, user_id) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING",
                (group_id, user_id),
            )
            return cur.rowcount > 0

    def group_ids_of(self, user_id: int) -> frozenset[int]:
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT group_id FROM group_members WHERE user_id = %s", (user_id,)
            ).fetchall()
        return frozenset(r[0] for r in rows)

    def add_token(self, user_id: int, label: str, token_hash: str) -> ApiToken:
        with self._db.connection() as conn:
            row = conn.execute(
                "WITH t AS (INSERT INTO api_tokens(user_id, label, token_hash, created)"
                " VALUES (%s, %s, %s, %s) RETURNING id, user_id, label, created, last_used)"
                " SELECT t.id, u.name, t.label, t.created, t.last_used"
                " FROM t JOIN users u ON u.id = t.user_id",
                (user_id, label, token_hash, now()),
            ).fetchone()
        return _token(row)

    def user_for_token(self, token_hash: str) -> User | None:
        with self._db.connection() as conn:
            row = conn.execute(
                f"SELECT {_USER_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id"
                " WHERE t.token_hash = %s",
                (token_hash,),
            ).fetchone()
        return None if row is None else _user(row)

    def list_tokens(self, user_id: int) -> list[ApiToken]:
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT t.id, u.name, t.label, t.created, t.last_used FROM api_tokens t"
                " JOIN users u ON u.id = t.user_id WHERE t.user_id = %s ORDER BY t.id",
                (user_id,),
            ).fetchall()
        return [_token(row) for row in rows]

    def delete_token(self, user_id: int, token_id: int) -> bool:
        with self._db.connection() as conn:
            cur = conn.execute(
                "DELETE FROM api_tokens WHERE id = %s AND user_id = %s", (token_id, user_id)
            )
            return cur.rowcount > 0


def _members(conn: psycopg.Connection[Any], group_id: int) -> tuple[str, ...]:
    rows = conn.execute(
        "SELECT u.name FROM group_members m JOIN users u ON u.id = m.user_id"
        ' WHERE m.group_id = %s ORDER BY u.name COLLATE "C"',
        (group_id,),
    ).fetchall()
    return tuple(r[0] for r in rows)
