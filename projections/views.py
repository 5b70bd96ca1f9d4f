"""The views' shapes: the detail of an execution, its nodes and their
attempts, and the list's row.

Frozen Structs, so a folded view can be shared, cached and encoded as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Literal

import msgspec

from eventstore.frozen import Frozen

ExecutionStatus = Literal[
    "queued", "running", "waiting", "completed", "failed", "cancelled", "crashed"
]
NodeStatus = Literal["running", "completed", "failed"]

# The currency of a usage total whose parts were priced in different
# currencies: such costs cannot be added, so the total's cost is None.
MIXED_CURRENCY: Final = "mixed"


class FoldError(ValueError):
    """The events are not one execution's history in version order."""


class UsageDetail(Frozen, kw_only=True):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    currency: str | None = None


class NodeError(Frozen, kw_only=True):
    code: str
    message: str = ""


class ExecutionError(Frozen, kw_only=True):
    code: str
    message: str = ""
    node_id: str | None = None


class AttemptDetail(Frozen, kw_only=True):
    attempt: int
    status: NodeStatus = "running"
    started_at: int
    finished_at: int | None = None
    duration_ms: int | None = None
    input: msgspec.Raw
    output: msgspec.Raw | None = None
    tokens: int = 0
    usage: UsageDetail | None = None
    error: NodeError | None = None
    will_retry: bool = False
    # Versions of the events that began and ended the attempt: they link an
    # attempt to the history and to replay, and order failures across nodes.
    started_version: int
    finished_version: int | None = None


class NodeTotals(Frozen, kw_only=True):
    tokens: int = 0
    duration_ms: int | None = None  # over finished attempts; None until one finished
    usage: UsageDetail | None = None


class NodeDetail(Frozen, kw_only=True):
    node_id: str
    node_name: str | None = None
    node_type: str | None = None
    status: NodeStatus = "running"  # the latest attempt's
    attempts: list[AttemptDetail] = msgspec.field(default_factory=list)
    totals: NodeTotals = NodeTotals()


class ExecutionDetail(Frozen, kw_only=True):
    """One execution as its events tell it.

    ``duration_ms`` is set once the execution finished, if it ever started;
    ``error`` only when it failed. ``node_counts`` leaves zero counts out;
    ``nodes`` come in the order they first started. ``version``, ``position``
    and ``last_recorded_at`` are the last folded event's.
    """

    id: int
    uuid: str
    workflow_id: str
    workflow_name: str | None = None
    workflow_version: int | None = None
    status: ExecutionStatus = "queued"
    trigger: str
    display_name: str | None = None
    test_mode: bool = False
    team_id: str | None = None
    external_id: str | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    retry_of: int | None = None
    # Which later execution retried this one successfully is not in this
    # execution's events; the summary table, which sees all executions, fills it.
    retry_success_id: int | None = None
    worker: str | None = None
    created_at: int
    started_at: int | None = None
    finished_at: int | None = None
    duration_ms: int | None = None
    input: msgspec.Raw
    output: msgspec.Raw | None = None
    tokens: int = 0
    usage: UsageDetail | None = None
    node_counts: dict[str, int] = msgspec.field(default_factory=dict)
    steps: int = 0
    nodes: list[NodeDetail] = msgspec.field(default_factory=list)
    # The bytes of the payloads folded so far: what answering with the detail
    # costs grows with them (see ``reader.is_large``).
    payload_bytes: int = 0
    error: ExecutionError | None = None
    wait_reason: str | None = None
    wait_till: int | None = None
    cancel_requested: bool = False
    cancel_by: str | None = None
    cancel_reason: str | None = None
    crash_reason: str | None = None
    # Set by execution.deleted (a soft delete): lists hide the execution from
    # then on; the detail, replays and history still show it.
    deleted_at: int | None = None
    version: int
    position: int
    last_recorded_at: int


class SummaryRow(Frozen):
    """One row of the summary table (the list view): its fields are the
    table's columns, by name. The folds build it by keyword; the SQL that
    writes and reads it names its columns from these fields, so a row read
    back builds positionally in that same order."""

    id: int
    uuid: str
    external_id: str | None
    workflow_id: str
    workflow_name: str | None
    workflow_version: int | None
    status: ExecutionStatus
    trigger: str
    display_name: str | None
    test_mode: bool
    team_id: str | None
    created_at: int
    started_at: int | None
    finished_at: int | None
    duration_ms: int | None
    tokens: int
    nodes_total: int
    nodes_running: int
    nodes_completed: int
    nodes_failed: int
    steps: int
    error_code: str | None
    error_message: str | None
    error_node_id: str | None
    retry_of: int | None
    wait_till: int | None
    cancel_requested: bool
    version: int
    position: int
    updated_at: int
    deleted_at: int | None
    retry_success_id: int | None


# The table's columns: ``SummaryRow``'s fields, in order. Reads select them and
# writes bind them by these names.
ROW_COLUMNS: Final = SummaryRow.__struct_fields__
_BOOLEANS: Final = tuple(ROW_COLUMNS.index(name) for name in ("test_mode", "cancel_requested"))


def stored_row(values: Sequence[Any]) -> SummaryRow:
    """The row whose columns, in ``ROW_COLUMNS`` order, hold ``values`` as the
    table stores them: SQLite keeps booleans as 0 or 1, so those turn back."""
    fields = list(values)
    for index in _BOOLEANS:
        fields[index] = bool(fields[index])
    return SummaryRow(*fields)


def summary_row(detail: ExecutionDetail) -> SummaryRow:
    """The row for ``detail``, as the table holds it, with the retry link the
    detail carries (a fold's own is None: only the table links retries). A
    stream sends it after each event, so a stream and the list never disagree."""
    counts, error = detail.node_counts, detail.error
    return SummaryRow(
        id=detail.id,
        uuid=detail.uuid,
        external_id=detail.external_id,
        workflow_id=detail.workflow_id,
        workflow_name=detail.workflow_name,
        workflow_version=detail.workflow_version,
        status=detail.status,
        trigger=detail.trigger,
        display_name=detail.display_name,
        test_mode=detail.test_mode,
        team_id=detail.team_id,
        created_at=detail.created_at,
        started_at=detail.started_at,
        finished_at=detail.finished_at,
        duration_ms=detail.duration_ms,
        tokens=detail.tokens,
        nodes_total=sum(counts.values()),  # the nodes, counted by their status
        nodes_running=counts.get("running", 0),
        nodes_completed=counts.get("completed", 0),
        nodes_failed=counts.get("failed", 0),
        steps=detail.steps,
        error_code=error.code if error else None,
        error_message=error.message if error else None,
        error_node_id=error.node_id if error else None,
        retry_of=detail.retry_of,
        wait_till=detail.wait_till,
        cancel_requested=detail.cancel_requested,
        version=detail.version,
        position=detail.position,
        updated_at=detail.last_recorded_at,
        deleted_at=detail.deleted_at,
        retry_success_id=detail.retry_success_id,
    )
