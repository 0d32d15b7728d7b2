"""PostgreSQL implementation of the federation store: peers, invites, contacts, seen
signatures. Every worker process shares them, so each check-and-change is one statement or one
transaction."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import psycopg

from opengeomesh.ocm.models import Contact, Invite, Peer
from opengeomesh.storage.ocm_rows import INVITE, invite, peer
from opengeomesh.storage.postgres.columns import now, utc
from opengeomesh.storage.postgres.database import PgDatabase

_PEER = "SELECT host, organisation, trusted, blocked, invited, updated FROM peers"


class PgFederationStore:
    """Federation records in PostgreSQL."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def peer(self, host: str) -> Peer | None:
        with self._db.connection() as conn:
            row = conn.execute(f"{_PEER} WHERE host = %s", (host,)).fetchone()
        return None if row is None else peer(row, utc)

    def peers(self) -> list[Peer]:
        with self._db.connection() as conn:
            rows = conn.execute(f'{_PEER} ORDER BY host COLLATE "C"').fetchall()
        return [peer(row, utc) for row in rows]

    def set_peer(
        self,
        host: str,
        *,
        organisation: str | None = None,
        trusted: bool | None = None,
        blocked: bool | None = None,
    ) -> Peer:
        with self._db.connection() as conn:
            row = _upsert_peer(
                conn, host, organisation=organisation, trusted=trusted, blocked=blocked
            )
        return peer(row, utc)

    def add_invite(self, user_id: int, token_hash: str, expires: datetime) -> Invite:
        with self._db.connection() as conn:
            row = conn.execute(
                "WITH i AS (INSERT INTO invites(user_id, token_hash, created, expires)"
                " VALUES (%s, %s, %s, %s) RETURNING *)"
                " SELECT i.id, u.name, i.created, i.expires, i.accepted, i.accepted_by"
                " FROM i JOIN users u ON u.id = i.user_id",
                (user_id, token_hash, now(), expires.replace(microsecond=0)),
            ).fetchone()
        return invite(row, utc)

    def invite_by_hash(self, token_hash: str) -> tuple[Invite, int] | None:
        with self._db.connection() as conn:
            row = conn.execute(f"{INVITE} WHERE i.token_hash = %s", (token_hash,)).fetchone()
        return None if row is None else (invite(row, utc), row[6])

    def invites_of(self, user_id: int) -> list[Invite]:
        with self._db.connection() as conn:
            rows = conn.execute(
                f"{INVITE} WHERE i.user_id = %s ORDER BY i.id", (user_id,)
            ).fetchall()
        return [invite(row, utc) for row in rows]

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
        """Only one of several concurrent acceptances wins: the others wait for its row lock,
        then see the invite accepted."""
        with self._db.transaction() as conn:
            cur = conn.execute(
                "UPDATE invites SET accepted = %s, accepted_by = %s"
                " WHERE id = %s AND accepted IS NULL",
                (now(), by, invite_id),
            )
            if cur.rowcount == 0:
                return False
            _add_contact(conn, user_id, contact)
            _upsert_peer(conn, peer_host, organisation=organisation, invited=True)
        return True

    def record_acceptance(
        self, *, contact: Contact, user_id: int, peer_host: str, organisation: str
    ) -> None:
        with self._db.transaction() as conn:
            _add_contact(conn, user_id, contact)
            _upsert_peer(conn, peer_host, organisation=organisation, invited=True)

    def contacts_of(self, user_id: int) -> list[Contact]:
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT u.name, c.address, c.name, c.email, c.created FROM contacts c"
                " JOIN users u ON u.id = c.user_id WHERE c.user_id = %s"
                ' ORDER BY c.address COLLATE "C"',
                (user_id,),
            ).fetchall()
        return [Contact(r[0], r[1], r[2], r[3], utc(r[4])) for r in rows]

    def remember_signature(self, digest: str, expires: float) -> bool:
        """One statement decides, so that of two workers given the same signature at once
        exactly one sees it as new: the other's insert waits for the first to commit and then
        finds the row. A digest remembered earlier but expired since counts as new."""
        moment = time.time()
        with self._db.connection() as conn:
            _forget_expired_signatures(conn, moment)
            cur = conn.execute(
                "INSERT INTO seen_signatures AS s (digest, expires) VALUES (%s, %s)"
                " ON CONFLICT (digest) DO UPDATE SET expires = excluded.expires"
                " WHERE s.expires < %s",
                (digest, expires, moment),
            )
            return cur.rowcount > 0


def _forget_expired_signatures(conn: psycopg.Connection[Any], moment: float) -> None:
    """Delete some expired signatures, skipping rows another worker is deleting."""
    conn.execute(
        "DELETE FROM seen_signatures WHERE digest IN (SELECT digest FROM seen_signatures"
        " WHERE expires < %s LIMIT 500 FOR UPDATE SKIP LOCKED)",
        (moment,),
    )


def _upsert_peer(
    conn: psycopg.Connection[Any],
    host: str,
    *,
    organisation: str | None = None,
    trusted: bool | None = None,
    blocked: bool | None = None,
    invited: bool | None = None,
) -> Any:
    """Create or change a peer in one statement; the row as it is now."""
    return conn.execute(
        "INSERT INTO peers AS p (host, organisation, trusted, blocked, invited, updated)"
        " VALUES (%(host)s, coalesce(%(organisation)s, ''), coalesce(%(trusted)s, false),"
        " coalesce(%(blocked)s, false), coalesce(%(invited)s, false), %(now)s)"
        " ON CONFLICT (host) DO UPDATE SET"
        " organisation = coalesce(%(organisation)s, p.organisation),"
        " trusted = coalesce(%(trusted)s, p.trusted), blocked = coalesce(%(blocked)s, p.blocked),"
        " invited = coalesce(%(invited)s, p.invited), updated = excluded.updated"
        " RETURNING host, organisation, trusted, blocked, invited, updated",
        {
            "host": host,
            "organisation": organisation,
            "trusted": trusted,
            "blocked": blocked,
            "invited": invited,
            "now": now(),
        },
    ).fetchone()


def _add_contact(conn: psycopg.Connection[Any], user_id: int, contact: Contact) -> None:
    conn.execute(
        "INSERT INTO contacts(user_id, address, name, email, created)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (user_id, address) DO UPDATE"
        " SET name = excluded.name, email = excluded.email",
        (user_id, contact.address, contact.name, contact.email, now()),
    )
