"""Timestamps on the wire: ISO 8601 in UTC with milliseconds, to and from the
store's integer microseconds since the epoch."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# The range ISO 8601 years 1..9999 cover, in microseconds since the epoch.
MIN_US: Final = int((datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1))
MAX_US: Final = int(
    (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)
)


def iso_ms(us: int) -> str:
    """``2026-11-22T10:00:00.123Z``: milliseconds, truncated toward the past.

    Only an in-process producer can record a clock outside years 1..9999;
    such a time is shown at the nearest end of that range rather than failing
    the whole response.
    """
    us = min(max(us, MIN_US), MAX_US)
    moment = EPOCH + timedelta(microseconds=us - us % 1000)
    m = moment
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f".{m.microsecond // 1000:03d}Z"
    )


def iso_ms_or_none(us: int | None) -> str | None:
    return None if us is None else iso_ms(us)


# A "+09:00" offset sent unencoded in a query string arrives as " 09:00".
_PLUS_AS_SPACE: Final = re.compile(r"T\d\d(:\d\d){0,2}(\.\d+)? \d\d(:?\d\d)?$")
_EXAMPLE: Final = "2026-11-22T10:00:00Z, 2026-11-22T19:00:00+09:00 or 2026-11-22"


class TimeRefused(ValueError):
    """A time that is not one: the message shows how to write it; ``rule``
    names which part of the policy it broke."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


def parse_iso(text: str) -> int:
    """Microseconds since the epoch of an ISO 8601 date-time with an offset
    (``Z`` or ``+09:00``), or of a plain date (midnight UTC). Raises
    ``TimeRefused``, whose message quotes ``text`` and shows how to write it.

    A date-time without an offset is refused: guessing the zone would shift
    an audit's window by hours without a word.
    """
    if not 10 <= len(text) <= 40:
        raise TimeRefused(f"expected an ISO 8601 date-time or date, such as {_EXAMPLE}", "iso8601")
    if _PLUS_AS_SPACE.search(text):
        encoded = text[::-1].replace(" ", "B2%", 1)[::-1]
        message = (
            f"{text!r} has a space where its offset's '+' was: in a URL a '+' means a"
            f" space, so write the '+' as %2B ({encoded}), or use Z"
        )
        raise TimeRefused(message, "plus_encoded_as_2B")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        message = f"{text!r} is not an ISO 8601 date-time; write, for example, {_EXAMPLE}"
        raise TimeRefused(message, "iso8601") from None
    if len(text) == 10:
        moment = moment.replace(tzinfo=UTC)
    if moment.tzinfo is None:
        message = (
            f"{text!r} has no UTC offset, so its zone would be a guess: write {text}Z"
            f" for UTC, or its offset, such as {text}+09:00"
        )
        raise TimeRefused(message, "offset_required")
    us: int = (moment - EPOCH) // timedelta(microseconds=1)
    if not MIN_US <= us <= MAX_US:
        raise TimeRefused("must fall within the years 1 to 9999 in UTC", "years_1_to_9999")
    return us


def utc_offset(text: str) -> timedelta:
    """The offset ``+09:00`` (or ``-05:30``, ``+00:00``) names. Raises ``ValueError``.

    Exactly ``±HH:MM``, as a dialect prints it: a setting that would print
    something else is refused when the app is built, not at the first request.
    """
    sign, hours, colon, minutes = text[:1], text[1:3], text[3:4], text[4:]
    if (
        len(text) != 6
        or sign not in "+-"
        or colon != ":"
        or not (hours + minutes).isascii()
        or not (hours + minutes).isdigit()
        or int(hours) > 23
        or int(minutes) > 59
    ):
        raise ValueError(f"expected a UTC offset such as +09:00, not {text!r}")
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    return -offset if sign == "-" else offset


def iso_seconds_at(us: int, offset: timedelta) -> str:
    """``2026-05-07T10:00:00+09:00``: the local time at ``offset``, in whole
    seconds truncated toward the past, as the seed dialects print times.

    The local time is kept within years 1..9999 (see ``iso_ms``), so an
    extreme clock shifted by the offset still prints rather than failing.
    """
    step = 1_000_000
    local = min(max(us + offset // timedelta(microseconds=1), MIN_US), MAX_US)
    m = EPOCH + timedelta(microseconds=local - local % step)
    minutes = int(abs(offset) // timedelta(minutes=1))
    sign = "-" if offset < timedelta(0) else "+"
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    )
