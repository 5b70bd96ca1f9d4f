"""The n8n dialect's response shapes, and the views mapped onto them.

The handlers live in ``routes``; this module holds what an execution looks like
to an n8n client: the list item, the single execution and, with
``includeData=true``, ``customData``, ``data`` (``runData`` by node name) and
``workflowData``. Field names are n8n's (camelCase, by ``rename``); the
mapping choices are listed in the package's docstring.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import msgspec

from eventstore.frozen import Frozen
from projections import ExecutionDetail, SummaryRow
from projections.detail import ms_between
from projections.views import AttemptDetail, ExecutionStatus, NodeDetail, NodeStatus, summary_row

from ...render.times import iso_ms, iso_ms_or_none
from ...render.wire import Camel

STATUS_NAMES: Final[Mapping[ExecutionStatus, str]] = {
    "queued": "new",
    "running": "running",
    "waiting": "waiting",
    "completed": "success",
    "failed": "error",
    "cancelled": "canceled",
    "crashed": "crashed",
}
NODE_STATUS_NAMES: Final[Mapping[NodeStatus, str]] = {
    "completed": "success",
    "failed": "error",
    "running": "running",
}
# n8n's execution modes; a trigger named like one is shown as itself.
MODES: Final = frozenset(
    {"cli", "error", "integrated", "internal", "manual", "retry", "trigger", "webhook"}
)
_SCHEDULED: Final = frozenset({"schedule", "cron", "poll", "interval"})


class Item(Frozen):
    """One item of a node's output: n8n wraps each in ``{"json": ...}``."""

    json: msgspec.Raw


class RunOutput(Frozen):
    main: list[list[Item]]


class RunError(Frozen):
    name: str
    message: str


class Run(Camel):
    start_time: int  # milliseconds since the epoch, as n8n's runData has it
    execution_time: int
    execution_status: str
    data: RunOutput
    error: RunError | None


class ResultData(Camel):
    run_data: dict[str, list[Run]]
    last_node_executed: str | None
    error: RunError | msgspec.UnsetType = msgspec.UNSET  # only when failed or crashed


class ExecutionData(Camel):
    context_data: dict[str, str]
    node_execution_stack: list[str]
    waiting_execution: dict[str, str]
    waiting_execution_source: dict[str, str]


class Data(Camel):
    start_data: dict[str, str]
    result_data: ResultData
    execution_data: ExecutionData


class WorkflowData(Frozen):
    id: str
    name: str
    active: bool
    nodes: list[str]
    connections: dict[str, str]


class ListItem(Camel, kw_only=True):
    id: str
    finished: bool
    mode: str
    retry_of: str | None
    retry_success_id: str | None
    status: str
    started_at: str | None
    stopped_at: str | None
    workflow_id: str
    wait_till: str | None
    # With includeData=true only.
    custom_data: dict[str, str] | msgspec.UnsetType = msgspec.UNSET
    data: Data | msgspec.UnsetType = msgspec.UNSET
    workflow_data: WorkflowData | msgspec.UnsetType = msgspec.UNSET


class Execution(Camel, kw_only=True):
    id: str
    finished: bool
    mode: str
    retry_of: str | None
    retry_success_id: str | None
    status: str
    created_at: str
    started_at: str | None
    stopped_at: str | None
    deleted_at: str | None
    workflow_id: str
    wait_till: str | None
    # With includeData=true only.
    custom_data: dict[str, str] | msgspec.UnsetType = msgspec.UNSET
    data: Data | msgspec.UnsetType = msgspec.UNSET
    workflow_data: WorkflowData | msgspec.UnsetType = msgspec.UNSET


class ExecutionList(Camel):
    data: list[ListItem]
    next_cursor: str | None


def mode(trigger: str) -> str:
    if trigger in MODES:
        return trigger
    return "trigger" if trigger in _SCHEDULED else "integrated"


def _text(number: int | None) -> str | None:
    return None if number is None else str(number)


def list_item(row: SummaryRow) -> ListItem:
    return ListItem(
        id=str(row.id),
        finished=row.status == "completed",
        mode=mode(row.trigger),
        retry_of=_text(row.retry_of),
        retry_success_id=_text(row.retry_success_id),
        status=STATUS_NAMES[row.status],
        started_at=iso_ms_or_none(row.started_at),
        stopped_at=iso_ms_or_none(row.finished_at),
        workflow_id=row.workflow_id,
        wait_till=iso_ms_or_none(row.wait_till),
    )


def list_item_of(detail: ExecutionDetail, now_us: int) -> ListItem:
    """A list item with the data, from the fold (the summary row has none)."""
    return msgspec.structs.replace(
        list_item(summary_row(detail)),
        custom_data=detail.metadata,
        data=data(detail, now_us),
        workflow_data=workflow_data(detail),
    )


def execution(detail: ExecutionDetail, include_data: bool, now_us: int) -> Execution:
    d = detail
    return Execution(
        id=str(d.id),
        finished=d.status == "completed",
        mode=mode(d.trigger),
        retry_of=_text(d.retry_of),
        retry_success_id=_text(d.retry_success_id),
        status=STATUS_NAMES[d.status],
        created_at=iso_ms(d.created_at),
        started_at=iso_ms_or_none(d.started_at),
        stopped_at=iso_ms_or_none(d.finished_at),
        deleted_at=iso_ms_or_none(d.deleted_at),
        workflow_id=d.workflow_id,
        wait_till=iso_ms_or_none(d.wait_till),
        custom_data=d.metadata if include_data else msgspec.UNSET,
        data=data(d, now_us) if include_data else msgspec.UNSET,
        workflow_data=workflow_data(d) if include_data else msgspec.UNSET,
    )


def workflow_data(detail: ExecutionDetail) -> WorkflowData:
    # The workflow's definition (nodes, connections, activation) is not in our events.
    name = detail.workflow_name or detail.workflow_id
    return WorkflowData(id=detail.workflow_id, name=name, active=False, nodes=[], connections={})


def data(detail: ExecutionDetail, now_us: int) -> Data:
    keys = node_keys(detail.nodes)
    runs = {
        key: [run(a, now_us) for a in node.attempts]
        for key, node in zip(keys, detail.nodes, strict=True)
    }
    result = ResultData(
        run_data=runs,
        last_node_executed=_last_started(keys, detail.nodes),
        error=_execution_error(detail),
    )
    stack = ExecutionData(
        context_data={}, node_execution_stack=[], waiting_execution={}, waiting_execution_source={}
    )
    return Data(start_data={}, result_data=result, execution_data=stack)


def node_keys(nodes: Sequence[NodeDetail]) -> list[str]:
    """Each node's ``runData`` key: its name, else its id. n8n names are unique
    in a workflow; ours need not be, so a name already taken gets the id too."""
    keys: list[str] = []
    taken: set[str] = set()
    for node in nodes:
        key = node.node_name or node.node_id
        while key in taken:
            key = f"{key} ({node.node_id})"
        taken.add(key)
        keys.append(key)
    return keys


def run(attempt: AttemptDetail, now_us: int) -> Run:
    a = attempt
    # A running attempt has run for as long as the server's clock says so far.
    took = a.duration_ms if a.duration_ms is not None else ms_between(a.started_at, now_us)
    error = None if a.error is None else RunError(name=a.error.code, message=a.error.message)
    return Run(
        start_time=a.started_at // 1000,
        execution_time=took,
        execution_status=NODE_STATUS_NAMES[a.status],
        data=RunOutput(main=[] if a.output is None else [items(a.output)]),
        error=error,
    )


_elements: Final = msgspec.json.Decoder(list[msgspec.Raw])


def items(output: msgspec.Raw) -> list[Item]:
    """An output as n8n items: an array gives one item per element, null none,
    anything else one; an item that is not an object is wrapped as ``{"data": x}``."""
    text = bytes(output).strip()
    if text == b"null":
        return []
    elements = _elements.decode(text) if text.startswith(b"[") else [msgspec.Raw(text)]
    return [Item(json=_object(element)) for element in elements]


def _object(element: msgspec.Raw) -> msgspec.Raw:
    text = bytes(element).strip()
    # Already valid JSON (checked when the event came in), so wrapping cannot break it.
    return msgspec.Raw(text) if text.startswith(b"{") else msgspec.Raw(b'{"data":' + text + b"}")


def _last_started(keys: list[str], nodes: Sequence[NodeDetail]) -> str | None:
    started = [
        (node.attempts[-1].started_version, key) for key, node in zip(keys, nodes, strict=True)
    ]
    return max(started)[1] if started else None


def _execution_error(detail: ExecutionDetail) -> RunError | msgspec.UnsetType:
    if detail.status == "crashed":
        return RunError(name="crashed", message=detail.crash_reason or "the execution crashed")
    if detail.status != "failed":
        return msgspec.UNSET
    error = detail.error
    if error is None:  # failed without saying why, and no node failed
        return RunError(name="failed", message="")
    return RunError(name=error.code, message=error.message)
