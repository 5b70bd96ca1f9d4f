"""Wire times: ISO 8601 UTC with milliseconds, to and from microseconds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.times import MAX_US, MIN_US, iso_ms, parse_iso


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
    "text",
    ["yesterday", "2026-11-22T10:00:00", "2026-13-01T00:00:00Z", "", "0001-01-01T00:00:00+01:00"],
)
def test_unclear_or_impossible_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso(text)


def test_out_of_range_clocks_print_at_the_nearest_end() -> None:
    assert iso_ms(2**63 - 1) == "9999-12-31T23:59:59.999Z"
    assert iso_ms(-(2**63)) == "0001-01-01T00:00:00.000Z"
