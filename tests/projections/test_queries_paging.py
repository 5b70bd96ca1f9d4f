"""Keyset pagination: any filter walked page by page at any page size gives
exactly its full list, and a walk stays exact while executions are created
and progress under it.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstore import EventStore, ExecutionStarted
from projections import ListFilter, SummaryRow, ViewReader
from projections.queries import STATUSES
from projections.summary import SummaryHook

from . import SECOND, T0
from .listing import (
    ERROR_CODES,
    SEED,
    TEAMS,
    TRIGGERS,
    WORKFLOWS,
    all_rows,
    build,
    expected,
    populate,
    read_only,
    walk,
)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("paging") / "events.db"
    asyncio.run(build(path, 300))
    return path


@pytest.fixture
async def conn(db: Path) -> AsyncIterator[aiosqlite.Connection]:
    async with aiosqlite.connect(read_only(db), uri=True) as opened:
        yield opened


def times(last_second: int) -> st.SearchStrategy[int]:
    """Whole seconds after T0 and their neighbours, where the inclusive bounds bite."""
    return st.builds(
        lambda s, d: T0 + s * SECOND + d, st.integers(0, last_second), st.sampled_from([-1, 0, 1])
    )


FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "workflow_id": st.sampled_from([*WORKFLOWS, "wf-unknown"]),
    "statuses": st.frozensets(st.sampled_from(sorted(STATUSES)), min_size=1, max_size=3),
    "trigger": st.sampled_from(TRIGGERS),
    "team_id": st.sampled_from([t for t in TEAMS if t is not None]),
    "test_mode": st.booleans(),
    "created_after": times(120),
    "created_before": times(120),
    "started_after": times(150),
    "started_before": times(150),
    "finished_after": times(800),
    "finished_before": times(800),
    "error_code": st.sampled_from(ERROR_CODES),
    "text": st.sampled_from(["refund", "50%", "_", "h_7", "\\", "REPORT", "caf", "o", "zz"]),
    "include_deleted": st.booleans(),
}


@st.composite
def filters(draw: st.DrawFn) -> ListFilter:
    # A few fields at a time: with all of them set nearly every list is empty.
    names = draw(st.sets(st.sampled_from(sorted(FIELDS)), max_size=3))
    return ListFilter(**{name: draw(FIELDS[name]) for name in sorted(names)})


@settings(
    max_examples=50,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(f=filters(), limit=st.one_of(st.integers(1, 8), st.integers(1, 100)))
async def test_walking_the_pages_gives_the_whole_list_once(
    conn: aiosqlite.Connection, rows: list[SummaryRow], f: ListFilter, limit: int
) -> None:
    want = expected(rows, f)
    pages = await walk(conn, f, limit)

    assert [row for page in pages for row in page.rows] == want
    # Full pages up to the last, which alone has no cursor, even when it is full.
    assert len(pages) == max(1, math.ceil(len(want) / limit))
    assert all(len(page.rows) == limit for page in pages[:-1])
    assert all(page.next_cursor is not None for page in pages[:-1])


@pytest.fixture(scope="module")
def rows(db: Path) -> list[SummaryRow]:
    return all_rows(db)


async def test_a_walk_under_writes_sees_every_earlier_execution_exactly_once(
    tmp_path: Path,
) -> None:
    async with EventStore(tmp_path / "e.db", hook=SummaryHook(), durability="normal") as store:
        before = await populate(store, 1000, random.Random(SEED), chunk=100)
        queued = [row.id for row in all_rows(store.path) if row.status == "queued"]
        created: list[int] = []
        rng = random.Random(SEED + 1)

        async def write() -> None:
            # Newer than every execution the walk started with.
            later = T0 + (1000 + len(created)) * SECOND
            created.extend(await populate(store, 3, rng, base=later, chunk=3))
            if queued:  # and older ones progress: their rows change, not their keys
                await store.append(queued.pop(), [ExecutionStarted()])

        async with ViewReader(store) as views:
            seen: list[int] = []
            pages = 0
            cursor = None
            while pages < 200:  # 50 pages expected; a cursor that loops must not hang
                # Each page's query runs while writes are in flight (before, during or
                # after it: the scheduler decides, and the walk must not care).
                page, _ = await asyncio.gather(views.list(limit=20, cursor=cursor), write())
                seen += [row.id for row in page.rows]
                pages += 1
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor

    assert page.next_cursor is None
    assert len(seen) == len(set(seen))
    assert set(before) <= set(seen)
    assert set(seen) - set(before) <= set(created)
    assert pages >= 50
    assert len(created) == 3 * pages
