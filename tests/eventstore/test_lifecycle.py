"""``lifecycle.apply`` against an explicit table of every (status, event) pair."""

from __future__ import annotations

import itertools

import pytest

from eventstore.errors import RuleViolation
from eventstore.events import (
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
    ExecutionStarted,
    ExecutionWaiting,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
)
from eventstore.lifecycle import Lifecycle, apply

FRESH = ""  # no event yet: version 0
TERMINAL = ("completed", "failed", "cancelled", "crashed")
DELETED = "deleted"  # a failed execution after execution.deleted: status failed, deleted set
STATUSES = (FRESH, "queued", "running", "waiting", *TERMINAL, DELETED)

# Node "n" has attempt 1 running and node "m" is new, so every node event below
# is consistent with the node's history: only the execution status decides.
EVENTS: dict[str, EventData] = {
    "execution.queued": ExecutionQueued(workflow_id="wf"),
    "execution.started": ExecutionStarted(),
    "execution.waiting": ExecutionWaiting(),
    "execution.resumed": ExecutionResumed(),
    "execution.completed": ExecutionCompleted(),
    "execution.failed": ExecutionFailed(),
    "execution.crashed": ExecutionCrashed(),
    "execution.cancel_requested": ExecutionCancelRequested(),
    "execution.cancelled": ExecutionCancelled(),
    "execution.deleted": ExecutionDeleted(),
    "node.started": NodeStarted(node_id="m"),
    "node.completed": NodeCompleted(node_id="n"),
    "node.failed": NodeFailed(node_id="n", error=ErrorInfo(code="E")),
}

# (status before, event) -> status after. Every pair not listed is refused.
ALLOWED: dict[tuple[str, str], str] = {
    (FRESH, "execution.queued"): "queued",
    ("queued", "execution.started"): "running",
    ("queued", "execution.cancel_requested"): "queued",
    ("queued", "execution.cancelled"): "cancelled",
    ("running", "execution.waiting"): "waiting",
    ("running", "execution.completed"): "completed",
    ("running", "execution.failed"): "failed",
    ("running", "execution.crashed"): "crashed",
    ("running", "execution.cancel_requested"): "running",
    ("running", "execution.cancelled"): "cancelled",
    ("running", "node.started"): "running",
    ("running", "node.completed"): "running",
    ("running", "node.failed"): "running",
    ("waiting", "execution.resumed"): "running",
    ("waiting", "execution.crashed"): "crashed",
    ("waiting", "execution.cancel_requested"): "waiting",
    ("waiting", "execution.cancelled"): "cancelled",
    **{(status, "execution.deleted"): status for status in TERMINAL},
}

# The rule an event breaks when refused from queued, running or waiting.
REFUSED_BY: dict[str, str] = {
    "execution.queued": "execution.queued_first",
    "execution.started": "execution.start_requires_queued",
    "execution.waiting": "execution.wait_requires_running",
    "execution.resumed": "execution.resume_requires_waiting",
    "execution.completed": "execution.finish_requires_running",
    "execution.failed": "execution.finish_requires_running",
    "execution.crashed": "execution.crash_requires_running",
    "execution.cancel_requested": "execution.cancel_requires_active",
    "execution.cancelled": "execution.cancel_requires_active",
    "execution.deleted": "execution.delete_requires_finished",
    "node.started": "node.requires_running",
    "node.completed": "node.requires_running",
    "node.failed": "node.requires_running",
}


def expected(status: str, event: str) -> tuple[str, str | None]:
    """(status after, None) when allowed, else (status, the rule broken)."""
    if (status, event) in ALLOWED:
        return ALLOWED[(status, event)], None
    if status == FRESH:
        return status, "execution.queued_first"
    if status == DELETED:
        return status, "execution.deleted"
    if status in TERMINAL:
        return status, "execution.terminal"
    return status, REFUSED_BY[event]


def state_at(status: str) -> Lifecycle:
    if status == FRESH:
        return Lifecycle()
    if status == DELETED:
        return Lifecycle("failed", version=5, workflow_id="wf", deleted=True)
    return Lifecycle(status, version=4, workflow_id="wf", nodes={"n": (1, False)})


def shown(state: Lifecycle) -> str:
    """The table's name for ``state``: its status, or ``deleted`` once deleted."""
    return DELETED if state.deleted else state.status


@pytest.mark.parametrize(
    ("status", "event"),
    list(itertools.product(STATUSES, EVENTS)),
    ids=[f"{s or 'fresh'}:{e}" for s, e in itertools.product(STATUSES, EVENTS)],
)
def test_status_table(status: str, event: str) -> None:
    state = state_at(status)
    version = state.version
    after, rule = expected(status, event)
    if rule is None:
        apply(state, EVENTS[event])
        deleted = event == "execution.deleted"
        assert (state.status, state.deleted, state.version) == (after, deleted, version + 1)
    else:
        with pytest.raises(RuleViolation) as refused:
            apply(state, EVENTS[event])
        assert refused.value.rule == rule
        assert (shown(state), state.version) == (status, version)


def test_a_delete_survives_the_copy_the_writer_makes() -> None:
    state = Lifecycle("completed", version=3, workflow_id="wf")
    attempt = state.copy()
    apply(attempt, ExecutionDeleted(by="alice"))
    assert (attempt.deleted, attempt.copy().deleted, state.deleted) == (True, True, False)
    with pytest.raises(RuleViolation) as refused:
        apply(attempt.copy(), ExecutionDeleted())
    assert refused.value.rule == "execution.deleted"


def test_queued_records_its_owner() -> None:
    state = Lifecycle()
    apply(state, ExecutionQueued(workflow_id="wf-9", team_id="team-3"))
    assert (state.workflow_id, state.team_id, state.version) == ("wf-9", "team-3", 1)


Nodes = dict[str, tuple[int, bool]]


def failed(node_id: str, attempt: int) -> NodeFailed:
    return NodeFailed(node_id=node_id, attempt=attempt, error=ErrorInfo(code="E"))


# (nodes before, event, nodes after or the rule broken), all while running.
NODE_TABLE: list[tuple[Nodes, EventData, Nodes | str]] = [
    ({}, NodeStarted(node_id="n"), {"n": (1, False)}),
    ({}, NodeStarted(node_id="n", attempt=3), {"n": (3, False)}),
    ({}, NodeStarted(node_id="n", attempt=0), "node.attempt_must_increase"),
    ({"n": (1, False)}, NodeStarted(node_id="n", attempt=2), "node.already_running"),
    ({"n": (1, True)}, NodeStarted(node_id="n", attempt=1), "node.attempt_must_increase"),
    ({"n": (2, True)}, NodeStarted(node_id="n", attempt=1), "node.attempt_must_increase"),
    ({"n": (1, True)}, NodeStarted(node_id="n", attempt=2), {"n": (2, False)}),
    ({"n": (1, False)}, NodeStarted(node_id="m"), {"n": (1, False), "m": (1, False)}),
    ({}, NodeCompleted(node_id="n"), "node.not_started"),
    ({"n": (1, False)}, NodeCompleted(node_id="n", attempt=2), "node.not_started"),
    ({"n": (1, False)}, NodeCompleted(node_id="m"), "node.not_started"),
    ({"n": (1, False)}, NodeCompleted(node_id="n"), {"n": (1, True)}),
    ({"n": (1, True)}, NodeCompleted(node_id="n"), "node.already_finished"),
    ({}, failed("n", 1), "node.not_started"),
    ({"n": (2, False)}, failed("n", 1), "node.not_started"),
    ({"n": (2, False)}, failed("n", 2), {"n": (2, True)}),
    ({"n": (2, True)}, failed("n", 2), "node.already_finished"),
]


@pytest.mark.parametrize(("nodes", "event", "outcome"), NODE_TABLE)
def test_node_table(nodes: Nodes, event: EventData, outcome: Nodes | str) -> None:
    state = Lifecycle("running", version=2, workflow_id="wf", nodes=dict(nodes))
    if isinstance(outcome, str):
        with pytest.raises(RuleViolation) as refused:
            apply(state, event)
        assert refused.value.rule == outcome
        assert (state.nodes, state.version) == (nodes, 2)
    else:
        apply(state, event)
        assert (state.nodes, state.version, state.status) == (outcome, 3, "running")


def test_refused_append_on_a_copy_leaves_the_state_as_it_was() -> None:
    state = Lifecycle("running", version=3, workflow_id="wf", nodes={"n": (1, False)})
    attempt = state.copy()  # what the writer does before trying an append
    batch: list[EventData] = [NodeCompleted(node_id="n"), NodeCompleted(node_id="n")]
    with pytest.raises(RuleViolation) as refused:
        for index, event in enumerate(batch):
            apply(attempt, event, index)
    assert (refused.value.rule, refused.value.index) == ("node.already_finished", 1)
    # The first event did change the copy; none of it may reach the original.
    assert attempt.nodes == {"n": (1, True)}
    assert (state.status, state.version, state.nodes) == ("running", 3, {"n": (1, False)})


@pytest.mark.parametrize("index", [0, 1, 7])
def test_violation_carries_the_index_passed(index: int) -> None:
    with pytest.raises(RuleViolation) as refused:
        apply(Lifecycle("completed", version=5), ExecutionStarted(), index)
    assert refused.value.index == index
    assert refused.value.rule == "execution.terminal"
