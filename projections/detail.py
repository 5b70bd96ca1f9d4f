"""The detail view: a pure fold of one execution's events, linear in them.

``DetailFold`` is the accumulator, stepped in place by one handler per event
type; none does I/O or reads a clock. Each step costs the same whatever the
execution's size: nodes are found by id, and nothing that grows with the
execution is copied. ``detail()`` takes a complete, immutable snapshot;
``head()`` and ``node()`` take the parts a live stream needs after each event
without copying the rest. ``fold(events)`` is the fold of a whole history,
``fold_step(detail, event)`` one step from a snapshot (it copies the
snapshot's nodes, so a caller stepping many events keeps a ``DetailFold``).

Times are the producer's ``occurred_at`` in microseconds since the epoch; the
store's ``recorded_at`` only decides what a replay as of a time includes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final, NamedTuple

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
    folding: DetailFold | None = None
    for event in events:
        if folding is None:
            folding = DetailFold.start(event)
        else:
            folding.step(event)
    return None if folding is None else folding.detail()


def fold_step(detail: ExecutionDetail | None, event: RecordedEvent) -> ExecutionDetail:
    """The detail after one more event; ``detail`` is None before the first.
    ``detail`` itself is left as it was."""
    if detail is None:
        return DetailFold.start(event).detail()
    folding = DetailFold.of(detail)
    folding.step(event)
    return folding.detail()


class NodeNow(NamedTuple):
    """A node as it is now, with only its latest attempt: what a live stream
    reads after each node event, at a cost that does not grow with the node."""

    node_id: str
    node_name: str | None
    node_type: str | None
    status: NodeStatus
    attempt: AttemptDetail


class _Node:
    """One node while folding: its latest attempt's status, its attempts, its totals."""

    __slots__ = ("attempts", "node_id", "node_name", "node_type", "status", "totals")

    def __init__(self, node: NodeDetail) -> None:
        self.node_id = node.node_id
        self.node_name = node.node_name
        self.node_type = node.node_type
        self.status: NodeStatus = node.status
        self.attempts = list(node.attempts)
        self.totals = node.totals

    def snapshot(self) -> NodeDetail:
        return NodeDetail(
            node_id=self.node_id,
            node_name=self.node_name,
            node_type=self.node_type,
            status=self.status,
            attempts=list(self.attempts),
            totals=self.totals,
        )


class DetailFold:
    """One execution's detail, stepped in place, one event at a time.

    ``_head`` holds every field but the nodes (its ``nodes`` stays empty and
    its ``node_counts`` stale); ``_nodes`` maps node ids to nodes in the order
    they first started; ``_counts`` counts nodes by status, leaving zeros out.
    """

    __slots__ = ("_counts", "_head", "_nodes")

    def __init__(self, head: ExecutionDetail, nodes: Iterable[NodeDetail] = ()) -> None:
        self._head = replace(head, nodes=[], node_counts={})
        self._nodes = {node.node_id: _Node(node) for node in nodes}
        self._counts = dict(head.node_counts)

    @classmethod
    def start(cls, event: RecordedEvent) -> DetailFold:
        """The fold of a history's first event, which must be execution.queued."""
        data = event.payload()
        if not isinstance(data, ExecutionQueued) or event.version != 1:
            raise FoldError(
                f"a history starts with execution.queued at version 1, not {event.type}"
            )
        return cls(_on_queued(data, event))

    @classmethod
    def of(cls, detail: ExecutionDetail) -> DetailFold:
        """A fold that goes on from ``detail`` (which it leaves as it was)."""
        return cls(detail, detail.nodes)

    @property
    def version(self) -> int:
        return self._head.version

    def step(self, event: RecordedEvent) -> None:
        """Fold in the next event of the same execution."""
        head = self._head
        if event.execution_id != head.id or event.version != head.version + 1:
            raise FoldError(
                f"event {event.execution_id}/v{event.version} does not follow"
                f" execution {head.id} at v{head.version}"
            )
        data = event.payload()
        # One copy of the head per event: the handler's changes and the envelope's.
        changes = _HANDLERS[type(data)](self, data, event)
        self._head = replace(
            head,
            version=event.version,
            position=event.position,
            last_recorded_at=event.recorded_at,
            payload_bytes=head.payload_bytes + len(event.data),
            **changes,
        )

    def head(self) -> ExecutionDetail:
        """The detail without its nodes (``nodes`` is empty; ``node_counts`` is
        right): what a stream sends after each event, at a cost that does not
        grow with the execution."""
        return replace(self._head, node_counts=dict(self._counts))

    def detail(self) -> ExecutionDetail:
        """A complete snapshot, which later steps never change."""
        nodes = [node.snapshot() for node in self._nodes.values()]
        return replace(self._head, nodes=nodes, node_counts=dict(self._counts))

    def node(self, node_id: str) -> NodeNow:
        """One node as it is now. Raises ``KeyError`` for a node never started."""
        node = self._nodes[node_id]
        return NodeNow(node.node_id, node.node_name, node.node_type, node.status, node.attempts[-1])

    def _count(self, status: str, step: int) -> None:
        counts = self._counts
        left = counts.get(status, 0) + step
        if left:
            counts[status] = left
        else:
            del counts[status]  # zero counts are left out, so equal views compare equal

    def _running(self, node_id: str, attempt: int) -> _Node:
        node = self._nodes.get(node_id)
        if node is None or node.attempts[-1].attempt != attempt or node.status != "running":
            raise FoldError(f"node {node_id!r} attempt {attempt} is not running in {self._head.id}")
        return node

    def _end(self, node: _Node, ended: AttemptDetail) -> None:
        """The node's running attempt has ended as ``ended``."""
        self._count(node.status, -1)
        self._count(ended.status, 1)
        node.status = ended.status
        node.attempts[-1] = ended
        totals = node.totals
        node.totals = NodeTotals(
            tokens=totals.tokens + ended.tokens,
            duration_ms=(totals.duration_ms or 0) + (ended.duration_ms or 0),
            usage=merge_usage(totals.usage, ended.usage),
        )


def elapsed_ms(detail: ExecutionDetail, now_us: int) -> int | None:
    """Run time so far as of ``now_us`` (the caller's clock); final once finished."""
    if detail.finished_at is not None or detail.started_at is None:
        return detail.duration_ms
    return ms_between(detail.started_at, now_us)


def ms_between(start_us: int, end_us: int) -> int:
    # Producer clocks can step backwards; a negative duration helps no one.
    return max(0, (end_us - start_us) // 1000)


# What a handler changes in the detail's head, by field; ``step`` applies it.
_Changes = dict[str, Any]


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
        payload_bytes=len(event.data),
    )


def _on_queued_again(fold: DetailFold, data: ExecutionQueued, event: RecordedEvent) -> _Changes:
    raise FoldError(f"execution {fold.head().id} is queued twice (v{event.version})")


def _on_started(fold: DetailFold, data: ExecutionStarted, event: RecordedEvent) -> _Changes:
    return {"status": "running", "started_at": event.occurred_at, "worker": data.worker}


def _on_waiting(fold: DetailFold, data: ExecutionWaiting, event: RecordedEvent) -> _Changes:
    return {"status": "waiting", "wait_reason": data.reason, "wait_till": data.wait_till}


def _on_resumed(fold: DetailFold, data: ExecutionResumed, event: RecordedEvent) -> _Changes:
    return {"status": "running", "wait_reason": None, "wait_till": None}


def _on_cancel_requested(
    fold: DetailFold, data: ExecutionCancelRequested, event: RecordedEvent
) -> _Changes:
    return {"cancel_requested": True, "cancel_by": data.by, "cancel_reason": data.reason}


def _on_cancelled(fold: DetailFold, data: ExecutionCancelled, event: RecordedEvent) -> _Changes:
    # The request may have named who and why while the final event does not.
    head = fold._head
    by = data.by if data.by is not None else head.cancel_by
    reason = data.reason if data.reason is not None else head.cancel_reason
    return {**_finish(fold, "cancelled", event), "cancel_by": by, "cancel_reason": reason}


def _on_completed(fold: DetailFold, data: ExecutionCompleted, event: RecordedEvent) -> _Changes:
    return {**_finish(fold, "completed", event), "output": data.output}


def _on_failed(fold: DetailFold, data: ExecutionFailed, event: RecordedEvent) -> _Changes:
    error = _blame_node(fold) if data.error is None else _execution_error(data.error)
    return {**_finish(fold, "failed", event), "error": error}


def _on_crashed(fold: DetailFold, data: ExecutionCrashed, event: RecordedEvent) -> _Changes:
    return {**_finish(fold, "crashed", event), "crash_reason": data.reason}


def _on_deleted(fold: DetailFold, data: ExecutionDeleted, event: RecordedEvent) -> _Changes:
    return {"deleted_at": event.occurred_at}


def _finish(fold: DetailFold, status: ExecutionStatus, event: RecordedEvent) -> _Changes:
    started = fold._head.started_at
    duration = None if started is None else ms_between(started, event.occurred_at)
    # wait_reason and wait_till describe a current wait; a finished execution has none.
    return {
        "status": status,
        "finished_at": event.occurred_at,
        "duration_ms": duration,
        "wait_reason": None,
        "wait_till": None,
    }


def _execution_error(error: ErrorInfo) -> ExecutionError:
    # Taken as reported: a missing node_id is not guessed from node failures,
    # since the execution may have failed for a reason of its own (a timeout).
    return ExecutionError(code=error.code, message=error.message, node_id=error.node_id)


def _blame_node(fold: DetailFold) -> ExecutionError | None:
    """The failure of the node that failed last and was not retried since.
    A scan of the nodes, but an execution fails once."""
    failed = [node for node in fold._nodes.values() if node.status == "failed"]
    if not failed:
        return None
    node = max(failed, key=lambda n: n.attempts[-1].finished_version or 0)
    error = node.attempts[-1].error or NodeError(code="")
    return ExecutionError(code=error.code, message=error.message, node_id=node.node_id)


# Node events


def _on_node_started(fold: DetailFold, data: NodeStarted, event: RecordedEvent) -> _Changes:
    attempt = AttemptDetail(
        attempt=data.attempt,
        started_at=event.occurred_at,
        input=data.input,
        started_version=event.version,
    )
    node = fold._nodes.get(data.node_id)
    if node is None:
        first = NodeDetail(node_id=data.node_id, node_name=data.node_name, node_type=data.node_type)
        node = fold._nodes[data.node_id] = _Node(first)
    else:
        fold._count(node.status, -1)
        # A retry that omits the name or type keeps what an earlier start gave.
        if data.node_name is not None:
            node.node_name = data.node_name
        if data.node_type is not None:
            node.node_type = data.node_type
    node.status = "running"
    node.attempts.append(attempt)
    fold._count("running", 1)
    return {"steps": fold._head.steps + 1}


def _on_node_completed(fold: DetailFold, data: NodeCompleted, event: RecordedEvent) -> _Changes:
    node = fold._running(data.node_id, data.attempt)
    usage = usage_detail(data.usage)
    ended = _ended(
        node.attempts[-1], "completed", event, output=data.output, tokens=data.tokens, usage=usage
    )
    fold._end(node, ended)
    head = fold._head
    return {"tokens": head.tokens + data.tokens, "usage": merge_usage(head.usage, usage)}


def _on_node_failed(fold: DetailFold, data: NodeFailed, event: RecordedEvent) -> _Changes:
    node = fold._running(data.node_id, data.attempt)
    error = NodeError(code=data.error.code, message=data.error.message)
    fold._end(
        node, _ended(node.attempts[-1], "failed", event, error=error, will_retry=data.will_retry)
    )
    return {}


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


_Handler = Callable[[DetailFold, Any, RecordedEvent], _Changes]

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
