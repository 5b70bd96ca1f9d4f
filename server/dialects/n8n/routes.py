"""n8n's handlers and its error shape; the mapping choices are in the package's docstring."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from functools import partial
from typing import Final

import msgspec
from aiohttp import web
from multidict import MultiMapping

from eventstore import EventData, ExecutionCancelled, ExecutionDeleted, VersionConflict
from eventstore.events import now_us
from eventstore.frozen import Frozen
from eventstore.lifecycle import TERMINAL
from projections import ExecutionDetail, ListFilter, SummaryRow
from projections.queries import MAX_LIMIT, encode_cursor

from ...http import params
from ...http.access import caller, execution_id, first_event
from ...http.auth import READ, WRITE, Principal
from ...http.errors import ApiError
from ...http.keys import STORE, VIEWS
from ...http.replies import json, json_rendered, rendered
from ...render.wire import Camel
from .shapes import STATUS_NAMES, ExecutionList, execution, list_item, list_item_of

KEY_HEADER: Final = "X-N8N-API-KEY"
DEFAULT_LIMIT: Final = 100
LIMIT: Final = 250
# A page with the data stops adding items past this many bytes.
PAGE_BYTES: Final = 16 * 1024 * 1024
FILTER_STATUSES: Final[Mapping[str, str]] = {name: ours for ours, name in STATUS_NAMES.items()}
_LIST_PARAMS: Final = ("includeData", "status", "workflowId", "limit", "cursor")
_QUERY_FIELDS: Final = frozenset(_LIST_PARAMS)
_DELETE_ATTEMPTS: Final = 5
# n8n's own words for the refusals it has its own text for.
_MESSAGES: Final[Mapping[str, str]] = {
    "unauthenticated": f"'{KEY_HEADER}' header required",
    "invalid_token": "unauthorized",
    "insufficient_scope": "Forbidden",
    "not_found": "Not Found",
    "invalid_cursor": "An invalid cursor was provided",
}


class Message(Frozen):
    message: str


class Deleted(Frozen, kw_only=True):
    id: str


class _Cursor(Camel):
    last_id: str | int
    limit: int


class _NextCursor(Camel):
    last_id: str
    limit: int


_cursor_decoder: Final = msgspec.json.Decoder(_Cursor)
_encoder: Final = msgspec.json.Encoder()


def render(error: ApiError, request: web.Request) -> web.Response:
    body = error.body
    message = _MESSAGES.get(body.code)
    if message is None and body.field in _QUERY_FIELDS:
        message = f"request/query/{body.field} {body.message}"  # as n8n's validator says
    elif message is None:
        message = body.message if body.field is None else f"{body.field}: {body.message}"
    return json(Message(message), error.status, error.headers)


def _not_found(raw: str) -> ApiError:
    return ApiError(404, "not_found", f"no execution {raw!r}", field="id")


def encode_next(last_id: int, limit: int) -> str:
    # Standard base64 with padding, as n8n's Buffer.toString("base64").
    return base64.b64encode(_encoder.encode(_NextCursor(str(last_id), limit))).decode("ascii")


def decode_next(cursor: str) -> tuple[int, int]:
    """``(lastId, limit)`` of a cursor; either base64 alphabet, padded or not."""
    bad = ApiError(400, "invalid_cursor", "is not a cursor this list returned", field="cursor")
    if len(cursor) > 200 or not cursor.isascii():
        raise bad
    text = cursor.rstrip("=").translate(str.maketrans("-_", "+/"))
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        decoded = _cursor_decoder.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise bad from None
    last = str(decoded.last_id)
    digits = last.isascii() and last.isdigit() and len(last) <= 18
    if not (digits and int(last) >= 1 and 1 <= decoded.limit <= LIMIT):
        raise bad
    return int(last), decoded.limit


async def _start_after(request: web.Request, who: Principal, last_id: int) -> str:
    """The native cursor below execution ``last_id``: its key is (created, id)."""
    first = await first_event(request.app[STORE], last_id)
    if first is None or not who.sees(first.team_id):
        raise ApiError(400, "invalid_cursor", "names no execution", field="cursor")
    return encode_cursor(first.occurred_at, last_id)


def _filter(query: MultiMapping[str], who: Principal) -> ListFilter:
    status = params.one(query, "status")
    statuses = None
    if status is not None:
        if status not in FILTER_STATUSES:
            allowed = ", ".join(FILTER_STATUSES)
            raise ApiError(400, "invalid_status", f"must be one of {allowed}", field="status")
        statuses = frozenset({FILTER_STATUSES[status]})
    return ListFilter(
        workflow_id=params.one(query, "workflowId"), statuses=statuses, team_id=who.team_id
    )


async def _rows(
    request: web.Request, filter: ListFilter, limit: int, cursor: str | None
) -> tuple[list[SummaryRow], bool]:
    """Up to ``limit`` rows from ``cursor`` on (native pages hold at most
    ``MAX_LIMIT``), and whether more follow."""
    views = request.app[VIEWS]
    rows: list[SummaryRow] = []
    while True:
        page = await views.list(filter, limit=min(MAX_LIMIT, limit - len(rows)), cursor=cursor)
        rows += page.rows
        if page.next_cursor is None or len(rows) == limit:
            return rows, page.next_cursor is not None
        cursor = page.next_cursor


async def list_executions(request: web.Request) -> web.Response:
    who = await caller(request, READ, key_header=KEY_HEADER)
    query = request.query
    params.refuse_unknown(query, _LIST_PARAMS)
    include = params.boolean(query, "includeData") or False
    limit = params.integer(query, "limit", 1, LIMIT) or DEFAULT_LIMIT
    filter = _filter(query, who)
    raw_cursor, start = params.one(query, "cursor"), None
    if raw_cursor is not None:
        last_id, limit = decode_next(raw_cursor)
        start = await _start_after(request, who, last_id)
    rows, more = await _rows(request, filter, limit, start)
    if not include:
        items = [list_item(row) for row in rows]
        next_cursor = encode_next(rows[-1].id, limit) if more else None
        return json(ExecutionList(data=items, next_cursor=next_cursor))
    parts, more = await _with_data(request, rows, more)
    cut = rows[len(parts) - 1].id if parts else 0
    next_cursor = encode_next(cut, limit) if more else None
    body = b'{"data":[' + b",".join(parts) + b'],"nextCursor":' + _encoder.encode(next_cursor)
    return web.Response(body=body + b"}", content_type="application/json")


async def _with_data(
    request: web.Request, rows: list[SummaryRow], more: bool
) -> tuple[list[bytes], bool]:
    """Each row's list item with its data, encoded (a long execution's on the
    rendering thread), and whether more follow. Items stop once they reach
    ``PAGE_BYTES`` in all, so one page holds one page of memory; the cursor
    then goes on from the last item given, as a shorter page may."""
    now, views = now_us(), request.app[VIEWS]
    parts: list[bytes] = []
    size = 0
    for row in rows:
        if size >= PAGE_BYTES:
            return parts, True
        detail = await views.detail(row.id)
        part = await rendered(request, detail, partial(_encoded_item, detail, now))
        parts.append(part)
        size += len(part)
    return parts, more


def _encoded_item(detail: ExecutionDetail, now: int) -> bytes:
    return _encoder.encode(list_item_of(detail, now))


async def _target(request: web.Request, who: Principal) -> ExecutionDetail:
    """The execution ``{id}`` names, unless it is another team's or deleted: 404."""
    target = await execution_id(request, who, external=False)  # n8n ids are integers
    found = await request.app[VIEWS].detail(target)
    if found.deleted_at is not None:
        raise _not_found(request.match_info["id"])
    return found


async def detail(request: web.Request) -> web.StreamResponse:
    who = await caller(request, READ, key_header=KEY_HEADER)
    params.refuse_unknown(request.query, ("includeData",))
    include = params.boolean(request.query, "includeData") or False
    found = await _target(request, who)
    now = now_us()
    return await json_rendered(
        request,
        found,
        lambda: execution(found, include, now),
        large_part=("data", "result_data", "run_data"),
    )


async def delete(request: web.Request) -> web.Response:
    who = await caller(request, WRITE, key_header=KEY_HEADER)
    params.refuse_unknown(request.query, ())
    store, views = request.app[STORE], request.app[VIEWS]
    for _ in range(_DELETE_ATTEMPTS):
        current = await _target(request, who)
        if current.status == "running":
            raise ApiError(400, "running", "Cannot delete a running execution")
        events: list[EventData]
        if current.status in TERMINAL:
            events = [ExecutionDeleted()]
        else:  # new or waiting: n8n's delete means it never runs or resumes
            cancelled = ExecutionCancelled(reason="deleted through the n8n API")
            events = [cancelled, ExecutionDeleted()]
        try:
            await store.append(current.id, events, expected_version=current.version)
        except VersionConflict:
            continue  # the engine moved it meanwhile: decide again on the new state
        if not who.can(READ):  # it may delete, not read: the id, nothing the execution holds
            return json(Deleted(id=str(current.id)))
        deleted = await views.detail(current.id)
        return json(execution(deleted, False, now_us()))
    raise ApiError(409, "busy", "the execution kept changing; try again")
