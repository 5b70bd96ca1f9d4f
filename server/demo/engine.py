"""A simulated workflow engine (``execstore serve --demo-engine``), so that a
newcomer can trigger a webhook and watch the execution run live.

It follows the log in-process from its head and runs each execution queued
from then on as a task of its own, with short real pauses between events:
started, two to four nodes with tokens, now and then a node retried, a wait or
a failure. A run's draws are seeded with the engine's seed and the execution
id, so a seed gives the same histories however the runs interleave.

Every append carries ``expected_version``: when someone else wrote meanwhile
(a cancel request, another worker), the run re-reads the execution and
decides: confirm a requested cancel, leave alone what is not its own, or go on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from functools import partial
from types import TracebackType
from typing import Final, NamedTuple

from aiohttp import web
from msgspec.structs import replace

from eventstore import (
    ErrorInfo,
    EventData,
    EventStore,
    ExecutionCancelled,
    ExecutionCompleted,
    ExecutionFailed,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionWaiting,
    NodeFailed,
    RecordedEvent,
    RuleViolation,
    StoreError,
    Subscription,
    SubscriptionFilter,
    VersionConflict,
    json_value,
)
from eventstore.events import now_us
from eventstore.lifecycle import TERMINAL
from projections import ExecutionDetail, fold

from ..http.keys import STORE

# The recorded demo's catalogue and node payloads, so live runs look like the
# executions already in the list.
from .catalogue import WORKFLOWS, Node, error_info, node_completed, node_started

WORKER: Final = "demo-engine"
_CANCEL_REQUESTED: Final = "execution.cancel_requested"
# Cancel requests too, so that a run cuts its pause short to confirm one.
_FOLLOWED: Final = SubscriptionFilter(types=frozenset({"execution.queued", _CANCEL_REQUESTED}))
# Per execution: how often a node fails once and is retried, the run waits
# between two nodes, or a node fails for good and fails the execution.
_RETRY_RATE: Final = 0.2
_WAIT_RATE: Final = 0.2
_FAIL_RATE: Final = 0.15
# How long a node runs, in units of the engine's step delay.
_RUN_STEPS: Final = {"llm": (2.0, 5.0), "http": (0.5, 2.0), "code": (0.2, 0.8)}
_log: Final = logging.getLogger(__name__)


class Step(NamedTuple):
    pause: float  # before the event, in units of the step delay (a resume waits instead)
    event: EventData


def plan_run(rng: random.Random, workflow_id: str) -> list[Step]:
    """One execution's events, every draw made before its first write.

    A catalogue workflow runs its own nodes; any other workflow id (a webhook
    for "wf-1") borrows a catalogue workflow's.
    """
    drawn = rng.choice(WORKFLOWS)
    workflow = next((known for known in WORKFLOWS if known.id == workflow_id), drawn)
    nodes = workflow.nodes[: rng.randint(2, min(4, len(workflow.nodes)))]
    failing = rng.randrange(1, len(nodes)) if rng.random() < _FAIL_RATE else None
    retried = rng.randrange(len(nodes)) if rng.random() < _RETRY_RATE else None
    waiting = rng.randrange(1, len(nodes)) if rng.random() < _WAIT_RATE else None
    steps = [Step(0.0, ExecutionStarted(worker=WORKER))]  # picked up at once
    for index, node in enumerate(nodes):
        if index == waiting:
            steps.append(Step(rng.uniform(0.2, 0.6), ExecutionWaiting(reason=workflow.wait)))
            steps.append(Step(0.0, ExecutionResumed()))
        steps += _attempts(rng, node, retry=index == retried, fail=index == failing)
        if index == failing:
            error = steps[-1].event
            assert isinstance(error, NodeFailed)
            failed = replace(error.error, node_id=node.id)
            steps.append(Step(rng.uniform(0.1, 0.3), ExecutionFailed(error=failed)))
            return steps
    output = json_value({"ok": True, "result": nodes[-1].out})
    steps.append(Step(rng.uniform(0.1, 0.3), ExecutionCompleted(output=output)))
    return steps


def _attempts(rng: random.Random, node: Node, *, retry: bool, fail: bool) -> list[Step]:
    steps = []
    error = error_info(rng, node)
    attempts = 2 if retry else 1
    for attempt in range(1, attempts + 1):
        last = attempt == attempts
        # A second attempt waits out the engine's back-off first.
        gap = rng.uniform(0.2, 0.6) if attempt == 1 else rng.uniform(1.0, 2.0)
        steps.append(Step(gap, node_started(rng, node, attempt)))
        ended: EventData = (
            node_completed(rng, node, attempt)
            if last and not fail
            else NodeFailed(node_id=node.id, attempt=attempt, error=error, will_retry=not last)
        )
        steps.append(Step(rng.uniform(*_RUN_STEPS[node.type]), ended))
    return steps


class _Run:
    """One execution's writes, each checked against the version the run last saw."""

    def __init__(self, store: EventStore, execution_id: int, version: int) -> None:
        self.store = store
        self.id = execution_id
        self.version = version
        self.started = False  # by this run: until then the execution is not its own
        self.nudged = asyncio.Event()  # a cancel was requested: stop pausing

    async def pause(self, seconds: float) -> None:
        with suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.nudged.wait()

    async def append(self, data: EventData) -> bool:
        """Append ``data``; False when the run should end instead."""
        for _ in range(3):
            try:
                result = await self.store.append(self.id, [data], expected_version=self.version)
            except (VersionConflict, RuleViolation) as refused:
                _log.info("demo engine: execution %d: %s", self.id, refused)
                if not await self._resync():
                    return False
                continue
            self.version = result.version
            self.started = True
            return True
        return False

    async def _resync(self) -> bool:
        """Someone else wrote, or a rule refused: True if the run may try again."""
        detail = fold(await self.store.read_execution(self.id))
        if detail is None or detail.status in TERMINAL:
            return False
        if detail.cancel_requested and (self.started or detail.status == "queued"):
            await self._confirm_cancel(detail)
            return False
        if not self.started and detail.status != "queued":
            return False  # another worker took it
        if detail.version == self.version:
            return False  # nothing changed, so the rule will refuse again
        self.version = detail.version
        return True

    async def _confirm_cancel(self, detail: ExecutionDetail) -> None:
        # A node cut short ends failed, so that no attempt stays "running" forever.
        events: list[EventData] = []
        if detail.status == "running":
            cut = ErrorInfo(code="CANCELLED", message="The execution was cancelled")
            for node in detail.nodes:
                if node.status == "running":
                    attempt = node.attempts[-1].attempt
                    events.append(NodeFailed(node_id=node.node_id, attempt=attempt, error=cut))
        # Who asked and why stay as the request named them.
        events.append(ExecutionCancelled())
        try:
            await self.store.append(self.id, events, expected_version=detail.version)
        except (VersionConflict, RuleViolation) as refused:  # someone else got there first
            _log.info("demo engine: execution %d: cancel not confirmed: %s", self.id, refused)


class DemoEngine:
    """Runs every execution queued after ``start()`` until ``stop()``.

    At most ``max_running`` run at once; the rest wait in the subscription,
    which falls back to the file if they are many, so memory stays bounded.
    """

    def __init__(
        self,
        store: EventStore,
        *,
        seed: int | None = None,
        step_delay: float = 0.3,
        wait_seconds: float = 3.0,
        max_running: int = 50,
    ) -> None:
        if step_delay < 0 or wait_seconds < 0 or max_running < 1:
            raise ValueError("delays must not be negative and max_running must be positive")
        self.store = store
        self.seed = int.from_bytes(os.urandom(8), "big") if seed is None else seed
        self.step_delay = step_delay
        self.wait_seconds = wait_seconds
        self._slots = asyncio.Semaphore(max_running)
        self._runs: dict[asyncio.Task[None], _Run] = {}
        self._subscription: Subscription | None = None
        self._consumer: asyncio.Task[None] | None = None

    @property
    def running(self) -> int:
        """How many simulated executions are in progress."""
        return len(self._runs)

    async def start(self) -> None:
        if self._consumer is not None:
            raise RuntimeError("the demo engine is already running")
        # From the head: what was queued before the engine started is not its to run.
        self._subscription = self.store.subscribe(self.store.head, _FOLLOWED)
        self._consumer = asyncio.create_task(self._follow(self._subscription), name=WORKER)

    async def stop(self) -> None:
        """Stop following and cancel the runs in progress; they stay as far as they got."""
        consumer, subscription = self._consumer, self._subscription
        self._consumer = self._subscription = None
        if subscription is not None:
            await subscription.aclose()
        tasks = [*self._runs, *([] if consumer is None else [consumer])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def join(self) -> None:
        """Wait until the runs in progress have ended."""
        while self._runs:
            await asyncio.wait(list(self._runs))

    async def __aenter__(self) -> DemoEngine:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _follow(self, subscription: Subscription) -> None:
        async for event in subscription:
            if event.type == _CANCEL_REQUESTED:
                for run in self._runs.values():
                    if run.id == event.execution_id:
                        run.nudged.set()
                continue
            await self._slots.acquire()
            run = _Run(self.store, event.execution_id, event.version)
            task = asyncio.create_task(self._simulate(run, event), name=f"{WORKER}:{run.id}")
            self._runs[task] = run
            task.add_done_callback(partial(self._ended, run))

    def _ended(self, run: _Run, task: asyncio.Task[None]) -> None:
        del self._runs[task]
        self._slots.release()
        if not task.cancelled() and (error := task.exception()) is not None:
            _log.error("demo engine: execution %d failed", run.id, exc_info=error)

    def plan(self, execution_id: int, workflow_id: str) -> list[Step]:
        """What the engine will record for this execution, if nobody interferes."""
        # A generator per execution: runs interleave, and the draws must not.
        return plan_run(random.Random(f"{self.seed}/{execution_id}"), workflow_id)

    async def _simulate(self, run: _Run, queued: RecordedEvent) -> None:
        try:
            for step in self.plan(queued.execution_id, queued.workflow_id):
                event = step.event
                if isinstance(event, ExecutionResumed):
                    await run.pause(self.wait_seconds)
                else:
                    await run.pause(step.pause * self.step_delay)
                if isinstance(event, ExecutionWaiting):
                    wait_till = now_us() + int(self.wait_seconds * 1_000_000)
                    event = replace(event, wait_till=wait_till)
                if not await run.append(event):
                    return
        except StoreError as error:  # the store closed, say: this run ends, the engine goes on
            _log.warning("demo engine: execution %d stopped: %s", run.id, error)


def engine_context(base_url: str) -> Callable[[web.Application], AsyncIterator[None]]:
    """An app cleanup context that runs the engine while the app's store is open."""

    async def demo_engine(app: web.Application) -> AsyncIterator[None]:
        async with DemoEngine(app[STORE]):
            print(
                "execstore: demo engine on: POST a webhook and watch its execution run:"
                f" POST {base_url}/v1/workflows/wf-support-triage/webhook, POST the url it"
                f" returns, then GET {base_url}/v1/executions/ID/stream",
                flush=True,
            )
            yield

    return demo_engine
