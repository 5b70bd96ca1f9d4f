"""The execution lifecycle rules, checked on every append.

``queued -> running -> (waiting <-> running) -> completed | failed | cancelled
| crashed``; cancel from queued, running or waiting; node events only while
running and consistent with the node's earlier events.

``execution.deleted`` (a soft delete) is allowed once the execution has
finished, in any terminal status: an execution still under way is cancelled
first, so that no engine keeps working on a deleted one. After it no event
at all is accepted, a second delete included (rule ``execution.deleted``):
the delete is the last word of the history, and a repeated one is a
mistake the caller should hear about rather than a silent no-op.

This module is pure: the writer keeps one ``Lifecycle`` per execution in
memory and applies each candidate event to a copy, so a rejected append leaves
the state it started from untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NoReturn

from .errors import RuleViolation
from .events import (
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
)

QUEUED: Final = "queued"
RUNNING: Final = "running"
WAITING: Final = "waiting"
COMPLETED: Final = "completed"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
CRASHED: Final = "crashed"

TERMINAL: Final = frozenset({COMPLETED, FAILED, CANCELLED, CRASHED})
CANCELLABLE: Final = frozenset({QUEUED, RUNNING, WAITING})


class Lifecycle:
    """What the rules need to know of one execution: status, version, nodes.

    ``nodes`` maps a node id to ``(last attempt, finished)``; ``deleted`` is
    set by ``execution.deleted`` and leaves ``status`` as it was. ``size`` is
    the bytes of its stored payloads, which the writer keeps (``apply`` never
    sees the bytes) for the store's limits.
    """

    __slots__ = ("deleted", "nodes", "size", "status", "team_id", "version", "workflow_id")

    def __init__(
        self,
        status: str = "",
        version: int = 0,
        workflow_id: str = "",
        team_id: str | None = None,
        nodes: dict[str, tuple[int, bool]] | None = None,
        deleted: bool = False,
        size: int = 0,
    ) -> None:
        self.status = status
        self.version = version
        self.workflow_id = workflow_id
        self.team_id = team_id
        self.nodes = nodes if nodes is not None else {}
        self.deleted = deleted
        self.size = size

    def copy(self) -> Lifecycle:
        return Lifecycle(
            self.status,
            self.version,
            self.workflow_id,
            self.team_id,
            dict(self.nodes),
            self.deleted,
            self.size,
        )


def apply(state: Lifecycle, data: EventData, index: int = 0) -> None:
    """Advance ``state`` by one event, or raise ``RuleViolation`` naming the rule."""
    if state.version == 0:
        if type(data) is not ExecutionQueued:
            _broke("execution.queued_first", "the first event must be execution.queued", index)
    elif state.deleted:
        _broke("execution.deleted", "the execution is deleted; nothing may follow", index)
    elif state.status in TERMINAL and type(data) is not ExecutionDeleted:
        _broke("execution.terminal", f"the execution is already {state.status}", index)
    _HANDLERS[type(data)](state, data, index)
    state.version += 1


def _on_queued(state: Lifecycle, data: ExecutionQueued, index: int) -> None:
    if state.version != 0:
        _broke("execution.queued_first", "execution.queued may only come first", index)
    state.status = QUEUED
    state.workflow_id = data.workflow_id
    state.team_id = data.team_id


def _transition(
    allowed: frozenset[str], rule: str, to: str | None
) -> Callable[[Lifecycle, EventData, int], None]:
    """A handler that checks the current status and moves to ``to`` (None: stays)."""

    def handle(state: Lifecycle, data: EventData, index: int) -> None:
        if state.status not in allowed:
            _broke(rule, f"not allowed while the execution is {state.status}", index)
        if to is not None:
            state.status = to

    return handle


def _on_deleted(state: Lifecycle, data: ExecutionDeleted, index: int) -> None:
    if state.status not in TERMINAL:
        _broke(
            "execution.delete_requires_finished",
            f"not allowed while the execution is {state.status}; cancel it first",
            index,
        )
    state.deleted = True


def _on_node_started(state: Lifecycle, data: NodeStarted, index: int) -> None:
    _require_running(state, index)
    _node_started(state, data, index)


def _on_node_finished(state: Lifecycle, data: NodeCompleted | NodeFailed, index: int) -> None:
    _require_running(state, index)
    _node_finished(state, data.node_id, data.attempt, index)


_ONLY_RUNNING: Final = frozenset({RUNNING})

_HANDLERS: Final[dict[type[Any], Callable[[Lifecycle, Any, int], None]]] = {
    ExecutionQueued: _on_queued,
    ExecutionStarted: _transition(frozenset({QUEUED}), "execution.start_requires_queued", RUNNING),
    ExecutionWaiting: _transition(_ONLY_RUNNING, "execution.wait_requires_running", WAITING),
    ExecutionResumed: _transition(
        frozenset({WAITING}), "execution.resume_requires_waiting", RUNNING
    ),
    ExecutionCompleted: _transition(_ONLY_RUNNING, "execution.finish_requires_running", COMPLETED),
    ExecutionFailed: _transition(_ONLY_RUNNING, "execution.finish_requires_running", FAILED),
    ExecutionCrashed: _transition(
        frozenset({RUNNING, WAITING}), "execution.crash_requires_running", CRASHED
    ),
    ExecutionCancelRequested: _transition(CANCELLABLE, "execution.cancel_requires_active", None),
    ExecutionCancelled: _transition(CANCELLABLE, "execution.cancel_requires_active", CANCELLED),
    ExecutionDeleted: _on_deleted,
    NodeStarted: _on_node_started,
    NodeCompleted: _on_node_finished,
    NodeFailed: _on_node_finished,
}


def _node_started(state: Lifecycle, data: NodeStarted, index: int) -> None:
    if data.attempt < 1:
        _broke("node.attempt_must_increase", "attempt numbers start at 1", index)
    previous = state.nodes.get(data.node_id)
    if previous is not None:
        attempt, finished = previous
        if not finished:
            _broke(
                "node.already_running",
                f"node {data.node_id!r} attempt {attempt} has not finished",
                index,
            )
        if data.attempt <= attempt:
            _broke(
                "node.attempt_must_increase",
                f"node {data.node_id!r} attempt {data.attempt} follows attempt {attempt}",
                index,
            )
    state.nodes[data.node_id] = (data.attempt, False)


def _node_finished(state: Lifecycle, node_id: str, attempt: int, index: int) -> None:
    previous = state.nodes.get(node_id)
    if previous is None or previous[0] != attempt:
        _broke("node.not_started", f"node {node_id!r} attempt {attempt} was never started", index)
    if previous[1]:
        _broke("node.already_finished", f"node {node_id!r} attempt {attempt} already ended", index)
    state.nodes[node_id] = (attempt, True)


def _require_running(state: Lifecycle, index: int) -> None:
    if state.status != RUNNING:
        _broke("node.requires_running", f"not allowed while the execution is {state.status}", index)


def _broke(rule: str, message: str, index: int) -> NoReturn:
    raise RuleViolation(rule, message, index=index)
