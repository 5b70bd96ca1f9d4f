"""``ViewReader``: the views of one open ``EventStore``, for the server and
embedded callers: the list and count (``queries``), the detail fold and replays.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Final

import aiosqlite
from msgspec.structs import replace

from eventstore import EventStore, ExecutionNotFound, RecordedEvent, reads

from .detail import fold
from .queries import (
    DEFAULT_LIMIT,
    INT64,
    NO_FILTER,
    InvalidQuery,
    ListFilter,
    Page,
    count_executions,
    list_executions,
    page_executions,
)
from .replay import replay_as_of_time, replay_as_of_version
from .summary import TABLE, folded_through
from .views import ExecutionDetail, SummaryRow


class ViewReader:
    """The list, the count, the detail and replays of one open ``EventStore``.

        async with ViewReader(store) as views:
            page = await views.list(ListFilter(statuses=frozenset({"failed"})))

    The list and count run on a read-only connection of the reader's own, on
    aiosqlite's thread, so a scanning filter never blocks the event loop.
    Details and replays read one execution by its primary key: microseconds of
    work for most, done on the caller's thread with a plain connection,
    because a hop to another thread costs far more than the read under load.
    An execution of more than ``LARGE_EVENTS`` events, or ``LARGE_BYTES`` of
    payloads, is read and folded on a thread of the reader's own instead: that
    work grows with the execution, and there the loop keeps its turns. One
    thread: one large fold at a time.
    """

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._conn: aiosqlite.Connection | None = None
        self._point: sqlite3.Connection | None = None
        self._large: ThreadPoolExecutor | None = None
        self._large_point: sqlite3.Connection | None = None  # the large thread's own

    async def __aenter__(self) -> ViewReader:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        uri = f"{self._store.path.resolve().as_uri()}?mode=ro"
        self._conn = await aiosqlite.connect(uri, uri=True)
        self._point = sqlite3.connect(uri, uri=True)

        def connect() -> None:  # on the large thread, which alone uses it
            self._large_point = sqlite3.connect(uri, uri=True)

        self._large = ThreadPoolExecutor(1, "execstore-views", initializer=connect)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        point, self._point = self._point, None
        large, self._large = self._large, None
        if point is not None:
            point.close()
        if large is not None:
            await asyncio.get_running_loop().run_in_executor(large, self._close_large)
            large.shutdown()
        if conn is not None:
            await conn.close()

    async def _caught_up(self) -> aiosqlite.Connection:
        """The list's connection, once the summary table holds every event
        of the log: another process may have written without the hook."""
        point = self._live_point()
        if folded_through(point) < reads.head_sync(point):
            await self._store.catch_up_views()
        return self._live()

    def _close_large(self) -> None:
        if self._large_point is not None:
            self._large_point.close()
            self._large_point = None

    async def count(self, filter: ListFilter = NO_FILTER) -> int:
        return await count_executions(await self._caught_up(), filter)

    async def detail(self, execution_id: int) -> ExecutionDetail:
        """The fold of all the execution's events. Raises ``ExecutionNotFound``."""
        detail = await self._folded(execution_id, None, fold)
        if detail is None:
            raise ExecutionNotFound(execution_id)
        link = await self._retry_link(execution_id)
        return detail if link is None else replace(detail, retry_success_id=link[0])

    async def replay(
        self,
        execution_id: int,
        *,
        as_of_version: int | None = None,
        as_of_time: int | None = None,
    ) -> ExecutionDetail | None:
        """The execution as of its event ``as_of_version``, or as the store knew
        it at ``as_of_time`` (its ``recorded_at`` clock, microseconds); None
        before it existed. Exactly one of the two, else ``InvalidQuery``.

        ``retry_success_id`` is set only if the successful retry's completion
        was in the log by then: before that event's position (as of a version)
        or recorded by that time.
        """
        if as_of_version is not None and as_of_time is None:
            version = max(0, min(as_of_version, INT64[1]))
            detail = await self._folded(
                execution_id, version, lambda events: replay_as_of_version(events, as_of_version)
            )
        elif as_of_time is not None and as_of_version is None:
            detail = await self._folded(
                execution_id, None, lambda events: replay_as_of_time(events, as_of_time)
            )
        else:
            raise InvalidQuery("as_of", "exactly_one", "give as_of_version or as_of_time")
        link = None if detail is None else await self._retry_link(execution_id)
        if detail is None or link is None:
            return detail
        success_id, position, recorded_at = link
        # Visible once the retry's completion was in the log by then.
        visible = position <= detail.position if as_of_time is None else recorded_at <= as_of_time
        return replace(detail, retry_success_id=success_id) if visible else detail

    async def list(
        self, filter: ListFilter = NO_FILTER, limit: int = DEFAULT_LIMIT, cursor: str | None = None
    ) -> Page:
        return await list_executions(await self._caught_up(), filter, limit=limit, cursor=cursor)

    async def page(
        self, filter: ListFilter = NO_FILTER, offset: int = 0, limit: int = DEFAULT_LIMIT
    ) -> Sequence[SummaryRow]:  # "list" here would name the method above
        """The list's rows from ``offset`` on, at most ``limit``: page numbers
        for the dialects that need them (see ``queries.page_executions``)."""
        return await page_executions(await self._caught_up(), filter, offset=offset, limit=limit)

    async def _folded(
        self,
        execution_id: int,
        to_version: int | None,
        folding: Callable[[Sequence[RecordedEvent]], ExecutionDetail | None],
    ) -> ExecutionDetail | None:
        """``folding`` of the execution's events up to ``to_version``: here for
        most executions, on the large thread for a long one."""
        if not 0 < execution_id <= INT64[1]:
            raise ExecutionNotFound(execution_id)
        if self._is_long(execution_id, to_version):
            large = self._large
            if large is None:
                raise RuntimeError("the ViewReader is not open")
            return await asyncio.get_running_loop().run_in_executor(
                large, self._fold_large, execution_id, to_version, folding
            )
        return folding(_events(self._live_point(), execution_id, to_version))

    def _is_long(self, execution_id: int, to_version: int | None) -> bool:
        point = self._live_point()
        rows = point.execute(_LENGTH, (execution_id,)).fetchall()
        length = rows[0][0] if rows else 0
        if to_version is not None:
            length = min(length, to_version)
        if length > LARGE_EVENTS:
            return True
        # Few events, but maybe large ones: their sizes, up to LARGE_EVENTS rows.
        (size,) = point.execute(_SIZE, (execution_id, length)).fetchone()
        return large(length, size or 0)

    def _fold_large(
        self,
        execution_id: int,
        to_version: int | None,
        folding: Callable[[Sequence[RecordedEvent]], ExecutionDetail | None],
    ) -> ExecutionDetail | None:
        point = self._large_point
        if point is None:
            raise RuntimeError("the ViewReader is not open")
        return folding(_events(point, execution_id, to_version))

    async def _retry_link(self, execution_id: int) -> tuple[int, int, int] | None:
        """The successful retry's id, and the position and recorded time of its
        completion (its one ``execution.completed`` event)."""
        # fetchall: the statement ends here and pins no snapshot for the next read.
        rows = self._live_point().execute(_RETRY_LINK, (execution_id,)).fetchall()
        row = rows[0] if rows else None
        if row is None or row[0] is None:
            return None
        return int(row[0]), int(row[1]), int(row[2])

    def _live_point(self) -> sqlite3.Connection:
        if self._point is None:
            raise RuntimeError("the ViewReader is not open")
        return self._point

    def _live(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("the ViewReader is not open")
        return self._conn


# An execution longer than this is read and folded on the reader's large
# thread: the fold costs about 2.5 us an event, so 1,000 events take the loop
# some 3 ms; the limit of 10,000 would take it 30.
LARGE_EVENTS: Final = 1_000
# And as many bytes of payloads: decoding and encoding them costs about 3 ms a MiB.
LARGE_BYTES: Final = 1024 * 1024
_LENGTH: Final = f"SELECT version FROM {TABLE} WHERE id = ?"
# length() of a blob reads its size from the row, not the payload itself.
_SIZE: Final = "SELECT sum(length(data)) FROM events WHERE execution_id = ? AND version <= ?"


def large(events: int, payload_bytes: int) -> bool:
    """Whether folding, or answering with, so many events is long work."""
    return events > LARGE_EVENTS or payload_bytes > LARGE_BYTES


def is_large(detail: ExecutionDetail) -> bool:
    return large(detail.version, detail.payload_bytes)


_EXISTS: Final = "SELECT 1 FROM executions WHERE id = ?"


def _events(
    point: sqlite3.Connection, execution_id: int, to_version: int | None
) -> Sequence[RecordedEvent]:
    below = INT64[1] if to_version is None else min(to_version, INT64[1] - 1) + 1
    events = reads.execution_events_sync(point, execution_id, below)
    if not events and not point.execute(_EXISTS, (execution_id,)).fetchall():
        raise ExecutionNotFound(execution_id)
    return events


# The completion's own position and time, read off the log: the retry's row
# moves on past it when the retry is later deleted.
_RETRY_LINK: Final = (
    f"SELECT s.retry_success_id, e.position, e.recorded_at FROM {TABLE} s"
    " JOIN events e ON e.execution_id = s.retry_success_id"
    " AND e.type = 'execution.completed' WHERE s.id = ?"
)
