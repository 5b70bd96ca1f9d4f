"""The "teams" system's executions API, mounted under ``/compat/teams``.

A thin mapping: the document's paths under ``/api/executions``, UUID ids,
upper-case status names, camelCase fields, ISO 8601 UTC times with
milliseconds and Spring-style page numbers (``page`` from 0, ``size``, and a
body of ``content``, ``totalElements``, ``totalPages``, ``number``, ``size``).
The export lives in ``teams_export``.

Mapping choices the document leaves open:

- statuses: ``queued`` is PENDING; ``running`` and ``waiting`` are RUNNING
  (still in progress, and cancellable as such); ``completed`` is SUCCESS;
  ``failed`` and ``crashed`` (the worker died) are FAILED; ``cancelled`` is
  CANCELLED. A ``status`` filter takes any of the five names (PENDING too,
  which the document lists as a status) and means that set of ours.
- refusals come in Spring Boot's default error body
  ``{timestamp, status, error, message, path}``: the document shows none, and
  its page body is Spring Data's, so that is what its clients meet. The
  message names the parameter at fault.
- ids are the executions' UUIDs only. Another team's execution, or a
  ``{teamId}`` other than a team token's, is a 403 ("no access to this
  team"), as the document's error table says; an unknown id is a 404.
- in the lists (and the export) ``startedAt`` is when the execution was
  created and ``durationMs`` runs from then to ``finishedAt``, as the
  document's example shows (00.000 to 02.350: 2350); the detail has
  ``createdAt``, ``startedAt`` (the engine picked it up) and ``durationMs``
  from that start (2300 in the example). Durations are null until finished.
- ``from`` and ``to`` bound the creation time (the lists' ``startedAt``),
  both inclusive. ``size`` is 1 to 100, ``page`` 0 or more; out of range is
  a 400, not clamped.
- a node execution is one node with all its attempts: times from its first
  attempt's start to its last attempt's end, ``retryCount`` the attempts
  after the first, input, output and ``errorMessage`` the last attempt's.
  Its ``id`` is a UUID derived from the execution's UUID and the node id.
  Node statuses are SUCCESS, FAILED and RUNNING.
- ``triggerType``/``trigger`` is our trigger in upper case (``WEBHOOK``);
  ``nodeType`` is shown as the engine reported it.
- ``errorMessage`` is the failure's message (its code when it has none); a
  crash shows its reason in the detail and "the execution crashed" in lists.
- cancel answers 200 with an empty body, as documented: a PENDING execution
  is cancelled at once; a RUNNING one gets a cancel request, confirmed later
  by its engine, and stays RUNNING until then; anything else is a 409.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from functools import partial
from http import HTTPStatus
from typing import Final

import msgspec
from aiohttp import web
from multidict import MultiMapping

from eventstore.events import now_us
from projections import ExecutionDetail, ListFilter, SummaryRow
from projections.detail import ms_between
from projections.queries import DEFAULT_LIMIT, MAX_LIMIT
from projections.views import ExecutionStatus, NodeDetail, NodeError, NodeStatus

from .. import params
from ..auth import CANCEL, READ, ROOT, Principal, check_team
from ..context import STORE, VIEWS
from ..errors import ApiError, Handler, shaped
from ..routes.executions import cancel_execution
from ..routes.responses import caller, execution_by_uuid, json
from ..times import iso_ms, iso_ms_or_none

PREFIX: Final = "/compat/teams"

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
MAX_PAGE: Final = 2**31 - 1  # Spring's page is a Java int
# Node execution ids: UUIDv5 of "<execution uuid>/<node id>" in this namespace.
NODE_NAMESPACE: Final = uuid.UUID("6f1c1f0e-3b7a-5c1e-9d2a-7e5b0c4a8f11")
_PHRASES: Final = {status.value: status.phrase for status in HTTPStatus}
_TEAM_LIST: Final = ("page", "size", "status", "workflowId", "from", "to")
_WORKFLOW_LIST: Final = ("workflowId", "page", "size")


class SpringError(msgspec.Struct, frozen=True, kw_only=True):
    timestamp: str
    status: int
    error: str
    message: str
    path: str


class ListItem(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
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


class ExecutionPage(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    content: list[ListItem]
    total_elements: int
    total_pages: int
    number: int
    size: int


class NodeExecution(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
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


class Execution(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
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


def since_created(created_at: int, finished_at: int | None) -> int | None:
    return None if finished_at is None else ms_between(created_at, finished_at)


def list_item(row: SummaryRow) -> ListItem:
    return ListItem(
        id=row.uuid, workflow_id=row.workflow_id, workflow_name=row.workflow_name,
        status=STATUS_NAMES[row.status], started_at=iso_ms(row.created_at),
        finished_at=iso_ms_or_none(row.finished_at),
        duration_ms=since_created(row.created_at, row.finished_at),
        trigger_type=row.trigger.upper(), node_count=row.nodes_total,
        error_message=_message(row.status, row.error_code, row.error_message),
    )  # fmt: skip


def node_span(node: NodeDetail) -> tuple[int, int | None, int | None]:
    """The node's start, end and duration over all its attempts (it has one)."""
    start, end = node.attempts[0].started_at, node.attempts[-1].finished_at
    return start, end, None if end is None else ms_between(start, end)


def node_execution(execution_uuid: str, node: NodeDetail) -> NodeExecution:
    last = node.attempts[-1]
    start, end, duration = node_span(node)
    return NodeExecution(
        id=str(uuid.uuid5(NODE_NAMESPACE, f"{execution_uuid}/{node.node_id}")),
        node_id=node.node_id, node_name=node.node_name, node_type=node.node_type,
        status=NODE_STATUS_NAMES[node.status], started_at=iso_ms(start),
        completed_at=iso_ms_or_none(end), duration_ms=duration,
        input_data=last.input, output_data=last.output,
        error_message=error_text(last.error) if last.status == "failed" else None,
        retry_count=len(node.attempts) - 1,
    )  # fmt: skip


def execution(d: ExecutionDetail) -> Execution:
    code = None if d.error is None else d.error.code
    message = None if d.error is None else d.error.message
    if d.status == "crashed":
        message = d.crash_reason
    return Execution(
        id=d.uuid, workflow_id=d.workflow_id, workflow_name=d.workflow_name,
        workflow_version=d.workflow_version, status=STATUS_NAMES[d.status],
        trigger=d.trigger.upper(), input_data=d.input, output_data=d.output,
        error_message=_message(d.status, code, message),
        created_at=iso_ms(d.created_at), started_at=iso_ms_or_none(d.started_at),
        completed_at=iso_ms_or_none(d.finished_at), duration_ms=d.duration_ms,
        node_executions=[node_execution(d.uuid, n) for n in d.nodes],
    )  # fmt: skip


def _workflow(query: MultiMapping[str], required: bool) -> str | None:
    value = params.one(query, "workflowId")
    if value == "" or (value is None and required):
        raise ApiError(400, "missing_parameter", "required, and not empty", field="workflowId")
    return value


async def _page(request: web.Request, filter: ListFilter) -> web.Response:
    query = request.query
    found = params.integer(query, "page", 0, MAX_PAGE)
    number = 0 if found is None else found
    found = params.integer(query, "size", 1, MAX_LIMIT)
    size = DEFAULT_LIMIT if found is None else found
    views = request.app[VIEWS]
    total = await views.count(filter)
    offset = number * size
    rows = await views.page(filter, offset=offset, limit=size) if offset < total else []
    return json(
        ExecutionPage(
            content=[list_item(row) for row in rows],
            total_elements=total,
            total_pages=math.ceil(total / size),
            number=number,
            size=size,
        )
    )


async def team_executions(request: web.Request) -> web.Response:
    who = await caller(request, READ)
    team = request.match_info["teamId"]
    check_team(who, team, "teamId")
    query = request.query
    params.refuse_unknown(query, _TEAM_LIST)
    filter = ListFilter(
        team_id=team,
        workflow_id=_workflow(query, required=False),
        statuses=params.dialect_status(query, FILTER_STATUSES),
        created_after=params.time_param(query, "from"),
        created_before=params.time_param(query, "to"),
    )
    return await _page(request, filter)


async def workflow_executions(request: web.Request) -> web.Response:
    who = await caller(request, READ)
    query = request.query
    params.refuse_unknown(query, _WORKFLOW_LIST)
    filter = ListFilter(team_id=who.team_id, workflow_id=_workflow(query, required=True))
    return await _page(request, filter)


async def visible(request: web.Request, who: Principal) -> ExecutionDetail:
    """The execution the path's UUID names: 404 if none, 403 if another team's."""
    target = await execution_by_uuid(request, ROOT, request.match_info["id"])
    found = await request.app[VIEWS].detail(target)
    if not who.sees(found.team_id):
        message = "the execution belongs to a team this token has no access to"
        raise ApiError(403, "forbidden_team", message, field="id")
    return found


async def detail(request: web.Request) -> web.Response:
    who = await caller(request, READ)
    params.refuse_unknown(request.query, ())
    return json(execution(await visible(request, who)))


async def cancel(request: web.Request) -> web.Response:
    """The native cancel's decisions, answered 200 as documented."""
    who = await caller(request, CANCEL)
    params.refuse_unknown(request.query, ())
    store, views = request.app[STORE], request.app[VIEWS]
    outcome, current = await cancel_execution(store, views, await visible(request, who), field="id")
    if outcome is None:
        name = STATUS_NAMES[current.status]
        message = f"only RUNNING or PENDING executions can be cancelled, not {name}"
        raise ApiError(409, "not_cancellable", message, field="id")
    return web.Response(status=200)


def spring_error(error: ApiError, path: str) -> web.Response:
    body = SpringError(
        timestamp=iso_ms(now_us()),
        status=error.status,
        error=_PHRASES.get(error.status, "Error"),
        message=_naming(error.body.field, error.body.message),
        path=path,
    )
    return json(body, error.status, error.headers)


def _naming(field: str | None, message: str) -> str:
    # Spring's body has no field member: the message names the parameter at fault.
    if field is None or message.startswith(f"{field}:"):
        return message
    return f"{field}: {message}"


def spring_errors(handler: Handler) -> Handler:
    """``handler`` with its refusals in Spring's shape, which names the path."""

    async def with_path(request: web.Request) -> web.StreamResponse:
        return await shaped(handler, partial(spring_error, path=request.path))(request)

    return with_path


ROUTES: Final[tuple[tuple[str, str, Handler], ...]] = (
    ("GET", "/api/executions/team/{teamId}", team_executions),
    ("GET", "/api/executions", workflow_executions),
    ("GET", "/api/executions/{id}", detail),
    ("POST", "/api/executions/{id}/cancel", cancel),
)


def mount(app: web.Application, prefix: str = PREFIX) -> None:
    """Add the routes, and the export's, under ``prefix``."""
    # Imported here: the export builds on this module's mappings.
    from . import teams_export

    teams_export.prepare(app)
    routes = (*ROUTES, ("GET", teams_export.PATH, teams_export.export))
    for method, path, handler in routes:
        app.router.add_route(method, prefix + path, spring_errors(handler))
