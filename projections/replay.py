"""Point-in-time replay: the detail fold over a prefix of one execution's events.

The same fold as the live view, so a replay is exact by construction. The
events are one execution's, in version order (as ``read_execution`` returns
them); along them ``recorded_at`` never decreases, so "as of a time" is a
prefix too and both replays stop reading at the first event past it.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import takewhile

from eventstore import RecordedEvent

from .detail import fold
from .views import ExecutionDetail


def replay_as_of_version(events: Iterable[RecordedEvent], version: int) -> ExecutionDetail | None:
    """The execution as it was after its event ``version``; None before version 1."""
    return fold(takewhile(lambda event: event.version <= version, events))


def replay_as_of_time(
    events: Iterable[RecordedEvent], recorded_at_us: int
) -> ExecutionDetail | None:
    """The execution as the store knew it at ``recorded_at_us`` (its own clock,
    microseconds since the epoch): every event recorded at or before then."""
    return fold(takewhile(lambda event: event.recorded_at <= recorded_at_us, events))
