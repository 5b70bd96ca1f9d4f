"""The cancel rules, for the native route and the dialects that cancel."""

from __future__ import annotations

from typing import Final, Literal

from eventstore import (
    EventData,
    EventStore,
    ExecutionCancelled,
    ExecutionCancelRequested,
    VersionConflict,
)
from projections import ExecutionDetail, ViewReader

from ..http.errors import ApiError

CancelOutcome = Literal["cancelled", "requested", "already_requested"]
_ATTEMPTS: Final = 5


async def cancel_execution(
    store: EventStore,
    views: ViewReader,
    current: ExecutionDetail,
    by: str | None = None,
    reason: str | None = None,
    *,
    field: str | None = None,
) -> tuple[CancelOutcome | None, ExecutionDetail]:
    """A queued execution is cancelled at once; a running or waiting one gets
    a cancel request, for the engine to confirm (none if one stands). None,
    with the execution, when it had already finished. Decided again on the
    new state when the engine moves it meanwhile; a 409 ``busy`` (naming
    ``field``) if it keeps moving."""
    for _ in range(_ATTEMPTS):
        event: EventData
        outcome: CancelOutcome
        if current.status == "queued":
            event, outcome = ExecutionCancelled(by=by, reason=reason), "cancelled"
        elif current.status in ("running", "waiting"):
            if current.cancel_requested:
                return "already_requested", current
            event, outcome = ExecutionCancelRequested(by=by, reason=reason), "requested"
        else:
            return None, current
        try:
            await store.append(current.id, [event], expected_version=current.version)
        except VersionConflict:
            current = await views.detail(current.id)
            continue
        return outcome, current
    raise ApiError(409, "busy", "the execution kept changing; try again", field=field)
