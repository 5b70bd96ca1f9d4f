"""Server-sent events on an aiohttp response: framing, heartbeats, a
deadline on every write so that a client that stops reading is let go, and
subscriptions registered with the app so that shutdown ends them cleanly.
Every API's streams stand on these.

A subscriber's memory is bounded by its subscription's buffer (on overflow
it goes back to the file, see ``eventstore.subscriptions``) and by the
socket's buffer; a write that cannot drain within ``write_timeout`` means the
client stopped reading, and the stream ends rather than wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from aiohttp import web

from eventstore import RecordedEvent, Subscription, SubscriptionFilter

from .keys import SETTINGS, STORE, STREAMS

HEADERS: Final = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    # Proxies such as nginx would otherwise buffer the stream.
    "X-Accel-Buffering": "no",
}
# Per write at most, when a stream has fallen behind: events, and their payloads' bytes.
BATCH: Final = 500
BATCH_BYTES: Final = 1024 * 1024


class ClientGone(Exception):
    """The client disconnected, or stopped reading for longer than allowed."""


def frame(event: str, data: bytes, id: int | None = None) -> bytes:
    """One SSE message. ``data`` is one line of JSON (msgspec never emits a newline)."""
    head = f"event: {event}\n" if id is None else f"event: {event}\nid: {id}\n"
    return head.encode() + b"data: " + data + b"\n\n"


class EventStream:
    """One open SSE response."""

    def __init__(self, request: web.Request, *, write_timeout: float) -> None:
        self._request = request
        self._write_timeout = write_timeout
        self.response = web.StreamResponse(headers=HEADERS)

    async def open(self) -> None:
        await self.response.prepare(self._request)

    async def send(self, chunk: bytes) -> None:
        try:
            # asyncio.timeout, not wait_for: no task per write on the hot path.
            async with asyncio.timeout(self._write_timeout):
                await self.response.write(chunk)
        except (TimeoutError, ConnectionResetError) as gone:
            raise ClientGone() from gone

    async def comment(self, text: str) -> None:
        await self.send(f": {text}\n\n".encode())

    async def close(self) -> None:
        # If the client is already gone, it is going away either way.
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            await asyncio.wait_for(self.response.write_eof(), self._write_timeout)


async def with_heartbeats(
    subscription: Subscription, heartbeat: float
) -> AsyncIterator[RecordedEvent | None]:
    """The subscription's events, and None whenever ``heartbeat`` seconds pass
    without one (the caller sends a comment, so proxies and clients see life)."""
    pending: asyncio.Task[RecordedEvent] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(subscription))
            done, _ = await asyncio.wait({pending}, timeout=heartbeat)
            if not done:
                yield None
                continue
            task, pending = pending, None
            try:
                yield task.result()
            except StopAsyncIteration:
                return
    finally:
        if pending is not None:
            # The pending read is abandoned, not interrupted mid-way by a timeout.
            pending.cancel()


async def open_stream(request: web.Request) -> EventStream:
    stream = EventStream(request, write_timeout=request.app[SETTINGS].write_timeout)
    await stream.open()
    return stream


async def end_stream(stream: EventStream) -> web.StreamResponse:
    await stream.close()
    return stream.response


@asynccontextmanager
async def subscribed(
    request: web.Request, start: int, filter: SubscriptionFilter, until: int | None = None
) -> AsyncIterator[Subscription]:
    """A subscription registered with the app, so shutdown can end it cleanly;
    one that ends at ``until``, if given (see ``EventStore.subscribe``)."""
    streams = request.app[STREAMS]
    settings = request.app[SETTINGS]
    subscription = request.app[STORE].subscribe(
        start,
        filter,
        buffer_size=settings.stream_buffer,
        buffer_bytes=settings.stream_buffer_bytes,
        until=until,
    )
    streams.add(subscription)
    try:
        yield subscription
    finally:
        streams.discard(subscription)
        await subscription.aclose()
