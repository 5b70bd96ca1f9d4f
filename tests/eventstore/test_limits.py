"""The store's limits: each refused before anything is written, naming the
field and the limit; and the JSON depth check, against a plain reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventstore import (
    EventData,
    EventStore,
    ExecutionQueued,
    ExecutionStarted,
    LimitExceeded,
    Limits,
    NewEvent,
    NodeCompleted,
    NodeStarted,
    json_value,
)
from eventstore.limits import nested_deeper_than


def nested(depth: int, leaf: Any = 1) -> Any:
    """Arrays and objects in turn, ``depth`` levels deep."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def nested_raw(depth: int) -> bytes:
    """``nested(depth)`` as JSON, written without a recursive encoder."""
    opens = ["[" if level % 2 else '{"k":' for level in range(depth)]
    closes = ["]" if level % 2 else "}" for level in range(depth)]
    return ("".join(reversed(opens)) + "1" + "".join(closes)).encode()


def reference_depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((reference_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((reference_depth(v) for v in value.values()), default=0)
    return 0


# Strings full of what the check must not count: brackets, quotes, escapes.
_TRICKY_TEXT = st.text(alphabet='[]{}"\\ ab\n\u00e9', max_size=12)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TRICKY_TEXT, inner, max_size=4),
    max_leaves=60,
)


@settings(max_examples=300, deadline=None)
@given(value=_JSON, limit=st.integers(0, 12))
def test_the_depth_check_agrees_with_a_plain_walk(value: Any, limit: int) -> None:
    for raw in (json.dumps(value).encode(), json.dumps(value, indent=1).encode()):
        assert nested_deeper_than(raw, limit) == (reference_depth(value) > limit)


@pytest.mark.parametrize("depth", [63, 64, 65, 100, 5000])
def test_the_depth_limit_is_exact(depth: int) -> None:
    raw = nested_raw(depth)
    if depth < 500:
        assert msgspec.json.decode(raw) == nested(depth)
    assert nested_deeper_than(raw, 64) == (depth > 64)


def test_brackets_in_strings_do_not_count() -> None:
    raw = json.dumps({"text": "[[[[{{{{" * 100, "escaped": '\\"[[[' * 50}).encode()
    assert not nested_deeper_than(raw, 1)
    assert nested_deeper_than(json.dumps([["]]]]]]"]]).encode(), 1)


@pytest.fixture
async def limited(tmp_path: Path) -> Any:
    limits = Limits(
        events_per_append=4, events_per_execution=6, execution_bytes=600, event_bytes=300
    )
    async with EventStore(tmp_path / "l.db", limits=limits) as store:
        yield store


async def test_a_create_or_append_of_too_many_events_is_refused(limited: EventStore) -> None:
    nodes: list[EventData] = [
        NodeStarted(node_id="a"),
        NodeCompleted(node_id="a"),
        NodeStarted(node_id="b"),
    ]
    with pytest.raises(LimitExceeded) as refused:
        await limited.create_execution(
            ExecutionQueued(workflow_id="w"), [ExecutionStarted(), *nodes]
        )
    assert (refused.value.field, refused.value.limit) == ("events", "events_per_append")
    assert limited.head == 0
    created = await limited.create_execution(ExecutionQueued(workflow_id="w"))
    with pytest.raises(LimitExceeded, match="at most 4 events, not 5"):
        await limited.append(created.execution_id, [ExecutionStarted(), *nodes, *nodes[:1]])
    assert limited.head == 1


async def test_an_execution_past_its_events_is_refused_but_a_resend_is_not(
    limited: EventStore,
) -> None:
    created = await limited.create_execution(ExecutionQueued(workflow_id="w"))
    first: list[EventData] = [NodeStarted(node_id="a"), NodeCompleted(node_id="a")]
    await limited.append(created.execution_id, [ExecutionStarted()])
    resent = [NewEvent(data=d, event_id=f"e{i}") for i, d in enumerate(first)]
    await limited.append(created.execution_id, resent)
    await limited.append(created.execution_id, [NodeStarted(node_id="b", attempt=1)])
    with pytest.raises(LimitExceeded) as refused:
        retry = NodeStarted(node_id="a", attempt=2)
        await limited.append(created.execution_id, [NodeCompleted(node_id="b"), retry])
    assert refused.value.limit == "events_per_execution"
    assert "at most 6 events; this would make 7" in str(refused.value)
    assert limited.head == 5
    again = await limited.append(created.execution_id, resent)  # recorded already: idempotent
    assert again.duplicate


async def test_an_event_past_its_bytes_is_refused(limited: EventStore) -> None:
    created = await limited.create_execution(ExecutionQueued(workflow_id="w"))
    await limited.append(created.execution_id, [ExecutionStarted()])
    big = NodeStarted(node_id="a", input=json_value("x" * 300))
    with pytest.raises(LimitExceeded) as refused:
        await limited.append(created.execution_id, [NodeStarted(node_id="b"), big])
    assert (refused.value.field, refused.value.limit) == ("events[1].data", "event_bytes")
    assert limited.head == 2


async def test_an_execution_past_its_bytes_is_refused_after_a_reopen(tmp_path: Path) -> None:
    limits = Limits(execution_bytes=400)
    step = NodeStarted(node_id="a", input=json_value("x" * 100))
    async with EventStore(tmp_path / "b.db", limits=limits) as store:
        created = await store.create_execution(ExecutionQueued(workflow_id="w"))
        await store.append(created.execution_id, [ExecutionStarted(), step])
    # Reopened: the writer counts the bytes already in the file.
    async with EventStore(tmp_path / "b.db", limits=limits) as store:
        await store.append(created.execution_id, [NodeCompleted(node_id="a")])
        with pytest.raises(LimitExceeded) as refused:
            await store.append(created.execution_id, [msgspec.structs.replace(step, attempt=2)])
        assert refused.value.limit == "execution_bytes"
        assert store.head == 4


async def test_json_nested_too_deep_is_refused_naming_the_field(store: EventStore) -> None:
    deep = json_value(nested(65))
    with pytest.raises(LimitExceeded) as refused:
        await store.create_execution(ExecutionQueued(workflow_id="w", input=deep))
    assert (refused.value.field, refused.value.limit) == ("queued.input", "json_depth")
    created = await store.create_execution(
        ExecutionQueued(workflow_id="w", input=json_value(nested(64)))
    )
    await store.append(created.execution_id, [ExecutionStarted(), NodeStarted(node_id="a")])
    # Far deeper than the stack allows a decoder: refused all the same, not a crash.
    deeper = msgspec.Raw(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(LimitExceeded) as refused:
        await store.append(created.execution_id, [NodeCompleted(node_id="a", output=deeper)])
    assert refused.value.field == "events[0].data.output"
    assert store.head == 3
