"""Subscriptions: catch up from the file, then follow live, with no gap and
no duplicate at the switch, and bounded memory per subscriber.

The writer publishes each committed batch on the event loop (publish after
commit). A subscription attaches its live buffer *before* each read of the
file, so an event is either already in the file snapshot or arrives in the
buffer afterwards (or both; positions drop the repeat). When a slow
subscriber's buffer overflows, the buffer is emptied and the subscriber goes
back to the file from its last position: writers never wait for it and its
memory never grows past ``buffer_size`` events, nor ``buffer_bytes`` of their
payloads. Reads from the file are bounded the same way: ``CATCH_UP_BATCH``
events, and no more than ``CATCH_UP_BYTES`` of payloads past the first.

A subscription given ``until`` ends after the last event at or before that
position instead of following live: every such event was committed before
it was asked for, so the file holds them all and the catch-up reads them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Final

from .events import RecordedEvent
from .frozen import Frozen

CATCH_UP_BATCH: Final = 500
CATCH_UP_BYTES: Final = 8 * 1024 * 1024


class SubscriptionFilter(Frozen, kw_only=True):
    """Events to deliver; ``None`` means any. Each set given must match."""

    execution_ids: frozenset[int] | None = None
    workflow_ids: frozenset[str] | None = None
    types: frozenset[str] | None = None
    team_ids: frozenset[str] | None = None

    def matches(self, event: RecordedEvent) -> bool:
        return (
            (self.execution_ids is None or event.execution_id in self.execution_ids)
            and (self.workflow_ids is None or event.workflow_id in self.workflow_ids)
            and (self.types is None or event.type in self.types)
            and (self.team_ids is None or event.team_id in self.team_ids)
        )


# (after this position, filter, at most this many events, and of payloads at most
# this many bytes past the first event)
ReadAfter = Callable[[int, SubscriptionFilter, int, int], Awaitable[list[RecordedEvent]]]


class Hub:
    """Fans committed events out to the attached subscriptions (loop thread
    only), each event once and in position order, whichever process wrote it.

    This process's writer publishes its batches as it commits them; the
    watcher (``live.watch``) publishes what other processes committed, read
    from the file. ``published`` is the last position handed out: a batch
    that overlaps it loses its repeats, and a batch that would leave a gap
    (another process committed in between) is held back, and the watcher
    reads the file from ``published`` on, the batch included.
    """

    def __init__(self, head: Callable[[], int]) -> None:
        self._head = head
        self._subscriptions: set[Subscription] = set()
        self.published = 0
        self.behind = False  # the file holds events not yet published
        self.listened = asyncio.Event()  # set while any subscription is attached
        # The watcher's nap, which a gap cuts short.
        self.waker: asyncio.Future[None] | None = None

    def listening(self) -> bool:
        return bool(self._subscriptions)

    def attach(self, subscription: Subscription) -> None:
        if not self._subscriptions:
            # Nobody listened, so nothing was kept in step: start from the
            # file's head. The subscription reads the file after attaching,
            # which covers everything up to here.
            self.published = self._head()
            self.listened.set()
        self._subscriptions.add(subscription)

    def detach(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        if not self._subscriptions:
            self.listened.clear()

    def publish(self, events: Sequence[RecordedEvent]) -> None:
        if not events or events[-1].position <= self.published:
            return
        if events[0].position > self.published + 1:
            self.behind = True  # someone else committed in between: the file first
            if self.waker is not None and not self.waker.done():
                self.waker.set_result(None)
            return
        fresh = events[self.published + 1 - events[0].position :]
        self.published = fresh[-1].position
        for subscription in self._subscriptions:
            subscription.push(fresh)

    def close(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.end()
        self._subscriptions.clear()
        self.listened.clear()


class Subscription:
    """An async iterator over recorded events after ``from_position`` (and
    up to ``until``, if given)."""

    def __init__(
        self,
        hub: Hub,
        read_after: ReadAfter,
        from_position: int,
        filter: SubscriptionFilter,
        buffer_size: int,
        buffer_bytes: int,
        until: int | None = None,
    ) -> None:
        self._hub = hub
        self._until = until
        self._read_after = read_after
        self._filter = filter
        self._buffer_size = buffer_size
        self._buffer_bytes = buffer_bytes
        self._buffer: deque[RecordedEvent] = deque()
        self._bytes = 0  # of the buffered events' payloads
        self._backlog: deque[RecordedEvent] = deque()
        self._wakeup = asyncio.Event()
        self._overflowed = False
        self._catching_up = True
        self._closed = False
        self._any = filter == SubscriptionFilter()
        self.position = from_position  # of the last event delivered (or skipped by filter)
        self.resyncs = 0  # how often an overflow sent it back to the file
        self.overflows = 0  # how often its buffer filled while it was not reading

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def push(self, events: Sequence[RecordedEvent]) -> None:
        if self._overflowed or self._closed:
            return
        buffer, matches = self._buffer, self._filter.matches
        for event in events:
            if matches(event):
                size = len(event.data)
                if len(buffer) >= self._buffer_size or self._bytes + size > self._buffer_bytes:
                    self._overflow()
                    break
                buffer.append(event)
                self._bytes += size
        self._wakeup.set()

    def _overflow(self) -> None:
        self._overflowed = True
        self.overflows += 1
        self._buffer.clear()
        self._bytes = 0

    def _take(self) -> RecordedEvent:
        event = self._buffer.popleft()
        self._bytes -= len(event.data)
        return event

    def ready(self, limit: int, max_bytes: int = CATCH_UP_BYTES) -> list[RecordedEvent]:
        """Up to ``limit`` events deliverable now, without waiting, and no
        more than ``max_bytes`` of their payloads: none while it must go back
        to the file (``__anext__`` does that), so a caller can batch what is
        at hand after each awaited event."""
        taken: list[RecordedEvent] = []
        size = 0
        while self._backlog and len(taken) < limit and size < max_bytes:
            if self._past_the_end(self._backlog[0]):
                return taken
            taken.append(self._deliver(self._backlog.popleft()))
            size += len(taken[-1].data)
        if self._backlog or self._catching_up or self._overflowed or self._closed:
            return taken
        if self._until is not None:
            return taken  # what it delivers comes from the file only
        buffer = self._buffer
        while buffer and len(taken) < limit and size < max_bytes:
            event = self._take()
            if event.position > self.position:
                taken.append(self._deliver(event))
                size += len(event.data)
        return taken

    def end(self) -> None:
        self._closed = True
        self._wakeup.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> RecordedEvent:
        while not self._closed:
            if self._backlog:
                if self._past_the_end(self._backlog[0]):
                    break
                return self._deliver(self._backlog.popleft())
            if self._catching_up:
                await self._catch_up()
                continue
            if self._until is not None:
                break  # caught up with the file, which held every event until then
            if self._overflowed:
                self.resyncs += 1
                self._catching_up = True
                continue
            while self._buffer:
                event = self._take()
                if event.position > self.position:
                    return self._deliver(event)
            self._wakeup.clear()
            await self._wakeup.wait()
        raise StopAsyncIteration

    async def _catch_up(self) -> None:
        # Attach (and forget any stale buffer) before reading, so nothing
        # committed after this read can be missed.
        self._buffer.clear()
        self._bytes = 0
        self._overflowed = False
        self._hub.attach(self)
        batch = await self._read_after(self.position, self._filter, CATCH_UP_BATCH, CATCH_UP_BYTES)
        self._backlog.extend(batch)
        # Short of both bounds, the read reached the end of the file.
        if len(batch) < CATCH_UP_BATCH and sum(len(e.data) for e in batch) < CATCH_UP_BYTES:
            self._catching_up = False

    def _past_the_end(self, event: RecordedEvent) -> bool:
        return self._until is not None and event.position > self._until

    def _deliver(self, event: RecordedEvent) -> RecordedEvent:
        self.position = event.position
        return event

    async def aclose(self) -> None:
        self.end()
        self._hub.detach(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
