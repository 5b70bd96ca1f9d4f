"""A read that starts after an acknowledged write sees it, however many other
reads share the connection (no statement may pin an older WAL snapshot)."""

from __future__ import annotations

import asyncio

from eventstore import EventStore, ExecutionQueued, ExecutionStarted


async def test_every_acknowledged_create_is_readable_at_once(store: EventStore) -> None:
    async def create_then_read(n: int) -> int:
        created = await store.create_execution(ExecutionQueued(workflow_id=f"wf-{n}"))
        await store.append(created.execution_id, [ExecutionStarted()])
        events = await store.read_execution(created.execution_id)
        return len(events)

    async def reader() -> None:
        # Long reads keep statements open on the shared connection meanwhile.
        for _ in range(40):
            await store.read_all(0, limit=5000)

    for _ in range(12):
        results = await asyncio.gather(
            *(create_then_read(n) for n in range(40)), reader(), reader()
        )
        assert results[:40] == [2] * 40
