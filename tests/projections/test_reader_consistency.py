"""The views answer for every acknowledged write at once, under concurrency."""

from __future__ import annotations

import asyncio
from pathlib import Path

from eventstore import EventStore, ExecutionQueued, ExecutionStarted
from projections import SummaryHook, ViewReader


async def test_a_detail_read_after_an_acknowledged_append_sees_it(tmp_path: Path) -> None:
    async with (
        EventStore(tmp_path / "e.db", hook=SummaryHook()) as store,
        ViewReader(store) as views,
    ):

        async def create_then_detail(n: int) -> tuple[str, int]:
            created = await store.create_execution(ExecutionQueued(workflow_id=f"wf-{n}"))
            await store.append(created.execution_id, [ExecutionStarted()])
            detail = await views.detail(created.execution_id)
            return detail.status, detail.version

        async def lister() -> None:
            for _ in range(30):
                await views.list(limit=100)

        for _ in range(8):
            results = await asyncio.gather(*(create_then_detail(n) for n in range(40)), lister())
            assert results[:40] == [("running", 2)] * 40
