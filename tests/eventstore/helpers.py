"""Shared set-up for the EventStore tests."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from eventstore import (
    EventStore,
    ExecutionQueued,
    ExecutionStarted,
)


async def queued(
    store: EventStore,
    workflow_id: str = "wf",
    *,
    external_id: str | None = None,
    team_id: str | None = None,
) -> int:
    data = ExecutionQueued(workflow_id=workflow_id, external_id=external_id, team_id=team_id)
    return (await store.create_execution(data)).execution_id


async def running(store: EventStore) -> int:
    execution_id = await queued(store)
    await store.append(execution_id, [ExecutionStarted()])
    return execution_id


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Read the file behind the store's back (WAL lets it run while the store is open)."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


async def event_ids(store: EventStore) -> list[str]:
    return [e.event_id for e in await store.read_all(0, limit=100_000)]
