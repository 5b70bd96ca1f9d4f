"""Offset pages: page ``n`` of any filter is rows ``n * size`` to
``(n + 1) * size`` of the keyset list, for dialects that page by number."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from eventstore import EventStore
from projections import InvalidQuery, ListFilter, SummaryRow, ViewReader
from projections.queries import offset_query
from projections.summary import SummaryHook

from .listing import all_rows, build, expected

FILTERS = (
    ListFilter(),
    ListFilter(statuses=frozenset({"failed", "crashed"})),
    ListFilter(statuses=frozenset({"running", "waiting", "queued"}), team_id="team-1"),
    ListFilter(workflow_id="wf-b", test_mode=False),
    ListFilter(text="refund"),
    ListFilter(workflow_id="wf-unknown"),
)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("offset") / "events.db"
    asyncio.run(build(path, 150))
    return path


@pytest.fixture(scope="module")
def rows(db: Path) -> list[SummaryRow]:
    return all_rows(db)


@pytest.mark.parametrize("f", FILTERS)
@pytest.mark.parametrize("size", [1, 7, 20, 100])
async def test_pages_by_number_cut_the_list_in_order(
    db: Path, rows: list[SummaryRow], f: ListFilter, size: int
) -> None:
    want = expected(rows, f)
    async with EventStore(db, hook=SummaryHook()) as store, ViewReader(store) as views:
        pages = [
            await views.page(f, offset=number * size, limit=size)
            for number in range(len(want) // size + 2)  # and one past the end
        ]
        assert await views.count(f) == len(want)
    for number, page in enumerate(pages):
        assert page == want[number * size : (number + 1) * size]
    assert pages[-1] == []


def test_bad_offsets_and_limits_are_refused() -> None:
    for offset, limit, field in ((-1, 10, "offset"), (2**63, 10, "offset"), (0, 0, "limit")):
        with pytest.raises(InvalidQuery) as refused:
            offset_query(ListFilter(), offset=offset, limit=limit)
        assert refused.value.field == field
    with pytest.raises(InvalidQuery) as refused:
        offset_query(ListFilter(statuses=frozenset({"lost"})), offset=0, limit=1)
    assert refused.value.field == "status"
