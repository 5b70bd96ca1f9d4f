"""A rebuild holds one batch of the log in memory, whatever the log's size:
folding in one process, or in each fold worker."""

from __future__ import annotations

import asyncio
import sqlite3
import tracemalloc
from contextlib import closing
from pathlib import Path

from eventstore import (
    ErrorInfo,
    EventData,
    EventStore,
    ExecutionCompleted,
    ExecutionQueued,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionWaiting,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    json_value,
)
from eventstore.reads import events_after_sync, head_sync
from projections.rebuild import rebuild
from projections.rebuild_workers import fold_rounds

from .store_histories import expected_rows, log_events, view_rows

EXECUTIONS = 2000
CONCURRENT = 200  # executions under way at once, their events interleaved in the log
TEXT = json_value({"text": "x" * 100})
STEPS: list[EventData] = [
    ExecutionStarted(worker="w1"),
    ExecutionWaiting(reason="rate limit"),
    ExecutionResumed(),
    NodeStarted(node_id="llm", input=TEXT),
    NodeFailed(node_id="llm", error=ErrorInfo(code="429", message="slow down"), will_retry=True),
    NodeStarted(node_id="llm", attempt=2, input=TEXT),
    NodeCompleted(node_id="llm", attempt=2, tokens=12, output=TEXT),
    NodeStarted(node_id="store", input=TEXT),
    ExecutionCompleted(output=TEXT),
]


async def write_log(path: Path, executions: int) -> int:
    async with EventStore(path, durability="normal") as store:
        for _ in range(executions // CONCURRENT):
            queued = ExecutionQueued(workflow_id="wf", input=TEXT)
            created = await asyncio.gather(
                *[store.create_execution(queued) for _ in range(CONCURRENT)]
            )
            for step in STEPS:
                await asyncio.gather(*[store.append(c.execution_id, [step]) for c in created])
        return store.head


def size_of_whole_log(path: Path) -> int:
    """Bytes that holding every event at once, as ``RecordedEvent``s, takes."""
    with closing(sqlite3.connect(path)) as conn:
        tracemalloc.start()
        try:
            events = events_after_sync(conn, 0, 10**9)
            held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert len(events) == 20_000
    return held


def rebuild_peak(path: Path) -> int:
    tracemalloc.start()
    try:
        stats = rebuild(path, batch_size=500)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats.events > 0
    return peak


def worker_peak(path: Path) -> int:
    """The peak of one fold worker's loop (run here, where tracemalloc sees it)."""
    with closing(sqlite3.connect(path)) as conn:
        tracemalloc.start()
        try:
            rounds = sum(1 for _ in fold_rounds(conn, head_sync(conn), 500, 2, 0))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert rounds > 0
    return peak


async def test_rebuild_memory_is_bounded_by_the_batch(tmp_path: Path) -> None:
    small, large = tmp_path / "small.db", tmp_path / "large.db"
    assert await write_log(small, EXECUTIONS // 2) == 10_000
    assert await write_log(large, EXECUTIONS) == 20_000
    whole = size_of_whole_log(large)

    small_peak, large_peak = rebuild_peak(small), rebuild_peak(large)
    # Holding every event would take four times as much, and twice the log
    # costs next to nothing more: the peak is the batch and the hook's cache.
    assert large_peak < whole / 4, (large_peak, whole)
    assert large_peak < 1.2 * small_peak, (large_peak, small_peak)
    assert view_rows(large) == expected_rows(log_events(large))
    # So is a fold worker's: a round of its share and its cache.
    small_worker, large_worker = worker_peak(small), worker_peak(large)
    assert large_worker < whole / 4, (large_worker, whole)
    assert large_worker < 1.2 * small_worker, (large_worker, small_worker)
