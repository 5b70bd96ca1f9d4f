"""Random histories of many executions, written through a store with the summary hook.

Operations go to the store in concurrent groups (``asyncio.gather``), so the
writer batches legal and refused appends together, and a batch that fails
(an event id already recorded, a hook that raises) is replayed one request at
a time. Each operation's outcome is predicted in submission order, the order
the writer keeps, from ``eventstore.lifecycle`` states: the histories are
legal by construction and every refusal is one the test meant.

``view_rows`` and ``expected_rows`` read what the tests compare: the summary
table as stored, and the rows a fold of each execution's events gives.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final

import msgspec

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
    ExecutionFailed,
    ExecutionNotFound,
    ExecutionQueued,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionWaiting,
    IdempotencyConflict,
    NewEvent,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    RecordedEvent,
    RuleViolation,
    Usage,
    VersionConflict,
    json_value,
)
from eventstore.events import ExecutionDeleted
from eventstore.lifecycle import TERMINAL, Lifecycle, apply
from eventstore.reads import events_after_sync
from projections import fold
from projections.summary import TABLE, SummaryHook
from projections.views import ROW_COLUMNS, summary_row

NODES: Final = ("a", "b")
MAX_ATTEMPT: Final = 3
UNKNOWN_ID: Final = 999_999
ROW_NAMES: Final = ROW_COLUMNS
Rows = dict[int, tuple[Any, ...]]


class HookFailed(Exception):
    pass


class FlakyHook:
    """``SummaryHook`` that then raises for chosen executions: the summary
    hook has already written and cached their rows when the write rolls back."""

    def __init__(self, inner: SummaryHook) -> None:
        self.inner = inner
        self.doomed: set[int] = set()

    def setup(self, conn: sqlite3.Connection) -> None:
        self.inner.setup(conn)

    def on_commit(self, conn: sqlite3.Connection, events: Sequence[RecordedEvent]) -> None:
        self.inner.on_commit(conn, events)
        doomed = self.doomed & {event.execution_id for event in events}
        if doomed:
            raise HookFailed(f"refusing executions {sorted(doomed)}")

    def catch_up(self, conn: sqlite3.Connection) -> None:
        self.inner.catch_up(conn)

    def settled(self, committed: bool) -> None:
        self.inner.settled(committed)


# --- events --------------------------------------------------------------------


def legal_moves(rng: random.Random, state: Lifecycle) -> list[tuple[float, EventData]]:
    """Events the rules allow next, weighted so that node work comes before the end."""
    stop: list[tuple[float, EventData]] = [
        (0.3, ExecutionCancelRequested(by=rng.choice([None, "alice"]))),
        (0.2, ExecutionCancelled(reason=rng.choice([None, "no longer needed"]))),
    ]
    if state.status == "queued":
        return [(5, ExecutionStarted(worker=rng.choice([None, "w1"]))), *stop]
    if state.status == "waiting":
        return [(3, ExecutionResumed()), (0.3, ExecutionCrashed(reason="lost")), *stop]
    if state.status in TERMINAL and not state.deleted:
        return [(1, ExecutionDeleted(by=rng.choice([None, "dpo"]), reason="retention"))]
    if state.status != "running":
        return []
    error = ErrorInfo(code="E", message="m", node_id=rng.choice([None, "a"]))
    return [
        *node_moves(rng, state.nodes),
        (1, ExecutionWaiting(reason="approval", wait_till=rng.choice([None, 1_800_000_000]))),
        (0.6, ExecutionCompleted(output=json_value({"done": True}))),
        (0.4, ExecutionFailed(error=rng.choice([None, error]))),
        (0.15, ExecutionCrashed()),
        *stop,
    ]


def node_moves(
    rng: random.Random, nodes: dict[str, tuple[int, bool]]
) -> list[tuple[float, EventData]]:
    moves: list[tuple[float, EventData]] = []
    for node_id in NODES:
        attempt, ended = nodes.get(node_id, (0, True))
        if ended and attempt < MAX_ATTEMPT:
            name = rng.choice([None, node_id.upper()])
            data = NodeStarted(node_id=node_id, attempt=attempt + 1, node_name=name)
            moves.append((4, data))
        elif not ended:
            usage = rng.choice([None, Usage(prompt_tokens=5, cost=0.5, currency="USD")])
            done = NodeCompleted(
                node_id=node_id, attempt=attempt, tokens=rng.randint(0, 50), usage=usage
            )
            error = ErrorInfo(code=f"N{attempt}", message="boom")
            will_retry = attempt < MAX_ATTEMPT
            failed = NodeFailed(
                node_id=node_id, attempt=attempt, error=error, will_retry=will_retry
            )
            moves += [(3, done), (2, failed)]
    return moves


def refused_event(rng: random.Random, state: Lifecycle) -> EventData:
    """An event the rules refuse in ``state``."""
    candidates: list[EventData] = [NodeCompleted(node_id="never-started")]
    if state.deleted or state.status not in TERMINAL:
        candidates.append(ExecutionDeleted())
    if state.status != "waiting":
        candidates.append(ExecutionResumed())
    if state.status != "queued":
        candidates.append(ExecutionStarted())
    if state.status != "running":
        candidates += [ExecutionCompleted(), NodeStarted(node_id="a", attempt=9)]
    for node_id, (attempt, _) in state.nodes.items():
        candidates.append(NodeStarted(node_id=node_id, attempt=attempt))
    return rng.choice(candidates)


def draw_events(rng: random.Random, state: Lifecycle, count: int) -> list[EventData]:
    """Up to ``count`` legal events from ``state`` (fewer once it has ended)."""
    scratch, events = state.copy(), []
    for _ in range(count):
        moves = legal_moves(rng, scratch)
        if not moves:
            break
        data = rng.choices([m for _, m in moves], [w for w, _ in moves])[0]
        apply(scratch, data)  # a generator bug fails here, naming the rule
        events.append(data)
    return events


def accepts(state: Lifecycle, events: Sequence[EventData]) -> Lifecycle | None:
    new = state.copy()
    try:
        for data in events:
            apply(new, data)
    except RuleViolation:
        return None
    return new


# --- operations ----------------------------------------------------------------

Expected = type[AppendResult] | type[CreatedExecution] | type[Exception]


@dataclass
class Planned:
    call: Callable[[], Awaitable[object]]  # called only once the whole group is planned
    expected: Expected
    created: Lifecycle | None = None  # a new execution's state, filed under the id it gets


@dataclass
class History:
    """What the store should hold: each execution's lifecycle state, and the
    producer ids and external ids recorded so far (for re-sends and collisions)."""

    store: EventStore
    hook: FlakyHook
    rng: random.Random
    states: dict[int, Lifecycle] = field(default_factory=dict)
    recorded: list[tuple[int, list[NewEvent]]] = field(default_factory=list)
    external_ids: list[str] = field(default_factory=list)
    counter: int = 0

    def next_name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"


async def write_file(path: Path, seed: int) -> History:
    """A random history of ``seed`` written to a new file at ``path``, with some
    writes failing in the summary hook and rolled back."""
    hook = FlakyHook(SummaryHook())
    async with EventStore(path, hook=hook, durability="normal") as store:
        return await write_history(store, hook, random.Random(seed))


async def write_history(store: EventStore, hook: FlakyHook, rng: random.Random) -> History:
    history = History(store, hook, rng)
    for group in range(rng.randint(2, 12)):
        steps = ["create"] * (rng.randint(3, 6) if group == 0 else rng.choice([0, 1, 2, 3]))
        if history.states:
            steps += ["append"] * rng.randint(0, 12)
            if rng.random() < 0.3:
                # Every write of this execution in the group fails in the hook, after
                # the summary hook has written (and cached) its rows.
                hook.doomed.add(rng.choice(sorted(history.states)))
        rng.shuffle(steps)
        plans = [plan_create(history) if s == "create" else plan_append(history) for s in steps]
        await run_group(history, plans)
    return history


async def run_group(history: History, plans: list[Planned]) -> None:
    outcomes = await asyncio.gather(*[p.call() for p in plans], return_exceptions=True)
    history.hook.doomed.clear()
    for plan, outcome in zip(plans, outcomes, strict=True):
        assert isinstance(outcome, plan.expected), (plan, outcome)
        if isinstance(outcome, CreatedExecution) and outcome.created:
            assert plan.created is not None
            history.states[outcome.execution_id] = plan.created


def plan_create(history: History) -> Planned:
    rng, states = history.rng, history.states
    if history.external_ids and rng.random() < 0.1:
        queued = ExecutionQueued(workflow_id="wf-a", external_id=rng.choice(history.external_ids))
        return Planned(partial(history.store.create_execution, queued), CreatedExecution)
    retry_of = None
    if states and rng.random() < 0.5:
        # A few executions retried often: several successful retries compete for one link.
        retry_of = rng.choice(sorted(states)[:3])
    elif rng.random() < 0.05:
        retry_of = UNKNOWN_ID
    external_id = history.next_name("ext") if rng.random() < 0.3 else None
    queued = ExecutionQueued(
        workflow_id=rng.choice(["wf-a", "wf-b", "wf-c"]),
        workflow_name=rng.choice([None, "Flow"]),
        trigger=rng.choice(["api", "webhook", "retry" if retry_of else "schedule"]),
        test_mode=rng.random() < 0.2,
        team_id=rng.choice([None, "team-1"]),
        retry_of=retry_of,
        external_id=external_id,
        input=json_value({"q": history.counter}),
    )
    start = Lifecycle(workflow_id=queued.workflow_id, team_id=queued.team_id)
    apply(start, queued)
    events = draw_events(rng, start, rng.choice([0, 0, 1, 3]))
    if retry_of is not None and rng.random() < 0.5:
        # A retry that succeeds at once, so that retries of one execution race to link.
        events = [ExecutionStarted(), ExecutionCompleted(output=json_value("retried"))]
    if rng.random() < 0.05:
        events.append(refused_event(rng, accepts(start, events) or start))
    after = accepts(start, events)
    call = partial(history.store.create_execution, queued, events)
    if retry_of == UNKNOWN_ID or after is None:
        return Planned(call, RuleViolation)
    if external_id is not None:
        history.external_ids.append(external_id)
    return Planned(call, CreatedExecution, created=after)


def plan_append(history: History) -> Planned:
    rng, store = history.rng, history.store
    active = [x for x, state in sorted(history.states.items()) if state.status not in TERMINAL]
    # Mostly executions under way; some ended ones, which may be deleted once and
    # then refuse every append.
    execution_id = rng.choice(active if active and rng.random() < 0.85 else sorted(history.states))
    state = history.states[execution_id]
    roll = rng.random()
    if roll < 0.03:
        return Planned(partial(store.append, UNKNOWN_ID, [ExecutionStarted()]), ExecutionNotFound)
    if roll < 0.08 and state.version > 1:
        events = draw_events(rng, state, 1) or [ExecutionCancelRequested()]
        stale = partial(store.append, execution_id, events, expected_version=state.version - 1)
        return Planned(stale, VersionConflict)
    if roll < 0.14 and history.recorded:
        return plan_replayed_id(history, execution_id, state)
    events = draw_events(rng, state, rng.choice([1, 1, 2, 3]))
    if roll < 0.25 or not events:
        events.append(refused_event(rng, accepts(state, events) or state))
    return plan_events(history, execution_id, state, events)


def plan_events(
    history: History, execution_id: int, state: Lifecycle, events: list[EventData]
) -> Planned:
    rng, store = history.rng, history.store
    after = accepts(state, events)
    supplied = [NewEvent(data=d, event_id=history.next_name("ev")) for d in events]
    expected_version = rng.choice([None, state.version])
    call = partial(store.append, execution_id, supplied, expected_version=expected_version)
    if after is None:
        return Planned(call, RuleViolation)
    if execution_id in history.hook.doomed:
        return Planned(call, HookFailed)
    history.states[execution_id] = after
    history.recorded.append((execution_id, supplied))
    return Planned(call, AppendResult)


def plan_replayed_id(history: History, execution_id: int, state: Lifecycle) -> Planned:
    """A re-sent append (recorded already, so nothing new), or an event whose
    producer id is recorded for another execution (a conflict)."""
    rng, store = history.rng, history.store
    others = [(x, events) for x, events in history.recorded if x != execution_id]
    if not others or rng.random() < 0.5:
        owner, events = rng.choice(history.recorded)
        return Planned(partial(store.append, owner, events), AppendResult)
    stolen = rng.choice(rng.choice(others)[1]).event_id
    data = (draw_events(rng, state, 1) or [ExecutionCancelRequested()])[0]
    call = partial(store.append, execution_id, [NewEvent(data=data, event_id=stolen)])
    return Planned(call, IdempotencyConflict)


# --- what the tests compare ----------------------------------------------------


def view_rows(path: Path) -> Rows:
    """The summary table as stored, every column, keyed by execution id."""
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(f"SELECT {', '.join(ROW_NAMES)} FROM {TABLE}").fetchall()
    return {row[0]: tuple(row) for row in rows}


def log_events(path: Path) -> list[RecordedEvent]:
    with closing(sqlite3.connect(path)) as conn:
        return events_after_sync(conn, 0, 1_000_000)


def expected_rows(events: Sequence[RecordedEvent]) -> Rows:
    """``summary_row`` of each execution's fold, and the retry link read off the
    log: the first execution, in log order, to complete as a retry of it."""
    by_execution: dict[int, list[RecordedEvent]] = {}
    for event in events:
        by_execution.setdefault(event.execution_id, []).append(event)
    retry_of: dict[int, int | None] = {}
    success: dict[int, int] = {}
    for event in events:
        data = event.payload()
        if isinstance(data, ExecutionQueued):
            retry_of[event.execution_id] = data.retry_of
        target = retry_of[event.execution_id]
        if isinstance(data, ExecutionCompleted) and target is not None:
            success.setdefault(target, event.execution_id)
    rows: Rows = {}
    for execution_id, stream in by_execution.items():
        detail = fold(stream)
        assert detail is not None
        linked = msgspec.structs.replace(detail, retry_success_id=success.get(execution_id))
        rows[execution_id] = msgspec.structs.astuple(summary_row(linked))
    return rows
