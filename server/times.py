"""Timestamps on the wire: ISO 8601 in UTC with milliseconds, to and from the
store's integer microseconds since the epoch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# The range ISO 8601 years 1..9999 cover, in microseconds since the epoch.
MIN_US: Final = int((datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1))
MAX_US: Final = int(
    (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
)


def iso_ms(us: int) -> str:
    """``2026-11-22T10:00:00.123Z``: milliseconds, truncated toward the past.

    Only an in-process producer can record a clock outside years 1..9999;
    such a time is shown at the nearest end of that range rather than failing
    the whole response.
    """
    us = min(max(us, MIN_US), MAX_US)
    moment = _EPOCH + timedelta(microseconds=us - us % 1000)
    m = moment
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f".{m.microsecond // 1000:03d}Z"
    )


def iso_ms_or_none(us: int | None) -> str | None:
    return None if us is None else iso_ms(us)


def parse_iso(text: str) -> int:
    """Microseconds since the epoch of an ISO 8601 date-time with an offset
    (``Z`` or ``+09:00``), or of a plain date (midnight UTC). Raises ``ValueError``.

    A date-time without an offset is refused: guessing the zone would shift
    an audit's window by hours without a word.
    """
    if not 10 <= len(text) <= 40:
        raise ValueError("expected an ISO 8601 date-time such as 2026-11-22T10:00:00.000Z")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            "expected an ISO 8601 date-time such as 2026-11-22T10:00:00.000Z"
        ) from None
    if len(text) == 10:
        moment = moment.replace(tzinfo=UTC)
    if moment.tzinfo is None:
        raise ValueError("needs a UTC offset, such as Z or +09:00")
    us: int = (moment - _EPOCH) // timedelta(microseconds=1)
    if not MIN_US <= us <= MAX_US:
        raise ValueError("must fall within the years 1 to 9999 in UTC")
    return us
