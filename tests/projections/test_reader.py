"""``ViewReader``: detail and replay against the fold of the stored events,
with ``retry_success_id`` from the summary table, and the list over a store."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from eventstore import (
    ErrorInfo,
    EventData,
    EventStore,
    ExecutionCompleted,
    ExecutionFailed,
    ExecutionNotFound,
    ExecutionQueued,
    ExecutionStarted,
    NodeCompleted,
    NodeStarted,
    RecordedEvent,
    json_value,
)
from projections import (
    ExecutionDetail,
    InvalidQuery,
    ListFilter,
    ViewReader,
    fold,
    replay_as_of_time,
    replay_as_of_version,
)
from projections import reader as reader_module
from projections.summary import SummaryHook

Opened = tuple[EventStore, ViewReader]


@pytest.fixture
async def opened(tmp_path: Path) -> AsyncIterator[Opened]:
    async with (
        EventStore(tmp_path / "e.db", hook=SummaryHook()) as store,
        ViewReader(store) as views,
    ):
        yield store, views


def folded(events: list[RecordedEvent]) -> ExecutionDetail:
    detail = fold(events)
    assert detail is not None
    return detail


async def retried(store: EventStore, times: int = 1) -> tuple[int, list[int]]:
    """A failed execution and ``times`` successful retries of it, one after another."""
    failed = await store.create_execution(
        ExecutionQueued(workflow_id="wf"),
        [ExecutionStarted(), ExecutionFailed(error=ErrorInfo(code="TIMEOUT"))],
    )
    retries = []
    for _ in range(times):
        await asyncio.sleep(0.002)  # the store's clock moves on between commits
        retry = await store.create_execution(
            ExecutionQueued(workflow_id="wf", retry_of=failed.execution_id),
            [ExecutionStarted(), ExecutionCompleted()],
        )
        retries.append(retry.execution_id)
    return failed.execution_id, retries


async def test_detail_is_the_fold_with_the_first_successful_retry(opened: Opened) -> None:
    store, views = opened
    failed, (first, second) = await retried(store, times=2)

    detail = await views.detail(failed)
    assert detail.retry_success_id == first
    assert detail == replace(folded(await store.read_execution(failed)), retry_success_id=first)
    assert await views.detail(second) == fold(await store.read_execution(second))
    assert (await views.detail(second)).retry_success_id is None


async def test_replay_as_of_a_time_links_the_retry_once_it_was_recorded(opened: Opened) -> None:
    store, views = opened
    failed, (retry,) = await retried(store)
    events = await store.read_execution(failed)
    done = (await store.read_execution(retry))[-1].recorded_at
    assert events[-1].recorded_at < done

    before = await views.replay(failed, as_of_time=done - 1)
    assert before == replay_as_of_time(events, done - 1)
    assert before is not None and before.status == "failed"
    assert before.retry_success_id is None
    after = await views.replay(failed, as_of_time=done)
    assert after == replace(folded(events), retry_success_id=retry) == await views.detail(failed)
    assert await views.replay(failed, as_of_time=events[0].recorded_at - 1) is None


async def test_replay_as_of_a_version_links_a_retry_from_the_next_event_on(opened: Opened) -> None:
    store, views = opened
    created = await store.create_execution(ExecutionQueued(workflow_id="wf"), [ExecutionStarted()])
    original = created.execution_id
    # Retried and the retry done while the original still runs (v2).
    retry = await store.create_execution(
        ExecutionQueued(workflow_id="wf", retry_of=original),
        [ExecutionStarted(), ExecutionCompleted()],
    )
    await store.append(original, [NodeStarted(node_id="a"), NodeCompleted(node_id="a")])
    await store.append(original, [ExecutionCompleted()])
    events = await store.read_execution(original)

    for version in range(len(events) + 2):
        replayed = await views.replay(original, as_of_version=version)
        plain = replay_as_of_version(events, version)
        if version <= 2:
            assert replayed == plain
        else:
            assert plain is not None
            assert replayed == replace(plain, retry_success_id=retry.execution_id)
    assert await views.replay(original, as_of_version=0) is None
    assert await views.replay(original, as_of_version=-3) is None
    assert await views.replay(original, as_of_version=2**80) == await views.detail(original)


@pytest.mark.parametrize("execution_id", [999, 0, -1, 2**70])
async def test_an_unknown_execution_is_not_found(opened: Opened, execution_id: int) -> None:
    store, views = opened
    await store.create_execution(ExecutionQueued(workflow_id="wf"))
    with pytest.raises(ExecutionNotFound):
        await views.detail(execution_id)
    with pytest.raises(ExecutionNotFound):
        await views.replay(execution_id, as_of_version=1)
    with pytest.raises(ExecutionNotFound):
        await views.replay(execution_id, as_of_time=2**40)


async def test_replay_needs_exactly_one_point_in_time(opened: Opened) -> None:
    store, views = opened
    created = await store.create_execution(ExecutionQueued(workflow_id="wf"))
    for kwargs in ({}, {"as_of_version": 1, "as_of_time": 1}):
        with pytest.raises(InvalidQuery) as raised:
            await views.replay(created.execution_id, **kwargs)
        assert raised.value.field == "as_of"


async def test_list_and_count_see_the_stores_commits(opened: Opened) -> None:
    store, views = opened
    ids = []
    for n in range(5):
        queued = ExecutionQueued(workflow_id=f"wf-{n % 2}")
        ids.append((await store.create_execution(queued, occurred_at=1000 + n)).execution_id)

    page = await views.list(ListFilter(workflow_id="wf-0"), limit=2)
    assert [row.id for row in page.rows] == [ids[4], ids[2]]
    assert page.next_cursor is not None
    rest = await views.list(ListFilter(workflow_id="wf-0"), 2, page.next_cursor)
    assert ([row.id for row in rest.rows], rest.next_cursor) == ([ids[0]], None)
    assert await views.count() == 5
    assert await views.count(ListFilter(statuses=frozenset({"queued"}), workflow_id="wf-1")) == 2


async def test_a_closed_reader_refuses_queries(opened: Opened) -> None:
    _, views = opened
    await views.close()
    with pytest.raises(RuntimeError):
        await views.list()


async def test_a_long_execution_is_folded_on_the_readers_own_thread(
    opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, views = opened
    events: list[EventData] = [
        ExecutionStarted(),
        NodeStarted(node_id="a"),
        NodeCompleted(node_id="a"),
    ]
    created = await store.create_execution(ExecutionQueued(workflow_id="wf"), events)
    short = await store.create_execution(ExecutionQueued(workflow_id="wf"))
    stored = await store.read_execution(created.execution_id)
    threads: list[str] = []
    real = ViewReader._fold_large

    def spied(self: ViewReader, *args: Any) -> ExecutionDetail | None:
        threads.append(threading.current_thread().name)
        return real(self, *args)

    monkeypatch.setattr(reader_module, "LARGE_EVENTS", 3)
    monkeypatch.setattr(ViewReader, "_fold_large", spied)
    assert await views.detail(created.execution_id) == folded(stored)
    assert await views.replay(created.execution_id, as_of_version=4) == folded(stored[:4])
    assert await views.replay(created.execution_id, as_of_version=2) == folded(stored[:2])
    as_of = stored[2].recorded_at
    assert await views.replay(created.execution_id, as_of_time=as_of) == replay_as_of_time(
        stored, as_of
    )
    assert (await views.detail(short.execution_id)).version == 1
    with pytest.raises(ExecutionNotFound):
        await views.detail(99)
    # The detail, the replay to version 4 and the replay as of a time: the
    # replay to version 2 and the short execution stayed on the loop.
    assert threads == ["execstore-views_0"] * 3


async def test_few_events_with_many_bytes_are_folded_on_the_readers_own_thread(
    opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, views = opened
    heavy = json_value("x" * 5000)
    created = await store.create_execution(
        ExecutionQueued(workflow_id="wf", input=heavy), [ExecutionStarted()]
    )
    light = await store.create_execution(ExecutionQueued(workflow_id="wf"), [ExecutionStarted()])
    threads: list[str] = []
    real = ViewReader._fold_large

    def spied(self: ViewReader, *args: Any) -> ExecutionDetail | None:
        threads.append(threading.current_thread().name)
        return real(self, *args)

    monkeypatch.setattr(reader_module, "LARGE_BYTES", 4096)
    monkeypatch.setattr(ViewReader, "_fold_large", spied)
    detail = await views.detail(created.execution_id)
    assert detail == folded(await store.read_execution(created.execution_id))
    assert detail.payload_bytes > 5000 and reader_module.is_large(detail)
    assert (await views.detail(light.execution_id)).payload_bytes < 4096
    assert threads == ["execstore-views_0"]  # the light one stayed on the loop
