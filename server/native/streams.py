"""Live streams (server-sent events): one execution, or the whole store.

Both stand on the store's subscriptions: catch up from the file, then live,
each event once and in order; the SSE ``id`` is the global position, so a
client that reconnects with ``Last-Event-ID`` resumes right after the last
event it saw. Writers never wait for a stream (see ``http.sse``).
"""

from __future__ import annotations

from typing import Final

import msgspec
from aiohttp import web
from multidict import MultiMapping

from eventstore import RecordedEvent, Subscription, SubscriptionFilter
from eventstore.events import EVENT_TYPES, TERMINAL_TYPES
from eventstore.lifecycle import TERMINAL
from eventstore.recent import RecentlyUsed
from projections import DetailFold, ExecutionDetail
from projections.queries import INT64
from projections.views import summary_row

from ..http import params
from ..http.access import caller, execution_id
from ..http.auth import READ, Principal, check_team
from ..http.endpoints import Endpoint, Message, Reply
from ..http.errors import ApiError
from ..http.keys import FRAMES, SETTINGS, STORE, VIEWS
from ..http.params import Param, path_id
from ..http.replies import rendered
from ..http.sse import (
    BATCH,
    BATCH_BYTES,
    ClientGone,
    EventStream,
    end_stream,
    frame,
    open_stream,
    subscribed,
    with_heartbeats,
)
from ..render import bodies, wire

_encoder: Final = msgspec.json.Encoder()
_STRING: Final = {"type": "string"}
# EventSource cannot send headers: streams take the token in the query too.
ACCESS_TOKEN: Final = Param(
    "access_token", "the bearer token, for clients that cannot send headers"
)
FROM_VERSION: Final = Param.integer(
    "from_version", "replay from this version instead of the snapshot", low=1
)
FOLLOW: Final = Param(
    "follow",
    "true (default): stay open for new events; false: end after the events recorded"
    " when the request came",
    {"type": "string", "enum": ["true", "false"]},
)


def _until(request: web.Request) -> int | None:
    """Where a stream that does not follow ends: the head when it was asked for."""
    follow = params.boolean(request.query, FOLLOW.name)
    return None if follow is None or follow else request.app[STORE].head


async def execution_stream(request: web.Request) -> web.StreamResponse:
    """The execution's detail as ``snapshot``, then each new event with the
    list row after it; the stream ends after a terminal event.
    ``?from_version=N`` replays from version N instead of the snapshot."""
    who = await caller(request, READ, query_token=True)
    params.refuse_unknown(request.query, (FROM_VERSION, FOLLOW, ACCESS_TOKEN))
    from_version = FROM_VERSION.integer_in(request.query)
    until = _until(request)
    target = await execution_id(request, who)
    views = request.app[VIEWS]
    detail: ExecutionDetail | None
    if from_version is None:
        detail = await views.detail(target)
    else:
        # Folded up to the version before, so each replayed event steps it.
        detail = await views.replay(target, as_of_version=from_version - 1)
    start = 0 if detail is None else detail.position
    only_this = SubscriptionFilter(execution_ids=frozenset({target}))
    stream = await open_stream(request)
    async with subscribed(request, start, only_this, until) as subscription:
        try:
            if from_version is None and detail is not None:
                snapshot = await _snapshot(request, detail)
                await stream.send(frame("snapshot", snapshot, detail.position))
            # A finished execution has no event to come, however it was asked for.
            if detail is None or detail.status not in TERMINAL:
                await _follow_execution(request, stream, subscription, detail)
        except ClientGone:
            return stream.response
    return await end_stream(stream)


async def _snapshot(request: web.Request, detail: ExecutionDetail) -> bytes:
    return await rendered(request, detail, lambda: _encoder.encode(wire.execution_now(detail)))


async def _follow_execution(
    request: web.Request,
    stream: EventStream,
    subscription: Subscription,
    detail: ExecutionDetail | None,
) -> None:
    # Stepped in place: each event costs the same whatever the execution's size.
    folding = None if detail is None else DetailFold.of(detail)
    heartbeat = request.app[SETTINGS].heartbeat
    async for event in with_heartbeats(subscription, heartbeat):
        if event is None:
            await stream.comment("ping")
            continue
        if folding is None:
            folding = DetailFold.start(event)
        else:
            folding.step(event)
        body = wire.ExecutionStreamEvent(
            event=wire.history_event(event), summary=wire.summary(summary_row(folding.head()))
        )
        await stream.send(frame(event.type, _encoder.encode(body), event.position))
        if event.type in TERMINAL_TYPES:
            return


FROM: Final = Param.integer(
    "from", "start after this position (default 0); Last-Event-ID wins", low=0
)
# /v1/stream's filters, each repeatable; ``_stream_filter`` parses them.
WORKFLOW_IDS: Final = Param.repeated("workflow_id", "only these workflows", _STRING)
EXECUTION_IDS: Final = Param.repeated(
    "execution_id", "only these executions", {"type": "integer", "minimum": 1, "maximum": INT64[1]}
)
TYPES: Final = Param.repeated(
    "type", "only these event types", {"type": "string", "enum": sorted(bodies.EVENT_TYPE_NAMES)}
)
TEAM_IDS: Final = Param.repeated("team_id", "only these teams", _STRING)
STORE_STREAM_PARAMS: Final = (
    FROM,
    WORKFLOW_IDS,
    EXECUTION_IDS,
    TYPES,
    TEAM_IDS,
    FOLLOW,
    ACCESS_TOKEN,
)


async def store_stream(request: web.Request) -> web.StreamResponse:
    """Every event after ``?from=`` or ``Last-Event-ID`` (which wins: it is
    what a reconnecting client sends), then live; filtered."""
    who = await caller(request, READ, query_token=True)
    query = request.query
    params.refuse_unknown(query, STORE_STREAM_PARAMS)
    filter = _stream_filter(query, who)
    start, until = _start_position(request), _until(request)
    stream = await open_stream(request)
    heartbeat, frames = request.app[SETTINGS].heartbeat, request.app[FRAMES]
    async with subscribed(request, start, filter, until) as subscription:
        try:
            async for event in with_heartbeats(subscription, heartbeat):
                if event is None:
                    await stream.comment("ping")
                    continue
                # A stream that fell behind catches up in few writes, not one per event.
                chunk = [_store_frame(frames, event)]
                chunk += [_store_frame(frames, e) for e in subscription.ready(BATCH, BATCH_BYTES)]
                await stream.send(b"".join(chunk))
        except ClientGone:
            return stream.response
    return await end_stream(stream)


def _stream_filter(query: MultiMapping[str], who: Principal) -> SubscriptionFilter:
    teams = frozenset(query.getall(TEAM_IDS.name, []))
    for team in teams:
        check_team(who, team, TEAM_IDS.name)
    if who.team_id is not None:
        teams = frozenset({who.team_id})
    types = frozenset(query.getall(TYPES.name, []))
    if not types <= bodies.EVENT_TYPE_NAMES:
        unknown = sorted(types - bodies.EVENT_TYPE_NAMES)[0]
        known = ", ".join(sorted(bodies.EVENT_TYPE_NAMES))
        message = f"{unknown!r} is no event type; one of {known}"
        raise ApiError(400, "unknown_event_type", message, field="type", rule="event_type")
    ids = frozenset(
        params.parse_integer(value, EXECUTION_IDS.name, 1)
        for value in query.getall(EXECUTION_IDS.name, [])
    )
    workflows = frozenset(query.getall(WORKFLOW_IDS.name, []))
    return SubscriptionFilter(
        execution_ids=ids or None,
        workflow_ids=workflows or None,
        types=types or None,
        team_ids=teams or None,
    )


def _start_position(request: web.Request) -> int:
    last = request.headers.get("Last-Event-ID")
    if last is not None and last.strip():
        return params.parse_integer(last.strip(), "Last-Event-ID", 0)
    given = FROM.integer_in(request.query)
    return 0 if given is None else given


def _store_frame(frames: RecentlyUsed[int, bytes], event: RecordedEvent) -> bytes:
    """The event's message on /v1/stream, encoded once for every subscriber."""
    cached = frames.get(event.position)
    if cached is None:
        cached = frame(event.type, _encoder.encode(_stream_event(event)), event.position)
        frames.store(event.position, cached)
    return cached


def _stream_event(event: RecordedEvent) -> wire.StreamEvent:
    audit = wire.history_event(event)
    return wire.StreamEvent(
        **msgspec.structs.asdict(audit),
        execution_id=event.execution_id,
        workflow_id=event.workflow_id,
        team_id=event.team_id,
    )


# What both streams answer, for the document: each message on its own.
_STREAM: Final = "server-sent events; each id is the event's global position"
_TYPES: Final = tuple(EVENT_TYPES)
EXECUTION_MESSAGES: Final = (
    Message(("snapshot",), wire.Execution),
    Message(_TYPES, wire.ExecutionStreamEvent, payload_at=("event",)),
)
STORE_MESSAGES: Final = (Message(_TYPES, wire.StreamEvent, payload_at=()),)
EXECUTION_STREAM: Final = Endpoint(
    "GET",
    "/v1/executions/{id}/stream",
    execution_stream,
    "Live: the detail as event `snapshot`, then each event with the list row after it,"
    " until a terminal event (server-sent events)",
    READ,
    (Reply(200, _STREAM, media="text/event-stream", messages=EXECUTION_MESSAGES),),
    params=(path_id(), FROM_VERSION, FOLLOW, ACCESS_TOKEN),
    errors=(400, 404),
)
STORE_STREAM: Final = Endpoint(
    "GET",
    "/v1/stream",
    store_stream,
    "Live: every event after a position, then new ones (server-sent events)",
    READ,
    (Reply(200, _STREAM, media="text/event-stream", messages=STORE_MESSAGES),),
    params=STORE_STREAM_PARAMS,
    errors=(400,),
)
