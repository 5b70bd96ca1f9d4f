"""``/v1/executions``: create, append, list, detail (and replay as of), history, cancel.

Handlers parse, call the store or the views, and encode; refusals are raised
and answered by ``http.errors.error_middleware``. Each handler's query
parameters are declared above it; its endpoint, for the router and the
OpenAPI document, at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from aiohttp import web

from eventstore import RecordedEvent
from projections import ExecutionDetail, elapsed_ms, fold
from projections.reader import large

from ..http import params
from ..http.access import caller, execution_id, first_event
from ..http.auth import CANCEL, READ, WRITE, Principal, check_team
from ..http.decoding import body_fields, decode_body, new_events, queued_event
from ..http.endpoints import Endpoint, Link, Reply
from ..http.errors import ApiError
from ..http.keys import STORE, VIEWS
from ..http.params import FILTERS, PAGING, Param, path_id
from ..http.replies import json, json_pieces, json_rendered
from ..render import bodies, wire
from ..service.cancel import cancel_execution

# Where an execution's answer holds its nodes, which a long one sends in pieces.
NODES: Final = ("nodes",)


async def create(request: web.Request) -> web.StreamResponse:
    who = await caller(request, WRITE)
    body = await decode_body(request, bodies.CreateBody)
    check_team(who, body.team_id, "team_id")
    if body.retry_of is not None:
        await _visible(request, who, body.retry_of, "retry_of")
    store = request.app[STORE]
    store.limits.refuse_too_many(1 + len(body.events))  # before decoding any of them
    events = await new_events(body.events)
    occurred_at = params.parse_time(body.occurred_at, "occurred_at")
    queued = queued_event(body, body.team_id or who.team_id)
    with body_fields("queued."):  # the queued event's fields are the body's own
        created = await store.create_execution(queued, events, occurred_at=occurred_at)
    if created.events:
        # The execution as this create committed it: no read back. Folded and
        # encoded on the rendering thread when the create was a large one.
        committed = created.events
        long = large(len(committed), sum(len(e.data) for e in committed))
        return await json_pieces(request, long, lambda: _folded(who, committed), NODES, 201)
    detail = await request.app[VIEWS].detail(created.execution_id)
    if not who.sees(detail.team_id):
        # A retried create with another team's external id: say no more than that.
        raise ApiError(409, "external_id_taken", "the external_id is taken", field="external_id")
    return await json_rendered(request, detail, lambda: _answer(who, detail), large_part=NODES)


def _folded(
    who: Principal, committed: Sequence[RecordedEvent]
) -> wire.Execution | wire.ExecutionRef:
    detail = fold(committed)
    assert detail is not None  # a create records at least its queued event
    return _answer(who, detail)


def _answer(who: Principal, detail: ExecutionDetail) -> wire.Execution | wire.ExecutionRef:
    """What a write answers: the execution, or only its ids to a token that may
    not read executions (a retried create included: it learns its id, nothing more)."""
    if who.can(READ):
        return wire.execution_now(detail)
    return wire.ExecutionRef(id=detail.id, uuid=detail.uuid, external_id=detail.external_id)


async def append(request: web.Request) -> web.StreamResponse:
    who = await caller(request, WRITE)
    target = await execution_id(request, who)
    body = await decode_body(request, bodies.AppendBody)
    if not body.events:
        raise ApiError(400, "empty", "an append needs at least one event", field="events")
    store = request.app[STORE]
    store.limits.refuse_too_many(len(body.events))  # before decoding any of them
    events = await new_events(body.events)
    result = await store.append(target, events, expected_version=body.expected_version)
    appended = wire.Appended(
        execution_id=result.execution_id,
        version=result.version,
        positions=list(result.positions),
        duplicate=result.duplicate,
    )
    return json(appended, 200 if result.duplicate else 201)


async def list_executions(request: web.Request) -> web.Response:
    who = await caller(request, READ)
    query = request.query
    params.refuse_unknown(query, (*FILTERS, *PAGING))
    check_team(who, params.one(query, "team_id"), "team_id")
    filter = params.list_filter(query, who.team_id)
    page = await request.app[VIEWS].list(
        filter, limit=params.limit(query), cursor=params.one(query, "cursor")
    )
    items = [wire.summary(row) for row in page.rows]
    return json(wire.ExecutionList(items=items, next_cursor=page.next_cursor))


AS_OF_VERSION: Final = Param.integer(
    "as_of_version", "replay up to and including this version", low=1
)
AS_OF: Final = Param.time(
    "as_of", "replay as the store knew it then (through the end of that millisecond)"
)


async def detail(request: web.Request) -> web.StreamResponse:
    who = await caller(request, READ)
    query = request.query
    params.refuse_unknown(query, (AS_OF_VERSION, AS_OF))
    version = AS_OF_VERSION.integer_in(query)
    as_of = AS_OF.time_in(query)
    if as_of is not None:
        # Wire times are milliseconds; the store's clock is microseconds. "As of
        # 10:00:00.123" means through the end of that millisecond, so a time
        # copied from the history includes its own event.
        as_of += 999
    target = await execution_id(request, who)
    views = request.app[VIEWS]
    if version is None and as_of is None:
        now = await views.detail(target)
        return await json_rendered(request, now, lambda: wire.execution_now(now), large_part=NODES)
    if version is not None and as_of is not None:
        raise ApiError(400, "exclusive", "give as_of_version or as_of, not both", field="as_of")
    replayed = await views.replay(target, as_of_version=version, as_of_time=as_of)
    if replayed is None:
        raise ApiError(404, "not_yet", "the execution did not exist at that time", field="as_of")
    if version is not None and replayed.version < version:
        # Not the last version quietly: a replay answers exactly the version asked for.
        message = f"the execution has no version {version} yet: its last is {replayed.version}"
        raise ApiError(
            404,
            "not_yet",
            message,
            field="as_of_version",
            rule="recorded_version",
            current_version=replayed.version,
        )
    clock = as_of if as_of is not None else replayed.last_recorded_at
    elapsed = elapsed_ms(replayed, clock)
    return await json_rendered(
        request, replayed, lambda: wire.execution(replayed, elapsed), large_part=NODES
    )


async def history(request: web.Request) -> web.StreamResponse:
    who = await caller(request, READ)
    params.refuse_unknown(request.query, ())
    target = await execution_id(request, who)
    events = await request.app[STORE].read_execution(target)
    body = wire.History(execution_id=target, events=[wire.history_event(e) for e in events])
    return json(body)


async def cancel(request: web.Request) -> web.StreamResponse:
    """Queued: cancelled at once (200). Running or waiting: cancel requested
    (202), for the engine to confirm with ``execution.cancelled``. Finished: 409."""
    who = await caller(request, CANCEL)
    target = await execution_id(request, who)
    body = await decode_body(request, bodies.CancelBody, empty_ok=True)
    store, views = request.app[STORE], request.app[VIEWS]
    outcome, current = await cancel_execution(
        store, views, await views.detail(target), body.by, body.reason
    )
    if outcome is None:
        message = f"the execution already finished ({current.status})"
        raise ApiError(409, "already_finished", message)
    if outcome != "already_requested":
        current = await views.detail(target)
    status = 200 if outcome == "cancelled" else 202
    return await json_rendered(
        request, current, lambda: _answer(who, current), status, large_part=NODES
    )


async def _visible(request: web.Request, who: Principal, target: int, field: str) -> None:
    first = await first_event(request.app[STORE], target)
    if first is None or not who.sees(first.team_id):
        raise ApiError(404, "not_found", f"no execution {target}", field=field)


# Where a listed execution's id leads: to the routes that take an {id}.
_TO_EXECUTION: Final = tuple(
    Link(handler.__name__, handler, (("id", "$response.body#/items/0/id"),))
    for handler in (detail, history, append, cancel)
)

CREATE: Final = Endpoint(
    "POST",
    "/v1/executions",
    create,
    "Create an execution (its execution.queued event, and optionally the first events)",
    WRITE,
    (
        Reply(201, "created", wire.Execution),
        Reply(201, "created; its ids only, to a token without executions:read", wire.ExecutionRef),
        Reply(200, "the external_id was known: the existing execution", wire.Execution),
        Reply(200, "the same, its ids only, to a token without read", wire.ExecutionRef),
    ),
    body=bodies.CreateBody,
    errors=(400, 404, 409, 413, 422),
)
LIST: Final = Endpoint(
    "GET",
    "/v1/executions",
    list_executions,
    "List executions, newest first, filtered, paged by cursor",
    READ,
    (Reply(200, "one page", wire.ExecutionList, links=_TO_EXECUTION),),
    params=(*FILTERS, *PAGING),
    errors=(400, 403),
)
DETAIL: Final = Endpoint(
    "GET",
    "/v1/executions/{id}",
    detail,
    "One execution's detail; with as_of_version or as_of, as it was then",
    READ,
    (Reply(200, "the detail", wire.Execution),),
    params=(path_id(), AS_OF_VERSION, AS_OF),
    errors=(400, 404),
)
HISTORY: Final = Endpoint(
    "GET",
    "/v1/executions/{id}/history",
    history,
    "The execution's raw events, for audit",
    READ,
    (Reply(200, "every event in version order", wire.History),),
    params=(path_id(),),
    errors=(400, 404),
)
APPEND: Final = Endpoint(
    "POST",
    "/v1/executions/{id}/events",
    append,
    "Append events atomically (lifecycle rules, expected_version, idempotent event_id)",
    WRITE,
    (
        Reply(201, "appended", wire.Appended),
        Reply(200, "every event_id was already recorded with this content", wire.Appended),
    ),
    params=(path_id(),),
    body=bodies.AppendBody,
    errors=(400, 404, 409, 413, 422),
)
CANCEL_EXECUTION: Final = Endpoint(
    "POST",
    "/v1/executions/{id}/cancel",
    cancel,
    "Cancel: at once when queued, by request when running or waiting",
    CANCEL,
    (
        Reply(200, "cancelled", wire.Execution),
        Reply(202, "cancel requested; the engine confirms it", wire.Execution),
        Reply(200, "cancelled; its ids only, to a token without read", wire.ExecutionRef),
        Reply(202, "cancel requested; its ids only, to a token without read", wire.ExecutionRef),
    ),
    params=(path_id(),),
    body=bodies.CancelBody,
    body_required=False,
    errors=(400, 404, 409, 413),
)
