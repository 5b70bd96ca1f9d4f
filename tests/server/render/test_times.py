"""Wire times: ISO 8601 UTC with milliseconds, to and from microseconds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.render.times import (
    MAX_US,
    MIN_US,
    TimeRefused,
    iso_ms,
    iso_seconds_at,
    parse_iso,
    utc_offset,
)


@given(st.integers(MIN_US, MAX_US))
def test_a_printed_time_parses_back_to_its_millisecond(us: int) -> None:
    text = iso_ms(us)
    assert len(text) == len("2026-11-22T10:00:00.123Z")
    assert text.endswith("Z")
    assert parse_iso(text) == us - us % 1000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00.000Z", 0),
        ("1970-01-01T09:00:00+09:00", 0),
        ("1970-01-01T00:00:00.000001Z", 1),
        ("1970-01-02", 86_400_000_000),
        ("1969-12-31T23:59:59.999Z", -1000),
    ],
)
def test_offsets_and_dates(text: str, expected: int) -> None:
    assert parse_iso(text) == expected


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("yesterday", "iso8601"),
        ("", "iso8601"),
        ("2026-13-01T00:00:00Z", "iso8601"),
        ("2026-11-22T10:00:00", "offset_required"),
        ("2026-11-22 10:00", "offset_required"),
        ("2026-11-22T10:00:00 09:00", "plus_encoded_as_2B"),
        ("2026-11-22T10:00:00.5 0900", "plus_encoded_as_2B"),
        ("0001-01-01T00:00:00+01:00", "years_1_to_9999"),
    ],
)
def test_unclear_or_impossible_times_are_refused_by_rule(text: str, rule: str) -> None:
    with pytest.raises(TimeRefused) as refused:
        parse_iso(text)
    assert refused.value.rule == rule


def test_out_of_range_clocks_print_at_the_nearest_end() -> None:
    assert iso_ms(2**63 - 1) == "9999-12-31T23:59:59.999Z"
    assert iso_ms(-(2**63)) == "0001-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    ("us", "offset", "expected"),
    [
        (0, "+09:00", "1970-01-01T09:00:00+09:00"),
        (999_999, "+00:00", "1970-01-01T00:00:00+00:00"),
        (-1, "+00:00", "1969-12-31T23:59:59+00:00"),
        (0, "-05:30", "1969-12-31T18:30:00-05:30"),
        (MIN_US, "-23:59", "0001-01-01T00:00:00-23:59"),
        (MAX_US, "+23:59", "9999-12-31T23:59:59+23:59"),
    ],
)
def test_times_print_at_an_offset_in_whole_seconds(us: int, offset: str, expected: str) -> None:
    assert iso_seconds_at(us, utc_offset(offset)) == expected


@given(st.integers(MIN_US + 86_400_000_000, MAX_US - 86_400_000_000), st.integers(-1439, 1439))
def test_an_offset_time_parses_back_to_its_second(us: int, minutes: int) -> None:
    text = iso_seconds_at(us, timedelta(minutes=minutes))
    assert parse_iso(text) == us - us % 1_000_000


@pytest.mark.parametrize("text", ["", "Z", "09:00", "+9:00", "+09:60", "+24:00", "+0900", "+٠٩:00"])
def test_unclear_offsets_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="offset"):
        utc_offset(text)
