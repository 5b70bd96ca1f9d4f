"""``execution.deleted`` in the views: the summary column and its migration on
a file from before it, the retry link of a deleted retry, and the random
histories of the three-way test really containing deletes."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from eventstore import (
    EventStore,
    ExecutionCompleted,
    ExecutionDeleted,
    ExecutionFailed,
    ExecutionQueued,
    ExecutionStarted,
    RuleViolation,
)
from projections import ListFilter, ViewReader
from projections.rebuild import rebuild
from projections.summary import MIGRATIONS, POSITION_TABLE, TABLE, VERSION_TABLE, SummaryHook

from .store_histories import (
    expected_rows,
    log_events,
    view_rows,
    write_file,
)


def schema(path: Path) -> list[tuple[str, str]]:
    """The summary table's and its indexes' SQL, and the version row."""
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE tbl_name = ? ORDER BY name", (TABLE,)
        ).fetchall()
        version = conn.execute(f"SELECT name, version FROM {VERSION_TABLE}").fetchall()
    return [(str(name), str(sql)) for name, sql in [*rows, *version]]


def as_first_release(path: Path) -> None:
    """Take the view tables back to version 1: no deleted_at, the first indexes."""
    first_indexes = [s for s in MIGRATIONS[0].split(";") if "CREATE INDEX" in s]
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        names = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
            " AND sql IS NOT NULL",
            (TABLE,),
        ).fetchall()
        for (name,) in names:
            conn.execute(f"DROP INDEX {name}")
        conn.execute(f"ALTER TABLE {TABLE} DROP COLUMN deleted_at")
        for statement in first_indexes:
            conn.execute(statement)
        conn.execute(f"DROP TABLE {POSITION_TABLE}")
        conn.execute(f"UPDATE {VERSION_TABLE} SET version = 1")


async def test_a_summary_from_before_deletes_is_migrated_in_place(tmp_path: Path) -> None:
    path, fresh = tmp_path / "old.db", tmp_path / "fresh.db"
    async with EventStore(path, hook=SummaryHook()) as store:
        done = await store.create_execution(
            ExecutionQueued(workflow_id="wf"), [ExecutionStarted(), ExecutionCompleted()]
        )
        await store.create_execution(ExecutionQueued(workflow_id="wf"), [ExecutionStarted()])
    async with EventStore(fresh, hook=SummaryHook()):
        pass
    as_first_release(path)
    assert schema(path) != schema(fresh)

    async with EventStore(path, hook=SummaryHook()) as store:
        await store.append(done.execution_id, [ExecutionDeleted(by="dpo")])
        async with ViewReader(store) as views:
            listed = await views.list(ListFilter())
            everything = await views.list(ListFilter(include_deleted=True))
    assert schema(path) == schema(fresh)
    rows = view_rows(path)
    assert rows == expected_rows(log_events(path))
    assert [row.id for row in listed.rows] == [2]
    assert [row.id for row in everything.rows] == [2, 1]
    assert everything.rows[1].deleted_at is not None
    rebuild(path)
    assert view_rows(path) == rows


async def test_a_deleted_retry_still_links_as_of_its_completion(tmp_path: Path) -> None:
    async with (
        EventStore(tmp_path / "e.db", hook=SummaryHook()) as store,
        ViewReader(store) as views,
    ):
        failed = await store.create_execution(
            ExecutionQueued(workflow_id="wf"), [ExecutionStarted(), ExecutionFailed()]
        )
        retry = await store.create_execution(
            ExecutionQueued(workflow_id="wf", retry_of=failed.execution_id),
            [ExecutionStarted(), ExecutionCompleted()],
        )
        original = await store.read_execution(failed.execution_id)
        before = await views.replay(failed.execution_id, as_of_time=original[-1].recorded_at)
        await asyncio.sleep(0.002)  # the store's clock moves on: the delete is recorded later
        await store.append(retry.execution_id, [ExecutionDeleted()])
        completed = (await store.read_execution(retry.execution_id))[-2]
        assert completed.type == "execution.completed"
        linked = await views.replay(failed.execution_id, as_of_time=completed.recorded_at)
        unlinked = await views.replay(failed.execution_id, as_of_time=completed.recorded_at - 1)
        detail = await views.detail(failed.execution_id)
        deleted = await views.detail(retry.execution_id)
    assert before is not None and before.retry_success_id is None
    assert linked is not None and linked.retry_success_id == retry.execution_id
    assert unlinked is not None and unlinked.retry_success_id is None
    assert detail.retry_success_id == retry.execution_id
    assert (deleted.status, deleted.deleted_at is not None) == ("completed", True)


async def test_nothing_follows_a_delete_and_only_a_finished_execution_is_deleted(
    tmp_path: Path,
) -> None:
    async with EventStore(tmp_path / "e.db", hook=SummaryHook()) as store:
        running = await store.create_execution(
            ExecutionQueued(workflow_id="wf"), [ExecutionStarted()]
        )
        with pytest.raises(RuleViolation) as early:
            await store.append(running.execution_id, [ExecutionDeleted()])
        assert early.value.rule == "execution.delete_requires_finished"
        await store.append(running.execution_id, [ExecutionCompleted(), ExecutionDeleted()])
        for late in (ExecutionDeleted(), ExecutionCompleted()):
            with pytest.raises(RuleViolation) as refused:
                await store.append(running.execution_id, [late])
            assert refused.value.rule == "execution.deleted"
        assert len(await store.read_execution(running.execution_id)) == 4


async def test_the_random_histories_delete_executions(tmp_path: Path) -> None:
    """The three-way property test covers deletes only if its histories hold some."""
    deleted = 0
    for seed in range(4):
        path = tmp_path / f"h{seed}.db"
        history = await write_file(path, seed)
        deleted += sum(1 for state in history.states.values() if state.deleted)
        assert view_rows(path) == expected_rows(log_events(path))
    assert deleted > 0
