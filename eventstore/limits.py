"""What the store accepts, stated once and checked before anything is written.

The bounds keep every cost that grows with one request or one execution
bounded too: the writer's batch, a detail fold, an export item, a reader's
memory. The defaults, and why:

- ``events_per_append`` 2,000: one create or append. It is checked, hashed
  and inserted in one transaction on the event loop, at about 5 us an event:
  2,000 events hold the loop for about 10 ms, 10,000 for 50.
- ``events_per_execution`` 10,000, and ``execution_bytes`` 32 MiB of stored
  payloads: what a detail read folds and encodes at once. Temporal caps a
  history at 51,200 events and 50 MB; a detail here is one fold of every
  event, answered whole, so the cap is lower: 10,000 events fold in about
  25 ms (on a thread of their own: see ``projections.reader``).
- ``event_bytes`` 2 MiB: one event's payload as stored (Temporal refuses
  blobs over 2 MB). Larger data belongs in the engine's own storage, with a
  reference in the event.
- ``json_depth`` 64: nesting in a free-form JSON field (``input``,
  ``output``). Deeper JSON is stored fine but fails later decoders, which
  recurse; nothing real nests that deep.
"""

from __future__ import annotations

import re
from array import array
from functools import cache
from itertools import accumulate
from typing import Final

import msgspec
import msgspec.inspect

from .errors import StoreError
from .frozen import Frozen

MiB: Final = 1024 * 1024


class Limits(Frozen, kw_only=True):
    events_per_append: int = 2_000
    events_per_execution: int = 10_000
    execution_bytes: int = 32 * MiB
    event_bytes: int = 2 * MiB
    json_depth: int = 64

    def refuse_too_many(self, count: int) -> None:
        """Refuse a create or an append of ``count`` events past the limit,
        before any of them is decoded or encoded."""
        if count > self.events_per_append:
            raise LimitExceeded(
                "events",
                "events_per_append",
                f"a create or an append records at most {self.events_per_append:,} events,"
                f" not {count:,}",
            )


class LimitExceeded(StoreError):
    """A request went past one of the ``Limits``; nothing of it was written.
    ``limit`` names the bound (a ``Limits`` field), ``field`` what broke it."""

    def __init__(self, field: str, limit: str, message: str) -> None:
        self.field = field
        self.limit = limit
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        # From the field as it is now: a caller may name it as its client does.
        return f"{self.field}: {self.message}"


def deepest_free_form(data: msgspec.Struct, depth: int) -> str | None:
    """The first of ``data``'s free-form fields nested deeper than ``depth``, if any."""
    for name in _free_form(type(data)):
        value = getattr(data, name)
        # Nesting deeper than ``depth`` takes more than twice as many bytes.
        if (
            isinstance(value, msgspec.Raw)
            and len(value) > 2 * depth
            and nested_deeper_than(bytes(value), depth)
        ):
            return name
    return None


@cache
def _free_form(kind: type[msgspec.Struct]) -> tuple[str, ...]:
    """The fields of ``kind`` that may hold raw JSON (asked once per type:
    this runs for every event written)."""
    info = msgspec.inspect.type_info(kind)
    assert isinstance(info, msgspec.inspect.StructType)
    return tuple(f.name for f in info.fields if _raw(f.type))


def _raw(kind: msgspec.inspect.Type) -> bool:
    if isinstance(kind, msgspec.inspect.UnionType):
        return any(_raw(member) for member in kind.types)
    return isinstance(kind, msgspec.inspect.RawType | msgspec.inspect.AnyType)


# A backslash and the character it escapes: none of them starts or ends a string.
_ESCAPE: Final = re.compile(rb"\\.", re.DOTALL)
_NOT_STRUCTURE: Final = bytes(range(256)).translate(None, b'"[]{}')
_AS_PARENS: Final = bytes.maketrans(b"[]{}", b"()()")
_AS_STEPS: Final = bytes.maketrans(b"()", b"\x01\xff")  # +1 and -1 as signed bytes


def nested_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether valid JSON ``raw`` nests arrays and objects more than ``limit`` deep.

    All in C-speed passes over the bytes, as a payload may be megabytes: one
    with no more opening brackets than the limit cannot nest deeper; else
    the brackets outside strings are kept (as parentheses), the innermost
    pairs peeled off a few times (each pass lowers the depth by exactly
    one, and most documents are gone after it), and the rest is measured by
    the largest running sum of +1 and -1.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    text = _ESCAPE.sub(b"", raw) if b"\\" in raw else raw
    # Between the n-th and (n+1)-th quote is a string when n is odd.
    brackets = b"".join(text.translate(_AS_PARENS, _NOT_STRUCTURE).split(b'"')[0::2])
    peeled = 0
    while brackets and peeled < min(3, limit):
        brackets = brackets.replace(b"()", b"")
        peeled += 1
    if not brackets:
        return False
    if b"(" * (limit + 1 - peeled) in brackets:
        return True
    steps = array("b", brackets.translate(_AS_STEPS))
    return peeled + max(accumulate(steps)) > limit
