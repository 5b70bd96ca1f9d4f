"""The teams dialect's handlers and its Spring Boot error shape."""

from __future__ import annotations

import math
from http import HTTPStatus
from typing import Final

from aiohttp import web
from multidict import MultiMapping

from eventstore.events import now_us
from eventstore.frozen import Frozen
from projections import ExecutionDetail, ListFilter
from projections.queries import DEFAULT_LIMIT, MAX_LIMIT

from ...http import params
from ...http.access import caller, execution_by_uuid
from ...http.auth import CANCEL, READ, ROOT, Principal, check_team
from ...http.errors import ApiError
from ...http.keys import STORE, VIEWS
from ...http.replies import json, json_rendered
from ...render.times import iso_ms
from ...service.cancel import cancel_execution
from .shapes import FILTER_STATUSES, STATUS_NAMES, ExecutionPage, execution, list_item

MAX_PAGE: Final = 2**31 - 1  # Spring's page is a Java int
_PHRASES: Final = {status.value: status.phrase for status in HTTPStatus}
_TEAM_LIST: Final = ("page", "size", "status", "workflowId", "from", "to")
_WORKFLOW_LIST: Final = ("workflowId", "page", "size")


class SpringError(Frozen, kw_only=True):
    timestamp: str
    status: int
    error: str
    message: str
    path: str


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
    created_after, created_before = params.time_window(query, "from", "to")
    filter = ListFilter(
        team_id=team,
        workflow_id=_workflow(query, required=False),
        statuses=params.dialect_status(query, FILTER_STATUSES),
        created_after=created_after,
        created_before=created_before,
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


async def detail(request: web.Request) -> web.StreamResponse:
    who = await caller(request, READ)
    params.refuse_unknown(request.query, ())
    found = await visible(request, who)
    return await json_rendered(
        request, found, lambda: execution(found), large_part=("node_executions",)
    )


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


def spring_error(error: ApiError, request: web.Request) -> web.Response:
    """A refusal in Spring Boot's default error body, which names the path."""
    body = SpringError(
        timestamp=iso_ms(now_us()),
        status=error.status,
        error=_PHRASES.get(error.status, "Error"),
        message=_naming(error.body.field, error.body.message),
        path=request.path,
    )
    return json(body, error.status, error.headers)


def _naming(field: str | None, message: str) -> str:
    # Spring's body has no field member: the message names the parameter at fault.
    if field is None or message.startswith(f"{field}:"):
        return message
    return f"{field}: {message}"
