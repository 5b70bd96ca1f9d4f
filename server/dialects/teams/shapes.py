"""The teams dialect's response shapes, and the views mapped onto them: the
list item, the page, the detail and its node executions. The mapping
choices are listed in the package's docstring."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Final

import msgspec

from projections import ExecutionDetail, SummaryRow
from projections.detail import ms_between
from projections.views import ExecutionStatus, NodeDetail, NodeError, NodeStatus

from ...render.times import iso_ms, iso_ms_or_none
from ...render.wire import Camel

STATUS_NAMES: Final[Mapping[ExecutionStatus, str]] = {
    "queued": "PENDING",
    "running": "RUNNING",
    "waiting": "RUNNING",
    "completed": "SUCCESS",
    "failed": "FAILED",
    "cancelled": "CANCELLED",
    "crashed": "FAILED",
}
FILTER_STATUSES: Final[Mapping[str, frozenset[str]]] = {
    name: frozenset(ours for ours, theirs in STATUS_NAMES.items() if theirs == name)
    for name in ("PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED")
}
NODE_STATUS_NAMES: Final[Mapping[NodeStatus, str]] = {
    "completed": "SUCCESS",
    "failed": "FAILED",
    "running": "RUNNING",
}
CRASHED: Final = "the execution crashed"
# Node execution ids: UUIDv5 of "<execution uuid>/<node id>" in this namespace.
NODE_NAMESPACE: Final = uuid.UUID("6f1c1f0e-3b7a-5c1e-9d2a-7e5b0c4a8f11")


class ListItem(Camel, kw_only=True):
    id: str
    workflow_id: str
    workflow_name: str | None
    status: str
    started_at: str
    finished_at: str | None
    duration_ms: int | None
    trigger_type: str
    node_count: int
    error_message: str | None


class ExecutionPage(Camel, kw_only=True):
    content: list[ListItem]
    total_elements: int
    total_pages: int
    number: int
    size: int


class NodeExecution(Camel, kw_only=True):
    id: str
    node_id: str
    node_name: str | None
    node_type: str | None
    status: str
    started_at: str
    completed_at: str | None
    duration_ms: int | None
    input_data: msgspec.Raw
    output_data: msgspec.Raw | None
    error_message: str | None
    retry_count: int


class Execution(Camel, kw_only=True):
    id: str
    workflow_id: str
    workflow_name: str | None
    workflow_version: int | None
    status: str
    trigger: str
    input_data: msgspec.Raw
    output_data: msgspec.Raw | None
    error_message: str | None
    created_at: str
    started_at: str | None
    completed_at: str | None
    duration_ms: int | None
    node_executions: list[NodeExecution]


def error_text(error: NodeError | None) -> str | None:
    return None if error is None else error.message or error.code


def _message(status: ExecutionStatus, code: str | None, message: str | None) -> str | None:
    if status == "crashed":
        return message or CRASHED
    if status != "failed":
        return None
    return message or code or "the execution failed"


def list_item(row: SummaryRow) -> ListItem:
    return ListItem(
        id=row.uuid,
        workflow_id=row.workflow_id,
        workflow_name=row.workflow_name,
        status=STATUS_NAMES[row.status],
        started_at=iso_ms(row.created_at),
        finished_at=iso_ms_or_none(row.finished_at),
        duration_ms=row.duration_ms,  # the one definition: see the package's docstring
        trigger_type=row.trigger.upper(),
        node_count=row.nodes_total,
        error_message=_message(row.status, row.error_code, row.error_message),
    )


def node_span(node: NodeDetail) -> tuple[int, int | None, int | None]:
    """The node's start, end and duration over all its attempts (it has one)."""
    start, end = node.attempts[0].started_at, node.attempts[-1].finished_at
    return start, end, None if end is None else ms_between(start, end)


def node_execution(execution_uuid: str, node: NodeDetail) -> NodeExecution:
    last = node.attempts[-1]
    start, end, duration = node_span(node)
    return NodeExecution(
        id=str(uuid.uuid5(NODE_NAMESPACE, f"{execution_uuid}/{node.node_id}")),
        node_id=node.node_id,
        node_name=node.node_name,
        node_type=node.node_type,
        status=NODE_STATUS_NAMES[node.status],
        started_at=iso_ms(start),
        completed_at=iso_ms_or_none(end),
        duration_ms=duration,
        input_data=last.input,
        output_data=last.output,
        error_message=error_text(last.error) if last.status == "failed" else None,
        retry_count=len(node.attempts) - 1,
    )


def execution(d: ExecutionDetail) -> Execution:
    code = None if d.error is None else d.error.code
    message = None if d.error is None else d.error.message
    if d.status == "crashed":
        message = d.crash_reason
    return Execution(
        id=d.uuid,
        workflow_id=d.workflow_id,
        workflow_name=d.workflow_name,
        workflow_version=d.workflow_version,
        status=STATUS_NAMES[d.status],
        trigger=d.trigger.upper(),
        input_data=d.input,
        output_data=d.output,
        error_message=_message(d.status, code, message),
        created_at=iso_ms(d.created_at),
        started_at=iso_ms_or_none(d.started_at),
        completed_at=iso_ms_or_none(d.finished_at),
        duration_ms=d.duration_ms,
        node_executions=[node_execution(d.uuid, n) for n in d.nodes],
    )
