"""``EventStore`` writes: creation, appends, idempotency and batching."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest

from eventstore import (
    AppendResult,
    CreatedExecution,
    EventData,
    EventStore,
    ExecutionCancelRequested,
    ExecutionNotFound,
    ExecutionQueued,
    ExecutionResumed,
    ExecutionStarted,
    IdempotencyConflict,
    InvalidEvent,
    NewEvent,
    NodeCompleted,
    NodeStarted,
    RuleViolation,
    VersionConflict,
)
from tests.eventstore.helpers import event_ids, queued, running

# --- create_execution -------------------------------------------------------


async def test_create_assigns_sequential_ids_and_a_uuid4(store: EventStore) -> None:
    created = [await store.create_execution(ExecutionQueued(workflow_id="wf")) for _ in range(3)]
    assert [c.execution_id for c in created] == [1, 2, 3]
    assert [c.position for c in created] == [1, 2, 3]
    assert all(c.created for c in created)
    assert len({c.uuid for c in created}) == 3
    for c in created:
        assert uuid.UUID(c.uuid).version == 4
        assert str(uuid.UUID(c.uuid)) == c.uuid
        (first,) = await store.read_execution(c.execution_id)
        payload = first.payload()
        assert isinstance(payload, ExecutionQueued)
        assert payload.uuid == c.uuid


async def test_known_external_id_returns_the_existing_execution(store: EventStore) -> None:
    first = await store.create_execution(ExecutionQueued(workflow_id="a", external_id="ext-1"))
    again = await store.create_execution(ExecutionQueued(workflow_id="b", external_id="ext-1"))
    assert first.created
    assert not again.created
    assert (again.execution_id, again.uuid, again.position) == (
        first.execution_id,
        first.uuid,
        first.position,
    )
    assert store.head == 1
    assert len(await store.read_all()) == 1
    assert await store.find_external("ext-1") == first.execution_id
    assert await store.find_external("ext-2") is None
    assert await store.find_uuid(first.uuid) == first.execution_id
    assert await store.find_uuid("ext-1") is None


async def test_concurrent_creates_with_one_new_external_id(store: EventStore) -> None:
    both = await asyncio.gather(
        *[store.create_execution(ExecutionQueued(workflow_id="wf", external_id="x")) for _ in "ab"]
    )
    assert sorted(c.created for c in both) == [False, True]
    assert both[0].execution_id == both[1].execution_id
    assert both[0].uuid == both[1].uuid
    assert store.head == 1


async def test_retry_of_unknown_execution_is_refused(store: EventStore) -> None:
    original = await queued(store)
    with pytest.raises(RuleViolation) as refused:
        await store.create_execution(ExecutionQueued(workflow_id="wf", retry_of=99))
    assert refused.value.rule == "execution.retry_of_unknown"
    assert store.head == 1
    # The refused create consumed no id.
    retry = await store.create_execution(ExecutionQueued(workflow_id="wf", retry_of=original))
    assert (retry.execution_id, retry.position) == (2, 2)


# --- append -----------------------------------------------------------------


async def test_append_to_unknown_execution(store: EventStore) -> None:
    await queued(store)
    with pytest.raises(ExecutionNotFound) as missing:
        await store.append(42, [ExecutionStarted()])
    assert missing.value.execution_id == 42
    assert store.head == 1


async def test_empty_append_is_invalid(store: EventStore) -> None:
    execution_id = await queued(store)
    with pytest.raises(InvalidEvent) as invalid:
        await store.append(execution_id, [])
    assert invalid.value.field == "events"


@pytest.mark.parametrize("bad_id", ["", "x" * 201])
async def test_event_id_length_is_checked(store: EventStore, bad_id: str) -> None:
    execution_id = await running(store)
    events = [
        NewEvent(data=ExecutionCancelRequested(), event_id="fine"),
        NewEvent(data=ExecutionCancelRequested(), event_id=bad_id),
    ]
    with pytest.raises(InvalidEvent) as invalid:
        await store.append(execution_id, events)
    assert invalid.value.field == "events[1].event_id"
    assert store.head == 2


async def test_event_id_of_200_characters_is_accepted(store: EventStore) -> None:
    execution_id = await running(store)
    longest = "y" * 200
    await store.append(execution_id, [NewEvent(data=ExecutionCancelRequested(), event_id=longest)])
    assert (await event_ids(store))[-1] == longest


async def test_stale_expected_version_writes_nothing(store: EventStore) -> None:
    execution_id = await running(store)
    with pytest.raises(VersionConflict) as stale:
        await store.append(execution_id, [NodeStarted(node_id="n")], expected_version=1)
    assert (stale.value.expected, stale.value.current) == (1, 2)
    assert store.head == 2
    result = await store.append(execution_id, [NodeStarted(node_id="n")], expected_version=2)
    assert (result.version, result.positions) == (3, (3,))


async def test_rule_violation_in_second_event_writes_nothing(store: EventStore) -> None:
    execution_id = await running(store)
    with pytest.raises(RuleViolation) as refused:
        await store.append(execution_id, [NodeStarted(node_id="n"), NodeStarted(node_id="n")])
    assert (refused.value.rule, refused.value.index) == ("node.already_running", 1)
    assert store.head == 2
    assert len(await store.read_execution(execution_id)) == 2
    # Had the first event reached the execution's state, this would be refused.
    result = await store.append(execution_id, [NodeStarted(node_id="n")])
    assert (result.version, result.positions) == (3, (3,))


# --- idempotency ------------------------------------------------------------


def node_pair() -> list[EventData | NewEvent]:
    """A re-send of these breaks the rules, so the writer checks ids first."""
    return [
        NewEvent(data=NodeStarted(node_id="n"), event_id="id-1"),
        NewEvent(data=NodeCompleted(node_id="n"), event_id="id-2"),
    ]


def cancel_pair() -> list[EventData | NewEvent]:
    """A re-send of these obeys the rules, so only the UNIQUE event_id catches it."""
    return [
        NewEvent(data=ExecutionCancelRequested(by="a"), event_id="id-1"),
        NewEvent(data=ExecutionCancelRequested(by="b"), event_id="id-2"),
    ]


@pytest.mark.parametrize(
    ("events", "expected_version"),
    [(node_pair, None), (cancel_pair, None), (cancel_pair, 2)],
    ids=["rules-refuse-resend", "rules-allow-resend", "stale-expected-version"],
)
async def test_resend_returns_the_original_positions(
    store: EventStore,
    events: Callable[[], list[EventData | NewEvent]],
    expected_version: int | None,
) -> None:
    execution_id = await running(store)
    await running(store)  # positions of the append differ from its versions
    original = await store.append(execution_id, events(), expected_version=expected_version)
    assert (original.positions, original.version, original.duplicate) == ((5, 6), 4, False)
    again = await store.append(execution_id, events(), expected_version=expected_version)
    assert again == AppendResult(execution_id, 4, (5, 6), duplicate=True)
    assert store.head == 6


async def test_same_event_id_with_other_content_conflicts(store: EventStore) -> None:
    first, second = await running(store), await running(store)
    await store.append(first, [NewEvent(data=ExecutionCancelRequested(by="a"), event_id="k")])
    other_data = [NewEvent(data=ExecutionCancelRequested(by="z"), event_id="k")]
    other_execution = [NewEvent(data=ExecutionCancelRequested(by="a"), event_id="k")]
    for execution_id, events in ((first, other_data), (second, other_execution)):
        with pytest.raises(IdempotencyConflict) as conflict:
            await store.append(execution_id, events)
        assert conflict.value.event_id == "k"
    assert store.head == 5


async def test_recorded_and_new_event_ids_in_one_append_conflict(store: EventStore) -> None:
    execution_id = await running(store)
    await store.append(execution_id, [NewEvent(data=NodeStarted(node_id="n"), event_id="old")])
    mixed = [
        NewEvent(data=NodeStarted(node_id="n"), event_id="old"),
        NewEvent(data=NodeCompleted(node_id="n"), event_id="new"),
    ]
    with pytest.raises(IdempotencyConflict):
        await store.append(execution_id, mixed)
    assert store.head == 3
    assert "new" not in await event_ids(store)


async def test_one_event_id_raced_into_two_executions(store: EventStore) -> None:
    first, second = await running(store), await running(store)
    outcomes = await asyncio.gather(
        *[
            store.append(x, [NewEvent(data=ExecutionCancelRequested(), event_id="shared")])
            for x in (first, second)
        ],
        return_exceptions=True,
    )
    won = [o for o in outcomes if isinstance(o, AppendResult)]
    lost = [o for o in outcomes if isinstance(o, IdempotencyConflict)]
    assert (len(won), len(lost)) == (1, 1)
    assert (await event_ids(store)).count("shared") == 1
    (recorded,) = [e for e in await store.read_all() if e.event_id == "shared"]
    assert (recorded.execution_id, recorded.position) == (won[0].execution_id, 5)


@pytest.mark.parametrize("events", [node_pair, cancel_pair], ids=["node", "cancel"])
async def test_identical_concurrent_appends_agree(
    store: EventStore, events: Callable[[], list[EventData | NewEvent]]
) -> None:
    execution_id = await running(store)
    both = await asyncio.gather(*[store.append(execution_id, events()) for _ in "ab"])
    assert both[0].positions == both[1].positions == (3, 4)
    assert sorted(r.duplicate for r in both) == [False, True]
    assert store.head == 4


async def test_event_id_repeated_within_one_append_is_refused(store: EventStore) -> None:
    execution_id = await running(store)
    twice = [NewEvent(data=ExecutionCancelRequested(), event_id="dup") for _ in "ab"]
    with pytest.raises(InvalidEvent) as refused:
        await store.append(execution_id, twice)
    assert refused.value.field == "events[1].event_id"
    assert store.head == 2


# --- batches ----------------------------------------------------------------


async def test_one_bad_append_fails_alone_in_a_batch(store: EventStore) -> None:
    ids = [await running(store) for _ in range(8)]
    await store.append(ids[0], [NewEvent(data=ExecutionCancelRequested(), event_id="taken")])
    appends: list[list[EventData | NewEvent]] = [[NodeStarted(node_id="n")] for _ in ids]
    appends[3] = [ExecutionResumed()]  # refused by the rules while preparing the batch
    appends[5] = [NewEvent(data=NodeStarted(node_id="n"), event_id="taken")]  # refused by SQL
    outcomes = await asyncio.gather(
        *[store.append(x, events) for x, events in zip(ids, appends, strict=True)],
        return_exceptions=True,
    )
    expected: list[type] = [AppendResult] * len(ids)
    expected[3], expected[5] = RuleViolation, IdempotencyConflict
    assert [type(o) for o in outcomes] == expected
    for index, execution_id in enumerate(ids):
        types = [e.type for e in await store.read_execution(execution_id, from_version=3)]
        written = index not in (3, 5)
        assert ("node.started" in types) is written
    assert store.head == 16 + 1 + 6


# --- create with initial events ----------------------------------------------


async def test_create_with_events_is_one_atomic_write(store: EventStore) -> None:
    created = await store.create_execution(
        ExecutionQueued(workflow_id="wf"),
        [ExecutionStarted(), NodeStarted(node_id="n"), NodeCompleted(node_id="n", tokens=3)],
    )
    assert (created.created, created.version, created.position) == (True, 4, 1)
    events = await store.read_execution(created.execution_id)
    assert [e.type for e in events] == [
        "execution.queued",
        "execution.started",
        "node.started",
        "node.completed",
    ]
    assert len({e.recorded_at for e in events}) == 1  # one transaction


async def test_created_execution_carries_the_events_as_committed(store: EventStore) -> None:
    # Creates, appends and a known external id in one batch: each new
    # execution gets exactly its own slice of the batch, as read back.
    existing = await running(store)
    known = await store.create_execution(ExecutionQueued(workflow_id="wf", external_id="k"))

    def create(n: int) -> Awaitable[CreatedExecution]:
        both: list[EventData] = [ExecutionStarted(), NodeStarted(node_id="n")]
        rest = both[: n % 3]
        return store.create_execution(ExecutionQueued(workflow_id=f"wf-{n}", team_id="t"), rest)

    calls: list[Awaitable[object]] = []
    for n in range(12):
        calls.append(create(n))
        calls.append(store.append(existing, [NodeStarted(node_id=f"n{n}")]))
    calls.append(store.create_execution(ExecutionQueued(workflow_id="wf", external_id="k")))
    outcomes = await asyncio.gather(*calls)
    created = [o for o in outcomes if isinstance(o, CreatedExecution) and o.created]
    assert len(created) == 12
    for c in created:
        stored = await store.read_execution(c.execution_id)
        assert list(c.events) == stored
        assert [e.version for e in c.events] == list(range(1, c.version + 1))
    again = outcomes[-1]
    assert isinstance(again, CreatedExecution)
    assert (again.created, again.events) == (False, ())
    assert known.events == tuple(await store.read_execution(known.execution_id))


async def test_create_with_events_breaking_a_rule_writes_nothing(store: EventStore) -> None:
    with pytest.raises(RuleViolation) as refused:
        await store.create_execution(
            ExecutionQueued(workflow_id="wf"), [ExecutionStarted(), ExecutionStarted()]
        )
    assert (refused.value.rule, refused.value.index) == ("execution.start_requires_queued", 1)
    assert store.head == 0
    # The refused create consumed no id.
    assert (await store.create_execution(ExecutionQueued(workflow_id="wf"))).execution_id == 1


async def test_retried_create_with_events_returns_the_execution_as_it_is(
    store: EventStore,
) -> None:
    queued_event = ExecutionQueued(workflow_id="wf", external_id="run-7")
    first = await store.create_execution(queued_event, [ExecutionStarted()])
    again = await store.create_execution(queued_event, [ExecutionStarted()])
    assert (again.execution_id, again.created, again.version) == (first.execution_id, False, 2)
    assert store.head == 2


async def test_create_with_a_recorded_event_id_conflicts(store: EventStore) -> None:
    execution_id = await running(store)
    await store.append(execution_id, [NewEvent(data=NodeStarted(node_id="n"), event_id="e-1")])
    head = store.head
    with pytest.raises(IdempotencyConflict):
        await store.create_execution(
            ExecutionQueued(workflow_id="wf"),
            [ExecutionStarted(), NewEvent(data=NodeStarted(node_id="n"), event_id="e-1")],
        )
    assert store.head == head


async def test_create_names_a_repeated_event_id_by_its_index_in_events(
    store: EventStore,
) -> None:
    twice = [NewEvent(data=ExecutionCancelRequested(), event_id="dup") for _ in "ab"]
    with pytest.raises(InvalidEvent) as refused:
        await store.create_execution(ExecutionQueued(workflow_id="wf"), twice)
    assert refused.value.field == "events[1].event_id"
    assert store.head == 0
