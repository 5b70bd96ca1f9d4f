"""Rebuild with fold workers: the same rows as folding in one process, retry
links in log order across workers, failures named, and a rebuild that dies
with its indexes dropped healed when the store next opens the file."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from eventstore import (
    ErrorInfo,
    EventStore,
    ExecutionCompleted,
    ExecutionFailed,
    ExecutionQueued,
    ExecutionStarted,
)
from projections import summary
from projections.rebuild import rebuild
from projections.rebuild_workers import WorkerFailed
from projections.summary import TABLE, SummaryHook

from .store_histories import (
    expected_rows,
    log_events,
    view_rows,
    write_file,
)


def _indexes(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (TABLE,)
        ).fetchall()
    return {sql for (sql,) in rows if sql is not None}


@pytest.mark.parametrize(("seed", "workers", "batch_size"), [(3, 2, 1), (8, 2, 7), (21, 3, 50)])
async def test_workers_give_the_rows_of_one_process(
    tmp_path: Path, seed: int, workers: int, batch_size: int
) -> None:
    path = tmp_path / "events.db"
    await write_file(path, seed)
    incremental, indexes = view_rows(path), _indexes(path)
    alone = rebuild(path, workers=0, batch_size=batch_size)
    assert view_rows(path) == incremental
    together = rebuild(path, workers=workers, batch_size=batch_size)
    assert view_rows(path) == incremental == expected_rows(log_events(path))
    assert (together.events, together.executions) == (alone.events, alone.executions)
    assert _indexes(path) == indexes and indexes


@pytest.mark.parametrize("batch_size", [1, 2, 100])
async def test_the_first_retry_to_succeed_in_the_log_wins_across_workers(
    tmp_path: Path, batch_size: int
) -> None:
    path = tmp_path / "events.db"
    async with EventStore(path, hook=SummaryHook(), durability="normal") as store:
        failed = await store.create_execution(
            ExecutionQueued(workflow_id="wf"),
            [ExecutionStarted(), ExecutionFailed(error=ErrorInfo(code="x", message="y"))],
        )
        retry = ExecutionQueued(workflow_id="wf", retry_of=failed.execution_id)
        # Ids 2 and 3: one for each of two workers. The later id succeeds first.
        later = await store.create_execution(retry)
        sooner = await store.create_execution(retry)
        for created in (sooner, later):
            await store.append(created.execution_id, [ExecutionStarted(), ExecutionCompleted()])
    assert (later.execution_id, sooner.execution_id) == (2, 3)
    expected = expected_rows(log_events(path))
    assert expected[1][-1] == 3  # retry_success_id, the last column
    rebuild(path, workers=2, batch_size=batch_size)
    assert view_rows(path) == expected


async def test_a_worker_that_fails_names_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    await write_file(path, 5)
    with closing(sqlite3.connect(path)) as conn, conn:
        # An append the rules would refuse, slipped into the file behind the store's back.
        (head,) = conn.execute("SELECT max(position) FROM events").fetchone()
        (version,) = conn.execute(
            "SELECT max(version) FROM events WHERE execution_id = 1"
        ).fetchone()
        conn.execute(
            "INSERT INTO events VALUES (?, 1, ?, 'forged', 'node.completed', ?, 0, 0, x'00')",
            (head + 1, version + 1, b'{"type":"node.completed","node_id":"ghost"}'),
        )
    with pytest.raises(WorkerFailed, match="FoldError: node 'ghost' attempt 1 is not running"):
        rebuild(path, workers=2, batch_size=10)
    with closing(sqlite3.connect(path)) as conn:
        assert summary.interrupted(conn)  # the view is flagged as partial


async def test_a_rebuild_that_died_without_its_indexes_is_healed_on_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.db"
    await write_file(path, 13)
    incremental, indexes = view_rows(path), _indexes(path)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        with pytest.raises(KeyboardInterrupt), summary.indexes_dropped(conn):
            conn.execute(f"DELETE FROM {TABLE} WHERE id > 1")
            raise KeyboardInterrupt  # the rebuild stops half way
        assert summary.interrupted(conn)
    assert _indexes(path) == set() and view_rows(path) != incremental
    async with EventStore(path, hook=SummaryHook()):
        pass
    assert view_rows(path) == incremental
    assert _indexes(path) == indexes
    with closing(sqlite3.connect(path)) as conn:
        assert not summary.interrupted(conn)


def test_workers_must_not_be_negative(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="workers must be 0 or more"):
        rebuild(tmp_path / "x.db", workers=-1)
