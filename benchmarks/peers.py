"""The peers execstore's appends are measured against: raw sqlite3 and eventsourcing.

benchmarks/append.py drives them; its docstring describes every case.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from time import perf_counter
from typing import Any, Final

import msgspec
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from eventstore import (
    schema,
)
from eventstore.events import data_encoder, new_event_id, now_us
from eventstore.hashchain import GENESIS, row_hash

from .workload import Execution, Row, check, count_events

# The library's pool serialises writers behind one lock, so threads only
# overlap the Python work outside it; 8 stays under its 15-connection cap.
ES_THREADS: Final = 8

_INSERT_EXECUTION: Final = "INSERT INTO executions VALUES (?,?,?,?,?,?)"
_INSERT_EVENT: Final = "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)"
_SELECT_EXECUTIONS: Final = (
    "SELECT id, uuid, external_id, workflow_id, team_id, created_position FROM executions"
    " ORDER BY id"
)
_SELECT_EVENTS: Final = (
    "SELECT position, execution_id, version, event_id, type, data, occurred_at, recorded_at,"
    " hash FROM events ORDER BY position"
)


# --- (c) and (c2): raw sqlite3 ------------------------------------------------------------


def read_rows(path: Path) -> tuple[list[Row], list[Row]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(_SELECT_EXECUTIONS).fetchall(), conn.execute(_SELECT_EVENTS).fetchall()
    finally:
        conn.close()


def _open_like_store(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    schema.configure(conn, "full")
    schema.migrate(conn)
    return conn


def _insert(
    conn: sqlite3.Connection, executions: list[Row], events: list[Row], commits: int = 1
) -> None:
    # Contiguous slices, as (a)'s batches are: each commit appends at the end.
    for part in range(commits):
        conn.execute("BEGIN")
        conn.executemany(_INSERT_EXECUTION, _slice(executions, part, commits))
        conn.executemany(_INSERT_EVENT, _slice(events, part, commits))
        conn.execute("COMMIT")


def _slice(rows: list[Row], part: int, parts: int) -> list[Row]:
    return rows[len(rows) * part // parts : len(rows) * (part + 1) // parts]


def raw_insert(path: Path, executions: list[Row], events: list[Row], commits: int = 1) -> float:
    conn = _open_like_store(path)
    try:
        start = perf_counter()
        _insert(conn, executions, events, commits)
        elapsed = perf_counter() - start
        check(conn.execute("SELECT count(*) FROM events").fetchone()[0], len(events))
    finally:
        conn.close()
    return elapsed


def build_rows(workload: Sequence[Execution]) -> tuple[list[Row], list[Row]]:
    """The rows the writer would produce, minus its rule checks and batching."""
    executions: list[Row] = []
    events: list[Row] = []
    previous, position, recorded_at = GENESIS, 0, now_us()
    for execution_id, execution in enumerate(workload, 1):
        queued = msgspec.structs.replace(execution.queued, uuid=str(uuid.uuid4()))
        executions.append(
            (execution_id, queued.uuid, None, queued.workflow_id, queued.team_id, position + 1)
        )
        for version, data in enumerate((queued, *execution.rest), 1):
            position += 1
            type_ = str(data.__struct_config__.tag)
            raw, event_id, occurred_at = data_encoder.encode(data), new_event_id(), now_us()
            previous = row_hash(
                previous,
                position,
                execution_id,
                version,
                event_id,
                type_,
                raw,
                occurred_at,
                recorded_at,
            )
            events.append(
                (
                    position,
                    execution_id,
                    version,
                    event_id,
                    type_,
                    raw,
                    occurred_at,
                    recorded_at,
                    previous,
                )
            )
    return executions, events


def raw_build_insert(path: Path, workload: Sequence[Execution]) -> float:
    conn = _open_like_store(path)
    try:
        start = perf_counter()
        _insert(conn, *build_rows(workload))
        elapsed = perf_counter() - start
        check(conn.execute("SELECT count(*) FROM events").fetchone()[0], count_events(workload))
    finally:
        conn.close()
    return elapsed


# --- (d): eventsourcing ------------------------------------------------------------------


class Run(Aggregate):
    """One execution; its created event carries the queued payload."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.last = str(payload["type"])

    # One event class for all the later events: the topic name does not change the cost.
    @event("Recorded")
    def record(self, payload: dict[str, Any]) -> None:
        self.last = str(payload["type"])


def to_payloads(workload: Sequence[Execution]) -> list[list[dict[str, Any]]]:
    """The same payloads as plain dicts, so the library encodes equal-sized JSON."""
    decode = msgspec.json.decode
    return [[decode(data_encoder.encode(d)) for d in (e.queued, *e.rest)] for e in workload]


def _save_all(app: Application[uuid.UUID], group: Sequence[list[dict[str, Any]]]) -> None:
    for payloads in group:
        run = Run(payloads[0])
        for payload in payloads[1:]:
            run.record(payload)
        app.save(run)  # all of the execution's events in one transaction


def eventsourcing_save(path: Path, payloads: Sequence[list[dict[str, Any]]]) -> float:
    # The library's pool is thread-safe (check_same_thread=False, a writer lock)
    # and its own test suite writes from a ThreadPoolExecutor, so producers are threads.
    app: Application[uuid.UUID] = Application(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    )
    try:
        groups = [payloads[i::ES_THREADS] for i in range(ES_THREADS)]
        with ThreadPoolExecutor(ES_THREADS) as pool:
            start = perf_counter()
            for future in [pool.submit(_save_all, app, g) for g in groups]:
                future.result()
            elapsed = perf_counter() - start
        check(app.recorder.max_notification_id(), sum(map(len, payloads)))
    finally:
        app.close()
    return elapsed


def library_durability(path: Path) -> str:
    """What a connection opened the library's way gets: it sets WAL, never synchronous."""
    conn = sqlite3.connect(path)
    try:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        level = conn.execute("PRAGMA synchronous").fetchone()[0]
    finally:
        conn.close()
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return f"journal_mode={mode}, synchronous={names.get(level, level)}"
