"""The event vocabulary on the wire: payload round trips, event ids, raw JSON."""

from __future__ import annotations

import re
import time
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventstore import EventStore, InvalidEvent
from eventstore.events import (
    EVENT_TYPES,
    EventData,
    ExecutionQueued,
    ExecutionStarted,
    ExecutionWaiting,
    NodeCompleted,
    NodeStarted,
    Usage,
    decode_data,
    encode_data,
    json_value,
    new_event_id,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT64 = st.integers(min_value=INT64_MIN, max_value=INT64_MAX)
# NaN and infinities have no JSON spelling (msgspec writes them as null).
FINITE = st.floats(allow_nan=False, allow_infinity=False)
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | INT64 | FINITE | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def strategy_for(kind: msgspec.inspect.Type) -> st.SearchStrategy[Any]:
    """Values for one msgspec field type; an unknown type fails loudly so that a
    new field kind cannot silently escape the round trip."""
    match kind:
        case msgspec.inspect.StrType():
            return st.text()
        case msgspec.inspect.IntType(ge=ge, le=le):
            # The field's own bounds: values outside them are refused on the way in.
            low = INT64_MIN if ge is None else ge
            high = INT64_MAX if le is None else le
            return st.integers(min_value=low, max_value=high)
        case msgspec.inspect.FloatType():
            return FINITE
        case msgspec.inspect.BoolType():
            return st.booleans()
        case msgspec.inspect.NoneType():
            return st.none()
        case msgspec.inspect.RawType():
            return JSON_VALUES.map(json_value)
        case msgspec.inspect.UnionType(types=types):
            return st.one_of([strategy_for(t) for t in types])
        case msgspec.inspect.DictType(key_type=key, value_type=value):
            return st.dictionaries(strategy_for(key), strategy_for(value), max_size=4)
        case msgspec.inspect.StructType(cls=cls, fields=fields):
            return st.builds(cls, **{f.name: strategy_for(f.type) for f in fields})
    raise AssertionError(f"no strategy for field type {kind!r}")


def payloads(cls: type[EventData]) -> st.SearchStrategy[EventData]:
    return strategy_for(msgspec.inspect.type_info(cls))


@pytest.mark.parametrize("wire_name", sorted(EVENT_TYPES))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_payload_type_round_trips(wire_name: str, data: st.DataObject) -> None:
    original = data.draw(payloads(EVENT_TYPES[wire_name]))
    encoded = encode_data(original)
    decoded = decode_data(encoded)
    assert type(decoded) is EVENT_TYPES[wire_name]
    # Raw fields compare by bytes, so equal re-encodings mean every field survived.
    assert encode_data(decoded) == encoded
    assert decoded == original
    assert msgspec.json.decode(encoded)["type"] == wire_name


UUID_SHAPE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def id_millis(event_id: str) -> int:
    return int(event_id.replace("-", "")[:12], 16)


def test_new_event_ids_are_unique_uuid7_shaped_and_carry_the_time() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_event_id() for _ in range(10_000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    misshapen = [i for i in ids if not UUID_SHAPE.match(i)]
    assert misshapen == []
    assert all(before <= id_millis(i) <= after for i in ids)
    # Within a millisecond the counter decides, so ids sort in the order issued.
    assert ids == sorted(ids)


def test_new_event_ids_sort_by_millisecond() -> None:
    first = [new_event_id() for _ in range(200)]
    time.sleep(0.002)
    second = [new_event_id() for _ in range(200)]
    assert max(first) < min(second)


def test_raw_json_is_carried_byte_for_byte() -> None:
    event = NodeCompleted(node_id="n", output=msgspec.Raw(b'{"a": 1}'))
    encoded = encode_data(event)
    assert b'"output":{"a": 1}' in encoded
    decoded = decode_data(encoded)
    assert isinstance(decoded, NodeCompleted)
    assert bytes(decoded.output) == b'{"a": 1}'


@pytest.mark.parametrize(
    "data",
    [
        NodeCompleted(node_id="n", tokens=-1),
        NodeCompleted(node_id="n", tokens=10**12 + 1),
        NodeCompleted(node_id="n", usage=Usage(prompt_tokens=-5)),
        NodeStarted(node_id="n", attempt=2**63),
        ExecutionWaiting(wait_till=-(2**63) - 1),
    ],
)
async def test_integers_out_of_their_bounds_are_refused_before_the_log(
    store: EventStore, data: EventData
) -> None:
    created = await store.create_execution(ExecutionQueued(workflow_id="wf"))
    await store.append(created.execution_id, [ExecutionStarted()])
    with pytest.raises(InvalidEvent) as refused:
        await store.append(created.execution_id, [data])
    assert refused.value.field == "events[0].data"
    assert len(await store.read_execution(created.execution_id)) == 2
