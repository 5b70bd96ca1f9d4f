"""The native API's answers on the wire: what the views look like as JSON
(ISO 8601 UTC times with milliseconds, ids, the error object). What clients
send is in ``bodies``. The OpenAPI document is generated from these same Structs.
"""

from __future__ import annotations

import msgspec

from eventstore import RecordedEvent
from eventstore.events import now_us
from eventstore.frozen import Frozen
from projections import ExecutionDetail, SummaryRow, elapsed_ms
from projections.views import AttemptDetail, ExecutionError, NodeDetail, UsageDetail

from .times import iso_ms, iso_ms_or_none


class Camel(Frozen, rename="camel"):
    """A shape whose fields are camelCase on the wire (the dialects' and exports')."""


# Token usage on the wire. ``eventstore.Usage`` is what an engine reports,
# ``projections.UsageDetail`` what a view sums. (A docstring here would be
# its description in the OpenAPI document.)
class UsageOut(Frozen, kw_only=True):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    currency: str | None = None


class NodeErrorOut(Frozen, kw_only=True):
    code: str
    message: str


class ExecutionErrorOut(Frozen, kw_only=True):
    code: str
    message: str
    node_id: str | None


class Attempt(Frozen, kw_only=True):
    attempt: int
    status: str
    started_at: str
    finished_at: str | None
    duration_ms: int | None
    input: msgspec.Raw
    output: msgspec.Raw | None
    tokens: int
    usage: UsageOut | None
    error: NodeErrorOut | None
    will_retry: bool
    started_version: int
    finished_version: int | None


class Node(Frozen, kw_only=True):
    node_id: str
    node_name: str | None
    node_type: str | None
    status: str
    tokens: int
    duration_ms: int | None
    usage: UsageOut | None
    attempts: list[Attempt]


class _Identity(Frozen, kw_only=True):
    """What the list and the detail both say first: who the execution is."""

    id: int
    uuid: str
    external_id: str | None
    workflow_id: str
    workflow_name: str | None
    workflow_version: int | None
    status: str
    trigger: str
    display_name: str | None
    test_mode: bool
    team_id: str | None


class Execution(_Identity, kw_only=True):
    """The detail view. ``elapsed_ms`` is the run time so far by the server's
    clock while it runs, and equals ``duration_ms`` once finished."""

    metadata: dict[str, str]
    retry_of: int | None
    retry_success_id: int | None
    worker: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    duration_ms: int | None
    elapsed_ms: int | None
    input: msgspec.Raw
    output: msgspec.Raw | None
    tokens: int
    usage: UsageOut | None
    node_counts: dict[str, int]
    steps: int
    nodes: list[Node]
    error: ExecutionErrorOut | None
    wait_reason: str | None
    wait_till: str | None
    cancel_requested: bool
    cancel_by: str | None
    cancel_reason: str | None
    crash_reason: str | None
    deleted_at: str | None  # set by execution.deleted: lists hide it from then on
    version: int
    position: int
    updated_at: str


class NodeCounts(Frozen, kw_only=True):
    total: int
    running: int
    completed: int
    failed: int


class Summary(_Identity, kw_only=True):
    """One row of the list."""

    created_at: str
    started_at: str | None
    finished_at: str | None
    duration_ms: int | None
    tokens: int
    nodes: NodeCounts
    steps: int
    error: ExecutionErrorOut | None
    retry_of: int | None
    retry_success_id: int | None
    wait_till: str | None
    cancel_requested: bool
    version: int
    updated_at: str


class ExecutionRef(Frozen, kw_only=True):
    """What a write answers a token that may not read executions: which
    execution it was, and nothing the execution holds."""

    id: int
    uuid: str
    external_id: str | None


class ExecutionList(Frozen, kw_only=True):
    items: list[Summary]
    next_cursor: str | None  # None on the last page


class HistoryEvent(Frozen, kw_only=True):
    position: int
    version: int
    event_id: str
    type: str
    occurred_at: str
    recorded_at: str
    data: msgspec.Raw  # exactly the stored bytes
    hash: str  # hex SHA-256 of the chain at this row


class StreamEvent(HistoryEvent, kw_only=True):
    """An event on ``/v1/stream``: the audit fields and whose it is."""

    execution_id: int
    workflow_id: str
    team_id: str | None


class ExecutionStreamEvent(Frozen, kw_only=True):
    """An event on ``/v1/executions/{id}/stream``, with the list row after it."""

    event: HistoryEvent
    summary: Summary


class History(Frozen, kw_only=True):
    execution_id: int
    events: list[HistoryEvent]


class Appended(Frozen, kw_only=True):
    execution_id: int
    version: int
    positions: list[int]
    duplicate: bool


class WebhookCreated(Frozen, kw_only=True):
    id: str  # names it to list or revoke it; the hash is shown only here
    workflow_id: str
    hash: str
    url: str


class Webhook(Frozen, kw_only=True):
    id: str
    workflow_id: str
    created_at: str


class WebhookList(Frozen, kw_only=True):
    webhooks: list[Webhook]


class Token(Frozen, kw_only=True):
    """A token as it may be shown: never its secret."""

    id: str
    scopes: list[str]
    team: str | None
    label: str | None
    created_at: str
    last_used_at: str | None


class TokenList(Frozen, kw_only=True):
    tokens: list[Token]


class Revoked(Frozen, kw_only=True):
    id: str
    revoked: bool


class WebhookAccepted(Frozen, kw_only=True):
    success: bool
    execution_id: int
    message: str
    captured: bool


class Health(Frozen, kw_only=True):
    status: str
    head: int


def usage(value: UsageDetail | None) -> UsageOut | None:
    if value is None:
        return None
    return UsageOut(
        prompt_tokens=value.prompt_tokens,
        completion_tokens=value.completion_tokens,
        cost=value.cost,
        currency=value.currency,
    )


def execution_now(detail: ExecutionDetail) -> Execution:
    """The detail as answered now: an unfinished execution's elapsed time runs to this moment."""
    return execution(detail, elapsed_ms(detail, now_us()))


def execution(detail: ExecutionDetail, elapsed: int | None) -> Execution:
    d = detail
    error = d.error
    return Execution(
        id=d.id,
        uuid=d.uuid,
        external_id=d.external_id,
        workflow_id=d.workflow_id,
        workflow_name=d.workflow_name,
        workflow_version=d.workflow_version,
        status=d.status,
        trigger=d.trigger,
        display_name=d.display_name,
        test_mode=d.test_mode,
        team_id=d.team_id,
        metadata=d.metadata,
        retry_of=d.retry_of,
        retry_success_id=d.retry_success_id,
        worker=d.worker,
        created_at=iso_ms(d.created_at),
        started_at=iso_ms_or_none(d.started_at),
        finished_at=iso_ms_or_none(d.finished_at),
        duration_ms=d.duration_ms,
        elapsed_ms=elapsed,
        input=d.input,
        output=d.output,
        tokens=d.tokens,
        usage=usage(d.usage),
        node_counts=d.node_counts,
        steps=d.steps,
        nodes=[_node(n) for n in d.nodes],
        error=_error_out(error),
        wait_reason=d.wait_reason,
        wait_till=iso_ms_or_none(d.wait_till),
        cancel_requested=d.cancel_requested,
        cancel_by=d.cancel_by,
        cancel_reason=d.cancel_reason,
        crash_reason=d.crash_reason,
        deleted_at=iso_ms_or_none(d.deleted_at),
        version=d.version,
        position=d.position,
        updated_at=iso_ms(d.last_recorded_at),
    )


def _error_out(error: ExecutionError | None) -> ExecutionErrorOut | None:
    if error is None:
        return None
    return ExecutionErrorOut(code=error.code, message=error.message, node_id=error.node_id)


def _node(node: NodeDetail) -> Node:
    return Node(
        node_id=node.node_id,
        node_name=node.node_name,
        node_type=node.node_type,
        status=node.status,
        tokens=node.totals.tokens,
        duration_ms=node.totals.duration_ms,
        usage=usage(node.totals.usage),
        attempts=[_attempt(a) for a in node.attempts],
    )


def _attempt(a: AttemptDetail) -> Attempt:
    error = None if a.error is None else NodeErrorOut(code=a.error.code, message=a.error.message)
    return Attempt(
        attempt=a.attempt,
        status=a.status,
        started_at=iso_ms(a.started_at),
        finished_at=iso_ms_or_none(a.finished_at),
        duration_ms=a.duration_ms,
        input=a.input,
        output=a.output,
        tokens=a.tokens,
        usage=usage(a.usage),
        error=error,
        will_retry=a.will_retry,
        started_version=a.started_version,
        finished_version=a.finished_version,
    )


def summary(row: SummaryRow) -> Summary:
    r = row
    error = None
    if r.error_code is not None:
        error = ExecutionErrorOut(
            code=r.error_code, message=r.error_message or "", node_id=r.error_node_id
        )
    counts = NodeCounts(
        total=r.nodes_total,
        running=r.nodes_running,
        completed=r.nodes_completed,
        failed=r.nodes_failed,
    )
    return Summary(
        id=r.id,
        uuid=r.uuid,
        external_id=r.external_id,
        workflow_id=r.workflow_id,
        workflow_name=r.workflow_name,
        workflow_version=r.workflow_version,
        status=r.status,
        trigger=r.trigger,
        display_name=r.display_name,
        test_mode=r.test_mode,
        team_id=r.team_id,
        created_at=iso_ms(r.created_at),
        started_at=iso_ms_or_none(r.started_at),
        finished_at=iso_ms_or_none(r.finished_at),
        duration_ms=r.duration_ms,
        tokens=r.tokens,
        nodes=counts,
        steps=r.steps,
        error=error,
        retry_of=r.retry_of,
        retry_success_id=r.retry_success_id,
        wait_till=iso_ms_or_none(r.wait_till),
        cancel_requested=r.cancel_requested,
        version=r.version,
        updated_at=iso_ms(r.updated_at),
    )


def history_event(event: RecordedEvent) -> HistoryEvent:
    return HistoryEvent(
        position=event.position,
        version=event.version,
        event_id=event.event_id,
        type=event.type,
        occurred_at=iso_ms(event.occurred_at),
        recorded_at=iso_ms(event.recorded_at),
        data=event.data,
        hash=event.hash.hex(),
    )
