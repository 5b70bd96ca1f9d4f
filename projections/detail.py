"""The detail view: a pure fold of one execution's events.

``fold_step(detail, event)`` returns the next detail from the previous one, so
the view itself is the accumulator: a caller folding live events keeps the
last ``ExecutionDetail`` and steps it, and every intermediate value is a
complete, immutable snapshot (replay is the same fold over a prefix). There is
one handler per event type; none does I/O or reads a clock.

Snapshots share the lists and dicts that an event did not change (each
handler copies what it changes), so callers must treat them as read-only.

Times are the producer's ``occurred_at`` in microseconds since the epoch; the
store's ``recorded_at`` only decides what a replay as of a time includes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from msgspec.structs import replace

from eventstore import (
    ErrorInfo,
    ExecutionCancelled,
    ExecutionCancelRequested,
    ExecutionCompleted,
    ExecutionCrashed,
    ExecutionDeleted,
    ExecutionFailed,
    ExecutionQueued,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionWaiting,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    RecordedEvent,
)

from .usage import merge_usage, usage_detail
from .views import (
    AttemptDetail,
    ExecutionDetail,
    ExecutionError,
    ExecutionStatus,
    FoldError,
    NodeDetail,
    NodeError,
    NodeStatus,
    NodeTotals,
)


def fold(events: Iterable[RecordedEvent]) -> ExecutionDetail | None:
    """The detail after ``events`` (one execution's, from version 1); None for none."""
    detail: ExecutionDetail | None = None
    for event in events:
        detail = fold_step(detail, event)
    return detail


def fold_step(detail: ExecutionDetail | None, event: RecordedEvent) -> ExecutionDetail:
    """The detail after one more event; ``detail`` is None before the first."""
    data = event.payload()
    if detail is None:
        if not isinstance(data, ExecutionQueued) or event.version != 1:
            raise FoldError(
                f"a history starts with execution.queued at version 1, not {event.type}"
            )
        return _on_queued(data, event)
    if event.execution_id != detail.id or event.version != detail.version + 1:
        raise FoldError(
            f"event {event.execution_id}/v{event.version} does not follow"
            f" execution {detail.id} at v{detail.version}"
        )
    folded = _HANDLERS[type(data)](detail, data, event)
    return replace(
        folded, version=event.version, position=event.position, last_recorded_at=event.recorded_at
    )


def elapsed_ms(detail: ExecutionDetail, now_us: int) -> int | None:
    """Run time so far as of ``now_us`` (the caller's clock); final once finished."""
    if detail.finished_at is not None or detail.started_at is None:
        return detail.duration_ms
    return ms_between(detail.started_at, now_us)


def ms_between(start_us: int, end_us: int) -> int:
    # Producer clocks can step backwards; a negative duration helps no one.
    return max(0, (end_us - start_us) // 1000)


# Execution events


def _on_queued(data: ExecutionQueued, event: RecordedEvent) -> ExecutionDetail:
    return ExecutionDetail(
        id=event.execution_id,
        uuid=data.uuid,
        workflow_id=data.workflow_id,
        workflow_name=data.workflow_name,
        workflow_version=data.workflow_version,
        trigger=data.trigger,
        display_name=data.display_name,
        test_mode=data.test_mode,
        team_id=data.team_id,
        external_id=data.external_id,
        metadata=data.metadata,
        retry_of=data.retry_of,
        created_at=event.occurred_at,
        input=data.input,
        version=event.version,
        position=event.position,
        last_recorded_at=event.recorded_at,
    )


def _on_queued_again(
    detail: ExecutionDetail, data: ExecutionQueued, event: RecordedEvent
) -> ExecutionDetail:
    raise FoldError(f"execution {detail.id} is queued twice (v{event.version})")


def _on_started(
    detail: ExecutionDetail, data: ExecutionStarted, event: RecordedEvent
) -> ExecutionDetail:
    return replace(detail, status="running", started_at=event.occurred_at, worker=data.worker)


def _on_waiting(
    detail: ExecutionDetail, data: ExecutionWaiting, event: RecordedEvent
) -> ExecutionDetail:
    return replace(detail, status="waiting", wait_reason=data.reason, wait_till=data.wait_till)


def _on_resumed(
    detail: ExecutionDetail, data: ExecutionResumed, event: RecordedEvent
) -> ExecutionDetail:
    return replace(detail, status="running", wait_reason=None, wait_till=None)


def _on_cancel_requested(
    detail: ExecutionDetail, data: ExecutionCancelRequested, event: RecordedEvent
) -> ExecutionDetail:
    return replace(detail, cancel_requested=True, cancel_by=data.by, cancel_reason=data.reason)


def _on_cancelled(
    detail: ExecutionDetail, data: ExecutionCancelled, event: RecordedEvent
) -> ExecutionDetail:
    # The request may have named who and why while the final event does not.
    by = data.by if data.by is not None else detail.cancel_by
    reason = data.reason if data.reason is not None else detail.cancel_reason
    return replace(_finished(detail, "cancelled", event), cancel_by=by, cancel_reason=reason)


def _on_completed(
    detail: ExecutionDetail, data: ExecutionCompleted, event: RecordedEvent
) -> ExecutionDetail:
    return replace(_finished(detail, "completed", event), output=data.output)


def _on_failed(
    detail: ExecutionDetail, data: ExecutionFailed, event: RecordedEvent
) -> ExecutionDetail:
    error = _blame_node(detail.nodes) if data.error is None else _execution_error(data.error)
    return replace(_finished(detail, "failed", event), error=error)


def _on_crashed(
    detail: ExecutionDetail, data: ExecutionCrashed, event: RecordedEvent
) -> ExecutionDetail:
    return replace(_finished(detail, "crashed", event), crash_reason=data.reason)


def _on_deleted(
    detail: ExecutionDetail, data: ExecutionDeleted, event: RecordedEvent
) -> ExecutionDetail:
    return replace(detail, deleted_at=event.occurred_at)


def _finished(
    detail: ExecutionDetail, status: ExecutionStatus, event: RecordedEvent
) -> ExecutionDetail:
    started = detail.started_at
    duration = None if started is None else ms_between(started, event.occurred_at)
    # wait_reason and wait_till describe a current wait; a finished execution has none.
    return replace(
        detail,
        status=status,
        finished_at=event.occurred_at,
        duration_ms=duration,
        wait_reason=None,
        wait_till=None,
    )


def _execution_error(error: ErrorInfo) -> ExecutionError:
    # Taken as reported: a missing node_id is not guessed from node failures,
    # since the execution may have failed for a reason of its own (a timeout).
    return ExecutionError(code=error.code, message=error.message, node_id=error.node_id)


def _blame_node(nodes: list[NodeDetail]) -> ExecutionError | None:
    """The failure of the node that failed last and was not retried since."""
    failed = [node for node in nodes if node.status == "failed"]
    if not failed:
        return None
    node = max(failed, key=lambda n: n.attempts[-1].finished_version or 0)
    error = node.attempts[-1].error or NodeError(code="")
    return ExecutionError(code=error.code, message=error.message, node_id=node.node_id)


# Node events


def _on_node_started(
    detail: ExecutionDetail, data: NodeStarted, event: RecordedEvent
) -> ExecutionDetail:
    index, node = _find_node(detail.nodes, data.node_id)
    attempt = AttemptDetail(
        attempt=data.attempt,
        started_at=event.occurred_at,
        input=data.input,
        started_version=event.version,
    )
    if node is None:
        started = NodeDetail(
            node_id=data.node_id,
            node_name=data.node_name,
            node_type=data.node_type,
            attempts=[attempt],
        )
    else:
        # A retry that omits the name or type keeps what an earlier start gave.
        started = replace(
            node,
            node_name=node.node_name if data.node_name is None else data.node_name,
            node_type=node.node_type if data.node_type is None else data.node_type,
            status="running",
            attempts=[*node.attempts, attempt],
        )
    return replace(_put_node(detail, index, started), steps=detail.steps + 1)


def _on_node_completed(
    detail: ExecutionDetail, data: NodeCompleted, event: RecordedEvent
) -> ExecutionDetail:
    index, node = _running_attempt(detail, data.node_id, data.attempt)
    usage = usage_detail(data.usage)
    ended = _ended(
        node.attempts[-1], "completed", event, output=data.output, tokens=data.tokens, usage=usage
    )
    updated = _put_node(detail, index, _with_last_attempt(node, ended))
    return replace(
        updated, tokens=detail.tokens + data.tokens, usage=merge_usage(detail.usage, usage)
    )


def _on_node_failed(
    detail: ExecutionDetail, data: NodeFailed, event: RecordedEvent
) -> ExecutionDetail:
    index, node = _running_attempt(detail, data.node_id, data.attempt)
    error = NodeError(code=data.error.code, message=data.error.message)
    ended = _ended(node.attempts[-1], "failed", event, error=error, will_retry=data.will_retry)
    return _put_node(detail, index, _with_last_attempt(node, ended))


def _find_node(nodes: list[NodeDetail], node_id: str) -> tuple[int, NodeDetail | None]:
    # A linear scan: the nodes list is copied on every node event anyway.
    for index, node in enumerate(nodes):
        if node.node_id == node_id:
            return index, node
    return len(nodes), None


def _running_attempt(detail: ExecutionDetail, node_id: str, attempt: int) -> tuple[int, NodeDetail]:
    index, node = _find_node(detail.nodes, node_id)
    if node is None or node.attempts[-1].attempt != attempt or node.status != "running":
        raise FoldError(f"node {node_id!r} attempt {attempt} is not running in {detail.id}")
    return index, node


def _ended(
    attempt: AttemptDetail, status: NodeStatus, event: RecordedEvent, **changes: Any
) -> AttemptDetail:
    return replace(
        attempt,
        status=status,
        finished_at=event.occurred_at,
        duration_ms=ms_between(attempt.started_at, event.occurred_at),
        finished_version=event.version,
        **changes,
    )


def _with_last_attempt(node: NodeDetail, ended: AttemptDetail) -> NodeDetail:
    totals = node.totals
    duration = (totals.duration_ms or 0) + (ended.duration_ms or 0)
    return replace(
        node,
        status=ended.status,
        attempts=[*node.attempts[:-1], ended],
        totals=NodeTotals(
            tokens=totals.tokens + ended.tokens,
            duration_ms=duration,
            usage=merge_usage(totals.usage, ended.usage),
        ),
    )


def _put_node(detail: ExecutionDetail, index: int, node: NodeDetail) -> ExecutionDetail:
    """``detail`` with ``node`` at ``index`` (appended at the end), counts kept in step."""
    nodes = list(detail.nodes)
    counts = dict(detail.node_counts)
    if index < len(nodes):
        previous = nodes[index].status
        counts[previous] -= 1
        if not counts[previous]:
            del counts[previous]  # zero counts are left out, so equal views compare equal
        nodes[index] = node
    else:
        nodes.append(node)
    counts[node.status] = counts.get(node.status, 0) + 1
    return replace(detail, nodes=nodes, node_counts=counts)


_Handler = Callable[[ExecutionDetail, Any, RecordedEvent], ExecutionDetail]

_HANDLERS: Final[dict[type[Any], _Handler]] = {
    ExecutionQueued: _on_queued_again,
    ExecutionStarted: _on_started,
    ExecutionWaiting: _on_waiting,
    ExecutionResumed: _on_resumed,
    ExecutionCancelRequested: _on_cancel_requested,
    ExecutionCancelled: _on_cancelled,
    ExecutionCompleted: _on_completed,
    ExecutionFailed: _on_failed,
    ExecutionCrashed: _on_crashed,
    ExecutionDeleted: _on_deleted,
    NodeStarted: _on_node_started,
    NodeCompleted: _on_node_completed,
    NodeFailed: _on_node_failed,
}
