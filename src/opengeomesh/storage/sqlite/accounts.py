"""SQLite implementation of the account store."""

from __future__ import annotations

from typing import Any

from opengeomesh.accounts.models import ApiToken, Group, User
from opengeomesh.storage.sqlite.database import (
    Database,
    name_taken_is_conflict,
    now_text,
    parse_time,
)

_USER_COLUMNS = "id, name, display_name, is_admin, created, email"


def _user(row: Any) -> User:
    created = parse_time(row[4])
    assert created is not None
    return User(
        id=row[0],
        name=row[1],
        display_name=row[2],
        is_admin=bool(row[3]),
        created=created,
        email=row[5],
    )


class SqliteAccountStore:
    """Users, groups and token hashes in SQLite."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add_user(self, name: str, display_name: str, is_admin: bool, email: str = "") -> User:
        taken = name_taken_is_conflict(f"user {name!r} exists already")
        with taken, self._db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO users(name, display_name, is_admin, created, email)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, display_name, int(is_admin), now_text(), email),
            )
            row = conn.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (cur.lastrowid,)
            ).fetchone()
        return _user(row)

    def get_user(self, name: str) -> User | None:
        row = (
            self._db.connection()
            .execute(f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?", (name,))
            .fetchone()
        )
        return None if row is None else _user(row)

    def list_users(self) -> list[User]:
        rows = (
            self._db.connection()
            .execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name")
            .fetchall()
        )
        return [_user(row) for row in rows]

    def add_group(self, name: str) -> Group:
        taken = name_taken_is_conflict(f"group {name!r} exists already")
        with taken, self._db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO user_groups(name, created) VALUES (?, ?)", (name, now_text())
            )
        return Group(id=int(cur.lastrowid or 0), name=name)

    def get_group(self, name: str) -> Group | None:
        conn = self._db.connection()
        row = conn.execute("SELECT id, name FROM user_groups WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return Group(id=row[0], name=row[1], members=self._members(row[0]))

    def list_groups(self) -> list[Group]:
        rows = (
            self._db.connection()
            .execute("SELECT id, name FROM user_groups ORDER BY name")
            .fetchall()
        )
        return [Group(id=r[0], name=r[1], members=self._members(r[0])) for r in rows]

    def _members(self, group_id: int) -> tuple[str, ...]:
        rows = (
            self._db.connection()
            .execute(
                "SELECT u.name FROM group_members m JOIN users u ON u.id = m.user_id"
                " WHERE m.group_id = ? ORDER BY u.name",
                (group_id,),
            )
            .fetchall()
        )
        return tuple(r[0] for r in rows)

    def add_member(self, group_id: int, user_id: int) -> bool:
        with self._db.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO group_members(group_id, user_id) VALUES (?, ?)",
                (group_id, user_id),
            )
        return cur.rowcount > 0

    def group_ids_of(self, user_id: int) -> frozenset[int]:
        rows = (
            self._db.connection()
            .execute("SELECT group_id FROM group_members WHERE user_id = ?", (user_id,))
            .fetchall()
        )
        return frozenset(r[0] for r in rows)

    def add_token(self, user_id: int, label: str, token_hash: str) -> ApiToken:
        created = now_text()
        with self._db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO api_tokens(user_id, label, token_hash, created) VALUES (?, ?, ?, ?)",
                (user_id, label, token_hash, created),
            )
            name = conn.execute("SELECT name FROM users WHERE id = ?", (user_id,)).fetchone()[0]
        moment = parse_time(created)
        assert moment is not None
        return ApiToken(id=int(cur.lastrowid or 0), user_name=name, label=label, created=moment)

    def user_for_token(self, token_hash: str) -> User | None:
        row = (
            self._db.connection()
            .execute(
                "SELECT u.id, u.name, u.display_name, u.is_admin, u.created, u.email"
                " FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
                (token_hash,),
            )
            .fetchone()
        )
        return None if row is None else _user(row)

    def list_tokens(self, user_id: int) -> list[ApiToken]:
        rows = (
            self._db.connection()
            .execute(
                "SELECT t.id, u.name, t.label, t.created, t.last_used FROM api_tokens t"
                " JOIN users u ON u.id = t.user_id WHERE t.user_id = ? ORDER BY t.id",
                (user_id,),
            )
            .fetchall()
        )
        tokens = []
        for row in rows:
            created = parse_time(row[3])
            assert created is not None
            tokens.append(
                ApiToken(
                    id=row[0],
                    user_name=row[1],
                    label=row[2],
                    created=created,
                    last_used=parse_time(row[4]),
                )
            )
        return tokens

    def delete_token(self, user_id: int, token_id: int) -> bool:
        with self._db.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM api_tokens WHERE id = ? AND user_id = ?", (token_id, user_id)
            )
        return cur.rowcount > 0
