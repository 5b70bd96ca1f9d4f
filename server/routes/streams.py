"""Live streams (server-sent events): one execution, or the whole store.

Both stand on the store's subscriptions: catch up from the file, then live,
each event once and in order; the SSE ``id`` is the global position, so a
client that reconnects with ``Last-Event-ID`` resumes right after the last
event it saw. Writers never wait for a stream (see ``server.sse``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import msgspec
from aiohttp import web
from multidict import MultiMapping

from eventstore import RecordedEvent, Subscription, SubscriptionFilter
from eventstore.events import TERMINAL_TYPES
from eventstore.lifecycle import TERMINAL
from eventstore.recent import RecentlyUsed
from projections import ExecutionDetail, fold_step
from projections.queries import row_of

from .. import params, wire
from ..auth import READ, Principal, check_team
from ..context import FRAMES, SETTINGS, STORE, STREAMS, VIEWS
from ..errors import ApiError
from ..sse import ClientGone, EventStream, frame, with_heartbeats
from .responses import caller, execution_id

_encoder: Final = msgspec.json.Encoder()
BATCH: Final = 500  # events per write at most, when a stream has fallen behind
STREAM_FILTERS: Final = ("workflow_id", "execution_id", "type", "team_id")


async def execution_stream(request: web.Request) -> web.StreamResponse:
    """The execution's detail as ``snapshot``, then each new event with the
    list row after it; the stream ends after a terminal event.
    ``?from_version=N`` replays from version N instead of the snapshot."""
    who = await caller(request, READ, query_token=True)
    params.refuse_unknown(request.query, ("from_version", "access_token"))
    from_version = params.integer(request.query, "from_version", 1)
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
    async with subscribed(request, start, only_this) as subscription:
        try:
            if from_version is None and detail is not None:
                snapshot = wire.execution_now(detail)
                await stream.send(frame("snapshot", _encoder.encode(snapshot), detail.position))
            # A finished execution has no event to come, however it was asked for.
            if detail is None or detail.status not in TERMINAL:
                await _follow_execution(request, stream, subscription, detail)
        except ClientGone:
            return stream.response
    return await end_stream(stream)


async def _follow_execution(
    request: web.Request,
    stream: EventStream,
    subscription: Subscription,
    detail: ExecutionDetail | None,
) -> None:
    heartbeat = request.app[SETTINGS].heartbeat
    async for event in with_heartbeats(subscription, heartbeat):
        if event is None:
            await stream.comment("ping")
            continue
        detail = fold_step(detail, event)
        body = wire.ExecutionStreamEvent(
            event=wire.history_event(event), summary=wire.summary(row_of(detail))
        )
        await stream.send(frame(event.type, _encoder.encode(body), event.position))
        if event.type in TERMINAL_TYPES:
            return


async def store_stream(request: web.Request) -> web.StreamResponse:
    """Every event after ``?from=`` or ``Last-Event-ID`` (which wins: it is
    what a reconnecting client sends), then live; filtered."""
    who = await caller(request, READ, query_token=True)
    query = request.query
    params.refuse_unknown(query, (*STREAM_FILTERS, "from", "access_token"))
    filter = _stream_filter(query, who)
    start = _start_position(request)
    stream = await open_stream(request)
    heartbeat, frames = request.app[SETTINGS].heartbeat, request.app[FRAMES]
    async with subscribed(request, start, filter) as subscription:
        try:
            async for event in with_heartbeats(subscription, heartbeat):
                if event is None:
                    await stream.comment("ping")
                    continue
                # A stream that fell behind catches up in few writes, not one per event.
                chunk = [_store_frame(frames, event)]
                chunk += [_store_frame(frames, e) for e in subscription.ready(BATCH)]
                await stream.send(b"".join(chunk))
        except ClientGone:
            return stream.response
    return await end_stream(stream)


def _stream_filter(query: MultiMapping[str], who: Principal) -> SubscriptionFilter:
    teams = frozenset(query.getall("team_id", []))
    for team in teams:
        check_team(who, team, "team_id")
    if who.team_id is not None:
        teams = frozenset({who.team_id})
    types = frozenset(query.getall("type", []))
    if not types <= wire.EVENT_TYPE_NAMES:
        unknown = sorted(types - wire.EVENT_TYPE_NAMES)[0]
        raise ApiError(400, "unknown_event_type", f"{unknown!r} is no event type", field="type")
    ids = frozenset(
        params.parse_integer(value, "execution_id", 1) for value in query.getall("execution_id", [])
    )
    workflows = frozenset(query.getall("workflow_id", []))
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
    given = params.one(request.query, "from")
    return 0 if given is None else params.parse_integer(given, "from", 0)


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


async def open_stream(request: web.Request) -> EventStream:
    stream = EventStream(request, write_timeout=request.app[SETTINGS].write_timeout)
    await stream.open()
    return stream


async def end_stream(stream: EventStream) -> web.StreamResponse:
    await stream.close()
    return stream.response


@asynccontextmanager
async def subscribed(
    request: web.Request, start: int, filter: SubscriptionFilter
) -> AsyncIterator[Subscription]:
    """A subscription registered with the app, so shutdown can end it cleanly."""
    streams = request.app[STREAMS]
    subscription = request.app[STORE].subscribe(
        start, filter, buffer_size=request.app[SETTINGS].stream_buffer
    )
    streams.add(subscription)
    try:
        yield subscription
    finally:
        streams.discard(subscription)
        await subscription.aclose()
