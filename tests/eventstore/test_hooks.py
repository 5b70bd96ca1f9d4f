"""The commit hook: called inside the write transaction, failing alone."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from eventstore import (
    AppendResult,
    EventStore,
    ExecutionStarted,
    NodeCompleted,
    NodeStarted,
    RecordedEvent,
)
from tests.eventstore.helpers import query, queued, running

# --- commit hooks -----------------------------------------------------------


class HookFailed(Exception):
    pass


class RecordingHook:
    """Mirrors every event into its own table; raises for chosen executions
    after writing, so a rollback has rows of its own to undo."""

    def __init__(self) -> None:
        self.setups = 0
        self.commits: list[list[RecordedEvent]] = []
        self.fail_for: set[int] = set()
        self.catch_ups = 0

    def setup(self, conn: sqlite3.Connection) -> None:
        self.setups += 1
        conn.execute(
            "CREATE TABLE IF NOT EXISTS mirror("
            "position INTEGER PRIMARY KEY, execution_id INTEGER NOT NULL, type TEXT NOT NULL)"
            " STRICT"
        )

    def on_commit(self, conn: sqlite3.Connection, events: Sequence[RecordedEvent]) -> None:
        conn.executemany(
            "INSERT INTO mirror VALUES (?, ?, ?)",
            [(e.position, e.execution_id, e.type) for e in events],
        )
        failing = {e.execution_id for e in events} & self.fail_for
        if failing:
            raise HookFailed(f"refusing executions {sorted(failing)}")
        self.commits.append(list(events))

    def catch_up(self, conn: sqlite3.Connection) -> None:
        self.catch_ups += 1  # the mirror holds only what this process wrote

    def settled(self, committed: bool) -> None:
        pass  # it keeps nothing in memory from a write


async def test_hook_is_set_up_once_and_sees_each_commit(tmp_path: Path) -> None:
    hook = RecordingHook()
    async with EventStore(tmp_path / "x.db", hook=hook) as store:
        assert hook.setups == 1
        first = await queued(store, "wf-h", team_id="team-1")
        await store.append(first, [ExecutionStarted(), NodeStarted(node_id="n")])
        assert [len(c) for c in hook.commits] == [1, 2]
        second = await queued(store, "wf-2")
        # Possibly one batch for both: each event must still carry its own owner.
        await asyncio.gather(
            store.append(first, [NodeCompleted(node_id="n")]),
            store.append(second, [ExecutionStarted()]),
        )
        log = await store.read_all()
    assert hook.setups == 1
    seen = [e for commit in hook.commits for e in commit]
    assert [(e.position, e.execution_id, e.version, e.type) for e in seen] == [
        (1, first, 1, "execution.queued"),
        (2, first, 2, "execution.started"),
        (3, first, 3, "node.started"),
        (4, second, 1, "execution.queued"),
        (5, first, 4, "node.completed"),
        (6, second, 2, "execution.started"),
    ]
    owners = {first: ("wf-h", "team-1"), second: ("wf-2", None)}
    assert all((e.workflow_id, e.team_id) == owners[e.execution_id] for e in seen)
    assert seen == log


async def test_hook_rows_commit_with_the_events(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    async with EventStore(path, hook=RecordingHook()) as store:
        ids = [await running(store) for _ in range(3)]
        await asyncio.gather(*[store.append(x, [NodeStarted(node_id="n")]) for x in ids])
    mirrored = query(path, "SELECT position, execution_id, type FROM mirror ORDER BY position")
    logged = query(path, "SELECT position, execution_id, type FROM events ORDER BY position")
    assert len(logged) == 9
    assert mirrored == logged


async def test_failing_hook_fails_only_its_append(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    hook = RecordingHook()
    async with EventStore(path, hook=hook) as store:
        ids = [await running(store) for _ in range(4)]
        hook.fail_for = {ids[2]}
        outcomes = await asyncio.gather(
            *[store.append(x, [NodeStarted(node_id="n")]) for x in ids], return_exceptions=True
        )
        assert [type(o) for o in outcomes] == [AppendResult, AppendResult, HookFailed, AppendResult]
        assert [e.version for e in await store.read_execution(ids[2])] == [1, 2]
        assert [e.position for e in await store.read_all()] == list(range(1, 12))
        hook.fail_for = set()
        assert (await store.append(ids[2], [NodeStarted(node_id="n")])).positions == (12,)
    mirror = query(path, "SELECT execution_id, type FROM mirror WHERE type = 'node.started'")
    assert sorted(mirror) == [(x, "node.started") for x in ids]
    assert query(path, "SELECT count(*) FROM mirror") == [(12,)]
