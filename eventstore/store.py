"""``EventStore``: the embedded async API over one SQLite file.

    async with EventStore("executions.db") as store:
        created = await store.create_execution(ExecutionQueued(workflow_id="wf-1"))
        await store.append(created.execution_id, [ExecutionStarted()])
        async for event in store.subscribe(from_position=0):
            ...

Appends go to the one writer task and return after COMMIT; reads use a
read-only connection, so they never wait on a commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final

import aiosqlite
import msgspec

from . import credentials, live, reads, schema, writelock
from .credentials import TokenInfo, TokenRecord, WebhookInfo, WebhookRecord
from .errors import ExecutionNotFound, InvalidEvent, StoreClosed
from .events import (
    WIRE_NAMES,
    EventData,
    ExecutionQueued,
    NewEvent,
    RecordedEvent,
    data_encoder,
    decode_data,
    new_event_id,
    now_us,
)
from .hashchain import VerifyReport, verify_file
from .hooks import CommitHook
from .limits import LimitExceeded, Limits, deepest_free_form
from .requests import (
    AppendRequest,
    AppendResult,
    CallRequest,
    CreatedExecution,
    CreateRequest,
    Prepared,
)
from .subscriptions import Hub, Subscription, SubscriptionFilter
from .writelock import WriteLock
from .writer import Writer

MAX_EVENT_ID_LENGTH: Final = 200
# Events a create or an append prepares on the loop; more go to a worker
# thread (a hop costs about 50 us, preparing an event 5 us and more with its bytes).
PREPARE_ON_LOOP: Final = 64
_ANY: Final = SubscriptionFilter()


class EventStore:
    def __init__(
        self,
        path: str | Path,
        *,
        durability: schema.Durability = "full",
        hook: CommitHook | None = None,
        subscriber_buffer: int = 10_000,
        subscriber_buffer_bytes: int = 16 * 1024 * 1024,
        state_cache: int = 100_000,
        limits: Limits | None = None,
        lock_timeout: float = 10.0,
    ) -> None:
        self.path = Path(path)
        # How long a write waits while other processes write; then StoreBusy.
        self.lock_timeout = lock_timeout
        self.limits = limits or Limits()
        self.durability: schema.Durability = durability
        self._hook = hook
        self._subscriber_buffer = subscriber_buffer
        self._subscriber_buffer_bytes = subscriber_buffer_bytes
        self._state_cache = state_cache
        self._hub = Hub(lambda: self.head)
        self._watcher: asyncio.Task[None] | None = None
        self._writer: Writer | None = None
        self._reader: aiosqlite.Connection | None = None
        # Point reads of a few bytes, on the loop thread: a hop to a thread
        # would cost more than the read (the credentials' revision).
        self._point: sqlite3.Connection | None = None
        self._open_mark: int | None = None  # see ``writelock.mark_open``

    async def __aenter__(self) -> EventStore:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open_mark = writelock.mark_open(self.path)
        lock = None
        try:
            lock = WriteLock(self.path, self.lock_timeout)
            conn = await asyncio.to_thread(self._open_writer_connection)
        except BaseException:
            if lock is not None:
                lock.close()
            await self.close()
            raise
        self._writer = Writer(
            conn,
            self._hook,
            self._hub.publish,
            self._hub.listening,
            self._state_cache,
            self.limits,
            lock,
        )
        self._writer.start()
        try:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self._reader = await aiosqlite.connect(uri, uri=True)
            self._point = sqlite3.connect(uri, uri=True)
        except BaseException:
            await self.close()
            raise
        watching = live.watch(self._hub, self._point, self._read_after)
        self._watcher = asyncio.get_running_loop().create_task(watching, name="execstore-live")

    def _open_writer_connection(self) -> sqlite3.Connection:
        # After this only the writer uses it: its task, and its commit thread for
        # COMMIT, never both at once. Autocommit mode: the writer issues BEGIN.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            # Switching a new file to WAL, migrations and a hook's setup all
            # write: in turn with other processes' writers. (SQLite refuses a
            # second WAL switch at once, without its busy wait.)
            with writelock.held(self.path):
                schema.configure(conn, self.durability)
                schema.migrate(conn)
                if self._hook is not None:
                    self._hook.setup(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    async def close(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        writer, reader, point = self._writer, self._reader, self._point
        self._writer = self._reader = self._point = None
        if point is not None:
            point.close()
        self._hub.close()
        if writer is not None:
            await writer.stop()
        if reader is not None:
            await reader.close()
        mark, self._open_mark = self._open_mark, None
        if mark is not None:
            os.close(mark)

    @property
    def head(self) -> int:
        """Position of the last event committed to the file, by any process
        (0 for an empty log): a point read of microseconds."""
        if self._point is None:
            raise StoreClosed()
        return reads.head_sync(self._point)

    @property
    def last_execution_id(self) -> int:
        """The highest execution id committed. Ids are dense (1, 2, 3 ...) and
        executions are never removed, so every id up to it exists."""
        return self._live_writer().next_id - 1

    async def create_execution(
        self,
        queued: ExecutionQueued,
        events: Sequence[EventData | NewEvent] = (),
        *,
        occurred_at: int | None = None,
    ) -> CreatedExecution:
        """Record a new execution's ``execution.queued`` event, and atomically
        any ``events`` that follow it (checked by the same lifecycle rules).

        The store assigns the integer id and a random UUID. With an
        ``external_id`` already known, the existing execution comes back
        (``created=False``) and nothing is written: a retried create is safe.
        """
        queued = msgspec.structs.replace(queued, uuid=str(uuid.uuid4()))
        now = now_us()
        self.limits.refuse_too_many(1 + len(events))
        rest = await _prepared(events, now, self.limits)
        _refuse_repeated_ids(rest)
        when = now if occurred_at is None else occurred_at
        first = _prepare_data(queued, None, when, None, self.limits)
        prepared = [first, *rest]
        future: asyncio.Future[CreatedExecution] = asyncio.get_running_loop().create_future()
        self._live_writer().submit(CreateRequest(prepared, future))
        return await future

    async def append(
        self,
        execution_id: int,
        events: Sequence[EventData | NewEvent],
        *,
        expected_version: int | None = None,
    ) -> AppendResult:
        """Append atomically; resolves after COMMIT. Raises ``RuleViolation``,
        ``VersionConflict``, ``IdempotencyConflict`` or ``ExecutionNotFound``
        with nothing written."""
        if not events:
            raise InvalidEvent("events", "an append needs at least one event")
        self.limits.refuse_too_many(len(events))
        prepared = await _prepared(events, now_us(), self.limits)
        _refuse_repeated_ids(prepared)
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._live_writer().submit(AppendRequest(execution_id, prepared, expected_version, future))
        return await future

    async def read_execution(
        self, execution_id: int, from_version: int = 1, to_version: int | None = None
    ) -> list[RecordedEvent]:
        reader = self._live_reader()
        events = await reads.execution_events(reader, execution_id, from_version, to_version)
        if not events and not await reads.execution_exists(reader, execution_id):
            raise ExecutionNotFound(execution_id)
        return events

    async def find_external(self, external_id: str) -> int | None:
        return await reads.execution_by_external_id(self._live_reader(), external_id)

    async def find_uuid(self, uuid: str) -> int | None:
        """The execution with this UUID (lowercase, as the store generates it), or None."""
        return await reads.execution_by_uuid(self._live_reader(), uuid)

    async def read_all(self, from_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Events with a position after ``from_position``, in order."""
        return await reads.events_after(self._live_reader(), from_position, _ANY, limit)

    def subscribe(
        self,
        from_position: int = 0,
        filter: SubscriptionFilter | None = None,
        *,
        buffer_size: int | None = None,
        buffer_bytes: int | None = None,
        until: int | None = None,
    ) -> Subscription:
        """Every (matching) event after ``from_position``: the file, then live;
        or, given ``until`` (a position already committed), the file up to
        there and no further. Its buffer holds at most ``buffer_size`` events
        and ``buffer_bytes`` of their payloads (the store's defaults unless given)."""
        self._live_writer()
        return Subscription(
            self._hub,
            self._read_after,
            from_position,
            filter or _ANY,
            buffer_size or self._subscriber_buffer,
            buffer_bytes or self._subscriber_buffer_bytes,
            until,
        )

    async def _read_after(
        self, position: int, filter: SubscriptionFilter, limit: int, max_bytes: int
    ) -> list[RecordedEvent]:
        return await reads.events_after(self._live_reader(), position, filter, limit, max_bytes)

    async def add_token(
        self,
        secret: str,
        scopes: frozenset[str],
        team_id: str | None = None,
        label: str | None = None,
    ) -> str:
        """Record an API token's digest (never the secret) and what it may do;
        return its public id."""
        await self._write(credentials.insert_token(secret, scopes, team_id, label))
        return credentials.public_id(secret)

    async def find_token(self, secret: str) -> TokenRecord | None:
        """The token's record, unless it is unknown or revoked."""
        return await credentials.find_token(self._live_reader(), secret)

    async def has_tokens(self) -> bool:
        return await credentials.any_token(self._live_reader())

    async def list_tokens(self) -> list[TokenInfo]:
        return await credentials.list_tokens(self._live_reader())

    async def revoke_token(self, token_id: str) -> bool:
        """Revoke the token ``token_id`` names; False if none (or revoked already)."""
        return bool(await self._write(credentials.revoke_token(token_id)))

    async def touch_token(self, secret_digest: bytes, when: int) -> None:
        """Note that the token was used at ``when``."""
        await self._write(credentials.touch_token(secret_digest, when))

    def credentials_revision(self) -> int:
        """How many revocations the file has seen: a cache of credentials is
        good for as long as this stays what it was when the cache was filled."""
        if self._point is None:
            raise StoreClosed()
        return credentials.revision(self._point)

    async def add_webhook(self, secret: str, workflow_id: str, team_id: str | None) -> str:
        """Record a webhook hash's digest and the workflow it triggers; return its id."""
        await self._write(credentials.insert_webhook(secret, workflow_id, team_id))
        return credentials.public_id(secret)

    async def find_webhook(self, secret: str) -> WebhookRecord | None:
        """The webhook's record, unless it is unknown or revoked."""
        return await credentials.find_webhook(self._live_reader(), secret)

    async def list_webhooks(self, workflow_id: str) -> list[WebhookInfo]:
        return await credentials.list_webhooks(self._live_reader(), workflow_id)

    async def webhook(self, webhook_id: str) -> WebhookInfo | None:
        """The webhook ``webhook_id`` names, unless it is unknown or revoked."""
        return await credentials.webhook_by_id(self._live_reader(), webhook_id)

    async def revoke_webhook(self, webhook_id: str) -> bool:
        return bool(await self._write(credentials.revoke_webhook(webhook_id)))

    async def _write(self, call: Callable[[sqlite3.Connection], object]) -> object:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._live_writer().submit(CallRequest(call, future))
        return await future

    async def catch_up_views(self) -> None:
        """Have the commit hook fold what the log holds past it (events that
        a process without the hook wrote), before a view of it is read."""
        if self._hook is not None:
            await self._write(self._hook.catch_up)

    async def verify(self) -> VerifyReport:
        """Walk the hash chain on a connection of its own; name the first bad row."""
        return await asyncio.to_thread(verify_file, self.path)

    def _live_writer(self) -> Writer:
        if self._writer is None:
            raise StoreClosed()
        return self._writer

    def _live_reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise StoreClosed()
        return self._reader


async def _prepared(
    events: Sequence[EventData | NewEvent], now: int, limits: Limits
) -> list[Prepared]:
    """``_prepare_all``, on a worker thread for many events: encoding and
    checking grow with their payloads, and the loop keeps its turns."""
    if len(events) <= PREPARE_ON_LOOP:
        return _prepare_all(events, now, limits)
    return await asyncio.to_thread(_prepare_all, events, now, limits)


def _prepare_all(
    events: Sequence[EventData | NewEvent], now: int, limits: Limits
) -> list[Prepared]:
    prepared = []
    for index, event in enumerate(events):
        if not isinstance(event, NewEvent):
            prepared.append(_prepare_data(event, None, now, index, limits))
            continue
        event_id, occurred_at = event.event_id, event.occurred_at
        if event_id is not None and not 0 < len(event_id) <= MAX_EVENT_ID_LENGTH:
            raise InvalidEvent(
                f"events[{index}].event_id", f"must be 1 to {MAX_EVENT_ID_LENGTH} characters"
            )
        when = now if occurred_at is None else occurred_at
        prepared.append(_prepare_data(event.data, event_id, when, index, limits))
    return prepared


def _prepare_data(
    data: EventData, event_id: str | None, occurred_at: int, index: int | None, limits: Limits
) -> Prepared:
    """One event encoded and checked: ``events[index]`` of a request, or its
    queued event (``index`` None). Field names are built only for a refusal:
    this runs for every event written."""
    raw = data_encoder.encode(data)
    if len(raw) > limits.event_bytes:
        raise LimitExceeded(
            _data_field(index),
            "event_bytes",
            f"an event's payload is at most {limits.event_bytes:,} bytes, not {len(raw):,}",
        )
    # Before the decode, which recurses: JSON deep enough to exhaust the stack is refused here.
    deep = deepest_free_form(data, limits.json_depth)
    if deep is not None:
        message = f"JSON nested deeper than {limits.json_depth} levels"
        raise LimitExceeded(f"{_data_field(index)}.{deep}", "json_depth", message)
    try:
        # Raw fields built in-process are unchecked bytes; a row that does not
        # decode would make its execution unreadable, so check once, here.
        decode_data(raw)
    except msgspec.DecodeError as error:
        raise InvalidEvent(_data_field(index), str(error)) from None
    if event_id is None:
        return Prepared(data, WIRE_NAMES[type(data)], raw, new_event_id(), False, occurred_at)
    return Prepared(data, WIRE_NAMES[type(data)], raw, event_id, True, occurred_at)


def _data_field(index: int | None) -> str:
    return "queued" if index is None else f"events[{index}].data"


def _refuse_repeated_ids(events: list[Prepared]) -> None:
    first: dict[str, int] = {}
    for index, event in enumerate(events):
        if event.supplied:
            earlier = first.setdefault(event.event_id, index)
            if earlier != index:
                raise InvalidEvent(
                    f"events[{index}].event_id", f"repeats events[{earlier}].event_id"
                )
