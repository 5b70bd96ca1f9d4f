"""The UUID frame that dify and actions use for integer execution ids."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.dialects.ids import execution_of, uuid_of

IDS = st.integers(min_value=1, max_value=2**62 - 1)


@given(IDS)
def test_every_id_comes_back_from_its_uuid(number: int) -> None:
    text = uuid_of(number)
    assert uuid.UUID(text).version == 8
    assert execution_of(text) == number
    assert execution_of(text.upper()) == number  # UUIDs are case-insensitive


@given(IDS, IDS)
def test_two_ids_never_share_a_uuid(a: int, b: int) -> None:
    assert (uuid_of(a) == uuid_of(b)) == (a == b)


@given(st.uuids())
def test_a_random_uuid_names_no_execution(value: uuid.UUID) -> None:
    assert execution_of(str(value)) is None


@pytest.mark.parametrize("text", ["", "42", "not-a-uuid", "x" * 10_000])
def test_text_that_is_no_uuid_names_no_execution(text: str) -> None:
    assert execution_of(text) is None


def test_the_frame_without_an_id_names_no_execution() -> None:
    zero = uuid_of(1)[:-1] + "0"
    assert execution_of(zero) is None


@pytest.mark.parametrize("number", [0, -1, 2**62])
def test_ids_outside_the_frame_are_refused(number: int) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        uuid_of(number)
