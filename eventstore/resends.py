"""Writes sent again, recognised: an append whose producer event ids are
recorded answers as it did the first time (or is a conflict, if the content
differs), and a create whose external id is known finds its execution."""

from __future__ import annotations

import sqlite3

from .errors import IdempotencyConflict
from .requests import (
    AppendRequest,
    AppendResult,
    CallRequest,
    CreatedExecution,
    Outcome,
    Request,
    Seen,
)


def explain(conn: sqlite3.Connection, request: Request, exc: Exception) -> Outcome:
    """Turn a failed lone commit into the caller's answer."""
    if not isinstance(exc, sqlite3.IntegrityError) or isinstance(request, CallRequest):
        return exc
    if isinstance(request, AppendRequest):
        return duplicates(conn, request, {}) or exc
    # A new execution's events cannot be re-sends; a recorded id is a conflict.
    for event in request.events:
        if (
            event.supplied
            and conn.execute(
                "SELECT 1 FROM events WHERE event_id = ?", (event.event_id,)
            ).fetchone()
        ):
            return IdempotencyConflict(event.event_id, "is recorded for another execution")
    return exc


def duplicates(
    conn: sqlite3.Connection, request: AppendRequest, seen: dict[str, Seen]
) -> AppendResult | IdempotencyConflict | None:
    """If the append's event ids are already recorded, the idempotent answer."""
    supplied = [e.event_id for e in request.events if e.supplied]
    if not supplied:
        return None
    found = {i: seen[i] for i in supplied if i in seen}
    missing = [i for i in supplied if i not in found]
    for start in range(0, len(missing), 500):
        chunk = missing[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for event_id, *row in conn.execute(
            "SELECT event_id, position, execution_id, version, type, data FROM events"
            f" WHERE event_id IN ({marks})",
            chunk,
        ):
            found[event_id] = (row[0], row[1], row[2], row[3], bytes(row[4]))
    if not found:
        return None
    for event in request.events:
        row = found.get(event.event_id)
        if row is None:
            return IdempotencyConflict(
                next(iter(found)), "is recorded, but other events of this append are not"
            )
        if (row[1], row[3], row[4]) != (request.execution_id, event.type, event.raw):
            return IdempotencyConflict(event.event_id, "was recorded with other content")
    rows = [found[e.event_id] for e in request.events]
    return AppendResult(
        request.execution_id, max(r[2] for r in rows), tuple(r[0] for r in rows), True
    )


def find_external(conn: sqlite3.Connection, external_id: str) -> CreatedExecution | None:
    row = conn.execute(
        "SELECT id, uuid, created_position FROM executions WHERE external_id = ?",
        (external_id,),
    ).fetchone()
    return None if row is None else CreatedExecution(row[0], row[1], row[2], created=False)
