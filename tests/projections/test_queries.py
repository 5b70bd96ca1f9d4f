"""The filtered list and count over the summary table: every filter alone and
combined against a plain Python filter of all rows, bad input, and the query
plans the common lists run with.
"""

from __future__ import annotations

import asyncio
import base64
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from projections import (
    InvalidQuery,
    ListFilter,
    Page,
    SummaryRow,
    count_executions,
    count_query,
    list_executions,
    list_query,
)
from projections.queries import decode_cursor, encode_cursor, escape_like
from projections.summary import TABLE

from . import SECOND, T0
from .listing import all_rows, build, expected, read_only, walk


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("queries") / "events.db"
    asyncio.run(build(path, 400))
    return path


@pytest.fixture(scope="module")
def rows(db: Path) -> list[SummaryRow]:
    return all_rows(db)


@pytest.fixture
async def conn(db: Path) -> AsyncIterator[aiosqlite.Connection]:
    async with aiosqlite.connect(read_only(db), uri=True) as opened:
        yield opened


def at(seconds: int) -> int:
    return T0 + seconds * SECOND


FILTERS: dict[str, ListFilter] = {
    "none": ListFilter(),
    "workflow": ListFilter(workflow_id="wf-b"),
    "status": ListFilter(statuses=frozenset({"failed"})),
    "statuses": ListFilter(statuses=frozenset({"completed", "cancelled", "crashed"})),
    "trigger": ListFilter(trigger="webhook"),
    "team": ListFilter(team_id="team-1"),
    "test_mode": ListFilter(test_mode=True),
    "not_test_mode": ListFilter(test_mode=False),
    "created_range": ListFilter(created_after=at(30), created_before=at(60)),
    "created_after": ListFilter(created_after=at(100)),
    "created_before": ListFilter(created_before=at(10)),
    "started_range": ListFilter(started_after=at(50), started_before=at(90)),
    "finished_range": ListFilter(finished_after=at(300), finished_before=at(500)),
    "error_code": ListFilter(error_code="TIMEOUT"),
    "text": ListFilter(text="refund"),
    "text_percent": ListFilter(text="50%"),
    "text_underscore": ListFilter(text="h_7"),
    "text_backslash": ListFilter(text="\\a"),
    "workflow_status": ListFilter(workflow_id="wf-a", statuses=frozenset({"completed"})),
    "workflow_statuses": ListFilter(workflow_id="wf-c", statuses=frozenset({"failed", "queued"})),
    "status_created": ListFilter(
        statuses=frozenset({"completed"}), created_after=at(20), created_before=at(80)
    ),
    "team_status_test": ListFilter(
        team_id="team-2", statuses=frozenset({"completed", "failed"}), test_mode=False
    ),
    "workflow_text": ListFilter(workflow_id="wf-d", text="PATH"),
    "trigger_error_finished": ListFilter(
        trigger="api", error_code="LLM_ERROR", finished_after=at(100)
    ),
    "with_deleted_status": ListFilter(statuses=frozenset({"completed"}), include_deleted=True),
    "with_deleted_statuses": ListFilter(
        statuses=frozenset({"failed", "crashed"}), include_deleted=True
    ),
    "with_deleted_workflow": ListFilter(workflow_id="wf-a", include_deleted=True),
}


@pytest.mark.parametrize("name", FILTERS)
async def test_a_filter_lists_what_a_python_filter_keeps(
    name: str, conn: aiosqlite.Connection, rows: list[SummaryRow]
) -> None:
    f = FILTERS[name]
    want = expected(rows, f)
    assert len(want) > 0 and (len(want) < len(rows) or f == ListFilter())  # not vacuous

    pages = await walk(conn, f, 100 if len(want) > 100 else 7)
    assert [row for page in pages for row in page.rows] == want
    assert await count_executions(conn, f) == len(want)


async def test_a_filter_nothing_matches_gives_one_empty_last_page(
    conn: aiosqlite.Connection,
) -> None:
    f = ListFilter(workflow_id="wf-a", team_id="team-9")
    assert await list_executions(conn, f) == Page(rows=[], next_cursor=None)
    assert await count_executions(conn, f) == 0


def test_the_data_has_what_the_tests_rely_on(rows: list[SummaryRow]) -> None:
    keys = [(row.created_at, row.id) for row in rows]
    shared = len(keys) - len({created for created, _ in keys})
    assert shared > 100  # many rows share a created_at: the id decides
    assert sorted(keys, key=lambda k: k[1]) != sorted(keys)  # ids do not follow created_at
    assert any(row.retry_success_id is not None for row in rows)
    assert len({row.status for row in rows}) == 7
    deleted = {row.status for row in rows if row.deleted_at is not None}
    assert deleted == {"completed", "failed", "cancelled", "crashed"}


async def test_deleted_executions_are_listed_only_when_asked_for(
    conn: aiosqlite.Connection, rows: list[SummaryRow]
) -> None:
    deleted = {row.id for row in rows if row.deleted_at is not None}
    listed = {row.id for page in await walk(conn, ListFilter(), 100) for row in page.rows}
    everything = await walk(conn, ListFilter(include_deleted=True), 100)
    assert listed == {row.id for row in rows} - deleted
    assert {row.id for page in everything for row in page.rows} == {row.id for row in rows}
    assert await count_executions(conn, ListFilter()) == len(rows) - len(deleted)
    assert await count_executions(conn, ListFilter(include_deleted=True)) == len(rows)


async def test_time_bounds_are_inclusive(
    conn: aiosqlite.Connection, rows: list[SummaryRow]
) -> None:
    when = max({row.created_at for row in rows}, key=lambda t: sum(r.created_at == t for r in rows))
    page = await list_executions(conn, ListFilter(created_after=when, created_before=when))
    ids = [row.id for row in page.rows]
    assert len(ids) > 1
    assert ids == sorted((row.id for row in rows if row.created_at == when), reverse=True)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("50%", {"Refund 50% off"}),
        ("h_7", {"batch_7 import"}),
        ("\\a", {"C:\\a\\b path"}),
        ("REPORT", {"Nightly REPORT", "nightly report"}),
        ("caf", {"Café order", "CAFÉ order"}),
        # LIKE folds ASCII letters only: É and é differ.
        ("CAFÉ", {"CAFÉ order"}),
        ("%", {"Refund 50% off"}),
    ],
)
async def test_text_matches_a_substring_with_wildcards_as_plain_characters(
    conn: aiosqlite.Connection, text: str, names: set[str]
) -> None:
    pages = await walk(conn, ListFilter(text=text), 100)
    assert {row.display_name for page in pages for row in page.rows} == names


def test_escape_like() -> None:
    assert escape_like("a%b_c\\d") == "a\\%b\\_c\\\\d"


def test_summary_row_names_the_tables_columns(db: Path) -> None:
    # The reads select and the writes bind SummaryRow's fields by name: every
    # field must be a column, and every column a field.
    with closing(sqlite3.connect(read_only(db), uri=True)) as conn:
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")]
    assert sorted(SummaryRow.__struct_fields__) == sorted(columns)


def test_a_cursor_round_trips() -> None:
    for created_at, execution_id in [(T0, 1), (0, 2**63 - 1), (-5, 7)]:
        cursor = encode_cursor(created_at, execution_id)
        assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
        assert decode_cursor(cursor) == (created_at, execution_id)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


GOOD_CURSOR = encode_cursor(T0, 5)
BAD_INPUT: list[tuple[str, dict[str, Any], str]] = [
    ("limit 0", {"limit": 0}, "limit"),
    ("limit 101", {"limit": 101}, "limit"),
    ("limit -1", {"limit": -1}, "limit"),
    ("garbage", {"cursor": "!!!"}, "cursor"),
    ("empty cursor", {"cursor": ""}, "cursor"),
    ("not json", {"cursor": "abc"}, "cursor"),
    ("bad length", {"cursor": "abcde"}, "cursor"),
    ("padded", {"cursor": GOOD_CURSOR + "=="}, "cursor"),
    ("too long", {"cursor": "A" * 500}, "cursor"),
    ("object", {"cursor": b64(b'{"created_at":1,"id":2}')}, "cursor"),
    ("pair", {"cursor": b64(b"[5,6]")}, "cursor"),
    ("version", {"cursor": b64(b"[2,5,6]")}, "cursor"),
    ("string", {"cursor": b64(b'[1,"5",6]')}, "cursor"),
    ("float", {"cursor": b64(b"[1,5.0,6]")}, "cursor"),
    ("bool", {"cursor": b64(b"[true,5,6]")}, "cursor"),
    ("id 0", {"cursor": b64(b"[1,5,0]")}, "cursor"),
    ("huge", {"cursor": b64(b"[1,99999999999999999999999,6]")}, "cursor"),
    ("spaced", {"cursor": b64(b"[1, 5, 6]")}, "cursor"),
    ("unknown status", {"filter": ListFilter(statuses=frozenset({"done"}))}, "status"),
    ("mixed status", {"filter": ListFilter(statuses=frozenset({"failed", "x"}))}, "status"),
    ("no status", {"filter": ListFilter(statuses=frozenset())}, "status"),
    ("time range", {"filter": ListFilter(created_after=2**63)}, "created_after"),
    ("time low", {"filter": ListFilter(finished_before=-(2**63) - 1)}, "finished_before"),
    ("text length", {"filter": ListFilter(text="x" * 201)}, "text"),
]


@pytest.mark.parametrize(("case", "args", "field"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
async def test_bad_input_names_its_field(
    conn: aiosqlite.Connection, case: str, args: dict[str, Any], field: str
) -> None:
    f = args.pop("filter", ListFilter())
    with pytest.raises(InvalidQuery) as raised:
        await list_executions(conn, f, **args)
    assert raised.value.field == field
    assert isinstance(raised.value, ValueError)
    if not args:
        with pytest.raises(InvalidQuery):
            await count_executions(conn, f)


async def test_the_good_cursor_the_bad_ones_spoil_is_accepted(conn: aiosqlite.Connection) -> None:
    page = await list_executions(conn, ListFilter(), cursor=GOOD_CURSOR)
    assert all((row.created_at, row.id) < (T0, 5) for row in page.rows)


# Query plans: the SQL list_query builds, as SQLite will run it.

PLANS: list[tuple[str, ListFilter, str]] = [
    ("none", ListFilter(), "execution_summary_created"),
    ("status", ListFilter(statuses=frozenset({"failed"})), "execution_summary_status"),
    ("workflow", ListFilter(workflow_id="wf-a"), "execution_summary_workflow"),
    (
        "workflow+status",
        ListFilter(workflow_id="wf-a", statuses=frozenset({"running"})),
        "execution_summary_workflow_status",
    ),
    (
        "created",
        ListFilter(created_after=at(10), created_before=at(20)),
        "execution_summary_created",
    ),
    (
        "status+created",
        ListFilter(statuses=frozenset({"failed"}), created_after=at(10)),
        "execution_summary_status",
    ),
    ("team", ListFilter(team_id="team-1"), "execution_summary_team"),
    ("residual", ListFilter(trigger="api", text="x"), "execution_summary_created"),
    ("with deleted", ListFilter(include_deleted=True), "execution_summary_created"),
    (
        "status with deleted",
        ListFilter(statuses=frozenset({"failed"}), include_deleted=True),
        "execution_summary_status",
    ),
]


def plan(db: Path, sql: str, params: list[Any]) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    finally:
        conn.close()


@pytest.mark.parametrize(("case", "f", "index"), PLANS, ids=[c[0] for c in PLANS])
@pytest.mark.parametrize("cursor", [None, GOOD_CURSOR])
def test_common_lists_read_an_index_in_order(
    db: Path, case: str, f: ListFilter, index: str, cursor: str | None
) -> None:
    steps = plan(db, *list_query(f, limit=20, cursor=cursor))
    assert len(steps) == 1, steps
    assert re.search(rf"USING (COVERING )?INDEX {index}\b", steps[0]), steps
    assert not any("TEMP B-TREE" in step for step in steps), steps


@pytest.mark.parametrize("cursor", [None, GOOD_CURSOR])
def test_several_statuses_merge_ordered_index_searches(db: Path, cursor: str | None) -> None:
    """An IN list would sort every matching row in a temp B-tree (acceptable
    for several statuses, but a cost that grows with the table); one ordered
    search per status, merged by UNION ALL, needs no sort at all."""
    statuses = frozenset({"completed", "failed", "waiting"})
    steps = plan(db, *list_query(ListFilter(statuses=statuses), cursor=cursor))
    assert steps.count("MERGE (UNION ALL)") == 2, steps
    searches = [step for step in steps if step.startswith(("SEARCH", "SCAN"))]
    assert len(searches) == 3
    assert all("USING INDEX execution_summary_status (status=?" in s for s in searches), steps
    assert not any("TEMP B-TREE" in step for step in steps), steps


def test_counts_use_an_index(db: Path) -> None:
    for f in (
        ListFilter(),
        ListFilter(statuses=frozenset({"failed", "queued"})),
        ListFilter(include_deleted=True),
    ):
        steps = plan(db, *count_query(f))
        assert any("COVERING INDEX" in step for step in steps), steps
