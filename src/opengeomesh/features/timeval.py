"""RFC 3339 instants and intervals as used by the ``datetime`` parameter (OGC 17-069r4 §7.15.4).

Times are compared as POSIX seconds (UTC). A date stands for the whole day. Only years 1 to 9999
(in UTC) are accepted, so every stored time can be shown again.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

Interval = tuple[float | None, float | None]

_OPEN = ("", "..")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)
EARLIEST = datetime(1, 1, 1, tzinfo=UTC).timestamp()
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp() + 0.999
DAY = 86400.0
END_OF_DAY = DAY - 1e-3  # a date covers its day up to the last millisecond


def parse_instant(text: str) -> tuple[float, float]:
    """Parse a date or an RFC 3339 date-time into the span of seconds it covers.

    Raises ``ValueError`` with a reason a client can act on.
    """
    value = text.strip()
    try:
        if _DATE.match(value):
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
            span = (start, start + END_OF_DAY)
        elif _DATE_TIME.match(value):
            moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
            seconds = moment.timestamp()
            span = (seconds, seconds)
        else:
            raise ValueError("use a date (2026-11-28) or a date-time with offset (…T06:00:00Z)")
    except (ValueError, OverflowError) as exc:
        if "use a date" in str(exc):
            raise ValueError(f"{text!r} is not an RFC 3339 date or date-time: {exc}") from None
        raise ValueError(f"{text!r} is not a valid date or time") from None
    if span[0] < EARLIEST or span[1] > LATEST:
        raise ValueError(f"{text!r} is outside the years 1 to 9999 (UTC)")
    return span


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
    """POSIX seconds to an aware UTC datetime (``None`` when absent or out of range)."""
    if seconds is None or not EARLIEST <= seconds <= LATEST:
        return None
    return datetime.fromtimestamp(min(seconds, LATEST - 0.999), tz=UTC)


def rfc3339(moment: datetime | None) -> str | None:
    """An aware datetime as RFC 3339 text with ``Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# How the ``cql2`` package reads a time written in a filter or held by a property (its
# ``parse_ts``): a space may stand for the ``T``, and a shortened form is completed with the
# start of its year, month, day, hour or minute, in UTC.
_CQL2_COMPLETION = {
    4: "-01-01T00:00:00Z",
    7: "-01T00:00:00Z",
    10: "T00:00:00Z",
    13: ":00:00Z",
    16: ":00Z",
    19: "Z",
}
_CQL2_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


def cql2_seconds(text: str) -> float:
    """The instant a CQL2 time denotes, as POSIX seconds; raises ``ValueError``.

    ``2026-11-28`` is midnight UTC (a ``DATE`` widens it to the day, not this function), and
    ``2026-11-28 06:17`` the minute's start, as ``cql2``'s evaluator reads them.
    """
    value = text.replace(" ", "T")
    value += _CQL2_COMPLETION.get(len(value), "")
    if not _CQL2_TIME.match(value):
        raise ValueError(f"{text!r} is not a date or an RFC 3339 time (2026-11-28T06:17:00Z)")
    try:
        seconds = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError):
        raise ValueError(f"{text!r} is not a valid date or time") from None
    if not EARLIEST <= seconds <= LATEST:
        raise ValueError(f"{text!r} is outside the years 1 to 9999 (UTC)")
    return seconds


def is_cql2_date(text: str) -> bool:
    """Whether ``cql2`` reads a time value as a calendar day rather than an instant: a value
    without a time part (no ``T`` or space), in the interval relations beside a ``DATE``."""
    return "T" not in text and " " not in text
