"""Optimistic concurrency under contention: many writers, one version each."""

from __future__ import annotations

import asyncio

from eventstore import (
    AppendResult,
    EventStore,
    ExecutionQueued,
    ExecutionStarted,
    NodeCompleted,
    NodeStarted,
    VersionConflict,
)

TASKS = 50
ROUNDS = 20


async def test_exactly_one_writer_wins_each_version(store: EventStore) -> None:
    created = await store.create_execution(ExecutionQueued(workflow_id="wf"))
    execution_id = created.execution_id
    await store.append(execution_id, [ExecutionStarted()], expected_version=1)
    wins: dict[int, list[int]] = {}  # version -> tasks that were told they wrote it

    async def contender(task: int, round_: int, version: int) -> int | None:
        node = f"t{task}-r{round_}"
        try:
            result = await store.append(
                execution_id,
                [NodeStarted(node_id=node), NodeCompleted(node_id=node, tokens=task)],
                expected_version=version,
            )
        except VersionConflict as conflict:
            assert conflict.current == version + 2  # the winner's two events
            return None
        assert isinstance(result, AppendResult)
        wins.setdefault(result.version, []).append(task)
        return task

    version = 2
    for round_ in range(ROUNDS):
        outcomes = await asyncio.gather(*[contender(t, round_, version) for t in range(TASKS)])
        winners = [t for t in outcomes if t is not None]
        assert len(winners) == 1, f"round {round_}: winners {winners}"
        version += 2

    assert sorted(wins) == list(range(4, version + 1, 2))
    assert all(len(tasks) == 1 for tasks in wins.values())
    events = await store.read_execution(execution_id)
    assert [e.version for e in events] == list(range(1, version + 1))
    # Each winning append landed whole: its start and completion are adjacent.
    nodes = [(e.type, e.payload()) for e in events[2:]]
    for (start_type, start), (end_type, end) in zip(nodes[::2], nodes[1::2], strict=True):
        assert (start_type, end_type) == ("node.started", "node.completed")
        assert isinstance(start, NodeStarted) and isinstance(end, NodeCompleted)
        assert start.node_id == end.node_id
