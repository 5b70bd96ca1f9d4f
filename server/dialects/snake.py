"""The "snake" system's executions API, mounted under ``/compat/snake``.

A thin mapping: the snake document's paths, parameter names, integer ids,
status names, ``+09:00`` timestamps in whole seconds (its ``utc_offset``
setting), ``pagination.next_cursor`` and ``node_outputs``; handlers parse,
call the views through the shared machinery (auth, team visibility, list
filters) and encode. Errors keep the
native one-shape JSON: the snake document shows no error shape.

Mapping choices the document leaves open:

- our ``waiting`` is snake's ``waiting_async``; ``crashed`` (the worker died)
  is shown as ``failed``, the only abnormal end snake clients know, with an
  ``error`` of code ``crashed``; so a ``status=failed`` filter includes it.
- the list's rows go under ``data``, beside the ``pagination`` object the
  document names, each row being the detail's top-level fields.
- ``workflow_id`` is an integer in the document; ours are strings, so one
  made of digits is shown as an integer and any other as its text.
- a node's ``status`` is ``success``, ``failed`` or ``running``; its times
  span its first attempt's start to its last attempt's end, its tokens add up
  every attempt, and ``output`` is the last attempt's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Final

import msgspec
from aiohttp import web
from multidict import MultiDict

from eventstore.frozen import Frozen
from projections import ExecutionDetail, SummaryRow
from projections.views import ExecutionError, ExecutionStatus, NodeDetail, NodeStatus

from ..http import params
from ..http.access import caller, execution_id
from ..http.auth import READ
from ..http.keys import VIEWS
from ..http.replies import json, json_rendered
from ..http.routing import Dialect, DialectSettings, Route, Setup
from ..render.times import iso_seconds_at, utc_offset
from ..service.webhooks import trigger

STATUS_NAMES: Final[Mapping[ExecutionStatus, str]] = {
    "queued": "queued",
    "running": "running",
    "waiting": "waiting_async",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "crashed": "failed",
}
# The filter values the document allows: waiting_async is shown, never filtered on.
FILTER_STATUSES: Final[Mapping[str, frozenset[str]]] = {
    "queued": frozenset({"queued"}),
    "running": frozenset({"running"}),
    "completed": frozenset({"completed"}),
    "failed": frozenset({"failed", "crashed"}),
    "cancelled": frozenset({"cancelled"}),
}
NODE_STATUS_NAMES: Final[Mapping[NodeStatus, str]] = {
    "completed": "success",
    "failed": "failed",
    "running": "running",
}
_LIST_PARAMS: Final = (
    "workflow_id",
    "status",
    "created_after",
    "created_before",
    "limit",
    "cursor",
)
_OFFSET: Final = web.AppKey("snake_utc_offset", timedelta)


class Error(Frozen, kw_only=True):
    code: str
    message: str
    node_id: str | None


class NodeOutput(Frozen, kw_only=True):
    status: str
    output: msgspec.Raw | None
    consumed_ai_tokens: int
    started_at: str | None
    completed_at: str | None


class _Common(Frozen, kw_only=True):
    id: int
    workflow_id: int | str
    status: str
    display_name: str | None
    started_at: str | None
    completed_at: str | None
    duration_ms: int | None
    consumed_ai_tokens: int
    is_test_mode: bool


class ListItem(_Common, kw_only=True):
    error: Error | msgspec.UnsetType = msgspec.UNSET  # only when failed


class Execution(_Common, kw_only=True):
    input_data: msgspec.Raw
    node_outputs: dict[str, NodeOutput]
    error: Error | msgspec.UnsetType = msgspec.UNSET  # only when failed


class Pagination(Frozen, kw_only=True):
    next_cursor: str | None


class ExecutionList(Frozen, kw_only=True):
    data: list[ListItem]
    pagination: Pagination


def workflow_id(value: str) -> int | str:
    # Only plain decimal digits that round-trip: "045" stays text, so no two ids print alike.
    if value.isascii() and value.isdigit() and len(value) <= 18 and str(int(value)) == value:
        return int(value)
    return value


def _error(
    status: ExecutionStatus, code: str | None, message: str | None, node: str | None
) -> Error | msgspec.UnsetType:
    if status == "crashed":
        return Error(code="crashed", message=message or "the execution crashed", node_id=None)
    if status != "failed":
        return msgspec.UNSET
    return Error(code=code or "failed", message=message or "", node_id=node)


def _at(us: int | None, offset: timedelta) -> str | None:
    return None if us is None else iso_seconds_at(us, offset)


def list_item(row: SummaryRow, offset: timedelta) -> ListItem:
    return ListItem(
        id=row.id,
        workflow_id=workflow_id(row.workflow_id),
        status=STATUS_NAMES[row.status],
        display_name=row.display_name,
        started_at=_at(row.started_at, offset),
        completed_at=_at(row.finished_at, offset),
        duration_ms=row.duration_ms,
        consumed_ai_tokens=row.tokens,
        is_test_mode=row.test_mode,
        error=_error(row.status, row.error_code, row.error_message, row.error_node_id),
    )


def node_output(node: NodeDetail, offset: timedelta) -> NodeOutput:
    first, last = node.attempts[0], node.attempts[-1]
    return NodeOutput(
        status=NODE_STATUS_NAMES[node.status],
        output=last.output,
        consumed_ai_tokens=node.totals.tokens,
        started_at=iso_seconds_at(first.started_at, offset),
        completed_at=_at(last.finished_at, offset),
    )


def execution(detail: ExecutionDetail, offset: timedelta) -> Execution:
    d, error = detail, detail.error or ExecutionError(code="failed")
    message = d.crash_reason if d.status == "crashed" else error.message
    return Execution(
        id=d.id,
        workflow_id=workflow_id(d.workflow_id),
        status=STATUS_NAMES[d.status],
        display_name=d.display_name,
        started_at=_at(d.started_at, offset),
        completed_at=_at(d.finished_at, offset),
        duration_ms=d.duration_ms,
        consumed_ai_tokens=d.tokens,
        is_test_mode=d.test_mode,
        input_data=d.input,
        node_outputs={n.node_id: node_output(n, offset) for n in d.nodes},
        error=_error(d.status, error.code, message, error.node_id),
    )


async def list_executions(request: web.Request) -> web.Response:
    who = await caller(request, READ)
    query = request.query
    params.refuse_unknown(query, _LIST_PARAMS)
    # The native parser reads the other filters; status names differ, so it never sees them.
    others = MultiDict((name, value) for name, value in query.items() if name != "status")
    statuses = params.dialect_status(query, FILTER_STATUSES)
    filter = msgspec.structs.replace(params.list_filter(others, who.team_id), statuses=statuses)
    page = await request.app[VIEWS].list(
        filter, limit=params.limit(query), cursor=params.one(query, "cursor")
    )
    offset = request.app[_OFFSET]
    items = [list_item(row, offset) for row in page.rows]
    return json(ExecutionList(data=items, pagination=Pagination(next_cursor=page.next_cursor)))


async def detail(request: web.Request) -> web.StreamResponse:
    who = await caller(request, READ)
    params.refuse_unknown(request.query, ())
    target = await execution_id(request, who, external=False)  # snake ids are integers
    found = await request.app[VIEWS].detail(target)
    offset = request.app[_OFFSET]
    return await json_rendered(
        request, found, lambda: execution(found, offset), large_part=("node_outputs",)
    )


class SnakeSettings(DialectSettings, kw_only=True):
    # Times are printed at this offset from UTC, as snake's clients expect.
    utc_offset: str = "+09:00"


def _build(app: web.Application, settings: SnakeSettings) -> None:
    app[_OFFSET] = utc_offset(settings.utc_offset)  # a bad offset raises ValueError here


DIALECT: Final = Dialect(
    name="snake",
    prefix="/compat/snake",
    routes=(
        Route("GET", "/api/v1/executions", list_executions, READ),
        Route("GET", "/api/v1/executions/{id}", detail, READ),
        # The native trigger as is: snake's 202 body is the native one.
        Route("POST", "/api/v1/webhooks/{hash}", trigger, None),
    ),
    setup=Setup(SnakeSettings, _build),
)
