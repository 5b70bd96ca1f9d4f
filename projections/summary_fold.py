"""The summary fold: only what a summary row needs, in one mutable object.

``summary.SummaryHook`` runs inside every write and over the whole log on a
rebuild, so it cannot afford the detail fold (``detail.fold_step``), which
builds a new frozen ``ExecutionDetail`` and copies node lists per event.
``SummaryFold`` is the row itself, column by column under the columns' own
names, stepped in place by ``apply``; the hook reads it by those names
(``columns``), with nothing built in between.

Every value must equal what ``views.summary_row(detail.fold(events))``
gives for the same events; tests/projections/test_summary_fold.py checks this
on every prefix of random histories. The rules mirrored from the detail fold
are noted where they are not obvious.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any, Final

import msgspec

from eventstore import (
    EventData,
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

from .detail import ms_between
from .views import ROW_COLUMNS, ExecutionStatus, FoldError, SummaryRow, stored_row

# ``RecordedEvent.payload`` is two calls deep; over a rebuild's every event they cost as
# much as the decode. The same decoder type, built once here.
_decode: Final = msgspec.json.Decoder(EventData).decode


class SummaryFold:
    """One execution's summary row after its events up to ``version``, as the
    table stores it: each column an attribute of the same name (``COLUMNS``),
    booleans as 0 or 1. ``columns`` reads them by name, in the table's order.

    Besides the columns, ``nodes`` maps a node id to its latest attempt's
    ``(attempt, status)``, in first-start order, and ``failures`` a node id to
    its latest failure's ``(code, message, version)``, which is all the detail
    fold's blame rule reads.
    """

    __slots__ = (*ROW_COLUMNS, "failures", "nodes")

    def __init__(self, data: ExecutionQueued, event: RecordedEvent) -> None:
        self.id = event.execution_id
        self.uuid = data.uuid
        self.external_id = data.external_id
        self.workflow_id = data.workflow_id
        self.workflow_name = data.workflow_name
        self.workflow_version = data.workflow_version
        self.status: ExecutionStatus = "queued"
        self.trigger = data.trigger
        self.display_name = data.display_name
        self.test_mode = int(data.test_mode)
        self.team_id = data.team_id
        self.created_at = event.occurred_at
        self.started_at: int | None = None
        self.finished_at: int | None = None
        self.duration_ms: int | None = None
        self.tokens = 0
        # Counts of the nodes by their latest attempt's status, kept as node
        # events come: a write costs the same however many nodes there are.
        self.nodes_total = self.nodes_running = self.nodes_completed = self.nodes_failed = 0
        self.steps = 0
        # As ``ExecutionError``; set only by execution.failed.
        self.error_code: str | None = None
        self.error_message: str | None = None
        self.error_node_id: str | None = None
        self.retry_of = data.retry_of
        self.wait_till: int | None = None
        self.cancel_requested = 0
        self.version = event.version
        self.position = event.position
        self.updated_at = event.recorded_at
        self.deleted_at: int | None = None
        # Only other executions' events set it, and the upsert never overwrites it.
        self.retry_success_id: int | None = None
        self.nodes: dict[str, tuple[int, str]] = {}
        self.failures: dict[str, tuple[str, str, int]] = {}


# The fold's columns in the table's order, read by name: the upsert's parameters.
columns: Final[Callable[[SummaryFold], tuple[Any, ...]]] = attrgetter(*ROW_COLUMNS)


def row(acc: SummaryFold) -> SummaryRow:
    """The fold as a ``SummaryRow``, read by name as ``columns`` reads it."""
    return stored_row(columns(acc))


def fold_summary(events: Iterable[RecordedEvent]) -> SummaryFold | None:
    """The summary fold of ``events`` (one execution's, from version 1); None for none."""
    acc: SummaryFold | None = None
    for event in events:
        acc = step(acc, event)
    return acc


def step(acc: SummaryFold | None, event: RecordedEvent) -> SummaryFold:
    """``acc`` advanced by ``event`` (in place), or a new fold for the first event."""
    if acc is None:
        data = event.payload()
        if type(data) is not ExecutionQueued or event.version != 1:
            raise FoldError(
                f"a history starts with execution.queued at version 1, not {event.type}"
            )
        return SummaryFold(data, event)
    apply(acc, event)
    return acc


def apply(acc: SummaryFold, event: RecordedEvent) -> None:
    """Advance ``acc`` by one event in place; the same checks as the detail fold."""
    if event.execution_id != acc.id or event.version != acc.version + 1:
        raise FoldError(
            f"event {event.execution_id}/v{event.version} does not follow"
            f" execution {acc.id} at v{acc.version}"
        )
    data = _decode(event.data)
    _HANDLERS[type(data)](acc, data, event)
    # Bumped on every event: a cache holding a fold stepped by a write that
    # then rolled back sees it ahead of the log, and folds again.
    acc.version = event.version
    acc.position = event.position
    acc.updated_at = event.recorded_at


# Execution events


def _on_queued_again(acc: SummaryFold, data: ExecutionQueued, event: RecordedEvent) -> None:
    raise FoldError(f"execution {acc.id} is queued twice (v{event.version})")


def _on_started(acc: SummaryFold, data: ExecutionStarted, event: RecordedEvent) -> None:
    acc.status = "running"
    acc.started_at = event.occurred_at


def _on_waiting(acc: SummaryFold, data: ExecutionWaiting, event: RecordedEvent) -> None:
    acc.status = "waiting"
    acc.wait_till = data.wait_till


def _on_resumed(acc: SummaryFold, data: ExecutionResumed, event: RecordedEvent) -> None:
    acc.status = "running"
    acc.wait_till = None


def _on_cancel_requested(
    acc: SummaryFold, data: ExecutionCancelRequested, event: RecordedEvent
) -> None:
    acc.cancel_requested = 1


def _on_cancelled(acc: SummaryFold, data: ExecutionCancelled, event: RecordedEvent) -> None:
    _finish(acc, "cancelled", event)


def _on_completed(acc: SummaryFold, data: ExecutionCompleted, event: RecordedEvent) -> None:
    _finish(acc, "completed", event)


def _on_failed(acc: SummaryFold, data: ExecutionFailed, event: RecordedEvent) -> None:
    # As the detail fold: the reported error as is (a missing node_id is not
    # guessed), else the failure of the node that failed last and was not retried.
    error = data.error
    if error is not None:
        acc.error_code, acc.error_message, acc.error_node_id = (
            error.code,
            error.message,
            error.node_id,
        )
    else:
        blamed = _blame_node(acc)
        if blamed is not None:
            acc.error_code, acc.error_message, acc.error_node_id = blamed
    _finish(acc, "failed", event)


def _on_crashed(acc: SummaryFold, data: ExecutionCrashed, event: RecordedEvent) -> None:
    _finish(acc, "crashed", event)


def _on_deleted(acc: SummaryFold, data: ExecutionDeleted, event: RecordedEvent) -> None:
    acc.deleted_at = event.occurred_at


def _finish(acc: SummaryFold, status: ExecutionStatus, event: RecordedEvent) -> None:
    acc.status = status
    acc.finished_at = event.occurred_at
    started = acc.started_at
    # Producer clocks can step backwards: the same clamp at 0 as the detail fold.
    acc.duration_ms = None if started is None else ms_between(started, event.occurred_at)
    acc.wait_till = None  # a finished execution is waiting for nothing


def _blame_node(acc: SummaryFold) -> tuple[str, str, str | None] | None:
    blamed: tuple[str, str, str | None] | None = None
    latest = -1
    for node_id, (_, status) in acc.nodes.items():
        if status == "failed":
            # A failed node's latest attempt is its latest failure.
            code, message, version = acc.failures[node_id]
            if version > latest:
                blamed, latest = (code, message, node_id), version
    return blamed


# Node events


def _on_node_started(acc: SummaryFold, data: NodeStarted, event: RecordedEvent) -> None:
    nodes = acc.nodes
    before = nodes.get(data.node_id)
    if before is None:
        acc.nodes_total += 1
    elif before[1] == "completed":  # a new attempt of a node that had ended
        acc.nodes_completed -= 1
    elif before[1] == "failed":
        acc.nodes_failed -= 1
    else:
        acc.nodes_running -= 1
    nodes[data.node_id] = (data.attempt, "running")
    acc.nodes_running += 1
    acc.steps += 1


def _on_node_completed(acc: SummaryFold, data: NodeCompleted, event: RecordedEvent) -> None:
    _end_attempt(acc, data.node_id, data.attempt, "completed")
    acc.nodes_completed += 1
    acc.tokens += data.tokens


def _on_node_failed(acc: SummaryFold, data: NodeFailed, event: RecordedEvent) -> None:
    _end_attempt(acc, data.node_id, data.attempt, "failed")
    acc.nodes_failed += 1
    acc.failures[data.node_id] = (data.error.code, data.error.message, event.version)


def _end_attempt(acc: SummaryFold, node_id: str, attempt: int, status: str) -> None:
    """The running attempt ends; the caller counts it under ``status``."""
    if acc.nodes.get(node_id) != (attempt, "running"):
        raise FoldError(f"node {node_id!r} attempt {attempt} is not running in {acc.id}")
    acc.nodes[node_id] = (attempt, status)
    acc.nodes_running -= 1


_Handler = Callable[[SummaryFold, Any, RecordedEvent], None]

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
