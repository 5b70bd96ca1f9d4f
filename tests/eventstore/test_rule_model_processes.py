"""The rule model of ``test_rule_model``, its creates and appends sent from
three processes, each with its own store (and summary hook), to one file.

Commit order across processes is not determined, so each group of appends
sends all the ops on one execution to one process, picked at random per
group; there the writer keeps submission order, so the model predicts every
outcome. An execution moves to another process from one group to the next,
whose cached state of it is then stale: the writers must notice the other
processes' commits. Creates go to any process; the model knows executions
by the ids their creates return.

Sent to two processes at once, on purpose: the same append with the same
event ids (one writes it, the other answers a duplicate with its positions),
and the same create with one external id (one creates the execution, the
other gets it back). Sent to any process in a later group: an append
recorded before (a duplicate again), and a create with a known external id.

At the end the log holds exactly what the model accepted, its hash chain
verifies, and the summary rows the hooks kept equal a rebuild's.

The whole history is drawn before any of it runs, so that a failure that
depends on timing shows as Hypothesis's "flaky", not as data drawn differently.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Generic, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstore import (
    AppendResult,
    CreatedExecution,
    EventData,
    EventStore,
    ExecutionQueued,
    NewEvent,
    RecordedEvent,
    RuleViolation,
)
from projections.rebuild import rebuild

from ..projections.store_histories import expected_rows, log_events, view_rows
from . import model_workers
from .model_workers import (
    AppendCall,
    Appends,
    Close,
    CreateCall,
    Creates,
    Open,
    Outcome,
    Refused,
    Workers,
)
from .test_rule_model import ModelExecution, Op, draw_events, draw_op, predict, tag

PROCESSES: Final = 3
NOWHERE: Final = 10_000  # the id ``draw_op`` gives an append to no execution
pytestmark = pytest.mark.slow


@pytest.fixture
def workers() -> Iterator[Workers]:
    """Started once for the whole test; every example opens a file of its own."""
    with model_workers.started(PROCESSES) as started:
        yield started


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rng=st.randoms(use_true_random=False))
def test_log_holds_what_the_model_accepts_from_three_processes(
    workers: Workers, rng: random.Random
) -> None:
    history = History(rng)
    groups = []
    for group in range(rng.randint(1, 12)):
        count = rng.randint(1, 4) if group == 0 else rng.choice([0, 0, 1, 2])
        groups.append((plan_creates(history, count), plan_appends(history)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.db"
        workers.everyone(Open(str(path)))  # all at once, a new file
        for creates, appends in groups:
            dispatch(workers, creates, Creates)
            # Ids are dense, whichever process created which.
            ids = sorted(history.ids.values())
            assert ids == list(range(1, len(ids) + 1)), history.ids
            dispatch(workers, appends, Appends)
        workers.everyone(Close())  # a rebuild needs the file to itself
        asyncio.run(check_file(path, history))


@dataclass
class Recorded:
    """An append the model accepts, with event ids of the producer's: to send again."""

    number: int
    events: list[EventData | NewEvent]
    result: AppendResult | None = None  # the first answer, once it came


@dataclass
class History:
    rng: random.Random
    # Executions by the number the model gave them, in the order it accepted
    # their creates; ``ids`` maps them to the ids the store gave them.
    model: dict[int, ModelExecution] = field(default_factory=dict)
    ids: dict[int, int] = field(default_factory=dict)
    external: dict[str, int] = field(default_factory=dict)  # external_id -> model number
    recorded: list[Recorded] = field(default_factory=list)
    # What the outcomes said was written: (position, execution id, version, type).
    claims: list[tuple[int, int, int, str]] = field(default_factory=list)
    names: int = 0

    def fresh(self, prefix: str) -> str:
        self.names += 1
        return f"{prefix}{self.names}"

    def maybe_ids(self, events: list[EventData]) -> list[EventData | NewEvent]:
        """``events`` as they are, or (some of the time) with event ids of our own."""
        if self.rng.random() < 0.7:
            return list(events)
        return [NewEvent(data=data, event_id=self.fresh("event-")) for data in events]

    def execution_id(self, number: int) -> int:
        """The store's id of the model's execution ``number`` (NOWHERE: none)."""
        return self.ids.get(number, NOWHERE)

    def claim(self, result: AppendResult, events: list[EventData]) -> None:
        """Note what an append's answer says it wrote."""
        first = result.version - len(events) + 1
        self.claims.extend(
            (position, result.execution_id, first + i, tag(data))
            for i, (position, data) in enumerate(zip(result.positions, events, strict=True))
        )


Call = TypeVar("Call", CreateCall, AppendCall)


@dataclass
class Planned(Generic[Call]):
    """One call, the workers it goes to (all at once), and the check of their
    answers. The call is built when sent: the ids the store gave executions
    are known only by then."""

    call: Callable[[], Call]
    targets: list[int]
    check: Callable[[list[Outcome]], None]


def dispatch(
    workers: Workers,
    planned: list[Planned[Call]],
    command: Callable[[list[Call]], Creates | Appends],
) -> None:
    """Each worker's calls in planned order, all workers at once; then every check."""
    orders: dict[int, list[int]] = {}
    for index, plan in enumerate(planned):
        for target in plan.targets:
            orders.setdefault(target, []).append(index)
    calls = [plan.call() for plan in planned]
    replies = workers.ask({w: command([calls[i] for i in order]) for w, order in orders.items()})
    answers: list[list[Outcome]] = [[] for _ in planned]
    for w, order in orders.items():
        outcomes = replies[w]
        assert outcomes is not None
        for index, outcome in zip(order, outcomes, strict=True):
            answers[index].append(outcome)
    for plan, outcomes in zip(planned, answers, strict=True):
        plan.check(outcomes)


# --- creates ---------------------------------------------------------------------------


def plan_creates(history: History, count: int) -> list[Planned[CreateCall]]:
    rng = history.rng
    known = sorted(history.external)  # from earlier groups: committed, whoever sends it
    planned: list[Planned[CreateCall]] = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.15 and known:
            planned.append(plan_known_create(history, rng.choice(known)))
            continue
        external = history.fresh("external-") if roll < 0.6 else None
        events = draw_events(rng, ModelExecution(), rng.choice([0, 0, 1, 3]))
        twice = external is not None and roll < 0.4
        targets = rng.sample(range(PROCESSES), 2 if twice else 1)
        planned.append(plan_new_create(history, external, events, targets))
    return planned


def plan_known_create(history: History, external: str) -> Planned[CreateCall]:
    """A create with an external id known from an earlier group: the existing
    execution comes back, and nothing is written, whatever its events."""
    number = history.external[external]
    events = draw_events(history.rng, ModelExecution(), history.rng.choice([0, 1]))
    call = CreateCall(ExecutionQueued(workflow_id="wf", external_id=external), list(events))
    current = history.model[number]  # as it is when this group runs
    version = len(current.events)

    def check(outcomes: list[Outcome]) -> None:
        (outcome,) = outcomes
        assert isinstance(outcome, CreatedExecution), (call, outcome)
        assert (outcome.created, outcome.execution_id, outcome.version, outcome.events) == (
            False,
            history.ids[number],
            version,
            (),
        ), (call, outcome)

    return Planned(lambda: call, [history.rng.randrange(PROCESSES)], check)


def plan_new_create(
    history: History, external: str | None, events: list[EventData], targets: list[int]
) -> Planned[CreateCall]:
    """A create, sent to one process or (with an external id) to two at once."""
    after = ModelExecution().accepts(events)
    call = CreateCall(
        ExecutionQueued(workflow_id="wf", external_id=external), history.maybe_ids(events)
    )
    number = len(history.model) + 1
    if after is not None:
        history.model[number] = after
        if external is not None:
            history.external[external] = number

    def check(outcomes: list[Outcome]) -> None:
        if after is None:
            for outcome in outcomes:
                assert isinstance(outcome, Refused), (call, outcome)
                assert issubclass(outcome.kind, RuleViolation), (call, outcome)
            return
        created = [o for o in outcomes if isinstance(o, CreatedExecution)]
        assert len(created) == len(outcomes), (call, outcomes)
        # Exactly one creates it; the other gets it back.
        assert sorted(o.created for o in created) == [False] * (len(created) - 1) + [True], (
            call,
            outcomes,
        )
        first = next(o for o in created if o.created)
        for other in created:
            same = (other.execution_id, other.uuid, other.position, other.version)
            assert same == (first.execution_id, first.uuid, first.position, len(after.events))
            if not other.created:
                assert other.events == (), (call, other)
        written = [(e.execution_id, e.version, e.type) for e in first.events]
        assert written == [(first.execution_id, v, n) for v, n in enumerate(after.events, 1)]
        assert first.position == first.events[0].position
        history.ids[number] = first.execution_id
        history.claims.extend(_claims(first.events))

    return Planned(lambda: call, targets, check)


def _claims(events: tuple[RecordedEvent, ...]) -> list[tuple[int, int, int, str]]:
    return [(e.position, e.execution_id, e.version, e.type) for e in events]


# --- appends ---------------------------------------------------------------------------


def plan_appends(history: History) -> list[Planned[AppendCall]]:
    """Ops on one execution go to one process this group; a raced execution
    gets only its one append (sent to two processes); a re-sent append may go anywhere."""
    rng = history.rng
    earlier = list(history.recorded)  # answered before this group runs
    owner: dict[int, int] = {}  # model number -> the process its ops go to
    raced: set[int] = set()
    planned: list[Planned[AppendCall]] = []
    for _ in range(rng.randint(0, 12)):
        roll = rng.random()
        free = [number for number in sorted(history.model) if number not in owner]
        if roll < 0.1 and earlier:
            planned.append(plan_resend(history, rng.choice(earlier)))
        elif roll < 0.2 and free:
            number = rng.choice(free)
            owner[number] = -1
            raced.add(number)
            planned.append(plan_race(history, number))
        else:
            eligible = {n: m for n, m in history.model.items() if n not in raced}
            op = draw_op(rng, eligible)
            target = owner.setdefault(op.execution_id, rng.randrange(PROCESSES))
            planned.append(plan_append(history, op, target))
    return planned


def plan_append(history: History, op: Op, target: int) -> Planned[AppendCall]:
    """``op`` predicted as ``test_rule_model.run_group`` predicts it."""
    current = history.model.get(op.execution_id)
    version = len(current.events) if current else 0
    expected = {"none": None, "right": version, "stale": version + 1}[op.expected]
    predicted = predict(current, op)
    after = current.accepts(op.events) if current and op.expected != "stale" else None
    sent = history.maybe_ids(op.events)
    recorded = None
    if after is not None:
        history.model[op.execution_id] = after
        if any(isinstance(e, NewEvent) for e in sent):
            recorded = Recorded(op.execution_id, sent)
            history.recorded.append(recorded)

    def call() -> AppendCall:
        return AppendCall(history.execution_id(op.execution_id), sent, expected)

    def check(outcomes: list[Outcome]) -> None:
        (outcome,) = outcomes
        if after is None:
            assert isinstance(outcome, Refused), (op, outcome)
            assert issubclass(outcome.kind, predicted), (op, predicted, outcome)
            return
        assert isinstance(outcome, AppendResult), (op, outcome)
        assert predicted is AppendResult
        assert (outcome.execution_id, outcome.version, outcome.duplicate) == (
            history.execution_id(op.execution_id),
            len(after.events),
            False,
        ), (op, outcome)
        history.claim(outcome, op.events)
        if recorded is not None:
            recorded.result = outcome

    return Planned(call, [target], check)


def plan_race(history: History, number: int) -> Planned[AppendCall]:
    """The same append with the same event ids, sent to two processes at once:
    one writes it and the other answers a duplicate with the same positions;
    or both refuse it, as the model does."""
    rng = history.rng
    current = history.model[number]
    scratch = current.accepts([])
    assert scratch is not None
    events = draw_events(rng, scratch, rng.choice([1, 1, 2]))
    op = Op(number, events, rng.choice(["none", "right"]))
    predicted = predict(current, op)
    after = current.accepts(events)
    sent: list[EventData | NewEvent] = [
        NewEvent(data=e, event_id=history.fresh("raced-")) for e in events
    ]
    expected = len(current.events) if op.expected == "right" else None
    recorded = None
    if after is not None:
        history.model[number] = after
        recorded = Recorded(number, sent)
        history.recorded.append(recorded)

    def call() -> AppendCall:
        return AppendCall(history.execution_id(number), sent, expected)

    def check(outcomes: list[Outcome]) -> None:
        if after is None:
            for outcome in outcomes:
                assert isinstance(outcome, Refused), (op, outcome)
                assert issubclass(outcome.kind, predicted), (op, predicted, outcome)
            return
        results = [o for o in outcomes if isinstance(o, AppendResult)]
        assert len(results) == 2, (op, outcomes)
        # Exactly one writes it.
        assert sorted(r.duplicate for r in results) == [False, True], (op, outcomes)
        first, second = results
        assert first.positions == second.positions, (op, outcomes)
        for result in results:
            assert (result.execution_id, result.version) == (
                history.execution_id(number),
                len(after.events),
            ), (op, outcomes)
        history.claim(first, events)
        assert recorded is not None
        recorded.result = first

    return Planned(call, rng.sample(range(PROCESSES), 2), check)


def plan_resend(history: History, recorded: Recorded) -> Planned[AppendCall]:
    """An append recorded in an earlier group, sent again to any process: a
    duplicate with the first answer's positions, whatever the execution's state now."""

    def call() -> AppendCall:
        return AppendCall(history.execution_id(recorded.number), recorded.events, None)

    def check(outcomes: list[Outcome]) -> None:
        (outcome,) = outcomes
        first = recorded.result
        assert first is not None  # its group ran, and its check passed
        assert outcome == AppendResult(first.execution_id, first.version, first.positions, True)

    return Planned(call, [history.rng.randrange(PROCESSES)], check)


# --- the file at the end ---------------------------------------------------------------


async def check_file(path: Path, history: History) -> None:
    incremental = view_rows(path)  # as the workers' hooks left them
    async with EventStore(path) as store:
        log = await store.read_all(0, limit=1_000_000)
        report = await store.verify()
    assert [e.position for e in log] == list(range(1, len(log) + 1))
    assert len(log) == sum(len(m.events) for m in history.model.values())
    streams: dict[int, list[tuple[int, str]]] = {}
    for event in log:
        streams.setdefault(event.execution_id, []).append((event.version, event.type))
    for execution_id, stream in streams.items():
        assert [v for v, _ in stream] == list(range(1, len(stream) + 1)), execution_id
    expected = {
        history.ids[number]: list(enumerate(execution.events, 1))
        for number, execution in history.model.items()
    }
    assert streams == expected
    for position, execution_id, version, name in history.claims:
        event = log[position - 1]
        assert (event.execution_id, event.version, event.type) == (execution_id, version, name)
    assert report.ok, report
    assert report.checked == len(log), report

    assert set(incremental) == set(history.ids.values())
    rebuild(path)
    assert view_rows(path) == incremental
    assert incremental == expected_rows(log_events(path))
