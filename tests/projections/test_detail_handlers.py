"""One table row per event handler of the detail fold: exactly what one event changes."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from eventstore import (
    ErrorInfo,
    EventData,
    ExecutionCancelled,
    ExecutionCancelRequested,
    ExecutionCompleted,
    ExecutionCrashed,
    ExecutionDeleted,
    ExecutionFailed,
    ExecutionQueued,
    ExecutionResumed,
    NodeCompleted,
    NodeStarted,
    Usage,
)
from eventstore.events import EVENT_TYPES
from projections import (
    AttemptDetail,
    ExecutionError,
    NodeDetail,
    NodeError,
    NodeTotals,
    UsageDetail,
    fold,
    fold_step,
)

from . import A1, A1_FAILED, IN, OUT, WAIT, Q, S, history, t

# One row per handler: the fields (envelope aside) that one event changes.

USAGE = Usage(prompt_tokens=3, completion_tokens=2, cost=0.5, currency="USD")
USAGE_DETAIL = UsageDetail(prompt_tokens=3, completion_tokens=2, cost=0.5, currency="USD")
# What every event changes, whatever its type.
ENVELOPE = {"version", "position", "last_recorded_at", "payload_bytes"}


def attempt(number: int, started_version: int, **changes: Any) -> AttemptDetail:
    return AttemptDetail(
        attempt=number,
        started_at=t(started_version),
        input=IN,
        started_version=started_version,
        **changes,
    )


def node_a(attempts: list[AttemptDetail], **changes: Any) -> NodeDetail:
    fields: dict[str, Any] = {"node_id": "a", "node_name": "A", "node_type": "llm", **changes}
    return NodeDetail(attempts=attempts, **fields)


def finished(status: str, version: int, started: int | None = 2) -> dict[str, Any]:
    """What a terminal event changes; never started, the duration stays None."""
    changes: dict[str, Any] = {"status": status, "finished_at": t(version)}
    if started is not None:
        changes["duration_ms"] = (version - started) * 1000
    return changes


UNWAITED = {"wait_reason": None, "wait_till": None}
FAILED_1 = attempt(
    1,
    3,
    status="failed",
    finished_at=t(4),
    duration_ms=1000,
    finished_version=4,
    error=NodeError(code="N", message="bad"),
    will_retry=True,
)
COMPLETED_1 = attempt(
    1,
    3,
    status="completed",
    finished_at=t(4),
    duration_ms=1000,
    finished_version=4,
    output=OUT,
    tokens=5,
    usage=USAGE_DETAIL,
)
A1_COMPLETED = NodeCompleted(node_id="a", output=OUT, tokens=5, usage=USAGE)
A2 = NodeStarted(node_id="a", attempt=2, node_type="agent", input=IN)  # gives no name
RETRIED = node_a([FAILED_1, attempt(2, 5)], node_type="agent", totals=NodeTotals(duration_ms=1000))
COMPLETED_TOTALS = NodeTotals(tokens=5, duration_ms=1000, usage=USAGE_DETAIL)
STOP = ExecutionCancelRequested(by="alice", reason="r")
E_FAILED = ExecutionFailed(error=ErrorInfo(code="E", message="m", node_id="n"))
E_ERROR = ExecutionError(code="E", message="m", node_id="n")

HANDLER_TABLE = [
    pytest.param([Q], S, {"status": "running", "started_at": t(2), "worker": "w1"}, id="started"),
    pytest.param(
        [Q, S],
        WAIT,
        {"status": "waiting", "wait_reason": "approval", "wait_till": WAIT.wait_till},
        id="waiting",
    ),
    pytest.param([Q, S, WAIT], ExecutionResumed(), {"status": "running", **UNWAITED}, id="resumed"),
    pytest.param(
        [Q, S],
        STOP,
        {"cancel_requested": True, "cancel_by": "alice", "cancel_reason": "r"},
        id="cancel_requested",
    ),
    pytest.param(
        [Q],
        ExecutionCancelled(by="bob"),
        {**finished("cancelled", 2, None), "cancel_by": "bob"},
        id="cancelled-while-queued-has-no-duration",
    ),
    pytest.param(
        [Q, S, WAIT, STOP],
        ExecutionCancelled(),
        {**finished("cancelled", 5), **UNWAITED},
        id="cancelled-keeps-who-asked",
    ),
    pytest.param(
        [Q, S],
        ExecutionCompleted(output=OUT),
        {**finished("completed", 3), "output": OUT},
        id="completed",
    ),
    pytest.param(
        [Q, S], E_FAILED, {**finished("failed", 3), "error": E_ERROR}, id="failed-with-error"
    ),
    pytest.param([Q, S], ExecutionFailed(), finished("failed", 3), id="failed-no-error-no-node"),
    pytest.param(
        [Q, S, WAIT],
        ExecutionCrashed(reason="oom"),
        {**finished("crashed", 4), **UNWAITED, "crash_reason": "oom"},
        id="crashed",
    ),
    pytest.param(
        [Q, S, E_FAILED],
        ExecutionDeleted(by="dpo", reason="gdpr"),
        {"deleted_at": t(4)},
        id="deleted-changes-nothing-else",
    ),
    pytest.param(
        [Q, S],
        A1,
        {"nodes": [node_a([attempt(1, 3)])], "node_counts": {"running": 1}, "steps": 1},
        id="node.started",
    ),
    pytest.param(
        [Q, S, A1],
        A1_COMPLETED,
        {
            "nodes": [node_a([COMPLETED_1], status="completed", totals=COMPLETED_TOTALS)],
            "node_counts": {"completed": 1},
            "tokens": 5,
            "usage": USAGE_DETAIL,
        },
        id="node.completed",
    ),
    pytest.param(
        [Q, S, A1],
        A1_FAILED,
        {
            "nodes": [node_a([FAILED_1], status="failed", totals=NodeTotals(duration_ms=1000))],
            "node_counts": {"failed": 1},
        },
        id="node.failed",
    ),
    pytest.param(
        [Q, S, A1, A1_FAILED],
        A2,
        {"nodes": [RETRIED], "node_counts": {"running": 1}, "steps": 2},
        id="node.started-retry-keeps-the-name",
    ),
]


@pytest.mark.parametrize(("prefix", "event", "changes"), HANDLER_TABLE)
def test_handler_changes_exactly(
    prefix: list[EventData], event: EventData, changes: dict[str, Any]
) -> None:
    events = history(*prefix, event)
    before = fold(events[:-1])
    assert before is not None
    after = fold_step(before, events[-1])

    old, new = msgspec.structs.asdict(before), msgspec.structs.asdict(after)
    changed = {k: v for k, v in new.items() if k not in ENVELOPE and v != old[k]}
    assert changed == changes
    last = events[-1]
    assert (after.version, after.position, after.last_recorded_at) == (
        last.version,
        last.position,
        last.recorded_at,
    )
    assert after.payload_bytes == sum(len(e.data) for e in events)


def test_the_table_covers_every_event_type() -> None:
    covered = {type(param.values[1]) for param in HANDLER_TABLE}
    assert covered | {ExecutionQueued} == set(EVENT_TYPES.values())
