"""Demo executions for an empty store, so that a newcomer's first list is full.

Every draw comes from one ``random.Random(seed)`` and all of them happen before
the first write, so the histories depend only on the seed and ``now_us``; only
the store's ids and uuids vary between runs.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime
from typing import Final

from msgspec.structs import replace

from eventstore import (
    CreatedExecution,
    ErrorInfo,
    EventData,
    EventStore,
    ExecutionCancelled,
    ExecutionCancelRequested,
    ExecutionCompleted,
    ExecutionCrashed,
    ExecutionFailed,
    ExecutionQueued,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionWaiting,
    NewEvent,
    NodeFailed,
    json_value,
)
from eventstore.frozen import Frozen

from .catalogue import (
    WORKFLOWS,
    Node,
    Workflow,
    duration_ms,
    error_info,
    node_completed,
    node_started,
)

_USERS: Final = ("maria@acme.io", "jonas@acme.io", "priya@acme.io")
# How an execution ends, and how often. "retried" is a failure that a later,
# successful execution retries; "cancelled" never left the queue.
_OUTCOMES: Final = {
    "completed": 60,
    "failed": 9,
    "retried": 5,
    "waiting": 4,
    "resumed": 4,
    "cancelled": 2,
    "cancel_running": 3,
    "running": 4,
    "queued": 3,
    "crashed": 2,
}
_SECOND: Final = 1_000_000
_HOUR: Final = 3600 * _SECOND
_WEEK: Final = 7 * 24 * _HOUR
# Creates in flight at once: enough for the writer to group many per commit.
_CHUNK: Final = 50


class _Timeline:
    """Events at times relative to the execution's creation; placed on the
    clock once the whole history, and so its length, is known."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.t = 0
        self.events: list[tuple[int, EventData]] = []

    def add(self, data: EventData, after_ms: float) -> None:
        self.t += max(1, int(after_ms * 1000))  # strictly later than the last event
        self.events.append((self.t, data))


class _Plan(Frozen):
    queued: ExecutionQueued
    created_at: int
    ends_at: int
    events: list[NewEvent]
    retry_of_index: int | None = None  # the plan this one retries


async def record_demo(
    store: EventStore, *, executions: int = 300, seed: int = 7, now_us: int | None = None
) -> int:
    """Record `executions` realistic demo executions into an open EventStore; return how many
    were recorded.

    They spread over the 7 days before ``now_us`` (default: now). External ids
    derive from the seed, so calling it again with the same seed records none
    of those already there.
    """
    if executions < 0:
        raise ValueError("executions must not be negative")
    now = time.time_ns() // 1000 if now_us is None else now_us
    plans = _plan_all(random.Random(seed), executions, now, seed)
    ids: dict[int, int] = {}
    # A retry names the failed execution's id, so it is created after it.
    first = [(i, plan) for i, plan in enumerate(plans) if plan.retry_of_index is None]
    retries = [(i, plan) for i, plan in enumerate(plans) if plan.retry_of_index is not None]
    return await _create_all(store, first, ids) + await _create_all(store, retries, ids)


async def _create_all(
    store: EventStore, plans: list[tuple[int, _Plan]], ids: dict[int, int]
) -> int:
    recorded = 0
    for start in range(0, len(plans), _CHUNK):
        chunk = plans[start : start + _CHUNK]
        results = await asyncio.gather(*(_create(store, plan, ids) for _, plan in chunk))
        for (index, _), result in zip(chunk, results, strict=True):
            ids[index] = result.execution_id
            recorded += result.created
    return recorded


async def _create(store: EventStore, plan: _Plan, ids: dict[int, int]) -> CreatedExecution:
    queued = plan.queued
    if plan.retry_of_index is not None:
        queued = replace(queued, retry_of=ids[plan.retry_of_index])
    return await store.create_execution(queued, plan.events, occurred_at=plan.created_at)


def _plan_all(rng: random.Random, count: int, now: int, seed: int) -> list[_Plan]:
    plans: list[_Plan] = []
    while len(plans) < count:
        workflow = rng.choice(WORKFLOWS)
        outcome = rng.choices(list(_OUTCOMES), list(_OUTCOMES.values()))[0]
        if outcome == "retried" and len(plans) + 2 > count:
            outcome = "failed"
        failed = _plan(rng, workflow, outcome, now, f"demo-{seed}-{len(plans)}")
        plans.append(failed)
        if outcome == "retried":
            # Someone notices within the hour and presses retry: same input, new run.
            at = failed.ends_at + rng.randint(30 * _SECOND, _HOUR)
            retry = _plan(rng, workflow, "completed", now, f"demo-{seed}-{len(plans)}", at)
            queued = replace(failed.queued, trigger="manual", external_id=retry.queued.external_id)
            plans.append(replace(retry, queued=queued, retry_of_index=len(plans) - 1))
    return plans


def _plan(
    rng: random.Random,
    workflow: Workflow,
    outcome: str,
    now: int,
    external_id: str,
    created_at: int | None = None,
) -> _Plan:
    gap = _gap_us(rng, outcome)  # from the last event to now
    timeline = _timeline(rng, workflow, outcome, gap)
    base = now - gap - timeline.t if created_at is None else created_at
    events = []
    for at, data in timeline.events:
        if isinstance(data, ExecutionWaiting) and data.wait_till is not None:
            data = replace(data, wait_till=base + data.wait_till)
        events.append(NewEvent(data=data, occurred_at=base + at))
    queued = _queued(rng, workflow, base, now, external_id)
    return _Plan(queued, base, base + timeline.t, events)


def _gap_us(rng: random.Random, outcome: str) -> int:
    if outcome == "running":  # its current node started moments ago
        return rng.randint(_SECOND // 5, 8 * _SECOND)
    if outcome == "queued":
        return rng.randint(_SECOND, 90 * _SECOND)
    if outcome == "waiting":
        return rng.randint(60 * _SECOND, 24 * _HOUR)
    if outcome == "retried":  # leaves room for the retry before now
        return rng.randint(3 * _HOUR, _WEEK)
    return rng.randint(0, _WEEK)


def _queued(
    rng: random.Random, workflow: Workflow, created_at: int, now: int, external_id: str
) -> ExecutionQueued:
    n = rng.randint(1000, 9999)
    trigger = rng.choice(workflow.triggers)
    day = datetime.fromtimestamp(created_at / _SECOND, UTC).strftime("%Y-%m-%d")
    # Half the runs older than the last deploy, two days ago, ran the previous version.
    old = created_at < now - 48 * _HOUR and rng.random() < 0.5
    return ExecutionQueued(
        workflow_id=workflow.id,
        workflow_name=workflow.name,
        workflow_version=workflow.version - 1 if old else workflow.version,
        trigger=trigger,
        input=json_value({workflow.key: day if workflow.key == "day" else n, "via": trigger}),
        display_name=workflow.label.format(n=n, day=day),
        test_mode=trigger == "manual" and rng.random() < 0.5,
        team_id=workflow.team,
        external_id=external_id,
        metadata={"source": "demo"},
    )


def _timeline(rng: random.Random, workflow: Workflow, outcome: str, gap: int) -> _Timeline:
    timeline = _Timeline(rng)
    if outcome == "queued":
        return timeline
    if outcome == "cancelled":
        cancelled = ExecutionCancelled(by=rng.choice(_USERS), reason="Duplicate trigger")
        timeline.add(cancelled, rng.uniform(2e3, 1e5))
        return timeline
    timeline.add(ExecutionStarted(worker=f"worker-{rng.randint(1, 4)}"), rng.uniform(20, 2500))
    nodes = workflow.nodes
    stop = rng.randrange(1, len(nodes))  # where a run that does not complete stops
    flaky = outcome in ("completed", "resumed")
    _run_nodes(timeline, nodes[:stop], flaky)
    if outcome in ("failed", "retried"):
        _fail(timeline, nodes[stop])
    elif outcome == "waiting":  # since `gap` ago, until some time after now
        pause = rng.uniform(1, 5)
        till = timeline.t + int(pause * 1000) + gap + rng.randint(_HOUR // 6, 30 * _HOUR)
        timeline.add(ExecutionWaiting(reason=workflow.wait, wait_till=till), pause)
    elif outcome in ("running", "crashed", "cancel_running"):
        _interrupt(timeline, nodes[stop], outcome)
    else:
        if outcome == "resumed":
            _wait_and_resume(timeline, workflow.wait)
        _run_nodes(timeline, nodes[stop:], flaky)
        output = json_value({"ok": True, "result": nodes[-1].out})
        timeline.add(ExecutionCompleted(output=output), rng.uniform(1, 30))
    return timeline


def _wait_and_resume(timeline: _Timeline, reason: str) -> None:
    rng = timeline.rng
    wait_ms = rng.uniform(30e3, 3 * 3600e3)
    till = timeline.t + int(wait_ms * 1000)
    timeline.add(ExecutionWaiting(reason=reason, wait_till=till), rng.uniform(1, 5))
    timeline.add(ExecutionResumed(), wait_ms + rng.uniform(50, 2000))


def _interrupt(timeline: _Timeline, node: Node, outcome: str) -> None:
    """Start ``node`` and leave it running, lose its worker, or cancel around it."""
    rng = timeline.rng
    timeline.add(node_started(rng, node, 1), rng.uniform(1, 40))
    if outcome == "crashed":  # noticed when the worker's heartbeat times out
        timeline.add(ExecutionCrashed(reason="worker heartbeat lost"), rng.uniform(30e3, 300e3))
    elif outcome == "cancel_running":  # the worker lets the node finish, then stops
        by, reason = rng.choice(_USERS), "Started by mistake"
        timeline.add(ExecutionCancelRequested(by=by, reason=reason), rng.uniform(100, 5000))
        timeline.add(node_completed(rng, node, 1), duration_ms(rng, node))
        timeline.add(ExecutionCancelled(), rng.uniform(5, 200))


def _run_nodes(timeline: _Timeline, nodes: tuple[Node, ...], flaky: bool) -> None:
    for node in nodes:
        attempt = 1
        if flaky and timeline.rng.random() < 0.03:  # a transient failure the engine retries
            _attempt(timeline, node, 1, error_info(timeline.rng, node), will_retry=True)
            attempt = 2
        _attempt(timeline, node, attempt)


def _fail(timeline: _Timeline, node: Node) -> None:
    rng = timeline.rng
    error = error_info(rng, node)
    attempts = 2 if rng.random() < 0.4 else 1
    for attempt in range(1, attempts + 1):
        _attempt(timeline, node, attempt, error, will_retry=attempt < attempts)
    failed = ErrorInfo(code=error.code, message=error.message, node_id=node.id)
    timeline.add(ExecutionFailed(error=failed), rng.uniform(2, 50))


def _attempt(
    timeline: _Timeline,
    node: Node,
    attempt: int,
    error: ErrorInfo | None = None,
    *,
    will_retry: bool = False,
) -> None:
    rng = timeline.rng
    # A second attempt waits out the engine's back-off first.
    pause = rng.uniform(1, 40) if attempt == 1 else rng.uniform(1e3, 1e4)
    timeline.add(node_started(rng, node, attempt), pause)
    ended: EventData
    if error is None:
        ended = node_completed(rng, node, attempt)
    else:
        ended = NodeFailed(node_id=node.id, attempt=attempt, error=error, will_retry=will_retry)
    timeline.add(ended, duration_ms(rng, node))
