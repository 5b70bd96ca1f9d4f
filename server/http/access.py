"""Who is calling, and which execution a path names, if the caller may see it."""

from __future__ import annotations

from aiohttp import web

from eventstore import EventStore, ExecutionNotFound, RecordedEvent

from .auth import Principal, Scope
from .errors import ApiError
from .keys import AUTH, STORE


async def caller(
    request: web.Request,
    scope: Scope,
    *,
    query_token: bool = False,
    key_header: str | None = None,
) -> Principal:
    return await request.app[AUTH].principal(
        request, scope, query_token=query_token, key_header=key_header
    )


async def execution_id(request: web.Request, who: Principal, *, external: bool = True) -> int:
    """The execution ``{id}`` names, if the caller may see it; else 404.

    Digits name the integer id; when no execution has that id, or the text
    is not digits, it is looked up as an external id. Another team's
    execution is answered exactly like a missing one.

    ``external=False`` is for dialects whose ids are integers only: just the
    id's own digits name it ("042" names nothing), and there is no external
    id lookup, so ``/executions/42`` never finds one whose external id is "42".
    """
    raw = request.match_info["id"]
    store = request.app[STORE]
    digits = raw.isascii() and raw.isdigit() and len(raw) <= 18
    if digits and (external or str(int(raw)) == raw):
        number = int(raw)
        if who.team_id is None and 0 < number <= store.last_execution_id:
            return number  # ids are dense and permanent: it exists, and all is visible
        first = await first_event(store, number)
        if first is not None:
            if who.sees(first.team_id):
                return number
            raise ApiError(404, "not_found", f"no execution {raw!r}", field="id")
    found = await store.find_external(raw) if external else None
    if found is not None and await _sees(store, who, found):
        return found
    raise ApiError(404, "not_found", f"no execution {raw!r}", field="id")


async def execution_by_uuid(request: web.Request, who: Principal, text: str) -> int:
    """The execution whose UUID is ``text`` (any case), if the caller may see it; else 404."""
    store = request.app[STORE]
    found = await store.find_uuid(text.lower()) if len(text) <= 64 else None
    if found is not None and await _sees(store, who, found):
        return found
    raise ApiError(404, "not_found", f"no execution {text!r}", field="id")


async def _sees(store: EventStore, who: Principal, found: int) -> bool:
    """Whether ``who`` may see the execution ``found`` (by a lookup, so it exists)."""
    if who.team_id is None:
        return True  # a token of no team sees every execution: no read needed
    first = await first_event(store, found)
    return first is not None and who.sees(first.team_id)


async def first_event(store: EventStore, target: int) -> RecordedEvent | None:
    """The execution's ``execution.queued`` event (it carries the team), or None."""
    try:
        return (await store.read_execution(target, 1, 1))[0]
    except ExecutionNotFound:
        return None
