"""What a write asks of the writer, and what it answers: the requests a
store queues, the results their callers get, and what one transaction has
done so far (``Tx``), which the writer adopts on COMMIT."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from . import lifecycle
from .events import EventData, RecordedEvent
from .frozen import Frozen


class AppendResult(Frozen):
    execution_id: int
    version: int  # the execution's version after this append
    positions: tuple[int, ...]
    duplicate: bool = False  # True: every event was already recorded; nothing new written


class CreatedExecution(Frozen):
    execution_id: int
    uuid: str
    position: int  # of its execution.queued event
    created: bool  # False: the external_id was known; this is the existing execution
    version: int = 1  # the execution's version after the call
    # What this call recorded, as committed: a caller can fold the new
    # execution without reading it back. Empty when ``created`` is False.
    events: tuple[RecordedEvent, ...] = ()


@dataclass(slots=True)
class Prepared:
    """One event encoded by the caller, ready for the writer."""

    data: EventData
    type: str
    raw: bytes
    event_id: str
    supplied: bool  # the producer chose event_id, so it may be a re-send
    occurred_at: int


@dataclass(slots=True)
class AppendRequest:
    execution_id: int
    events: list[Prepared]
    expected_version: int | None
    future: asyncio.Future[Any]
    # Bytes of payloads, summed by the caller: not while the file's lock is held.
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = sum(len(event.raw) for event in self.events)


@dataclass(slots=True)
class CreateRequest:
    events: list[Prepared]  # first an ExecutionQueued with the uuid filled in
    future: asyncio.Future[Any]
    size: int = field(init=False)  # as AppendRequest's

    def __post_init__(self) -> None:
        self.size = sum(len(event.raw) for event in self.events)


@dataclass(slots=True)
class CallRequest:
    """A write to a table beside the log (credentials): ``call`` runs inside
    the writer's transaction, so the file keeps one writer."""

    call: Callable[[sqlite3.Connection], object]
    future: asyncio.Future[Any]
    events: tuple[()] = ()
    size: int = 0


Request = AppendRequest | CreateRequest | CallRequest
Outcome = AppendResult | CreatedExecution | BaseException | object
# (position, execution_id, version, type, data) of an already-recorded event
Seen = tuple[int, int, int, str, bytes]


@dataclass(slots=True)
class Tx:
    """What one transaction has done so far; adopted by the writer on COMMIT."""

    position: int
    hash: bytes
    next_id: int
    recorded_at: int
    states: dict[int, lifecycle.Lifecycle] = field(default_factory=dict)
    created: dict[str, CreatedExecution] = field(default_factory=dict)
    seen: dict[str, Seen] = field(default_factory=dict)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    execution_rows: list[tuple[Any, ...]] = field(default_factory=list)
    owners: list[tuple[str, str | None]] = field(default_factory=list)  # per row
    _events: list[RecordedEvent] | None = None

    def events(self) -> list[RecordedEvent]:
        """The rows as events, built once: for the hook inside the write, or
        for subscribers and new executions' answers after it."""
        if self._events is None:
            self._events = self._build_events()
        return self._events

    def _build_events(self) -> list[RecordedEvent]:
        return [
            RecordedEvent(
                position=p,
                execution_id=x,
                version=v,
                event_id=i,
                type=t,
                data=msgspec.Raw(d),
                occurred_at=o,
                recorded_at=r,
                hash=h,
                workflow_id=owner[0],
                team_id=owner[1],
            )
            for (p, x, v, i, t, d, o, r, h), owner in zip(self.rows, self.owners, strict=True)
        ]


def with_events(outcomes: list[Outcome], recorded: list[RecordedEvent]) -> list[Outcome]:
    """Each new execution's outcome with the events its create recorded (a
    batch that created executions recorded their events, so ``recorded`` is
    not empty)."""
    first = recorded[0].position
    return [
        msgspec.structs.replace(
            o, events=tuple(recorded[o.position - first : o.position - first + o.version])
        )
        if isinstance(o, CreatedExecution) and o.created
        else o
        for o in outcomes
    ]
