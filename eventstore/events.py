"""The event vocabulary: one frozen, tagged msgspec Struct per event type.

The payload of each event is stored in the log as the JSON encoding of its
Struct (tag included), so a stored row decodes back into the same union with
no lookup table. Free-form JSON (inputs, outputs, metadata values that engines
send) is typed ``msgspec.Raw``: it is validated once on the way in and then
carried as bytes, never decoded and re-encoded by the store.

Schemas evolve only by adding fields with defaults; old rows keep decoding.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Annotated, Any, Final

import msgspec

from .frozen import Frozen

NULL: Final = msgspec.Raw(b"null")

# Integers that views add up and store in SQLite columns: bounded on the way
# in, so no sum or column can overflow 64 bits later, inside a commit.
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
Count = Annotated[int, msgspec.Meta(ge=0, le=10**12)]


def json_value(value: Any) -> msgspec.Raw:
    """Wrap a Python value as the ``Raw`` JSON the event fields carry."""
    return msgspec.Raw(_plain_encoder.encode(value))


_plain_encoder: Final = msgspec.json.Encoder()


class _Event(Frozen, tag_field="type", omit_defaults=True, kw_only=True):
    """Base of every payload; the ``type`` tag is its wire name."""


class ErrorInfo(Frozen, omit_defaults=True, kw_only=True):
    code: str
    message: str = ""
    node_id: str | None = None


class Usage(Frozen, omit_defaults=True, kw_only=True):
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None
    cost: float | None = None
    currency: str | None = None


class ExecutionQueued(_Event, tag="execution.queued", kw_only=True):
    workflow_id: str
    workflow_name: str | None = None
    workflow_version: Int64 | None = None
    trigger: str = "api"
    input: msgspec.Raw = NULL
    display_name: str | None = None
    test_mode: bool = False
    team_id: str | None = None
    retry_of: Int64 | None = None
    external_id: str | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    # Store-assigned at creation; producers never set it.
    uuid: str = ""


class ExecutionStarted(_Event, tag="execution.started", kw_only=True):
    worker: str | None = None


class ExecutionWaiting(_Event, tag="execution.waiting", kw_only=True):
    reason: str | None = None
    wait_till: Int64 | None = None  # microseconds since the epoch, UTC


class ExecutionResumed(_Event, tag="execution.resumed", kw_only=True):
    pass


class NodeStarted(_Event, tag="node.started", kw_only=True):
    node_id: str
    node_name: str | None = None
    node_type: str | None = None
    attempt: Int64 = 1
    input: msgspec.Raw = NULL


class NodeCompleted(_Event, tag="node.completed", kw_only=True):
    node_id: str
    attempt: Int64 = 1
    output: msgspec.Raw = NULL
    tokens: Count = 0
    usage: Usage | None = None


class NodeFailed(_Event, tag="node.failed", kw_only=True):
    node_id: str
    attempt: Int64 = 1
    error: ErrorInfo
    will_retry: bool = False


class ExecutionCancelRequested(_Event, tag="execution.cancel_requested", kw_only=True):
    by: str | None = None
    reason: str | None = None


class ExecutionCancelled(_Event, tag="execution.cancelled", kw_only=True):
    by: str | None = None
    reason: str | None = None


class ExecutionCompleted(_Event, tag="execution.completed", kw_only=True):
    output: msgspec.Raw = NULL


class ExecutionFailed(_Event, tag="execution.failed", kw_only=True):
    error: ErrorInfo | None = None


class ExecutionCrashed(_Event, tag="execution.crashed", kw_only=True):
    reason: str | None = None


class ExecutionDeleted(_Event, tag="execution.deleted", kw_only=True):
    """A soft delete of a finished execution: lists hide it from then on,
    while its history, detail and replays stay. Nothing may follow it."""

    by: str | None = None
    reason: str | None = None


EventData = (
    ExecutionQueued
    | ExecutionStarted
    | ExecutionWaiting
    | ExecutionResumed
    | NodeStarted
    | NodeCompleted
    | NodeFailed
    | ExecutionCancelRequested
    | ExecutionCancelled
    | ExecutionCompleted
    | ExecutionFailed
    | ExecutionCrashed
    | ExecutionDeleted
)

EVENT_TYPES: Final[dict[str, type[EventData]]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (
        ExecutionQueued,
        ExecutionStarted,
        ExecutionWaiting,
        ExecutionResumed,
        NodeStarted,
        NodeCompleted,
        NodeFailed,
        ExecutionCancelRequested,
        ExecutionCancelled,
        ExecutionCompleted,
        ExecutionFailed,
        ExecutionCrashed,
        ExecutionDeleted,
    )
}

WIRE_NAMES: Final[dict[type[EventData], str]] = {cls: name for name, cls in EVENT_TYPES.items()}

TERMINAL_TYPES: Final = frozenset(
    {"execution.completed", "execution.failed", "execution.cancelled", "execution.crashed"}
)


class NewEvent(Frozen, kw_only=True):
    """An event a producer submits: the payload plus its optional envelope.

    ``event_id`` is the producer's idempotency key; the store generates a
    time-ordered one when it is absent. ``occurred_at`` is the producer's clock
    in microseconds since the epoch; the store's clock stands in when absent.
    """

    data: EventData
    event_id: str | None = None
    occurred_at: int | None = None


class RecordedEvent(Frozen, kw_only=True):
    """One row of the log, as readers and subscribers see it."""

    position: int
    execution_id: int
    version: int
    event_id: str
    type: str
    data: msgspec.Raw
    occurred_at: int
    recorded_at: int
    hash: bytes
    # Copied from the execution's queued event so that subscribers can filter
    # on them; not part of the row or its hash.
    workflow_id: str = ""
    team_id: str | None = None

    def payload(self) -> EventData:
        return decode_data(self.data)


data_encoder: Final = msgspec.json.Encoder()
_data_decoder: Final = msgspec.json.Decoder(EventData)


def encode_data(data: EventData) -> bytes:
    return data_encoder.encode(data)


def decode_data(raw: bytes | msgspec.Raw) -> EventData:
    data: EventData = _data_decoder.decode(raw)
    return data


def now_us() -> int:
    return time.time_ns() // 1000


# 48 random bits per process, formatted once: the id's last group.
_ID_NODE: Final = f"{int.from_bytes(os.urandom(6), 'big'):012x}"
_id_counter: Final = itertools.count()


class _IdClock:
    """The time half of the id, formatted once per millisecond rather than per id."""

    __slots__ = ("ms", "prefix")

    def __init__(self) -> None:
        self.ms = -1
        self.prefix = ""


_id_clock: Final = _IdClock()


def new_event_id() -> str:
    """A UUIDv7-shaped id: 48 bits of Unix milliseconds first, so ids sort by time.

    After the time come a 26-bit counter (ids of one millisecond sort in
    issue order) and 48 random bits drawn once per process, in place of a
    system call per id: ids repeat only if two processes share a random node,
    a millisecond and a counter value.
    """
    ms = time.time_ns() // 1_000_000
    clock = _id_clock
    if ms != clock.ms:
        clock.ms, clock.prefix = ms, f"{ms >> 16:08x}-{ms & 0xFFFF:04x}-7"
    n = next(_id_counter) & 0x3FFFFFF
    return f"{clock.prefix}{n >> 14:03x}-{0x8000 | (n & 0x3FFF):04x}-{_ID_NODE}"
