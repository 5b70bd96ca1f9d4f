"""Read queries over the log, run on read-only connections (WAL lets them
proceed while the writer commits)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any, Final

import aiosqlite
import msgspec

from .events import RecordedEvent
from .subscriptions import SubscriptionFilter

_COLUMNS: Final = (
    "SELECT e.position, e.execution_id, e.version, e.event_id, e.type, e.data,"
    " e.occurred_at, e.recorded_at, e.hash, x.workflow_id, x.team_id"
    " FROM events e JOIN executions x ON x.id = e.execution_id"
)


def _to_event(row: Any) -> RecordedEvent:
    return RecordedEvent(
        position=row[0],
        execution_id=row[1],
        version=row[2],
        event_id=row[3],
        type=row[4],
        data=msgspec.Raw(row[5]),
        occurred_at=row[6],
        recorded_at=row[7],
        hash=row[8],
        workflow_id=row[9],
        team_id=row[10],
    )


async def _fetch(
    conn: aiosqlite.Connection, sql: str, params: Iterable[Any]
) -> list[RecordedEvent]:
    # One job on the connection's thread: execute and fetch together, so no
    # statement stays open between jobs to pin an older WAL snapshot for the
    # next read (which would then miss a write acknowledged meanwhile).
    return [_to_event(row) for row in await conn.execute_fetchall(sql, tuple(params))]


async def execution_events(
    conn: aiosqlite.Connection, execution_id: int, from_version: int, to_version: int | None
) -> list[RecordedEvent]:
    sql = _COLUMNS + " WHERE e.execution_id = ? AND e.version >= ?"
    params: list[Any] = [execution_id, from_version]
    if to_version is not None:
        sql += " AND e.version <= ?"
        params.append(to_version)
    return await _fetch(conn, sql + " ORDER BY e.version", params)


def execution_events_sync(
    conn: sqlite3.Connection, execution_id: int, below_version: int
) -> list[RecordedEvent]:
    """One execution's events before ``below_version``, on a plain connection.

    For commit hooks, which run inside the writer's transaction: on the
    writer's connection this sees the batch being written too.
    """
    rows = conn.execute(
        _COLUMNS + " WHERE e.execution_id = ? AND e.version < ? ORDER BY e.version",
        (execution_id, below_version),
    ).fetchall()
    return [_to_event(row) for row in rows]


def events_after_sync(conn: sqlite3.Connection, position: int, limit: int) -> list[RecordedEvent]:
    """The log after ``position``, on a plain connection (rebuilds read it in batches)."""
    rows = conn.execute(
        _COLUMNS + " WHERE e.position > ? ORDER BY e.position LIMIT ?", (position, limit)
    ).fetchall()
    return [_to_event(row) for row in rows]


_FOLD_COLUMNS: Final = (
    "SELECT position, execution_id, version, type, data, occurred_at, recorded_at FROM events"
)


def events_for_folds_sync(
    conn: sqlite3.Connection, position: int, limit: int
) -> list[RecordedEvent]:
    """The log after ``position``, as ``events_after_sync`` but for folds only:
    without the event id, the chain hash and the execution's workflow and team
    (empty), which no fold reads. A rebuild reads every event of the log, and
    those columns and the join that finds the team cost it a third of its time.
    """
    rows = conn.execute(
        _FOLD_COLUMNS + " WHERE position > ? ORDER BY position LIMIT ?", (position, limit)
    ).fetchall()
    return _for_folds(rows)


def fold_share_sync(
    conn: sqlite3.Connection, after: int, through: int, shares: int, share: int
) -> list[RecordedEvent]:
    """Events at positions after ``after`` through ``through`` of the
    executions whose id is ``share`` modulo ``shares``, as ``events_for_folds_sync``:
    one worker's share of a rebuild round."""
    rows = conn.execute(
        _FOLD_COLUMNS + " WHERE position > ? AND position <= ? AND execution_id % ? = ?"
        " ORDER BY position",
        (after, through, shares, share),
    ).fetchall()
    return _for_folds(rows)


def _for_folds(rows: list[Any]) -> list[RecordedEvent]:
    return [
        RecordedEvent(
            position=p,
            execution_id=x,
            version=v,
            event_id="",
            type=t,
            data=msgspec.Raw(d),
            occurred_at=o,
            recorded_at=r,
            hash=b"",
        )
        for p, x, v, t, d, o, r in rows
    ]


async def execution_exists(conn: aiosqlite.Connection, execution_id: int) -> bool:
    sql = "SELECT 1 FROM executions WHERE id = ?"
    return bool(await conn.execute_fetchall(sql, (execution_id,)))


async def execution_by_external_id(conn: aiosqlite.Connection, external_id: str) -> int | None:
    return await _execution_id(conn, "SELECT id FROM executions WHERE external_id = ?", external_id)


async def execution_by_uuid(conn: aiosqlite.Connection, uuid: str) -> int | None:
    return await _execution_id(conn, "SELECT id FROM executions WHERE uuid = ?", uuid)


async def _execution_id(conn: aiosqlite.Connection, sql: str, key: str) -> int | None:
    row = next(iter(await conn.execute_fetchall(sql, (key,))), None)
    return None if row is None else int(row[0])


async def events_after(
    conn: aiosqlite.Connection,
    position: int,
    filter: SubscriptionFilter,
    limit: int,
    max_bytes: int | None = None,
) -> list[RecordedEvent]:
    """The (matching) events after ``position``, at most ``limit``; with
    ``max_bytes``, also no more rows once that many bytes of payloads came
    before them (so at least one, however large)."""
    where = " WHERE e.position > ?"
    params: list[Any] = [position]
    for column, values in (
        ("e.execution_id", filter.execution_ids),
        ("x.workflow_id", filter.workflow_ids),
        ("e.type", filter.types),
        ("x.team_id", filter.team_ids),
    ):
        if values is not None:
            where += f" AND {column} IN ({','.join('?' * len(values))})"
            params.extend(values)
    if max_bytes is None:
        return await _fetch(
            conn, _COLUMNS + where + " ORDER BY e.position LIMIT ?", [*params, limit]
        )
    # Sizes first (length() of a blob reads no payload), the rows they allow after.
    firsts = (
        "SELECT e.position, length(e.data) AS size"
        " FROM events e JOIN executions x ON x.id = e.execution_id"
        f"{where} ORDER BY e.position LIMIT ?"
    )
    sql = (
        f"WITH firsts AS ({firsts}), sized AS (SELECT position,"
        " sum(size) OVER (ORDER BY position) - size AS before FROM firsts)"
        f" {_COLUMNS} WHERE e.position IN (SELECT position FROM sized WHERE before < ?)"
        " ORDER BY e.position"
    )
    return await _fetch(conn, sql, [*params, limit, max_bytes])


def head_sync(conn: sqlite3.Connection) -> int:
    """Position of the last event (0 for an empty log), on a plain connection."""
    (head,) = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
    return int(head)
