"""Values as the PostgreSQL stores write and read them, where PostgreSQL differs from SQLite."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time as stored: UTC, whole seconds (as on SQLite)."""
    return datetime.now(UTC).replace(microsecond=0)


def utc(moment: datetime) -> datetime:
    """A ``timestamptz`` read back, in UTC whatever the session's time zone."""
    return moment.astimezone(UTC)


def utc_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def free_text(value: str | None) -> str | None:
    """Text another server wrote (an error body, say): PostgreSQL's text cannot hold NUL, so it
    becomes U+FFFD, as undecodable bytes do."""
    return None if value is None else value.replace("\x00", "\ufffd")
