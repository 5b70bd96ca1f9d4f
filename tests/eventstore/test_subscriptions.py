"""Subscriptions: catch-up then live, every event once and in order, and a
stalled subscriber that neither slows writers nor grows without bound."""

from __future__ import annotations

import asyncio
import time

from eventstore import (
    EventStore,
    ExecutionCompleted,
    ExecutionQueued,
    ExecutionStarted,
    NodeCompleted,
    NodeStarted,
    RecordedEvent,
    Subscription,
    SubscriptionFilter,
    json_value,
    reads,
)

WRITERS = 20


async def record_executions(store: EventStore, count: int, workflow: str = "wf") -> None:
    for _ in range(count):
        created = await store.create_execution(ExecutionQueued(workflow_id=workflow))
        execution_id = created.execution_id
        await store.append(execution_id, [ExecutionStarted()])
        for node in ("fetch", "summarise"):
            await store.append(execution_id, [NodeStarted(node_id=node)])
            output = json_value({"node": node})
            await store.append(execution_id, [NodeCompleted(node_id=node, output=output)])
        await store.append(execution_id, [ExecutionCompleted()])


async def collect_until(subscription: Subscription, position: int) -> list[RecordedEvent]:
    seen: list[RecordedEvent] = []
    async for event in subscription:
        seen.append(event)
        if event.position >= position:
            break
    return seen


async def test_every_event_once_in_order_while_20_writers_append(store: EventStore) -> None:
    await record_executions(store, 3)  # a backlog to catch up on before going live
    eager = store.subscribe(0)
    stalled = store.subscribe(0, buffer_size=16)
    writers_done = asyncio.Event()

    async def read_stalled() -> list[RecordedEvent]:
        first = await anext(stalled)  # now attached: it overflows while it waits
        await writers_done.wait()
        return [first, *await collect_until(stalled, store.head)]

    stalled_task = asyncio.create_task(read_stalled())
    eager_task = asyncio.create_task(collect_until(eager, 10**9))
    await asyncio.gather(*[record_executions(store, 5) for _ in range(WRITERS)])
    head = store.head
    writers_done.set()
    stalled_seen = await asyncio.wait_for(stalled_task, 30)
    await asyncio.sleep(0)
    eager_task.cancel()
    await asyncio.gather(eager_task, return_exceptions=True)

    log = await store.read_all(0, limit=head + 1)
    assert [e.position for e in log] == list(range(1, head + 1))
    assert [e.position for e in stalled_seen] == [e.position for e in log]
    assert stalled.resyncs >= 1, "the stalled subscriber should have overflowed"
    await eager.aclose()
    await stalled.aclose()


async def test_eager_subscriber_receives_each_event_exactly_once(store: EventStore) -> None:
    await record_executions(store, 2)
    subscription = store.subscribe(0)
    seen: list[int] = []
    target = [10**9]  # the head, once the writers are done
    caught_up = asyncio.Event()

    async def read() -> None:
        async for event in subscription:
            seen.append(event.position)
            if event.position >= target[0]:
                caught_up.set()

    reader = asyncio.create_task(read())
    await asyncio.gather(*[record_executions(store, 3) for _ in range(WRITERS)])
    target[0] = store.head
    if subscription.position < target[0]:
        await asyncio.wait_for(caught_up.wait(), 30)
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    await subscription.aclose()
    assert seen == list(range(1, store.head + 1))


async def test_stalled_subscriber_does_not_slow_writers_and_stays_bounded(
    store: EventStore,
) -> None:
    buffer_size = 50
    await record_executions(store, 1)
    baseline = await timed_appends(store, None)
    start = store.head - 1  # one event to catch up on, so it is live before it stalls
    subscription = store.subscribe(start, buffer_size=buffer_size)
    await anext(subscription)  # attached and live, then never reads again
    with_stalled = await timed_appends(store, subscription, buffer_size)
    print(
        f"\nappends/s without subscriber {baseline:.0f}, with a stalled one "
        f"{with_stalled:.0f}, ratio {with_stalled / baseline:.2f}"
    )
    # It catches up from the file when it reads again, missing nothing.
    rest = await collect_until(subscription, store.head)
    assert [e.position for e in rest] == list(range(start + 2, store.head + 1))
    assert subscription.resyncs == 1
    await subscription.aclose()


async def timed_appends(
    store: EventStore, stalled: Subscription | None, bound: int = 0, rounds: int = 40
) -> float:
    """Appends per second over ``rounds`` rounds of 25 concurrent executions."""
    started = time.perf_counter()
    for _ in range(rounds):
        await asyncio.gather(*[record_executions(store, 1) for _ in range(25)])
        if stalled is not None:
            assert stalled.buffered <= bound
    return rounds * 25 * 7 / (time.perf_counter() - started)


async def test_filters_apply_to_catch_up_and_live(store: EventStore) -> None:
    await record_executions(store, 2, workflow="a")
    await record_executions(store, 2, workflow="b")
    wanted = SubscriptionFilter(
        workflow_ids=frozenset({"b"}), types=frozenset({"node.completed", "execution.queued"})
    )
    subscription = store.subscribe(0, wanted)
    first = [await anext(subscription) for _ in range(6)]  # 2 x (queued + 2 completed)
    await record_executions(store, 1, workflow="a")
    await record_executions(store, 1, workflow="b")
    live = [await anext(subscription) for _ in range(3)]
    for event in first + live:
        assert event.workflow_id == "b"
        assert event.type in {"node.completed", "execution.queued"}
    positions = [e.position for e in first + live]
    assert positions == sorted(set(positions))
    assert live[0].type == "execution.queued" and live[0].position > first[-1].position
    await subscription.aclose()


async def test_subscription_from_a_middle_position_and_end_on_close(store: EventStore) -> None:
    await record_executions(store, 2)
    subscription = store.subscribe(5)
    assert (await anext(subscription)).position == 6
    await store.close()
    remaining = [e async for e in subscription]
    assert all(e.position > 6 for e in remaining)
    assert subscription.position <= 14


async def test_ready_hands_over_what_is_at_hand_once_and_in_order(store: EventStore) -> None:
    await record_executions(store, 2)  # 14 events in the file
    async with store.subscribe(0, buffer_size=100) as subscription:
        first = await anext(subscription)
        # Still reading the file: the backlog is at hand, in order, within the limit.
        backlog = subscription.ready(5)
        assert [e.position for e in [first, *backlog]] == [1, 2, 3, 4, 5, 6]
        rest = await collect_until(subscription, 14)
        assert [e.position for e in rest] == list(range(7, 15))
        assert subscription.ready(10) == []  # nothing new: no wait, no event
        await record_executions(store, 1)  # 7 live events, published after commit
        live = await anext(subscription)
        assert [live.position, *(e.position for e in subscription.ready(100))] == list(
            range(15, 22)
        )
        assert subscription.ready(100) == []


async def test_ready_leaves_an_overflow_to_the_file(store: EventStore) -> None:
    async with store.subscribe(0, buffer_size=3) as subscription:
        await record_executions(store, 1)  # the live buffer of 3 overflows
        assert subscription.ready(100) == []  # still catching up (never read yet)
        seen = await collect_until(subscription, 7)
        assert [e.position for e in seen] == list(range(1, 8))


async def _large_events(store: EventStore, count: int, size: int) -> int:
    """``count`` node starts of about ``size`` bytes each; the execution's id."""
    created = await store.create_execution(ExecutionQueued(workflow_id="w"), [ExecutionStarted()])
    for index in range(count):
        big = json_value("x" * size)
        await store.append(created.execution_id, [NodeStarted(node_id=f"n{index}", input=big)])
    return created.execution_id


async def test_a_buffer_past_its_bytes_goes_back_to_the_file(store: EventStore) -> None:
    await store.create_execution(ExecutionQueued(workflow_id="w"))
    async with store.subscribe(0, buffer_bytes=3000) as subscription:
        first = await anext(subscription)  # attached now, and not reading
        await _large_events(store, 10, 1000)
        assert subscription.overflows == 1 and subscription.buffered == 0
        rest = await collect_until(subscription, store.head)
    assert [e.position for e in [first, *rest]] == list(range(1, store.head + 1))
    assert subscription.resyncs == 1


async def test_a_read_from_the_file_is_bounded_in_bytes(store: EventStore) -> None:
    await _large_events(store, 6, 1000)
    everything = await reads.events_after(store._live_reader(), 0, SubscriptionFilter(), 100)
    sizes = [len(e.data) for e in everything]
    for max_bytes in (1, sizes[0], sum(sizes[:3]), sum(sizes[:3]) + 1, 10**9):
        got = await reads.events_after(
            store._live_reader(), 0, SubscriptionFilter(), 100, max_bytes
        )
        # Rows while fewer than max_bytes came before them: at least one.
        expected = [e for i, e in enumerate(everything) if i == 0 or sum(sizes[:i]) < max_bytes]
        assert got == expected
    limited = await reads.events_after(store._live_reader(), 2, SubscriptionFilter(), 2, 10**9)
    assert [e.position for e in limited] == [3, 4]


async def test_until_ends_at_that_position_without_going_live(store: EventStore) -> None:
    await record_executions(store, 2, workflow="a")  # 14 events
    head = store.head
    wanted = SubscriptionFilter(workflow_ids=frozenset({"a"}), types=frozenset({"node.started"}))
    async with store.subscribe(3, wanted, until=head) as subscription:
        first = await anext(subscription)
        await record_executions(store, 1, workflow="a")  # after the end: not delivered
        rest = subscription.ready(100)
        rest += [event async for event in subscription]
    positions = [e.position for e in [first, *rest]]
    assert positions == [5, 10, 12]
    assert all(e.type == "node.started" for e in [first, *rest])


async def test_until_through_many_reads_from_the_file(store: EventStore) -> None:
    await _large_events(store, 20, 1024 * 1024)  # three bounded reads
    head = store.head
    await _large_events(store, 2, 10)
    async with store.subscribe(0, until=head, buffer_size=4) as subscription:
        positions = [event.position async for event in subscription]
    assert positions == list(range(1, head + 1))
