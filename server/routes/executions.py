"""``/v1/executions``: create, append, list, detail (and replay as of), history, cancel.

Handlers parse, call the store or the views, and encode; refusals are raised
and answered by ``errors.error_middleware``.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from eventstore import (
    EventData,
    EventStore,
    ExecutionCancelled,
    ExecutionCancelRequested,
    VersionConflict,
)
from projections import ExecutionDetail, ViewReader, elapsed_ms, fold

from .. import params, wire
from ..auth import CANCEL, READ, WRITE, Principal, check_team
from ..context import STORE, VIEWS
from ..decoding import decode_body, new_events, queued_event
from ..errors import ApiError
from .responses import caller, execution_id, first_event, json

_CANCEL_ATTEMPTS = 5


async def create(request: web.Request) -> web.Response:
    who = await caller(request, WRITE)
    body = await decode_body(request, wire.CreateBody)
    check_team(who, body.team_id, "team_id")
    if body.retry_of is not None:
        await _visible(request, who, body.retry_of, "retry_of")
    events = new_events(body.events)
    occurred_at = params.parse_time(body.occurred_at, "occurred_at")
    queued = queued_event(body, body.team_id or who.team_id)
    created = await request.app[STORE].create_execution(queued, events, occurred_at=occurred_at)
    new = fold(created.events)
    if new is not None:
        # The execution as this create committed it: no read back on the loop.
        return json(wire.execution_now(new), 201)
    detail = await request.app[VIEWS].detail(created.execution_id)
    if not who.sees(detail.team_id):
        # A retried create with another team's external id: say no more than that.
        raise ApiError(409, "external_id_taken", "the external_id is taken", field="external_id")
    return json(wire.execution_now(detail), 200)


async def append(request: web.Request) -> web.Response:
    who = await caller(request, WRITE)
    target = await execution_id(request, who)
    body = await decode_body(request, wire.AppendBody)
    if not body.events:
        raise ApiError(400, "empty", "an append needs at least one event", field="events")
    events = new_events(body.events)
    result = await request.app[STORE].append(target, events, expected_version=body.expected_version)
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
    params.refuse_unknown(query, [*params.FILTERS, *params.PAGING])
    check_team(who, params.one(query, "team_id"), "team_id")
    filter = params.list_filter(query, who.team_id)
    page = await request.app[VIEWS].list(
        filter, limit=params.limit(query), cursor=params.one(query, "cursor")
    )
    items = [wire.summary(row) for row in page.rows]
    return json(wire.ExecutionList(items=items, next_cursor=page.next_cursor))


async def detail(request: web.Request) -> web.Response:
    who = await caller(request, READ)
    query = request.query
    params.refuse_unknown(query, ("as_of_version", "as_of"))
    version = params.integer(query, "as_of_version", 1)
    as_of = params.time_param(query, "as_of")
    if as_of is not None:
        # Wire times are milliseconds; the store's clock is microseconds. "As of
        # 10:00:00.123" means through the end of that millisecond, so a time
        # copied from the history includes its own event.
        as_of += 999
    target = await execution_id(request, who)
    views = request.app[VIEWS]
    if version is None and as_of is None:
        return json(wire.execution_now(await views.detail(target)))
    if version is not None and as_of is not None:
        raise ApiError(400, "exclusive", "give as_of_version or as_of, not both", field="as_of")
    replayed = await views.replay(target, as_of_version=version, as_of_time=as_of)
    if replayed is None:
        raise ApiError(404, "not_yet", "the execution did not exist at that time", field="as_of")
    clock = as_of if as_of is not None else replayed.last_recorded_at
    return json(wire.execution(replayed, elapsed_ms(replayed, clock)))


async def history(request: web.Request) -> web.Response:
    who = await caller(request, READ)
    params.refuse_unknown(request.query, ())
    target = await execution_id(request, who)
    events = await request.app[STORE].read_execution(target)
    body = wire.History(execution_id=target, events=[wire.history_event(e) for e in events])
    return json(body)


async def cancel(request: web.Request) -> web.Response:
    """Queued: cancelled at once (200). Running or waiting: cancel requested
    (202), for the engine to confirm with ``execution.cancelled``. Finished: 409."""
    who = await caller(request, CANCEL)
    target = await execution_id(request, who)
    body = await decode_body(request, wire.CancelBody, empty_ok=True)
    store, views = request.app[STORE], request.app[VIEWS]
    outcome, current = await cancel_execution(
        store, views, await views.detail(target), body.by, body.reason
    )
    if outcome is None:
        message = f"the execution already finished ({current.status})"
        raise ApiError(409, "already_finished", message)
    if outcome == "already_requested":
        return json(wire.execution_now(current), 202)
    status = 200 if outcome == "cancelled" else 202
    return json(wire.execution_now(await views.detail(target)), status)


CancelOutcome = Literal["cancelled", "requested", "already_requested"]


async def cancel_execution(
    store: EventStore,
    views: ViewReader,
    current: ExecutionDetail,
    by: str | None = None,
    reason: str | None = None,
    *,
    field: str | None = None,
) -> tuple[CancelOutcome | None, ExecutionDetail]:
    """The cancel rules, for the native route and the dialects: a queued
    execution is cancelled at once; a running or waiting one gets a cancel
    request, for the engine to confirm (none if one stands). None, with the
    execution, when it had already finished. Decided again on the new state
    when the engine moves it meanwhile; a 409 ``busy`` (naming ``field``) if
    it keeps moving."""
    for _ in range(_CANCEL_ATTEMPTS):
        event: EventData
        outcome: CancelOutcome
        if current.status == "queued":
            event, outcome = ExecutionCancelled(by=by, reason=reason), "cancelled"
        elif current.status in ("running", "waiting"):
            if current.cancel_requested:
                return "already_requested", current
            event, outcome = ExecutionCancelRequested(by=by, reason=reason), "requested"
        else:
            return None, current
        try:
            await store.append(current.id, [event], expected_version=current.version)
        except VersionConflict:
            current = await views.detail(current.id)
            continue
        return outcome, current
    raise ApiError(409, "busy", "the execution kept changing; try again", field=field)


async def _visible(request: web.Request, who: Principal, target: int, field: str) -> None:
    first = await first_event(request.app[STORE], target)
    if first is None or not who.sees(first.team_id):
        raise ApiError(404, "not_found", f"no execution {target}", field=field)
