"""RFC 3339 instants and intervals as used by the ``datetime`` parameter (OGC 17-069r4 §7.15.4).

Times are compared as POSIX seconds (UTC). A date stands for the whole day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

Interval = tuple[float | None, float | None]

_OPEN = ("", "..")


def parse_instant(text: str) -> tuple[float, float]:
    """Parse a date or date-time into the span of seconds it covers; raises ``ValueError``."""
    text = text.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return start.timestamp(), (start + timedelta(days=1)).timestamp() - 1e-6
    if "T" not in text.upper() or len(text) < 19:
        raise ValueError(f"{text!r} is not an RFC 3339 date or date-time")
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = moment.timestamp()
    return seconds, seconds


def parse_interval(text: str) -> Interval:
    """Parse ``instant``, ``start/end``, ``../end`` or ``start/..``; raises ``ValueError``."""
    if "/" not in text:
        return parse_instant(text)
    start_text, _, end_text = text.partition("/")
    if "/" in end_text:
        raise ValueError("an interval has exactly one '/'")
    if start_text in _OPEN and end_text in _OPEN:
        raise ValueError("an interval needs at least one closed end")
    start = None if start_text in _OPEN else parse_instant(start_text)[0]
    end = None if end_text in _OPEN else parse_instant(end_text)[1]
    if start is not None and end is not None and start > end:
        raise ValueError("the interval's start is after its end")
    return start, end


def to_datetime(seconds: float | None) -> datetime | None:
    """POSIX seconds to an aware UTC datetime."""
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


def rfc3339(moment: datetime | None) -> str | None:
    """An aware datetime as RFC 3339 text with ``Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
