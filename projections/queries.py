"""Queries over the summary table: the filtered, paginated list and its count.

The list is newest first (``created_at DESC, id DESC``) and pages by keyset,
never OFFSET: a cursor holds the last row's ``(created_at, id)`` and the next
page starts strictly below it. A row's key never changes once written, so a
walk stays exact while executions are created or progress: rows created after
it started sort above its cursor and are not met, and no row is met twice or
skipped. (A row whose *status* changes mid-walk may of course enter or leave a
status filter.)

Every common filter is answered from an index that already yields that order,
so a page costs a seek and ``limit + 1`` rows at any depth. Several statuses
become a ``UNION ALL`` of one ordered index search per status, which SQLite
merges without sorting. The other filters (trigger, test mode, error code,
text, started/finished times) are checked on the rows the chosen index yields.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Final, get_args

import aiosqlite
import msgspec

from eventstore.frozen import Frozen

from .summary import TABLE
from .views import ROW_COLUMNS, ExecutionStatus, SummaryRow, stored_row

STATUSES: Final = frozenset(get_args(ExecutionStatus))
MIN_LIMIT: Final = 1
MAX_LIMIT: Final = 100
DEFAULT_LIMIT: Final = 20
MAX_TEXT_LENGTH: Final = 200  # SQLite refuses LIKE patterns past 50,000 bytes
INT64: Final = (-(2**63), 2**63 - 1)


class InvalidQuery(ValueError):
    """A query parameter outside its domain: ``field`` names it, ``rule`` says how."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {message}")


class ListFilter(Frozen, kw_only=True):
    """What the list shows; None leaves a field unfiltered, given fields all apply.

    Times are microseconds since the epoch and both bounds are inclusive:
    ``x_after`` keeps rows with ``x >= bound``, ``x_before`` rows with
    ``x <= bound``; a row whose time is still None (not started, not finished)
    never passes a bound on it. ``text`` is a substring of ``display_name``,
    matched case-insensitively for ASCII letters only (SQLite's LIKE folds no
    other case); ``%`` and ``_`` in it are plain characters. Rows without a
    display name never match a text. Deleted executions (``execution.deleted``)
    are left out unless ``include_deleted``.
    """

    workflow_id: str | None = None
    statuses: frozenset[str] | None = None
    trigger: str | None = None
    team_id: str | None = None
    test_mode: bool | None = None
    created_after: int | None = None
    created_before: int | None = None
    started_after: int | None = None
    started_before: int | None = None
    finished_after: int | None = None
    finished_before: int | None = None
    error_code: str | None = None
    text: str | None = None
    include_deleted: bool = False


class Page(Frozen, kw_only=True):
    rows: list[SummaryRow]
    next_cursor: str | None = None  # None on the last page


NO_FILTER: Final = ListFilter()

_SELECT: Final = f"SELECT {', '.join(ROW_COLUMNS)} FROM {TABLE}"
_ORDER: Final = " ORDER BY created_at DESC, id DESC"


async def list_executions(
    conn: aiosqlite.Connection,
    filter: ListFilter,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page:
    """One page of the filtered list, newest first; ``cursor`` is a previous
    page's ``next_cursor``. Raises ``InvalidQuery``."""
    sql, params = list_query(filter, limit=limit, cursor=cursor)
    # Executed and fetched in one job: no open statement pins an old snapshot.
    rows = [stored_row(values) for values in await conn.execute_fetchall(sql, params)]
    if len(rows) <= limit:
        return Page(rows=rows)
    last = rows[limit - 1]
    return Page(rows=rows[:limit], next_cursor=encode_cursor(last.created_at, last.id))


async def count_executions(conn: aiosqlite.Connection, filter: ListFilter) -> int:
    sql, params = count_query(filter)
    row = next(iter(await conn.execute_fetchall(sql, params)), None)
    return 0 if row is None else int(row[0])


def list_query(
    filter: ListFilter, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> tuple[str, list[Any]]:
    """The SQL and parameters ``list_executions`` runs (one row more than
    ``limit``, to know whether another page follows)."""
    if not MIN_LIMIT <= limit <= MAX_LIMIT:
        raise InvalidQuery("limit", "range", f"must be {MIN_LIMIT} to {MAX_LIMIT}")
    where, params = _conditions(filter)
    if cursor is not None:
        where.append("(created_at, id) < (?, ?)")
        params.extend(decode_cursor(cursor))
    statuses = sorted(filter.statuses or ())
    if len(statuses) <= 1:
        where = [*(["status = ?"] if statuses else []), *where]
        return _select(where) + _ORDER + " LIMIT ?", [*statuses, *params, limit + 1]
    # An IN list would make SQLite sort every matching row; ordered branches merge instead.
    branches = " UNION ALL ".join(_select(["status = ?", *where]) for _ in statuses)
    merged = [value for status in statuses for value in (status, *params)]
    return branches + _ORDER + " LIMIT ?", [*merged, limit + 1]


async def page_executions(
    conn: aiosqlite.Connection, filter: ListFilter, *, offset: int, limit: int = DEFAULT_LIMIT
) -> list[SummaryRow]:
    """The list's rows ``offset`` to ``offset + limit``, for a dialect whose
    clients page by number. Unlike the cursor walk, rows created meanwhile
    shift later pages: the price of page numbers. Raises ``InvalidQuery``."""
    sql, params = offset_query(filter, offset=offset, limit=limit)
    return [stored_row(values) for values in await conn.execute_fetchall(sql, params)]


def offset_query(filter: ListFilter, *, offset: int, limit: int) -> tuple[str, list[Any]]:
    """``list_query`` without a cursor, skipping ``offset`` rows: the same
    filters and order, whatever filters it gains."""
    if not 0 <= offset <= INT64[1]:
        raise InvalidQuery("offset", "range", "must be 0 or more")
    sql, params = list_query(filter, limit=limit)
    # list_query binds its last "LIMIT ?" to limit + 1 (the look-ahead row); a page takes limit.
    return sql + " OFFSET ?", [*params[:-1], limit, offset]


def count_query(filter: ListFilter) -> tuple[str, list[Any]]:
    where, params = _conditions(filter)
    statuses = sorted(filter.statuses or ())
    if statuses:
        where.insert(0, f"status IN ({', '.join('?' * len(statuses))})")
    sql = f"SELECT count(*) FROM {TABLE}"
    return sql + (f" WHERE {' AND '.join(where)}" if where else ""), [*statuses, *params]


def _select(where: list[str]) -> str:
    return _SELECT + (f" WHERE {' AND '.join(where)}" if where else "")


def _conditions(filter: ListFilter) -> tuple[list[str], list[Any]]:
    """The filter's conditions but the status, with their parameters, validated."""
    _check_statuses(filter.statuses)
    # Every index ends in deleted_at, so this never changes which index serves.
    where: list[str] = [] if filter.include_deleted else ["deleted_at IS NULL"]
    params: list[Any] = []
    for column, value in (
        ("workflow_id", filter.workflow_id),
        ("trigger", filter.trigger),
        ("team_id", filter.team_id),
        ("error_code", filter.error_code),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if filter.test_mode is not None:
        where.append("test_mode = ?")
        params.append(int(filter.test_mode))
    for column, after, before in (
        ("created_at", filter.created_after, filter.created_before),
        ("started_at", filter.started_after, filter.started_before),
        ("finished_at", filter.finished_after, filter.finished_before),
    ):
        for bound, op, time in (("after", ">=", after), ("before", "<=", before)):
            if time is not None:
                _check_int64(f"{column.removesuffix('_at')}_{bound}", time)
                where.append(f"{column} {op} ?")
                params.append(time)
    if filter.text is not None:
        if len(filter.text) > MAX_TEXT_LENGTH:
            raise InvalidQuery("text", "max_length", f"at most {MAX_TEXT_LENGTH} characters")
        where.append("display_name LIKE ? ESCAPE '\\'")
        params.append(f"%{escape_like(filter.text)}%")
    return where, params


def escape_like(text: str) -> str:
    """``text`` as a LIKE pattern that matches itself (escape character ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _check_statuses(statuses: frozenset[str] | None) -> None:
    if statuses is None:
        return
    if not statuses:
        raise InvalidQuery("status", "empty", "name at least one status, or leave it out")
    unknown = sorted(statuses - STATUSES)
    if unknown:
        raise InvalidQuery(
            "status", "unknown", f"{unknown[0]!r} is not one of {', '.join(sorted(STATUSES))}"
        )


def _check_int64(field: str, value: int) -> None:
    # Beyond 64 bits sqlite3 raises OverflowError: a bad input, not a server fault.
    if not INT64[0] <= value <= INT64[1]:
        raise InvalidQuery(field, "range", "must fit in a signed 64-bit integer")


# Cursors: urlsafe base64 (unpadded) of the JSON [version, created_at, id].

_CURSOR_VERSION: Final = 1
_CURSOR_CHARS: Final = re.compile(r"[A-Za-z0-9_-]{1,120}")


def encode_cursor(created_at: int, execution_id: int) -> str:
    raw = msgspec.json.encode([_CURSOR_VERSION, created_at, execution_id])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[int, int]:
    """``(created_at, id)`` of a cursor made by ``encode_cursor``; anything
    else raises ``InvalidQuery(field="cursor")``."""
    bad = InvalidQuery("cursor", "malformed", "is not a cursor this list returned")
    if not isinstance(cursor, str) or not _CURSOR_CHARS.fullmatch(cursor):
        raise bad
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        version, created_at, execution_id = msgspec.json.decode(raw, type=tuple[int, int, int])
    except (binascii.Error, msgspec.DecodeError):
        raise bad from None
    in_range = INT64[0] <= created_at <= INT64[1] and 0 < execution_id <= INT64[1]
    # One spelling per position: an edited cursor that still decodes is refused too.
    if version != _CURSOR_VERSION or not in_range:
        raise bad
    if encode_cursor(created_at, execution_id) != cursor:
        raise bad
    return created_at, execution_id
