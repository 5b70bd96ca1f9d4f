"""JSON Schemas of the events' payloads, one per event type: as stored (and
passed through on every read), and as a client sends them.

The wire passes a payload through as the bytes the store keeps (an event's
``data``), so its schema is the store's encoding of that type's Struct:
fields at their defaults are left out, and ``type`` names the event. msgspec
cannot write these Structs' schemas whole (a ``Raw`` default has no JSON
form), so each is built from its fields' types, which it can.

A client sends the same fields, without ``type`` (the event names it) and
with nothing else (a misspelt field is refused), except ``execution.waiting``
whose deadline is a wire time (``bodies.WaitingIn``). ``EventIn`` is
documented as one variant per type, so the document says which ``data``
each ``type`` takes.
"""

from __future__ import annotations

from typing import Any, Final, get_type_hints

import msgspec

from eventstore.events import EVENT_TYPES

from .bodies import APPEND_TYPES, EventIn, WaitingIn

_SUFFIX: Final = "Payload"


def payload_name(event_type: str) -> str:
    """The component that describes ``event_type``'s payload (``NodeCompletedPayload``)."""
    return EVENT_TYPES[event_type].__name__ + _SUFFIX


def payload_schemas(ref_template: str) -> dict[str, Any]:
    """Every event type's payload schema, and the Structs they refer to, as
    components named for ``ref_template``."""
    components: dict[str, Any] = {}
    for event_type, cls in EVENT_TYPES.items():
        hints = get_type_hints(cls, include_extras=True)
        fields = msgspec.structs.fields(cls)
        schemas, referred = msgspec.json.schema_components(
            [hints[f.name] for f in fields], ref_template=ref_template
        )
        components.update(referred)
        properties = {f.encode_name: schema for f, schema in zip(fields, schemas, strict=True)}
        components[payload_name(event_type)] = {
            "title": payload_name(event_type),
            "type": "object",
            "properties": {"type": {"const": event_type}, **properties},
            "required": ["type", *(f.encode_name for f in fields if f.required)],
        }
    return components


def input_schemas(ref_template: str) -> dict[str, Any]:
    """``EventIn`` with one variant per type it may carry, and ``WaitingIn``."""
    (event_in, waiting), components = msgspec.json.schema_components(
        [EventIn, WaitingIn], ref_template=ref_template
    )
    del event_in, waiting  # the Structs' own schemas, as components
    payloads = payload_schemas(ref_template)
    variants = []
    for event_type in APPEND_TYPES:
        if event_type == "execution.waiting":
            data: dict[str, Any] = {"$ref": ref_template.format(name=WaitingIn.__name__)}
            required = False
        else:
            stored = payloads[payload_name(event_type)]
            needs = [name for name in stored["required"] if name != "type"]
            data = {**stored, "required": needs, "additionalProperties": False}
            del data["title"]
            required = bool(needs)
        variants.append(
            {
                "properties": {"type": {"const": event_type}, "data": data},
                "required": ["type", "data"] if required else ["type"],
            }
        )
    components[EventIn.__name__] = {**components[EventIn.__name__], "oneOf": variants}
    return components


def documented(ref_template: str) -> dict[str, Any]:
    """Every component this module describes, for the document."""
    return {**payload_schemas(ref_template), **input_schemas(ref_template)}
