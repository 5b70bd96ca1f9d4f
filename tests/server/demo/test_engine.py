"""The demo engine: it runs what is queued after it starts, to the end, with
tokens, retries, waits and failures; confirms a requested cancel; leaves
alone what is not its own; stops with nothing left running; repeats itself
for a seed; and an app runs it for a webhook's execution."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer

from eventstore import (
    EventStore,
    ExecutionCancelled,
    ExecutionCancelRequested,
    ExecutionQueued,
    ExecutionStarted,
    ExecutionWaiting,
    RecordedEvent,
    SubscriptionFilter,
    json_value,
)
from eventstore.events import TERMINAL_TYPES, WIRE_NAMES
from projections import ExecutionDetail, fold
from server.app import create_app
from server.demo.engine import WORKER, DemoEngine, engine_context
from server.http.keys import STORE
from server.http.settings import Settings

TRIAGE = "wf-support-triage"  # a catalogue workflow: its second node is an LLM call


def queued(workflow_id: str = TRIAGE) -> ExecutionQueued:
    return ExecutionQueued(workflow_id=workflow_id, trigger="webhook", input=json_value({"n": 1}))


async def first(store: EventStore, execution_id: int, types: frozenset[str]) -> RecordedEvent:
    """The execution's first event of these types, recorded already or still to come."""
    only = SubscriptionFilter(execution_ids=frozenset({execution_id}), types=types)
    async with asyncio.timeout(10), store.subscribe(0, only) as events:
        async for event in events:
            return event
    raise AssertionError("the store closed")


async def finished(store: EventStore, execution_id: int) -> ExecutionDetail:
    await first(store, execution_id, TERMINAL_TYPES)
    detail = fold(await store.read_execution(execution_id))
    assert detail is not None
    return detail


async def create(store: EventStore, count: int, workflow_id: str = TRIAGE) -> list[int]:
    return [(await store.create_execution(queued(workflow_id))).execution_id for _ in range(count)]


@pytest.fixture
async def engine(store: EventStore) -> AsyncIterator[DemoEngine]:
    async with DemoEngine(store, seed=1, step_delay=0, wait_seconds=0) as started:
        yield started


async def test_runs_each_queued_execution_to_the_end(store: EventStore, engine: DemoEngine) -> None:
    ids = await create(store, 30) + await create(store, 10, "wf-from-a-webhook")
    details = [await finished(store, execution_id) for execution_id in ids]
    histories = [await store.read_execution(execution_id) for execution_id in ids]
    types = [[event.type for event in history] for history in histories]
    assert {detail.status for detail in details} == {"completed", "failed"}
    assert all(detail.worker == WORKER and 2 <= len(detail.nodes) <= 4 for detail in details)
    for detail in details:
        if detail.workflow_id == TRIAGE and detail.status == "completed":
            assert detail.tokens > 0
            assert detail.usage is not None and detail.usage.cost
        if detail.status == "failed":
            assert detail.error is not None and detail.error.node_id is not None
    retried = [n for d in details for n in d.nodes if len(n.attempts) == 2]
    assert retried and all(node.attempts[0].will_retry for node in retried)
    waited = [t[t.index("execution.waiting") :] for t in types if "execution.waiting" in t]
    assert waited and all(t[1] == "execution.resumed" for t in waited)
    assert all(node.node_name for d in details[30:] for node in d.nodes)  # borrowed ones
    await engine.join()
    assert [len(h) for h in histories] == [len(await store.read_execution(i)) for i in ids]
    assert (await store.verify()).ok


async def test_executions_queued_before_it_started_are_left_alone(store: EventStore) -> None:
    before = await create(store, 3)
    async with DemoEngine(store, seed=1, step_delay=0, wait_seconds=0) as engine:
        (after,) = await create(store, 1)
        await finished(store, after)
        await engine.join()
    for execution_id in before:
        assert [e.type for e in await store.read_execution(execution_id)] == ["execution.queued"]


async def test_an_execution_started_or_cancelled_elsewhere_is_left_alone(
    store: EventStore, engine: DemoEngine
) -> None:
    started = await store.create_execution(queued(), [ExecutionStarted(worker="worker-7")])
    cancelled = await store.create_execution(queued(), [ExecutionCancelled(by="maria@acme.io")])
    (ours,) = await create(store, 1)
    await finished(store, ours)
    await engine.join()
    for other in (started, cancelled):
        assert len(await store.read_execution(other.execution_id)) == 2


async def cancel_at(store: EventStore, engine: DemoEngine, event_type: str) -> ExecutionDetail:
    """Queue an execution the engine will record ``event_type`` for, request a
    cancel once it has, and return the detail it ends with."""
    (execution_id,) = await create(store, 1)
    planned = [WIRE_NAMES[type(step.event)] for step in engine.plan(execution_id, TRIAGE)]
    assert event_type in planned
    seen = await first(store, execution_id, frozenset({event_type}))
    request = ExecutionCancelRequested(by="maria@acme.io", reason="Started by mistake")
    await store.append(execution_id, [request])
    detail = await finished(store, execution_id)
    await engine.join()
    assert detail.version == len(await store.read_execution(execution_id))  # nothing after it
    assert seen.version < detail.version
    return detail


async def test_a_cancel_requested_while_running_is_confirmed(store: EventStore) -> None:
    # Pauses long enough that the node still runs when the request arrives.
    async with DemoEngine(store, seed=1, step_delay=0.5, wait_seconds=0) as engine:
        async with asyncio.timeout(3):
            detail = await cancel_at(store, engine, "node.started")
    assert detail.status == "cancelled"
    assert (detail.cancel_by, detail.cancel_reason) == ("maria@acme.io", "Started by mistake")
    assert all(node.status != "running" for node in detail.nodes)  # the cut node ended failed
    assert detail.nodes[-1].attempts[-1].error is not None


async def test_a_cancel_requested_while_waiting_is_confirmed(store: EventStore) -> None:
    seed = next(s for s in range(100) if _waits(DemoEngine(store, seed=s)))
    async with DemoEngine(store, seed=seed, step_delay=0, wait_seconds=60) as engine:
        async with asyncio.timeout(3):  # the request cuts the wait short
            detail = await cancel_at(store, engine, "execution.waiting")
    assert detail.status == "cancelled"


def _waits(engine: DemoEngine) -> bool:
    return any(isinstance(step.event, ExecutionWaiting) for step in engine.plan(1, TRIAGE))


async def test_stop_cancels_the_runs_and_leaves_no_task(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    engine = DemoEngine(store, seed=1, step_delay=30, max_running=2)
    await engine.start()
    ids = await create(store, 3)
    for execution_id in ids[:2]:
        await first(store, execution_id, frozenset({"execution.started"}))
    await asyncio.sleep(0.05)
    assert engine.running == 2  # the third waits for a slot
    await engine.stop()
    await engine.stop()  # twice is harmless
    assert engine.running == 0
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith(WORKER)]
    versions = [len(await store.read_execution(execution_id)) for execution_id in ids]
    assert versions == [2, 2, 1]
    assert not caplog.records


async def test_a_seed_gives_the_same_histories(tmp_path: Path) -> None:
    runs = [await _histories(tmp_path / f"{n}.db", seed=5) for n in range(2)]
    assert runs[0] == runs[1]
    assert await _histories(tmp_path / "other.db", seed=6) != runs[0]


async def _histories(path: Path, seed: int) -> dict[int, list[tuple[str, Any]]]:
    """Each execution's events; runs interleave differently from one time to the next."""
    async with EventStore(path) as store:
        async with DemoEngine(store, seed=seed, step_delay=0, wait_seconds=0) as engine:
            ids = await create(store, 8) + await create(store, 4, "wf-1")
            for execution_id in ids:
                await finished(store, execution_id)
            await engine.join()
        found: dict[int, list[tuple[str, Any]]] = defaultdict(list)
        for event in await store.read_all(0, limit=10_000):
            data = msgspec.json.decode(event.data)
            data.pop("uuid", None)
            data.pop("wait_till", None)  # the clock's, a few seconds ahead
            found[event.execution_id].append((event.type, data))
        return found


async def test_an_app_runs_a_webhooks_execution_live(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = {"Authorization": "Bearer es_test_admin_0123456789"}
    app = create_app(tmp_path / "e.db", Settings(env_token=admin["Authorization"][7:]))
    app.cleanup_ctx.append(engine_context("http://127.0.0.1:8080"))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        async with client.post(f"/v1/workflows/{TRIAGE}/webhook", headers=admin) as response:
            assert response.status == 201
            url = (await response.json())["url"]
        async with client.post(url, json={"ticket_id": 4211}) as response:
            assert response.status == 202
            execution_id = (await response.json())["execution_id"]
        store = app[STORE]
        started = await first(store, execution_id, frozenset({"execution.started"}))
        assert msgspec.json.decode(started.data)["worker"] == WORKER
    assert "execstore: demo engine on: POST a webhook and watch" in capsys.readouterr().out
