"""The "actions" system's executions API, mounted under ``/compat/actions``.

The document is the system's execution object: ``hashid``, a UUID ``id``,
``key``, ``name``, ``object: "execution"``, ``status``, the actions counts by
status, ``stats`` by node, and ``created_at`` three ways. The system's own API
reference gives the rest, which is served as it says: ``GET
/api/v1/executions/{id}`` (retrieve; 404 when not found), list methods paged
by ``starting_after`` / ``ending_before`` (an object's id; only one of them)
and ``limit`` (at most 100), answering ``{"collection": [...], "meta": {...}}``
newest first, and bearer API keys. Errors keep the native one-shape JSON: the
system documents status codes, not an error body.

Mapping choices the document leaves open:

- ``id`` is the execution's UUID. ``hashid`` is the integer id made short:
  ``(id * M + C) mod 36**n`` written in ``n`` lower-case base-36 digits, ``n``
  the fewest digits (at least 5) that hold the id. It is a bijection for each
  ``n``, so it is stable, reversible and unique, and consecutive ids do not
  look consecutive. It hides nothing: team visibility is checked on every
  lookup. Paths and the paging parameters take either form (the system's older
  reference pages by hashid, its newer one by id).
- ``key`` is the workflow id and ``name`` the execution's display name, else
  the workflow's name, else the workflow id: the document's example shows the
  workflow's key and name (``workflow_8`` / ``Workflow 8``).
- ``status``: the system shows an execution as ``running`` from the moment it
  is triggered, so queued and waiting are ``running``; cancelled is
  ``stopped`` (the system's word: ``stopped_actions_count``, ``stopped_at``);
  crashed is ``failed``.
- Actions are our nodes, known once they start: ``actions_count`` counts the
  nodes that started, and ``idle_actions_count`` is always 0, because the
  actions a workflow plans but has not started are not in our events. A node
  still running when its execution finished (cancelled, failed, crashed) is
  ``stopped``, at the execution's end. A node's ``status`` and times follow
  its latest attempt (a failure to be retried is ``failed`` until the retry
  starts); ``scheduled_at`` is its first start.
- ``stats`` holds one entry per node, not the workflow's edges (``a-b``),
  which we do not know; ``template`` (the workflow's layout) is null for the
  same reason; ``log`` is ``{}``; ``execution_data`` is the execution's input.
  A list item leaves out ``execution_data``, ``log``, ``stats`` and
  ``template`` (as the system's execute response does): the list reads the
  summary table, the retrieve reads every event.
- Times are in whole seconds: ``created_at`` (and ``stats`` times) in the
  dialect's ``time_zone`` setting with its offset at that instant,
  ``created_at_utc`` with ``Z``, ``created_at_string`` as ``Oct 05, 2025
  11:49 pm EDT``.
- ``meta`` is ``{"has_more": bool}``: whether more objects lie beyond this
  page in the direction of travel (older, or newer with ``ending_before``).
  ``ending_before`` walks the newer rows from the newest: its cost grows with
  how many there are, its memory does not.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from aiohttp import web

from eventstore import RecordedEvent
from eventstore.frozen import Frozen
from projections import ExecutionDetail, ListFilter, SummaryRow
from projections.queries import INT64, MAX_LIMIT, encode_cursor
from projections.views import ExecutionStatus, NodeDetail

from ..http import params
from ..http.access import caller, execution_by_uuid, first_event
from ..http.auth import READ, Principal
from ..http.errors import ApiError
from ..http.keys import STORE, VIEWS
from ..http.replies import json, json_rendered
from ..http.routing import Dialect, DialectSettings, Route, Setup
from ..render.times import EPOCH, MAX_US, MIN_US

STATUS_NAMES: Final[dict[ExecutionStatus, str]] = {
    "queued": "running",
    "running": "running",
    "waiting": "running",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "stopped",
    "crashed": "failed",
}
FINISHED: Final = frozenset({"completed", "failed", "cancelled", "crashed"})
_LIST_PARAMS: Final = ("starting_after", "ending_before", "limit")
_ZONE: Final = web.AppKey("actions_time_zone", ZoneInfo)


# hashid: see the module docstring.

_DIGITS: Final = "0123456789abcdefghijklmnopqrstuvwxyz"
_HASHID: Final = re.compile(r"[0-9a-z]{5,13}")  # 36**13 > 2**63: 13 digits hold any id
_MULTIPLIER: Final = 25_214_903_917  # coprime to 36, so multiplying permutes 0..36**n-1
_OFFSET: Final = 11_400_714_819
_INVERSES: Final[dict[int, int]] = {
    width: pow(_MULTIPLIER, -1, 36**width) for width in range(5, 14)
}


def _width(number: int) -> int:
    width = 5
    while number >= 36**width:
        width += 1
    return width


def hashid(number: int) -> str:
    width = _width(number)
    value: int = (number * _MULTIPLIER + _OFFSET) % 36**width
    digits = []
    for _ in range(width):
        value, digit = divmod(value, 36)
        digits.append(_DIGITS[digit])
    return "".join(reversed(digits))


def hashid_number(text: str) -> int | None:
    """The id ``hashid`` wrote as ``text``; None for any other text."""
    if not _HASHID.fullmatch(text):
        return None
    width = len(text)
    modulus: int = 36**width
    number = (int(text, 36) - _OFFSET) * _INVERSES[width] % modulus
    # One spelling per id: a wider text than the id needs names nothing.
    if not 0 < number <= INT64[1] or _width(number) != width:
        return None
    return number


# Times

_MONTHS: Final = tuple(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
)
_DAY_US: Final = 86_400_000_000


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; a name the system does not know raises ``ValueError``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}; expected an IANA name") from None


def _utc(us: int) -> datetime:
    # A day inside years 1..9999, so that no zone's offset leaves the range.
    us = min(max(us, MIN_US + _DAY_US), MAX_US - _DAY_US)
    return EPOCH + timedelta(microseconds=us - us % 1_000_000)


def local_iso(us: int, zone: ZoneInfo) -> str:
    """``2025-10-05T23:49:44-04:00``: whole seconds, the zone's offset then."""
    return _utc(us).astimezone(zone).isoformat(timespec="seconds")


def utc_iso(us: int) -> str:
    return _utc(us).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def local_string(us: int, zone: ZoneInfo) -> str:
    """``Oct 05, 2025 11:49 pm EDT``, in English whatever the locale."""
    m = _utc(us).astimezone(zone)
    hour = m.hour % 12 or 12
    half = "am" if m.hour < 12 else "pm"
    name = m.tzname() or m.isoformat()[19:]
    day = f"{_MONTHS[m.month - 1]} {m.day:02d}, {m.year:04d}"
    return f"{day} {hour:02d}:{m.minute:02d} {half} {name}"


def _at(us: int | None, zone: ZoneInfo) -> str | None:
    return None if us is None else local_iso(us, zone)


# Responses


class Stat(Frozen, kw_only=True):
    status: str
    scheduled_at: str | None
    completed_at: str | None
    stopped_at: str | None
    failed_at: str | None


class Execution(Frozen, kw_only=True):
    hashid: str
    actions_count: int
    completed_actions_count: int
    created_at: str
    created_at_string: str
    created_at_utc: str
    execution_data: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET  # retrieve only
    failed_actions_count: int
    id: str
    idle_actions_count: int
    key: str
    log: dict[str, str] | msgspec.UnsetType = msgspec.UNSET  # retrieve only
    name: str
    object: str = "execution"
    running_actions_count: int
    stats: dict[str, Stat] | msgspec.UnsetType = msgspec.UNSET  # retrieve only
    status: str
    stopped_actions_count: int
    template: msgspec.UnsetType | None = msgspec.UNSET  # retrieve only


class Meta(Frozen, kw_only=True):
    has_more: bool


class ExecutionList(Frozen, kw_only=True):
    collection: list[Execution]
    meta: Meta


class _Counts(Frozen):
    total: int
    running: int
    completed: int
    failed: int
    stopped: int


def _counts(status: str, total: int, running: int, completed: int, failed: int) -> _Counts:
    stopped = running if status in FINISHED else 0
    return _Counts(total, running - stopped, completed, failed, stopped)


def _execution(
    number: int,
    uuid: str,
    status: ExecutionStatus,
    created_at: int,
    key: str,
    name: str,
    counts: _Counts,
    zone: ZoneInfo,
) -> Execution:
    return Execution(
        hashid=hashid(number),
        actions_count=counts.total,
        completed_actions_count=counts.completed,
        created_at=local_iso(created_at, zone),
        created_at_string=local_string(created_at, zone),
        created_at_utc=utc_iso(created_at),
        failed_actions_count=counts.failed,
        id=uuid,
        idle_actions_count=0,
        key=key,
        name=name,
        running_actions_count=counts.running,
        status=STATUS_NAMES[status],
        stopped_actions_count=counts.stopped,
    )


def list_item(row: SummaryRow, zone: ZoneInfo) -> Execution:
    counts = _counts(
        row.status, row.nodes_total, row.nodes_running, row.nodes_completed, row.nodes_failed
    )
    name = row.display_name or row.workflow_name or row.workflow_id
    return _execution(
        row.id, row.uuid, row.status, row.created_at, row.workflow_id, name, counts, zone
    )


def stat(node: NodeDetail, detail: ExecutionDetail, zone: ZoneInfo) -> Stat:
    last = node.attempts[-1]
    stopped = node.status == "running" and detail.status in FINISHED
    return Stat(
        status="stopped" if stopped else node.status,
        scheduled_at=_at(node.attempts[0].started_at, zone),
        completed_at=_at(last.finished_at, zone) if node.status == "completed" else None,
        stopped_at=_at(detail.finished_at, zone) if stopped else None,
        failed_at=_at(last.finished_at, zone) if node.status == "failed" else None,
    )


def execution(detail: ExecutionDetail, zone: ZoneInfo) -> Execution:
    d = detail
    nodes = d.nodes
    statuses = [node.status for node in nodes]
    counts = _counts(
        d.status,
        len(nodes),
        statuses.count("running"),
        statuses.count("completed"),
        statuses.count("failed"),
    )
    name = d.display_name or d.workflow_name or d.workflow_id
    common = _execution(d.id, d.uuid, d.status, d.created_at, d.workflow_id, name, counts, zone)
    return msgspec.structs.replace(
        common,
        execution_data=d.input,
        log={},
        stats={node.node_id: stat(node, d, zone) for node in nodes},
        template=None,
    )


# Lookups


async def _visible(request: web.Request, who: Principal, text: str) -> RecordedEvent | None:
    """The queued event of the execution ``text`` names (a hashid or a UUID), if
    the caller may see it."""
    number = hashid_number(text)
    if number is None:
        try:
            number = await execution_by_uuid(request, who, text)
        except ApiError:
            return None
    first = await first_event(request.app[STORE], number)
    return first if first is not None and who.sees(first.team_id) else None


async def _anchor(
    request: web.Request, who: Principal, text: str | None, field: str
) -> tuple[int, int] | None:
    """``(created_at, id)`` of the execution a paging parameter names; 400 if none."""
    if text is None:
        return None
    first = await _visible(request, who, text)
    if first is None:
        raise ApiError(400, "invalid_cursor", f"no execution {text!r}", field=field)
    return first.occurred_at, first.execution_id


async def _newer(
    request: web.Request, filter: ListFilter, anchor: tuple[int, int], limit: int
) -> tuple[Sequence[SummaryRow], bool]:
    """The ``limit`` rows just newer than ``anchor``, newest first, and whether
    there are more. The list only pages downwards, so it walks down from the top."""
    window: deque[SummaryRow] = deque(maxlen=limit)
    newer = 0
    above = msgspec.structs.replace(filter, created_after=anchor[0])
    cursor: str | None = None
    while True:
        page = await request.app[VIEWS].list(above, limit=MAX_LIMIT, cursor=cursor)
        for row in page.rows:
            if (row.created_at, row.id) <= anchor:
                return list(window), newer > limit
            window.append(row)
            newer += 1
        if page.next_cursor is None:
            return list(window), newer > limit
        cursor = page.next_cursor


async def list_executions(request: web.Request) -> web.Response:
    who = await caller(request, READ)
    params.refuse_unknown(request.query, _LIST_PARAMS)
    limit = params.limit(request.query)
    after_text = params.one(request.query, "starting_after")
    before_text = params.one(request.query, "ending_before")
    if after_text is not None and before_text is not None:
        raise ApiError(
            400,
            "invalid_request",
            "use starting_after or ending_before, not both",
            field="ending_before",
        )
    after = await _anchor(request, who, after_text, "starting_after")
    before = await _anchor(request, who, before_text, "ending_before")
    filter = ListFilter(team_id=who.team_id)
    if before is not None:
        rows, more = await _newer(request, filter, before, limit)
    else:
        cursor = None if after is None else encode_cursor(*after)
        page = await request.app[VIEWS].list(filter, limit=limit, cursor=cursor)
        rows, more = page.rows, page.next_cursor is not None
    zone = request.app[_ZONE]
    items = [list_item(row, zone) for row in rows]
    return json(ExecutionList(collection=items, meta=Meta(has_more=more)))


async def retrieve(request: web.Request) -> web.StreamResponse:
    who = await caller(request, READ)
    params.refuse_unknown(request.query, ())
    raw = request.match_info["id"]
    first = await _visible(request, who, raw)
    if first is None:
        raise ApiError(404, "not_found", f"no execution {raw!r}", field="id")
    found = await request.app[VIEWS].detail(first.execution_id)
    zone = request.app[_ZONE]
    return await json_rendered(
        request, found, lambda: execution(found, zone), large_part=("stats",)
    )


class ActionsSettings(DialectSettings, kw_only=True):
    # ``created_at`` is printed in this IANA time zone, as the document does.
    time_zone: str = "America/New_York"


def _build(app: web.Application, settings: ActionsSettings) -> None:
    app[_ZONE] = time_zone(settings.time_zone)  # an unknown zone raises ValueError here


DIALECT: Final = Dialect(
    name="actions",
    prefix="/compat/actions",
    routes=(
        Route("GET", "/api/v1/executions", list_executions, READ),
        Route("GET", "/api/v1/executions/{id}", retrieve, READ),
    ),
    setup=Setup(ActionsSettings, _build),
)
