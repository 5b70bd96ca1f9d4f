"""Tests of the views: the detail fold and point-in-time replay.

``history`` builds a log of one execution without a store, for the pure tests:
event ``version`` occurs ``version`` seconds after ``T0`` and is recorded
``LAG`` later, unless an item gives its own ``occurred_at``.
"""

from __future__ import annotations

import msgspec

from eventstore import (
    ErrorInfo,
    EventData,
    ExecutionQueued,
    ExecutionStarted,
    ExecutionWaiting,
    NodeFailed,
    NodeStarted,
    RecordedEvent,
    json_value,
)
from eventstore.events import WIRE_NAMES, encode_data

T0 = 1_778_115_600_000_000  # 2026-05-07T10:00:00+09:00, in microseconds
SECOND = 1_000_000
LAG = 250


def recorded(
    data: EventData,
    version: int,
    *,
    occurred_at: int,
    recorded_at: int,
    execution_id: int = 1,
    position: int | None = None,
) -> RecordedEvent:
    return RecordedEvent(
        position=version if position is None else position,
        execution_id=execution_id,
        version=version,
        event_id=f"{execution_id}-{version}",
        type=WIRE_NAMES[type(data)],
        data=msgspec.Raw(encode_data(data)),
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        hash=b"",
    )


def history(*items: EventData | tuple[EventData, int]) -> list[RecordedEvent]:
    events = []
    for version, item in enumerate(items, 1):
        data, occurred_at = item if isinstance(item, tuple) else (item, T0 + version * SECOND)
        events.append(
            recorded(
                data, version, occurred_at=occurred_at, recorded_at=T0 + version * SECOND + LAG
            )
        )
    return events


# Events the detail tests share: a queued, started execution and node a.
Q = ExecutionQueued(workflow_id="wf", uuid="u-1")
S = ExecutionStarted(worker="w1")
IN = json_value({"in": 1})
OUT = json_value({"out": 2})
WAIT = ExecutionWaiting(reason="approval", wait_till=T0 + 3600 * SECOND)
A1 = NodeStarted(node_id="a", node_name="A", node_type="llm", input=IN)
A1_FAILED = NodeFailed(node_id="a", error=ErrorInfo(code="N", message="bad"), will_retry=True)


def t(version: int) -> int:
    """When event ``version`` of a ``history`` occurred."""
    return T0 + version * SECOND
