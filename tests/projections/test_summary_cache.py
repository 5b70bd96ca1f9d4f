"""``SummaryHook``'s cache of folded executions: evicted entries are folded
again from the file, and entries cached by a write that then rolled back are
never trusted. Rows are checked against the fold of the log each time."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import pytest

from eventstore import (
    AppendResult,
    ErrorInfo,
    EventData,
    EventStore,
    ExecutionCancelRequested,
    ExecutionCompleted,
    ExecutionFailed,
    ExecutionQueued,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionWaiting,
    IdempotencyConflict,
    NewEvent,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    RecordedEvent,
)
from eventstore.reads import execution_events_sync
from projections import summary
from projections.summary import SummaryHook

from .store_histories import ROW_NAMES, FlakyHook, HookFailed, expected_rows, log_events, view_rows


class SpyHook:
    """Records which executions each call of the summary hook covered."""

    def __init__(self, inner: FlakyHook) -> None:
        self.inner = inner
        self.calls: list[list[int]] = []

    def setup(self, conn: sqlite3.Connection) -> None:
        self.inner.setup(conn)

    def on_commit(self, conn: sqlite3.Connection, events: Sequence[RecordedEvent]) -> None:
        self.calls.append([event.execution_id for event in events])
        self.inner.on_commit(conn, events)

    def catch_up(self, conn: sqlite3.Connection) -> None:
        self.inner.catch_up(conn)

    def settled(self, committed: bool) -> None:
        self.inner.settled(committed)


# One execution's life: two nodes, a failed attempt retried twice, a wait.
SCRIPT: list[EventData] = [
    ExecutionStarted(worker="w"),
    NodeStarted(node_id="a"),
    NodeFailed(node_id="a", error=ErrorInfo(code="N1"), will_retry=True),
    NodeStarted(node_id="a", attempt=2),
    NodeFailed(node_id="a", attempt=2, error=ErrorInfo(code="N2"), will_retry=True),
    NodeStarted(node_id="a", attempt=3),
    NodeCompleted(node_id="a", attempt=3, tokens=5),
    ExecutionWaiting(reason="approval"),
    ExecutionResumed(),
    NodeStarted(node_id="b"),
    NodeCompleted(node_id="b", tokens=7),
]


async def interleaved(store: EventStore, count: int) -> list[int]:
    """``count`` executions advanced one event each per round, all at once;
    odd ones fail, and each failed one gets two retries that both complete."""
    created = await asyncio.gather(
        *[store.create_execution(ExecutionQueued(workflow_id=f"wf-{i % 3}")) for i in range(count)]
    )
    ids = [c.execution_id for c in created]
    for data in SCRIPT:
        await asyncio.gather(*[store.append(x, [data]) for x in ids])
    ends = [ExecutionFailed() if x % 2 else ExecutionCompleted() for x in ids]
    await asyncio.gather(*[store.append(x, [end]) for x, end in zip(ids, ends, strict=True)])
    retries = [
        ExecutionQueued(workflow_id="wf-retry", retry_of=x) for x in ids if x % 2 for _ in (1, 2)
    ]
    tail: list[EventData] = [ExecutionStarted(), ExecutionCompleted()]
    await asyncio.gather(*[store.create_execution(q, tail) for q in retries])
    return ids


def pick(row: tuple[object, ...]) -> dict[str, object]:
    named = dict(zip(ROW_NAMES, row, strict=True))
    return {name: named[name] for name in PICKED}


PICKED = (
    "workflow_id",
    "status",
    "tokens",
    "nodes_total",
    "nodes_running",
    "nodes_completed",
    "nodes_failed",
    "steps",
    "error_code",
    "retry_of",
    "wait_till",
    "version",
    "retry_success_id",
)


@pytest.mark.parametrize("cache_size", [1, 2, 20_000])
async def test_rows_are_right_whatever_the_cache_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_size: int
) -> None:
    refolds: list[int] = []

    def counting(conn: sqlite3.Connection, execution_id: int, below: int) -> list[RecordedEvent]:
        refolds.append(execution_id)
        return execution_events_sync(conn, execution_id, below)

    monkeypatch.setattr(summary, "execution_events_sync", counting)
    path = tmp_path / "events.db"
    async with EventStore(path, hook=SummaryHook(cache_size=cache_size)) as store:
        ids = await interleaved(store, 12)
    rows = view_rows(path)
    assert rows == expected_rows(log_events(path))
    # Read off the script, not the fold: the row maps the detail column by column.
    for x in ids:
        assert pick(rows[x]) == {
            "workflow_id": f"wf-{(x - 1) % 3}",
            "status": "failed" if x % 2 else "completed",
            "tokens": 12,
            "nodes_total": 2,
            "nodes_running": 0,
            "nodes_completed": 2,
            "nodes_failed": 0,
            "steps": 4,
            "error_code": None,
            "retry_of": None,
            "wait_till": None,
            "version": len(SCRIPT) + 2,
            # The first of each failed execution's two retries to complete.
            "retry_success_id": 12 + x if x % 2 else None,
        }
    retries = {x: pick(row) for x, row in rows.items() if x not in ids}
    assert sorted((r["retry_of"], r["status"], r["version"]) for r in retries.values()) == [
        (x, "completed", 3) for x in ids if x % 2 for _ in (1, 2)
    ]
    # The small caches did fold executions again from the file; the large one never had to.
    assert (len(refolds) > 12 * len(SCRIPT) // 2) == (cache_size < 12)
    assert (refolds == []) == (cache_size >= 12)


async def test_a_batch_that_fails_in_sql_is_replayed_alone(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    spy = SpyHook(FlakyHook(SummaryHook(cache_size=2)))
    async with EventStore(path, hook=spy) as store:
        ids = await interleaved(store, 4)
        log = log_events(path)
        taken = next(e.event_id for e in log if e.execution_id == ids[0])
        fresh = [await store.create_execution(ExecutionQueued(workflow_id="wf")) for _ in range(4)]
        new_ids = [c.execution_id for c in fresh]
        spy.calls.clear()
        outcomes = await asyncio.gather(
            *[
                store.append(x, [ExecutionStarted(), NodeStarted(node_id="a")])
                if i != 1
                # Its events would insert, but its producer id is another execution's.
                else store.append(x, [NewEvent(data=ExecutionStarted(), event_id=taken)])
                for i, x in enumerate(new_ids)
            ],
            return_exceptions=True,
        )
    assert [type(o) for o in outcomes] == [
        AppendResult,
        IdempotencyConflict,
        AppendResult,
        AppendResult,
    ]
    # The INSERT failed before the hook; then each append went alone.
    assert spy.calls == [[x, x] for i, x in enumerate(new_ids) if i != 1]
    assert view_rows(path) == expected_rows(log_events(path))


async def test_rows_cached_by_a_rolled_back_write_are_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    flaky = FlakyHook(SummaryHook(cache_size=100))
    spy = SpyHook(flaky)
    async with EventStore(path, hook=spy) as store:
        ids: list[int] = []
        for _ in range(3):
            queued = ExecutionQueued(workflow_id="wf")
            ids.append((await store.create_execution(queued, [ExecutionStarted()])).execution_id)
        x, y, z = ids
        flaky.doomed = {x}
        spy.calls.clear()
        outcomes = await asyncio.gather(
            store.append(x, [NodeStarted(node_id="a")]),  # doomed: rolls back everything
            store.append(y, [NodeStarted(node_id="a")]),
            store.append(z, [NodeStarted(node_id="a"), NodeCompleted(node_id="a", tokens=4)]),
            return_exceptions=True,
        )
        assert [type(o) for o in outcomes] == [HookFailed, AppendResult, AppendResult]
        # The summary hook wrote and cached all three, at positions they did not
        # keep; alone, y and z took the positions x had.
        assert spy.calls == [[x, y, z, z], [x], [y], [z, z]]
        flaky.doomed = set()
        # Another event at the version the rolled-back one had cached.
        await store.append(x, [ExecutionWaiting(reason="approval")])
        await store.append(x, [ExecutionResumed(), NodeStarted(node_id="b")])
        await asyncio.gather(
            store.append(y, [NodeCompleted(node_id="a", tokens=2)]),
            store.append(z, [ExecutionCompleted()]),
        )
    rows = view_rows(path)
    assert rows == expected_rows(log_events(path))
    nodes = ROW_NAMES.index("nodes_total")
    assert [rows[x][nodes], rows[y][nodes], rows[z][nodes]] == [1, 1, 1]


async def test_a_log_written_before_the_view_gets_rows_for_every_execution(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.db"
    async with EventStore(path) as plain:  # no view yet
        first = await plain.create_execution(
            ExecutionQueued(workflow_id="wf"), [ExecutionStarted()]
        )
        await plain.create_execution(ExecutionQueued(workflow_id="wf", retry_of=first.execution_id))
    async with EventStore(path, hook=SummaryHook()) as viewed:
        third = await viewed.create_execution(ExecutionQueued(workflow_id="wf"))
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT id, status, version FROM execution_summary ORDER BY id")
        assert rows.fetchall() == [
            (1, "running", 2),
            (2, "queued", 1),
            (third.execution_id, "queued", 1),
        ]


async def test_a_rolled_back_fold_is_not_reused_after_another_writer(tmp_path: Path) -> None:
    # A's write of X rolls back after its hook stepped X's cached fold; B then
    # writes X at that version; A's next write of X must not step the phantom.
    path = tmp_path / "e.db"
    flaky = FlakyHook(SummaryHook())
    async with EventStore(path, hook=flaky) as a, EventStore(path, hook=SummaryHook()) as b:
        created = await a.create_execution(ExecutionQueued(workflow_id="wf"), [ExecutionStarted()])
        x = created.execution_id
        flaky.doomed.add(x)
        with pytest.raises(HookFailed):
            await a.append(x, [NodeStarted(node_id="ghost")])
        flaky.doomed.clear()
        await b.append(x, [ExecutionCancelRequested(by="b")])
        await a.append(x, [NodeStarted(node_id="real")])
    rows = view_rows(path)
    assert rows == expected_rows(log_events(path))
    assert rows[x][ROW_NAMES.index("cancel_requested")] == 1
