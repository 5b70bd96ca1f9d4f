"""Random histories against a small model of the lifecycle rules.

The model states the rules as a transition table, independently of
``eventstore.lifecycle``. Appends are submitted in concurrent groups, so the
writer batches valid and invalid ones together: each must succeed or fail
exactly as the model says, alone.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstore import (
    AppendResult,
    CreatedExecution,
    ErrorInfo,
    EventData,
    EventStore,
    ExecutionCancelled,
    ExecutionCancelRequested,
    ExecutionCompleted,
    ExecutionCrashed,
    ExecutionDeleted,
    ExecutionFailed,
    ExecutionNotFound,
    ExecutionQueued,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionWaiting,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    RuleViolation,
    VersionConflict,
)

ACTIVE = ("queued", "running", "waiting")
MOVES: dict[tuple[str, str], str] = {
    ("queued", "execution.started"): "running",
    ("running", "execution.waiting"): "waiting",
    ("waiting", "execution.resumed"): "running",
    ("running", "execution.completed"): "completed",
    ("running", "execution.failed"): "failed",
    ("running", "execution.crashed"): "crashed",
    ("waiting", "execution.crashed"): "crashed",
    **{(s, "execution.cancelled"): "cancelled" for s in ACTIVE},
    **{(s, "execution.cancel_requested"): s for s in ACTIVE},
}


def tag(data: EventData) -> str:
    return str(data.__struct_config__.tag)


@dataclass
class ModelExecution:
    status: str = "queued"
    events: list[str] = field(default_factory=lambda: ["execution.queued"])
    nodes: dict[str, tuple[int, bool]] = field(default_factory=dict)
    deleted: bool = False

    def accepts(self, batch: list[EventData]) -> ModelExecution | None:
        """The execution after ``batch``, or None if a rule rejects it."""
        new = ModelExecution(self.status, list(self.events), dict(self.nodes), self.deleted)
        for data in batch:
            if not new.step(data):
                return None
            new.events.append(tag(data))
        return new

    def step(self, data: EventData) -> bool:
        name = tag(data)
        if self.deleted:
            return False  # nothing follows a delete, not even another
        if name == "execution.deleted":
            self.deleted = self.status in TERMINAL
            return self.deleted
        if name.startswith("node."):
            return self.status == "running" and self.node_step(data)
        if (self.status, name) not in MOVES:
            return False
        self.status = MOVES[(self.status, name)]
        return True

    def node_step(self, data: EventData) -> bool:
        assert isinstance(data, NodeStarted | NodeCompleted | NodeFailed)
        last = self.nodes.get(data.node_id)
        if isinstance(data, NodeStarted):
            if last is not None and (not last[1] or data.attempt <= last[0]):
                return False
            self.nodes[data.node_id] = (data.attempt, False)
            return data.attempt >= 1
        if last is None or last != (data.attempt, False):
            return False
        self.nodes[data.node_id] = (data.attempt, True)
        return True


ANY_EVENT: list[EventData] = [
    ExecutionStarted(),
    ExecutionWaiting(reason="human input"),
    ExecutionResumed(),
    ExecutionCompleted(),
    ExecutionFailed(error=ErrorInfo(code="E1", message="boom")),
    ExecutionCrashed(reason="worker lost"),
    ExecutionCancelRequested(by="user"),
    ExecutionCancelled(by="user"),
    ExecutionQueued(workflow_id="again"),
    ExecutionDeleted(by="user"),
    *[NodeStarted(node_id=n, attempt=a) for n in "ab" for a in (1, 2, 3)],
    *[NodeCompleted(node_id=n, attempt=a, tokens=3) for n in "ab" for a in (1, 2, 3)],
    *[NodeFailed(node_id=n, attempt=a, error=ErrorInfo(code="N")) for n in "ab" for a in (1, 2)],
]


EXEMPLARS: dict[str, EventData] = {
    "execution.started": ExecutionStarted(),
    "execution.waiting": ExecutionWaiting(reason="human input"),
    "execution.resumed": ExecutionResumed(),
    "execution.completed": ExecutionCompleted(),
    "execution.failed": ExecutionFailed(error=ErrorInfo(code="E1")),
    "execution.crashed": ExecutionCrashed(),
    "execution.cancelled": ExecutionCancelled(),
    "execution.cancel_requested": ExecutionCancelRequested(),
}


TERMINAL = {"completed", "failed", "crashed", "cancelled"}


def legal(execution: ModelExecution) -> list[tuple[EventData, float]]:
    """Moves the rules allow, weighted so that node work happens before a
    terminal event ends the history."""
    moves: list[tuple[EventData, float]] = []
    if execution.status == "running":
        for node in "ab":
            attempt, done = execution.nodes.get(node, (0, True))
            if done:
                moves.append((NodeStarted(node_id=node, attempt=attempt + 1), 6))
            else:
                moves.append((NodeCompleted(node_id=node, attempt=attempt, tokens=7), 6))
                failed = NodeFailed(node_id=node, attempt=attempt, error=ErrorInfo(code="N"))
                moves.append((failed, 2))
    for (status, name), to in MOVES.items():
        if status == execution.status:
            moves.append((EXEMPLARS[name], 0.5 if to in TERMINAL or to == status else 3))
    if execution.status in TERMINAL and not execution.deleted:
        moves.append((ExecutionDeleted(reason="cleanup"), 1))
    return moves


def near_misses(execution: ModelExecution) -> list[EventData]:
    """Node events that break a rule by one step, and a delete too early or too late."""
    misses: list[EventData] = []
    if execution.deleted or execution.status not in TERMINAL:
        misses.append(ExecutionDeleted())
    for node, (attempt, done) in execution.nodes.items():
        misses.append(NodeStarted(node_id=node, attempt=attempt + (0 if done else 1)))
        if done:
            misses.append(NodeCompleted(node_id=node, attempt=attempt))
            misses.append(NodeFailed(node_id=node, attempt=attempt, error=ErrorInfo(code="N")))
    return misses


@dataclass
class Op:
    execution_id: int
    events: list[EventData]
    expected: str  # "none", "right" or "stale"


def draw_op(rng: random.Random, model: dict[int, ModelExecution]) -> Op:
    """One append: mostly legal moves, some near misses, some anything at all."""
    ids = sorted(model)
    execution_id = rng.choice(ids) if ids and rng.random() > 0.05 else 10_000
    scratch = model.get(execution_id, ModelExecution()).accepts([]) or ModelExecution()
    events = draw_events(rng, scratch, rng.choice([1, 1, 2, 3]))
    return Op(execution_id, events, rng.choice(["none", "right", "right", "stale"]))


def draw_events(rng: random.Random, scratch: ModelExecution, count: int) -> list[EventData]:
    events: list[EventData] = []
    for _ in range(count):
        roll, moves, misses = rng.random(), legal(scratch), near_misses(scratch)
        if roll < 0.8 and moves:
            event = rng.choices([m for m, _ in moves], [w for _, w in moves])[0]
        else:
            event = rng.choice(misses if roll < 0.95 and misses else ANY_EVENT)
        scratch.step(event)
        events.append(event)
    return events


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rng=st.randoms(use_true_random=False))
def test_log_holds_exactly_what_the_model_accepts(rng: random.Random) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run_history(Path(tmp) / "events.db", rng))


async def run_history(path: Path, rng: random.Random) -> None:
    model: dict[int, ModelExecution] = {}
    expected_log: list[tuple[int, int, str]] = []  # (execution, version, type) in order
    async with EventStore(path) as store:
        for group in range(rng.randint(1, 15)):
            # Few executions, many appends each: histories grow deep.
            creates = rng.randint(1, 3) if group == 0 else rng.choice([0, 0, 0, 1])
            await run_creates(store, model, expected_log, rng, creates)
            await run_group(store, model, expected_log, rng)
        log = await store.read_all(0, limit=100_000)
    assert [(e.execution_id, e.version, e.type) for e in log] == expected_log
    assert [e.position for e in log] == list(range(1, len(log) + 1))
    for execution_id, execution in model.items():
        versions = [e.version for e in log if e.execution_id == execution_id]
        assert versions == list(range(1, len(execution.events) + 1))


async def run_creates(
    store: EventStore,
    model: dict[int, ModelExecution],
    expected_log: list[tuple[int, int, str]],
    rng: random.Random,
    count: int,
) -> None:
    """Concurrent creates, some with initial events the rules may refuse."""
    initial = [draw_events(rng, ModelExecution(), rng.choice([0, 0, 1, 3])) for _ in range(count)]
    outcomes = await asyncio.gather(
        *[store.create_execution(ExecutionQueued(workflow_id="wf"), e) for e in initial],
        return_exceptions=True,
    )
    for events, outcome in zip(initial, outcomes, strict=True):
        after = ModelExecution().accepts(events)
        if after is None:
            assert isinstance(outcome, RuleViolation), (events, outcome)
            continue
        assert isinstance(outcome, CreatedExecution), (events, outcome)
        assert outcome.execution_id == len(model) + 1
        model[outcome.execution_id] = after
        expected_log.extend(
            (outcome.execution_id, version, name) for version, name in enumerate(after.events, 1)
        )


async def run_group(
    store: EventStore,
    model: dict[int, ModelExecution],
    expected_log: list[tuple[int, int, str]],
    rng: random.Random,
) -> None:
    """Submit every op of the group at once; predict each outcome in submission order."""
    submitted: list[tuple[Op, int | None, type]] = []
    for _ in range(rng.randint(0, 10)):
        op = draw_op(rng, model)  # drawn after the model took the earlier ops
        current = model.get(op.execution_id)
        version = len(current.events) if current else 0
        expected = {"none": None, "right": version, "stale": version + 1}[op.expected]
        submitted.append((op, expected, predict(current, op)))
        after = current.accepts(op.events) if current and op.expected != "stale" else None
        if after is not None:
            model[op.execution_id] = after
            expected_log.extend(
                (op.execution_id, version + i + 1, tag(e)) for i, e in enumerate(op.events)
            )
    outcomes = await asyncio.gather(
        *[store.append(op.execution_id, op.events, expected_version=v) for op, v, _ in submitted],
        return_exceptions=True,
    )
    for (op, _, predicted), outcome in zip(submitted, outcomes, strict=True):
        assert isinstance(outcome, predicted), (op, outcome)


def predict(current: ModelExecution | None, op: Op) -> type:
    if current is None:
        return ExecutionNotFound
    if op.expected == "stale":
        return VersionConflict
    return AppendResult if current.accepts(op.events) is not None else RuleViolation
