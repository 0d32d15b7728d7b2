"""SQLite implementation of the federation store: peers, invites, contacts, seen signatures."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime

from opengeomesh.ocm.models import Contact, Invite, Peer
from opengeomesh.storage.ocm_rows import INVITE, invite, peer
from opengeomesh.storage.sqlite.database import Database, now_text, stored_time


class SqliteFederationStore:
    """Federation records in SQLite."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def peer(self, host: str) -> Peer | None:
        row = (
            self._db.connection()
            .execute(
                "SELECT host, organisation, trusted, blocked, invited, updated FROM peers"
                " WHERE host = ?",
                (host,),
            )
            .fetchone()
        )
        return None if row is None else peer(row, stored_time)

    def peers(self) -> list[Peer]:
        rows = (
            self._db.connection()
            .execute(
                "SELECT host, organisation, trusted, blocked, invited, updated FROM peers"
                " ORDER BY host"
            )
            .fetchall()
        )
        return [peer(row, stored_time) for row in rows]

    def set_peer(
        self,
        host: str,
        *,
        organisation: str | None = None,
        trusted: bool | None = None,
        blocked: bool | None = None,
    ) -> Peer:
        with self._db.transaction() as conn:
            self._upsert_peer(
                conn, host, organisation=organisation, trusted=trusted, blocked=blocked
            )
        found = self.peer(host)
        assert found is not None
        return found

    @staticmethod
    def _upsert_peer(
        conn: sqlite3.Connection,
        host: str,
        *,
        organisation: str | None = None,
        trusted: bool | None = None,
        blocked: bool | None = None,
        invited: bool | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO peers(host, organisation, trusted, blocked, invited, updated)"
            " VALUES (?, coalesce(?, ''), coalesce(?, 0), coalesce(?, 0), coalesce(?, 0), ?)"
            " ON CONFLICT(host) DO UPDATE SET"
            " organisation = coalesce(?, organisation), trusted = coalesce(?, trusted),"
            " blocked = coalesce(?, blocked), invited = coalesce(?, invited),"
            " updated = excluded.updated",
            (
                host,
                organisation,
                _flag(trusted),
                _flag(blocked),
                _flag(invited),
                now_text(),
                organisation,
                _flag(trusted),
                _flag(blocked),
                _flag(invited),
            ),
        )

    def add_invite(self, user_id: int, token_hash: str, expires: datetime) -> Invite:
        with self._db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO invites(user_id, token_hash, created, expires) VALUES (?, ?, ?, ?)",
                (user_id, token_hash, now_text(), expires.isoformat(timespec="seconds")),
            )
            row = conn.execute(f"{INVITE} WHERE i.id = ?", (cur.lastrowid,)).fetchone()
        return invite(row, stored_time)

    def invite_by_hash(self, token_hash: str) -> tuple[Invite, int] | None:
        row = (
            self._db.connection()
            .execute(f"{INVITE} WHERE i.token_hash = ?", (token_hash,))
            .fetchone()
        )
        return None if row is None else (invite(row, stored_time), row[6])

    def invites_of(self, user_id: int) -> list[Invite]:
        rows = (
            self._db.connection()
            .execute(f"{INVITE} WHERE i.user_id = ? ORDER BY i.id", (user_id,))
            .fetchall()
        )
        return [invite(row, stored_time) for row in rows]

    def accept_invite(
        self,
        invite_id: int,
        *,
        by: str,
        contact: Contact,
        user_id: int,
        peer_host: str,
        organisation: str,
    ) -> bool:
        with self._db.transaction() as conn:
            cur = conn.execute(
                "UPDATE invites SET accepted = ?, accepted_by = ? WHERE id = ?"
                " AND accepted IS NULL",
                (now_text(), by, invite_id),
            )
            if cur.rowcount == 0:
                return False
            self._add_contact(conn, user_id, contact)
            self._upsert_peer(conn, peer_host, organisation=organisation, invited=True)
        return True

    def record_acceptance(
        self, *, contact: Contact, user_id: int, peer_host: str, organisation: str
    ) -> None:
        with self._db.transaction() as conn:
            self._add_contact(conn, user_id, contact)
            self._upsert_peer(conn, peer_host, organisation=organisation, invited=True)

    @staticmethod
    def _add_contact(conn: sqlite3.Connection, user_id: int, contact: Contact) -> None:
        conn.execute(
            "INSERT INTO contacts(user_id, address, name, email, created) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(user_id, address) DO UPDATE SET name = excluded.name,"
            " email = excluded.email",
            (user_id, contact.address, contact.name, contact.email, now_text()),
        )

    def contacts_of(self, user_id: int) -> list[Contact]:
        rows = (
            self._db.connection()
            .execute(
                "SELECT u.name, c.address, c.name, c.email, c.created FROM contacts c"
                " JOIN users u ON u.id = c.user_id WHERE c.user_id = ? ORDER BY c.address",
                (user_id,),
            )
            .fetchall()
        )
        return [Contact(r[0], r[1], r[2], r[3], stored_time(r[4])) for r in rows]

    def remember_signature(self, digest: str, expires: float) -> bool:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM seen_signatures WHERE expires < ?", (time.time(),))
            cur = conn.execute(
                "INSERT OR IGNORE INTO seen_signatures(digest, expires) VALUES (?, ?)",
                (digest, expires),
            )
        return cur.rowcount > 0


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)
