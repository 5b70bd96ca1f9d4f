"""``EventStore`` reads, clocks, reopening and the writer's state cache."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec
import pytest

from eventstore import (
    EventStore,
    ExecutionCancelRequested,
    ExecutionNotFound,
    ExecutionQueued,
    ExecutionStarted,
    InvalidEvent,
    NewEvent,
    NodeCompleted,
    NodeStarted,
    RecordedEvent,
    RuleViolation,
)
from eventstore import writer as writer_module
from tests.eventstore.helpers import queued, running

# --- clocks -----------------------------------------------------------------


async def test_occurred_at_given_is_kept_and_absent_is_the_store_clock(store: EventStore) -> None:
    created = await store.create_execution(ExecutionQueued(workflow_id="wf"), occurred_at=123)
    execution_id = created.execution_id
    await store.append(execution_id, [NewEvent(data=ExecutionStarted(), occurred_at=456)])
    before = time.time_ns() // 1000
    await store.append(execution_id, [NodeStarted(node_id="n")])
    after = time.time_ns() // 1000
    first, second, third = await store.read_execution(execution_id)
    assert (first.occurred_at, second.occurred_at) == (123, 456)
    assert before <= third.occurred_at <= after


async def test_recorded_at_never_goes_backwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readings: list[int] = []

    def falling_clock() -> int:
        # Each reading a second earlier than the last: only the writer keeps order.
        readings.append(time.time_ns() // 1000 - 1_000_000 * len(readings))
        return readings[-1]

    monkeypatch.setattr(writer_module, "now_us", falling_clock)
    path = tmp_path / "x.db"
    for _ in range(2):  # the second round starts from the file's last recorded_at
        async with EventStore(path) as store:
            execution_id = await running(store)
            await store.append(execution_id, [NodeStarted(node_id="n")])
    async with EventStore(path) as store:
        log = await store.read_all()
    assert len(readings) >= 6
    assert [e.position for e in log] == [1, 2, 3, 4, 5, 6]
    assert [e.recorded_at for e in log] == [readings[0]] * 6


# --- reads ------------------------------------------------------------------


async def test_read_execution_returns_the_version_range(store: EventStore) -> None:
    mine, other = await running(store), await running(store)
    for node in "abcd":
        await store.append(mine, [NodeStarted(node_id=node)])
        await store.append(other, [NodeStarted(node_id=node)])
    ranges = {
        (2, 4): [2, 3, 4],
        (5, None): [5, 6],
        (1, None): [1, 2, 3, 4, 5, 6],
        (7, None): [],
        (3, 3): [3],
    }
    for (start, end), versions in ranges.items():
        events = await store.read_execution(mine, start, end)
        assert [e.version for e in events] == versions
        assert {e.execution_id for e in events} <= {mine}


async def test_read_unknown_execution(store: EventStore) -> None:
    await queued(store)
    with pytest.raises(ExecutionNotFound):
        await store.read_execution(2)


async def test_read_all_pages_through_the_log(store: EventStore) -> None:
    ids = [await running(store) for _ in range(4)]
    for node in "abc":
        await asyncio.gather(*[store.append(x, [NodeStarted(node_id=node)]) for x in ids])
    assert store.head == 20
    pages: list[list[RecordedEvent]] = []
    position = 0
    while page := await store.read_all(position, limit=7):
        pages.append(page)
        position = page[-1].position
    assert [len(p) for p in pages] == [7, 7, 6]
    assert [e.position for p in pages for e in p] == list(range(1, 21))
    assert [e for p in pages for e in p] == await store.read_all(0)
    assert [e.position for e in await store.read_all(18)] == [19, 20]


async def test_stored_json_is_returned_byte_for_byte(store: EventStore) -> None:
    execution_id = await running(store)
    raw = b'{"b": [1, 2.50],  "a": null}'
    await store.append(execution_id, [NodeStarted(node_id="n", input=msgspec.Raw(raw))])
    (event,) = await store.read_execution(execution_id, 3)
    assert raw in bytes(event.data)
    payload = event.payload()
    assert isinstance(payload, NodeStarted)
    assert bytes(payload.input) == raw


# --- reopening and the state cache ------------------------------------------


async def test_reopened_store_continues_the_log(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    async with EventStore(path) as store:
        started = await running(store)
        waiting_to_start = await queued(store)
        await store.append(started, [NodeStarted(node_id="n")])
        head = store.head
    async with EventStore(path) as store:
        assert store.head == head == 4
        assert await queued(store) == 3
        with pytest.raises(RuleViolation) as twice:
            await store.append(started, [ExecutionStarted()])
        assert twice.value.rule == "execution.start_requires_queued"
        done = await store.append(started, [NodeCompleted(node_id="n")])
        assert (done.version, done.positions) == (4, (6,))
        with pytest.raises(RuleViolation) as again:
            await store.append(started, [NodeCompleted(node_id="n")])
        assert again.value.rule == "node.already_finished"
        assert (await store.append(waiting_to_start, [ExecutionStarted()])).version == 2
        report = await store.verify()
    assert (report.ok, report.checked, report.last_position) == (True, 7, 7)


async def test_states_evicted_from_the_cache_still_obey_the_rules(tmp_path: Path) -> None:
    async with EventStore(tmp_path / "x.db", state_cache=2) as store:
        ids = [await running(store) for _ in range(6)]
        for execution_id in ids:
            await store.append(execution_id, [NodeStarted(node_id="n")])
        for execution_id in ids[:3]:
            with pytest.raises(RuleViolation) as twice:
                await store.append(execution_id, [ExecutionStarted()])
            assert twice.value.rule == "execution.start_requires_queued"
            with pytest.raises(RuleViolation) as busy:
                await store.append(execution_id, [NodeStarted(node_id="n", attempt=2)])
            assert busy.value.rule == "node.already_running"
            done = await store.append(execution_id, [NodeCompleted(node_id="n")])
            assert done.version == 4
        report = await store.verify()
    assert (report.ok, report.checked) == (True, 6 * 3 + 3)


async def test_raw_field_that_is_not_json_is_refused(store: EventStore) -> None:
    execution_id = await running(store)
    broken = NodeStarted(node_id="n", input=msgspec.Raw(b"{not json"))
    with pytest.raises(InvalidEvent) as refused:
        await store.append(execution_id, [ExecutionCancelRequested(), broken])
    assert refused.value.field == "events[1].data"
    assert store.head == 2


async def test_last_execution_id_counts_committed_creates(store: EventStore) -> None:
    assert store.last_execution_id == 0
    first = await store.create_execution(ExecutionQueued(workflow_id="wf"))
    second = await store.create_execution(ExecutionQueued(workflow_id="wf"))
    assert (first.execution_id, second.execution_id) == (1, 2)
    assert store.last_execution_id == 2
    await store.create_execution(ExecutionQueued(workflow_id="wf", external_id="x"))
    await store.create_execution(ExecutionQueued(workflow_id="wf", external_id="x"))
    assert store.last_execution_id == 3  # a known external id creates nothing
