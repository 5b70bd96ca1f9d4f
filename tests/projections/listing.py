"""Executions for the list tests, and the list restated in plain Python.

``populate`` records executions of every status with seeded, varied fields:
``created_at`` is drawn from few distinct seconds, so many rows share it and
the id decides their order, and ids do not follow ``created_at``. Display names
hold LIKE wildcards, backslashes, mixed case and non-ASCII letters.

``build`` also deletes (``execution.deleted``) one in ``DELETE_EVERY`` of the
finished executions, which every list leaves out unless asked to include them.

``expected`` is the reference the queries are checked against: a Python filter
and sort over every row of the table.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path
from typing import Any, Final

import aiosqlite

from eventstore import (
    ErrorInfo,
    EventData,
    EventStore,
    ExecutionCancelled,
    ExecutionCompleted,
    ExecutionCrashed,
    ExecutionDeleted,
    ExecutionFailed,
    ExecutionQueued,
    ExecutionStarted,
    ExecutionWaiting,
    NewEvent,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
)
from eventstore.lifecycle import TERMINAL
from projections import ListFilter, Page, SummaryRow, list_executions
from projections.summary import TABLE, SummaryHook
from projections.views import ROW_COLUMNS

from . import SECOND, T0

WORKFLOWS: Final = ("wf-a", "wf-b", "wf-c", "wf-d")
TEAMS: Final = (None, "team-1", "team-2")
TRIGGERS: Final = ("api", "webhook", "schedule", "manual")
ERROR_CODES: Final = ("TIMEOUT", "LLM_ERROR", "HTTP_500")
NAMES: Final = (
    None,
    "Refund 50% off",
    "Refund 50 off",
    "refund request",
    "batch_7 import",
    "batch 7 import",
    "C:\\a\\b path",
    "ab path",
    "Café order",
    "CAFÉ order",
    "Nightly REPORT",
    "nightly report",
)
STATUS_WEIGHTS: Final = {
    "queued": 2,
    "running": 2,
    "waiting": 1,
    "completed": 6,
    "failed": 3,
    "cancelled": 1,
    "crashed": 1,
}
SEED: Final = 20260507
CREATED_SECONDS: Final = 120  # distinct created_at values populate draws from
DELETE_EVERY: Final = 7


def lifecycle(rng: random.Random, status: str, created: int) -> list[tuple[EventData, int]]:
    """Events after queued that leave an execution in ``status``, with their times."""
    started = created + rng.randrange(1, 30) * SECOND
    done = started + rng.randrange(1, 600) * SECOND
    code = rng.choice(ERROR_CODES)
    if status == "queued":
        return []
    if status == "cancelled" and rng.random() < 0.5:
        return [(ExecutionCancelled(by="ops"), done)]
    run: list[tuple[EventData, int]] = [
        (ExecutionStarted(worker="w"), started),
        (NodeStarted(node_id="a"), started + 1),
    ]
    ends: dict[str, list[tuple[EventData, int]]] = {
        "running": [],
        "waiting": [(NodeCompleted(node_id="a"), done - 2), (ExecutionWaiting(), done)],
        "completed": [
            (NodeCompleted(node_id="a", tokens=rng.randrange(100)), done - 1),
            (ExecutionCompleted(), done),
        ],
        # Half report their error, half leave it to the failed node.
        "failed": [
            (NodeFailed(node_id="a", error=ErrorInfo(code=code)), done - 1),
            (ExecutionFailed(error=rng.choice([None, ErrorInfo(code=code, node_id="a")])), done),
        ],
        "cancelled": [(ExecutionCancelled(), done)],
        "crashed": [(ExecutionCrashed(reason="oom"), done)],
    }
    return run + ends[status]


def draw_queued(rng: random.Random, retry_of: int | None) -> ExecutionQueued:
    return ExecutionQueued(
        workflow_id=rng.choice(WORKFLOWS),
        trigger=rng.choice(TRIGGERS),
        display_name=rng.choice(NAMES),
        test_mode=rng.random() < 0.2,
        team_id=rng.choice(TEAMS),
        retry_of=retry_of,
    )


async def populate(
    store: EventStore,
    count: int,
    rng: random.Random,
    *,
    base: int = T0,
    chunk: int = 50,
    delete: bool = False,
) -> list[int]:
    """Record ``count`` executions created within ``CREATED_SECONDS`` after
    ``base``; return their ids. A few retry earlier failures. With ``delete``,
    one in ``DELETE_EVERY`` finished executions is deleted (chosen by its
    position, so the random draws stay those of a run without deletes)."""
    statuses, weights = list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values())
    ids: list[int] = []
    failed: list[int] = []
    for first in range(0, count, chunk):
        drawn, writes = [], []
        for index in range(first, min(first + chunk, count)):
            status = rng.choices(statuses, weights)[0]
            retry_of = rng.choice(failed) if failed and rng.random() < 0.1 else None
            created = base + rng.randrange(CREATED_SECONDS) * SECOND
            events = [NewEvent(data=d, occurred_at=t) for d, t in lifecycle(rng, status, created)]
            if delete and status in TERMINAL and index % DELETE_EVERY == 0:
                events.append(NewEvent(data=ExecutionDeleted(), occurred_at=created + 10**9))
            queued = draw_queued(rng, retry_of)
            drawn.append(status)
            writes.append(store.create_execution(queued, events, occurred_at=created))
        for status, result in zip(drawn, await asyncio.gather(*writes), strict=True):
            ids.append(result.execution_id)
            if status == "failed":
                failed.append(result.execution_id)
    return ids


def all_rows(path: Path) -> list[SummaryRow]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(f"SELECT {', '.join(ROW_COLUMNS)} FROM {TABLE}").fetchall()
    finally:
        conn.close()
    bools = {ROW_COLUMNS.index("test_mode"), ROW_COLUMNS.index("cancel_requested")}

    def to_row(row: tuple[Any, ...]) -> SummaryRow:
        values: list[Any] = [bool(v) if i in bools else v for i, v in enumerate(row)]
        return SummaryRow(*values)

    return [to_row(row) for row in rows]


_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def matches(row: SummaryRow, f: ListFilter) -> bool:
    if row.deleted_at is not None and not f.include_deleted:
        return False
    equal = (
        (f.workflow_id, row.workflow_id),
        (f.trigger, row.trigger),
        (f.team_id, row.team_id),
        (f.error_code, row.error_code),
        (f.test_mode, row.test_mode),
    )
    if any(wanted is not None and wanted != value for wanted, value in equal):
        return False
    if f.statuses is not None and row.status not in f.statuses:
        return False
    for value, after, before in (
        (row.created_at, f.created_after, f.created_before),
        (row.started_at, f.started_after, f.started_before),
        (row.finished_at, f.finished_after, f.finished_before),
    ):
        if after is not None and (value is None or value < after):
            return False
        if before is not None and (value is None or value > before):
            return False
    if f.text is None:
        return True
    # LIKE folds ASCII letters only.
    name = row.display_name
    return name is not None and f.text.translate(_ASCII_LOWER) in name.translate(_ASCII_LOWER)


def expected(rows: list[SummaryRow], f: ListFilter) -> list[SummaryRow]:
    """The filtered list, newest first, ties broken by the higher id."""
    return sorted(
        (row for row in rows if matches(row, f)), key=lambda r: (r.created_at, r.id), reverse=True
    )


async def build(path: Path, count: int) -> None:
    async with EventStore(path, hook=SummaryHook(), durability="normal") as store:
        await populate(store, count, random.Random(SEED), delete=True)


def read_only(path: Path) -> str:
    """The URI of a read-only connection to ``path``."""
    return f"{path.resolve().as_uri()}?mode=ro"


async def walk(conn: aiosqlite.Connection, f: ListFilter, limit: int) -> list[Page]:
    """Every page of the list, following ``next_cursor`` to the end."""
    pages: list[Page] = []
    cursor = None
    while len(pages) < 10_000:  # a cursor that loops would otherwise hang the test
        page = await list_executions(conn, f, limit=limit, cursor=cursor)
        pages.append(page)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
    raise AssertionError("the walk did not end")
