"""UUIDs for dialects whose documents name executions by UUID (dify, actions).

Our ids are integers, dense and permanent. A dialect's UUID is the integer
inside a fixed UUIDv8 frame: deterministic, reversible without a lookup
table, and never mistaken for another dialect's or a random UUID (the frame
is checked on the way back).
"""

from __future__ import annotations

import uuid
from typing import Final

# "execstor" in ASCII, with the version nibble set to 8 (custom) and the
# RFC 4122 variant bits set: the 62 low bits carry the execution id.
_HIGH: Final = (0x65786563_7374_8F72 << 64) | (0b10 << 62)
_ID_MASK: Final = (1 << 62) - 1
_FRAME_MASK: Final = ~_ID_MASK & ((1 << 128) - 1)


def uuid_of(execution_id: int) -> str:
    if not 0 < execution_id <= _ID_MASK:
        raise ValueError(f"execution id {execution_id} does not fit a UUID frame")
    return str(uuid.UUID(int=_HIGH | execution_id))


def execution_of(text: str) -> int | None:
    """The execution id inside a UUID made by ``uuid_of``; None for any other text."""
    if len(text) > 45:  # the longest accepted UUID spelling, "urn:uuid:" + 36
        return None
    try:
        value = uuid.UUID(text).int
    except ValueError:
        return None
    if value & _FRAME_MASK != _HIGH:
        return None
    return (value & _ID_MASK) or None
