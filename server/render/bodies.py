"""What clients send the native API: the request bodies, decoded straight
into these Structs (``http.decoding``), and the event type names they may use.
The OpenAPI document is generated from these same Structs.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from eventstore.events import EVENT_TYPES, Int64
from eventstore.frozen import Frozen


class Body(Frozen, forbid_unknown_fields=True):
    """A request body: a misspelt field is an error, never silently dropped."""


# Appends carry every type but the first: an execution is created by POST /v1/executions.
APPEND_TYPES: Final = tuple(name for name in EVENT_TYPES if name != "execution.queued")
EVENT_TYPE_NAMES: Final = frozenset(EVENT_TYPES)
# Decoded as any string, so that an unknown type gets its own error code, but documented
# as the closed set it is.
_EventType = Annotated[str, msgspec.Meta(extra_json_schema={"enum": list(APPEND_TYPES)})]


# A time as clients write it: ISO 8601 with an offset, or a date (see
# ``render.times.parse_iso``), checked where it is parsed.
WireTime = Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})]


class WaitingIn(Body, kw_only=True):
    """``execution.waiting``'s data as clients send it: its deadline is a wire time."""

    type: str | None = None
    reason: str | None = None
    wait_till: WireTime | None = None


class EventIn(Body, kw_only=True):
    type: _EventType
    data: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"{}"))
    # The store checks the length (and names the field); documented here.
    event_id: (
        Annotated[str, msgspec.Meta(extra_json_schema={"minLength": 1, "maxLength": 200})] | None
    ) = None
    occurred_at: WireTime | None = None  # the store's clock when absent


class AppendBody(Body, kw_only=True):
    # At least one: documented here, refused by the handler with its own code.
    events: Annotated[list[EventIn], msgspec.Meta(extra_json_schema={"minItems": 1})]
    expected_version: Int64 | None = None


MAX_WORKFLOW_ID: Final = 200  # characters, wherever a client names a workflow


class CreateBody(Body, kw_only=True):
    """The ``execution.queued`` fields, and optionally the first events, recorded atomically."""

    workflow_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_WORKFLOW_ID)]
    workflow_name: str | None = None
    workflow_version: Int64 | None = None
    trigger: str = "api"
    input: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))
    display_name: str | None = None
    test_mode: bool = False
    team_id: str | None = None
    retry_of: Int64 | None = None
    external_id: str | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    occurred_at: WireTime | None = None
    events: list[EventIn] = msgspec.field(default_factory=list)


class CancelBody(Body, kw_only=True):
    by: str | None = None
    reason: str | None = None
