"""Replay as of a version or a time, and the detail fold's properties, over
random legal histories.

Histories are drawn from a seeded ``random.Random`` by a small generator that
knows only which events are legal next; ``eventstore.lifecycle`` double-checks
each one. Derived values are checked against the raw events, not the fold.
"""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstore import (
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
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    RecordedEvent,
    Usage,
    json_value,
)
from eventstore.events import ExecutionDeleted
from eventstore.lifecycle import Lifecycle, apply
from projections import (
    ExecutionDetail,
    ExecutionError,
    fold,
    fold_step,
    replay_as_of_time,
    replay_as_of_version,
)

from . import SECOND, T0, recorded

NODE_IDS = ("a", "b", "c")
TERMINAL = {"completed", "failed", "cancelled", "crashed"}
PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def node_moves(
    rng: random.Random, nodes: dict[str, tuple[int, bool]]
) -> list[tuple[float, EventData]]:
    moves: list[tuple[float, EventData]] = []
    for node_id in NODE_IDS:
        attempt, ended = nodes.get(node_id, (0, True))
        if ended:
            start = NodeStarted(
                node_id=node_id,
                attempt=attempt + rng.choice([1, 1, 2]),
                node_name=rng.choice([None, f"{node_id}{attempt}"]),
                node_type=rng.choice([None, "llm", "http"]),
                input=json_value({"n": attempt}),
            )
            moves.append((4, start))
            continue
        usage = rng.choice([None, draw_usage(rng)])
        done = NodeCompleted(
            node_id=node_id, attempt=attempt, tokens=rng.randint(0, 60), usage=usage
        )
        error = ErrorInfo(code=f"{node_id}{attempt}", message=rng.choice(["", "boom"]))
        failed = NodeFailed(
            node_id=node_id, attempt=attempt, error=error, will_retry=rng.random() < 0.5
        )
        moves += [(4, done), (2, failed)]
    return moves


def draw_usage(rng: random.Random) -> Usage:
    return Usage(
        prompt_tokens=rng.choice([None, rng.randint(0, 40)]),
        completion_tokens=rng.choice([None, rng.randint(0, 20)]),
        cost=rng.choice([None, 0.125, 0.5]),
        currency=rng.choice([None, "USD", "USD", "EUR"]),
    )


def moves_from(
    rng: random.Random, status: str, nodes: dict[str, tuple[int, bool]]
) -> list[tuple[float, EventData]]:
    """Legal next events, weighted so that node work comes before the end."""
    stop: list[tuple[float, EventData]] = [
        (0.2, ExecutionCancelRequested(by=rng.choice([None, "alice"]))),
        (0.1, ExecutionCancelled(reason=rng.choice([None, "no longer needed"]))),
    ]
    if status == "queued":
        return [(6, ExecutionStarted(worker="w")), *stop]
    if status == "waiting":
        return [(3, ExecutionResumed()), (0.3, ExecutionCrashed(reason="lost")), *stop]
    failure = rng.choice([None, ErrorInfo(code="E", message="m", node_id=rng.choice([None, "a"]))])
    return [
        *node_moves(rng, nodes),
        (1, ExecutionWaiting(reason="approval", wait_till=T0 + rng.randint(0, 9) * SECOND)),
        (0.3, ExecutionCompleted(output=json_value({"done": True}))),
        (0.3, ExecutionFailed(error=failure)),
        (0.1, ExecutionCrashed()),
        *stop,
    ]


def draw_history(rng: random.Random) -> list[RecordedEvent]:
    """One execution's legal history, stamped with a skewed producer clock,
    a store clock that often repeats, and positions shared with other streams."""
    state = Lifecycle()
    datas: list[EventData] = [ExecutionQueued(workflow_id="wf", uuid="u", input=json_value([1]))]
    apply(state, datas[0])
    while state.status not in TERMINAL and len(datas) < 40:
        moves = moves_from(rng, state.status, state.nodes)
        data = rng.choices([m for _, m in moves], [w for w, _ in moves])[0]
        apply(state, data)  # a generator bug fails here, naming the rule
        datas.append(data)
    if state.status in TERMINAL and rng.random() < 0.3:
        deleted = ExecutionDeleted(
            by=rng.choice([None, "alice"]), reason=rng.choice([None, "gdpr"])
        )
        apply(state, deleted)
        datas.append(deleted)
    # Some histories end before their execution does.
    cut = len(datas) if rng.random() < 0.7 else rng.randint(1, len(datas))
    events, occurred, recorded_at, position = [], T0, T0, rng.randint(1, 50)
    for version, data in enumerate(datas[:cut], 1):
        occurred += rng.choice([-SECOND, 0, 1, 999, 250_000, 3 * SECOND])
        recorded_at += rng.choice([0, 0, 1, 700])
        position += rng.randint(1, 3)
        events.append(
            recorded(
                data,
                version,
                occurred_at=occurred,
                recorded_at=recorded_at,
                execution_id=7,
                position=position,
            )
        )
    return events


@PROPERTY_SETTINGS
@given(rng=st.randoms(use_true_random=False))
def test_incremental_fold_and_replays_equal_the_fold_of_each_prefix(rng: random.Random) -> None:
    events = draw_history(rng)
    snapshots: list[ExecutionDetail | None] = [None]
    for event in events:
        snapshots.append(fold_step(snapshots[-1], event))

    assert snapshots[-1] == fold(events)
    for k in range(len(events) + 1):
        # Folded afresh after all the steps: a later step never changed an earlier snapshot.
        assert replay_as_of_version(events, k) == fold(events[:k]) == snapshots[k]
    assert replay_as_of_version(events, len(events) + 5) == snapshots[-1]
    for event in events:
        through = max(i for i, e in enumerate(events, 1) if e.recorded_at == event.recorded_at)
        before = sum(1 for e in events if e.recorded_at < event.recorded_at)
        assert replay_as_of_time(events, event.recorded_at) == snapshots[through]
        assert replay_as_of_time(events, event.recorded_at - 1) == snapshots[before]


@PROPERTY_SETTINGS
@given(rng=st.randoms(use_true_random=False))
def test_invariants_hold_after_every_event(rng: random.Random) -> None:
    events = draw_history(rng)
    detail: ExecutionDetail | None = None
    state = Lifecycle()
    payloads = [e.payload() for e in events]
    for k, event in enumerate(events, 1):
        detail = fold_step(detail, event)
        apply(state, payloads[k - 1])
        datas = payloads[:k]
        completed = [d for d in datas if isinstance(d, NodeCompleted)]
        starts = [d for d in datas if isinstance(d, NodeStarted)]

        assert (detail.status, detail.version, detail.position) == (state.status, k, event.position)
        assert detail.tokens == sum(d.tokens for d in completed)
        assert detail.tokens == sum(n.totals.tokens for n in detail.nodes)
        assert detail.steps == len(starts) == sum(len(n.attempts) for n in detail.nodes)
        assert [n.node_id for n in detail.nodes] == list(dict.fromkeys(d.node_id for d in starts))
        assert detail.node_counts == Counter(n.status for n in detail.nodes)
        assert sum(detail.node_counts.values()) == len(detail.nodes)
        unfinished = detail.finished_at is None or detail.started_at is None
        assert (detail.duration_ms is None) == unfinished
        assert (detail.finished_at is None) == (state.status not in TERMINAL)
        assert detail.error == (expected_error(datas) if detail.status == "failed" else None)
        deleted = [e.occurred_at for e in events[:k] if e.type == "execution.deleted"]
        assert detail.deleted_at == (deleted[0] if deleted else None)
        assert state.deleted == bool(deleted)


def expected_error(datas: list[EventData]) -> ExecutionError | None:
    """The error rule restated over the raw events: as reported, else the last
    node failure whose node did not start again afterwards."""
    if isinstance(datas[-1], ExecutionDeleted):  # a delete follows the end and changes no error
        datas = datas[:-1]
    failed = datas[-1]
    assert isinstance(failed, ExecutionFailed)
    if failed.error is not None:
        return ExecutionError(
            **{f: getattr(failed.error, f) for f in ("code", "message", "node_id")}
        )
    for i, data in reversed(list(enumerate(datas))):
        if not isinstance(data, NodeFailed):
            continue
        if not any(isinstance(d, NodeStarted) and d.node_id == data.node_id for d in datas[i:]):
            code, message = data.error.code, data.error.message
            return ExecutionError(code=code, message=message, node_id=data.node_id)
    return None


async def test_replay_of_a_stored_execution(store: EventStore) -> None:
    created = await store.create_execution(ExecutionQueued(workflow_id="wf"))
    execution_id = created.execution_id
    await store.append(execution_id, [ExecutionStarted(), NodeStarted(node_id="a")])
    await store.append(execution_id, [NodeCompleted(node_id="a", tokens=9)])
    await store.append(execution_id, [ExecutionCompleted()])
    events = await store.read_execution(execution_id)

    running = replay_as_of_version(events, 3)
    assert running is not None
    assert (running.status, running.version, running.tokens) == ("running", 3, 0)
    assert running.node_counts == {"running": 1}
    as_of_commit = replay_as_of_time(events, events[2].recorded_at)
    assert as_of_commit == running  # the start and the node's start share one commit
    done = replay_as_of_time(events, events[-1].recorded_at + 60 * SECOND)
    assert done is not None
    assert (done.status, done.tokens, done.version) == ("completed", 9, 5)
    assert replay_as_of_version(events, 0) is None
    assert replay_as_of_time(events, events[0].recorded_at - 1) is None
