"""Request bodies into store calls: JSON decoded once, straight into Structs,
with every refusal naming the field (``events[2].data.node_id``).

An event arrives as ``{"type", "data", "event_id"?, "occurred_at"?}``; its
``data`` is decoded by the decoder of that type's Struct, built once. Times
are ISO 8601 on the wire and microseconds in the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final, ParamSpec, TypeVar

import msgspec
from aiohttp import web

from eventstore import EventData, ExecutionQueued, ExecutionWaiting, LimitExceeded, NewEvent
from eventstore.events import EVENT_TYPES
from eventstore.limits import nested_deeper_than

from ..render.bodies import (
    APPEND_TYPES,
    AppendBody,
    CancelBody,
    CreateBody,
    EventIn,
    WaitingIn,
)
from .errors import ApiError, from_decode
from .keys import SETTINGS, STORE
from .params import parse_time

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


def _strict(cls: type[Any]) -> type[Any]:
    """A twin of an event Struct that refuses unknown fields: over HTTP a
    misspelt field (``"token": 51``) is an error, not silently lost data.
    The twin keeps the tag and encodes identically; ``_plain`` turns it back."""
    return type(cls.__name__, (cls,), {}, forbid_unknown_fields=True)


_DECODERS: Final[dict[str, msgspec.json.Decoder[Any]]] = {
    name: msgspec.json.Decoder(WaitingIn if name == "execution.waiting" else _strict(cls))
    for name, cls in EVENT_TYPES.items()
    if name != "execution.queued"
}
_BODY_DECODERS: Final[dict[type[Any], msgspec.json.Decoder[Any]]] = {
    cls: msgspec.json.Decoder(cls) for cls in (AppendBody, CreateBody, CancelBody)
}


# How deep a valid body nests around a free-form field: the body, its events
# array, an event, its data.
_ENVELOPE_DEPTH: Final = 4
# Bytes of body past which checking and decoding it run on a worker thread: at
# about 3 ms a MiB, 256 KiB hold the loop for under 1 ms, and the hop costs 50 us.
LARGE_BODY: Final = 256 * 1024
# What decoding one event counts for against LARGE_BODY: 64 events decode on the loop.
_EVENT_WEIGHT: Final = LARGE_BODY // 64


async def body_bytes(request: web.Request, *, envelope: int = _ENVELOPE_DEPTH) -> bytes:
    """The body, within the app's size limit (aiohttp raises 413 past it),
    valid UTF-8 (raw JSON values are stored as sent, so they must be text),
    and not nested far deeper than the store's JSON depth allows a free-form
    field inside ``envelope`` levels: JSON deep enough to exhaust a decoder's
    stack is refused before any decoder recurses into it. Up to twice the
    limit, the store's own check names the field at fault instead."""
    try:
        if request.content.is_eof():  # all here already, as a small body is: no wait to bound
            body = await request.read()
        else:
            async with asyncio.timeout(request.app[SETTINGS].connections.body_timeout):
                body = await request.read()
    except TimeoutError:
        message = "the request's body took too long"
        raise ApiError(408, "body_timeout", message, close=True) from None
    except ConnectionResetError:
        # The client left mid-body: nobody reads the answer, but it is no fault of ours.
        message = "the connection closed before the body ended"
        raise ApiError(400, "incomplete_body", message, close=True) from None
    depth = request.app[STORE].limits.json_depth
    await off_the_loop(len(body), _check_body, body, 2 * depth + envelope, depth)
    return body


async def off_the_loop(size: int, call: Callable[P, R], *args: P.args, **kw: P.kwargs) -> R:
    """``call``, here for a small body, on a worker thread for one past
    ``LARGE_BODY`` bytes: its cost grows with them, and the loop keeps its turns."""
    if size <= LARGE_BODY:
        return call(*args, **kw)
    return await asyncio.to_thread(call, *args, **kw)


def _check_body(body: bytes, deepest: int, depth: int) -> None:
    try:
        body.decode()
    except UnicodeDecodeError as error:
        message = f"the body is not UTF-8 (byte {error.start})"
        raise ApiError(400, "invalid_utf8", message, field="body") from None
    if nested_deeper_than(body, deepest):
        message = f"JSON nested deeper than {depth} levels in a free-form field"
        raise LimitExceeded("body", "json_depth", message)


def decode_json(decoder: msgspec.json.Decoder[T], body: bytes, field: str = "") -> T:
    """Decode, turning every way msgspec can refuse input into a 400."""
    try:
        decoded: T = decoder.decode(body)
    except msgspec.DecodeError as error:
        raise from_decode(error, field, bytes(body)) from None
    except RecursionError:
        message = "JSON nested too deeply"
        raise ApiError(400, "invalid_json", message, field=field or "body") from None
    return decoded


async def decode_body(request: web.Request, kind: type[T], *, empty_ok: bool = False) -> T:
    body = await body_bytes(request)
    if empty_ok and not body.strip():
        body = b"{}"
    decoded: T = await off_the_loop(len(body), decode_json, _BODY_DECODERS[kind], body)
    return decoded


@contextmanager
def body_fields(store_name: str, body_name: str = "") -> Iterator[None]:
    """Limits refused by the store name its fields (``queued.input``); the
    client named them otherwise (``input``, or the whole body)."""
    try:
        yield
    except LimitExceeded as exc:
        if exc.field.startswith(store_name):
            exc.field = body_name + exc.field.removeprefix(store_name)
        raise


async def new_events(events: list[EventIn], prefix: str = "events") -> list[NewEvent]:
    """The events of a body, each decoded by its type (on a worker thread for many)."""
    return await off_the_loop(len(events) * _EVENT_WEIGHT, _new_events, events, prefix)


def _new_events(events: list[EventIn], prefix: str) -> list[NewEvent]:
    return [_new_event(event, f"{prefix}[{index}]") for index, event in enumerate(events)]


def _new_event(event: EventIn, field: str) -> NewEvent:
    decoder = _DECODERS.get(event.type)
    if decoder is None:
        raise ApiError(
            400,
            "unknown_event_type",
            f"{event.type!r} is not one of {', '.join(APPEND_TYPES)}",
            field=f"{field}.type",
        )
    data = decode_json(decoder, event.data, f"{field}.data")
    if isinstance(data, WaitingIn):
        if data.type not in (None, "execution.waiting"):
            raise ApiError(400, "invalid_field", "does not match type", field=f"{field}.data.type")
        till = parse_time(data.wait_till, f"{field}.data.wait_till")
        data = ExecutionWaiting(reason=data.reason, wait_till=till)
    else:
        data = _plain(data)
    occurred_at = parse_time(event.occurred_at, f"{field}.occurred_at")
    return NewEvent(data=data, event_id=event.event_id, occurred_at=occurred_at)


def _plain(strict: Any) -> EventData:
    base: type[EventData] = type(strict).__mro__[1]
    plain: EventData = base(**msgspec.structs.asdict(strict))
    return plain


def queued_event(body: CreateBody, team_id: str | None) -> ExecutionQueued:
    return ExecutionQueued(
        workflow_id=body.workflow_id,
        workflow_name=body.workflow_name,
        workflow_version=body.workflow_version,
        trigger=body.trigger,
        input=body.input,
        display_name=body.display_name,
        test_mode=body.test_mode,
        team_id=team_id,
        retry_of=body.retry_of,
        external_id=body.external_id,
        metadata=body.metadata,
    )
