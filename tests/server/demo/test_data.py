"""The demo data: the count asked for, histories the lifecycle rules and the
folds accept, the whole mix of outcomes, retry links, and the same histories
for the same seed."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import pytest

from eventstore import EventStore, RecordedEvent
from projections import ExecutionDetail, ListFilter, SummaryHook, ViewReader, fold
from server.demo.data import record_demo

NOW: Final = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
DAY: Final = 24 * 3600 * 1_000_000

Opened = tuple[EventStore, ViewReader]


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Opened]:
    """A store with the summary table, holding the default demo."""
    async with (
        EventStore(tmp_path / "demo.db", hook=SummaryHook()) as store,
        ViewReader(store) as views,
    ):
        assert await record_demo(store, now_us=NOW) == 300
        yield store, views


async def histories(store: EventStore) -> dict[int, list[RecordedEvent]]:
    by_execution: dict[int, list[RecordedEvent]] = defaultdict(list)
    for event in await store.read_all(0, limit=1_000_000):
        by_execution[event.execution_id].append(event)
    return dict(sorted(by_execution.items()))


async def details(store: EventStore) -> list[ExecutionDetail]:
    folded = []
    for events in (await histories(store)).values():
        detail = fold(events)
        assert detail is not None
        folded.append(detail)
    return folded


@pytest.mark.parametrize("count", [0, 1, 2, 5, 300])
async def test_records_exactly_the_number_asked_for(tmp_path: Path, count: int) -> None:
    async with EventStore(tmp_path / "e.db") as store:
        assert await record_demo(store, executions=count, now_us=NOW) == count
        assert len(await histories(store)) == count


async def test_every_history_folds_in_time_order_within_the_last_week(store: EventStore) -> None:
    await record_demo(store, now_us=NOW)
    for events in (await histories(store)).values():
        assert fold(events) is not None
        times = [event.occurred_at for event in events]
        assert times == sorted(set(times)), "strictly increasing within an execution"
        assert times[0] > NOW - 8 * DAY and times[-1] <= NOW
    created = sorted(detail.created_at for detail in await details(store))
    assert created[-1] - created[0] > 5 * DAY, "spread over days"


async def test_the_summary_table_agrees_with_the_folds(demo: Opened) -> None:
    store, views = demo
    statuses = Counter(detail.status for detail in await details(store))
    for status, count in statuses.items():
        assert await views.count(ListFilter(statuses=frozenset({status}))) == count
    assert await views.count() == 300


async def test_every_outcome_is_in_the_mix(store: EventStore) -> None:
    await record_demo(store, now_us=NOW)
    folded = await details(store)
    by_status: dict[str, list[ExecutionDetail]] = defaultdict(list)
    for detail in folded:
        by_status[detail.status].append(detail)
    expected = {"completed", "failed", "waiting", "cancelled", "crashed", "running", "queued"}
    assert set(by_status) == expected
    assert len(by_status["completed"]) > len(folded) / 2, "mostly completed"
    for failed in by_status["failed"]:
        assert failed.error is not None and failed.error.code and failed.error.node_id
        assert any(n.node_id == failed.error.node_id for n in failed.nodes)
    cancelled = by_status["cancelled"]
    assert any(d.started_at is None for d in cancelled), "cancelled while queued"
    assert any(d.cancel_requested and d.started_at is not None for d in cancelled)
    assert all(d.wait_till is not None and d.wait_till > NOW for d in by_status["waiting"])
    assert any(d.test_mode for d in folded) and not all(d.test_mode for d in folded)
    assert 5 <= len({d.workflow_id for d in folded}) <= 8
    assert len({d.team_id for d in folded}) >= 2
    assert {d.trigger for d in folded} >= {"webhook", "schedule", "manual", "api"}


async def test_llm_nodes_use_tokens_and_others_do_not(store: EventStore) -> None:
    await record_demo(store, now_us=NOW)
    nodes = [node for detail in await details(store) for node in detail.nodes]
    llm = [node for node in nodes if node.node_type == "llm" and node.status == "completed"]
    assert llm and all(node.totals.tokens > 0 for node in llm)
    usage = llm[0].totals.usage
    assert usage is not None and usage.currency == "USD" and (usage.cost or 0) > 0
    assert all(node.totals.tokens == 0 for node in nodes if node.node_type != "llm")


async def test_some_nodes_fail_once_and_succeed_on_attempt_two(store: EventStore) -> None:
    await record_demo(store, now_us=NOW)
    recovered = [
        node
        for detail in await details(store)
        if detail.status == "completed"
        for node in detail.nodes
        if [(a.status, a.will_retry) for a in node.attempts]
        == [("failed", True), ("completed", False)]
    ]
    assert recovered


async def test_some_node_inputs_carry_secrets_for_export_to_mask(store: EventStore) -> None:
    await record_demo(store, now_us=NOW)
    keys: set[str] = set()
    for detail in await details(store):
        for node in detail.nodes:
            value = json.loads(bytes(node.attempts[0].input))
            keys.update(value)
            keys.update(value.get("headers", {}))
    assert {"api_key", "authorization"} <= keys


async def test_retries_link_back_to_the_failure_they_fixed(demo: Opened) -> None:
    store, views = demo
    retries = [detail for detail in await details(store) if detail.retry_of is not None]
    assert retries
    for retry in retries:
        assert retry.status == "completed"
        original = await views.detail(retry.retry_of or 0)
        assert original.status == "failed"
        assert original.retry_success_id == retry.id
        assert original.workflow_id == retry.workflow_id
        assert original.created_at < retry.created_at


async def test_the_same_seed_gives_the_same_histories(tmp_path: Path) -> None:
    async def signature(name: str, seed: int) -> list[tuple[str, str, int]]:
        async with EventStore(tmp_path / name) as store:
            await record_demo(store, executions=120, seed=seed, now_us=NOW)
            return [(d.workflow_id, d.status, d.tokens) for d in await details(store)]

    first = await signature("a.db", 7)
    assert await signature("b.db", 7) == first
    assert await signature("c.db", 8) != first


async def test_recording_again_with_the_same_seed_adds_nothing(store: EventStore) -> None:
    assert await record_demo(store, executions=40, now_us=NOW) == 40
    head = store.head
    assert await record_demo(store, executions=40, now_us=NOW) == 0
    assert store.head == head


async def test_the_hash_chain_verifies(store: EventStore) -> None:
    await record_demo(store, now_us=NOW)
    report = await store.verify()
    assert report.ok and report.checked == store.head > 300


async def test_a_negative_count_is_refused(store: EventStore) -> None:
    with pytest.raises(ValueError, match="negative"):
        await record_demo(store, executions=-1)
