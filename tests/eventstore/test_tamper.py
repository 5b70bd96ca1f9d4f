"""Tampering with the log behind the store's back: the triggers refuse it, and
where someone drops them first, ``verify()`` names the first broken row."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from eventstore import (
    EventStore,
    ExecutionQueued,
    ExecutionStarted,
    NodeCompleted,
    NodeStarted,
    json_value,
)
from server.cli import main as cli

EXECUTIONS = 5
NODES = 4
EVENTS = EXECUTIONS * (2 + 2 * NODES)
MIDDLE = EVENTS // 2


async def _build_log(db: Path) -> None:
    """Several executions appended round-robin, so each one's rows interleave."""
    async with EventStore(db) as store:
        ids = [
            (await store.create_execution(ExecutionQueued(workflow_id=f"wf-{n}"))).execution_id
            for n in range(EXECUTIONS)
        ]
        for execution_id in ids:
            await store.append(execution_id, [ExecutionStarted()])
        for node in range(NODES):
            for execution_id in ids:
                await store.append(execution_id, [NodeStarted(node_id=f"n{node}")])
                output = json_value({"node": node, "execution": execution_id})
                await store.append(execution_id, [NodeCompleted(node_id=f"n{node}", output=output)])
        assert store.head == EVENTS


def _connect(db: Path) -> sqlite3.Connection:
    # Autocommit: each statement takes effect (or fails) on its own.
    return sqlite3.connect(db, isolation_level=None)


def _snapshot(db: Path) -> list[tuple[Any, ...]]:
    with closing(_connect(db)) as conn:
        return conn.execute("SELECT * FROM events ORDER BY position").fetchall()


def _execute(db: Path, *statements: str) -> None:
    with closing(_connect(db)) as conn:
        for statement in statements:
            conn.execute(statement)


@pytest.fixture
async def db(tmp_path: Path) -> Path:
    path = tmp_path / "log.db"
    await _build_log(path)
    return path


@pytest.mark.parametrize(
    "statement",
    [
        f"UPDATE events SET data = CAST('{{}}' AS BLOB) WHERE position = {MIDDLE}",
        f"UPDATE events SET hash = zeroblob(32) WHERE position = {MIDDLE}",
        f"DELETE FROM events WHERE position = {MIDDLE}",
        "DELETE FROM events",
    ],
)
async def test_triggers_refuse_changes_to_the_log(db: Path, statement: str) -> None:
    before = _snapshot(db)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        _execute(db, statement)
    assert _snapshot(db) == before
    assert len(before) == EVENTS
    report = await EventStore(db).verify()
    assert (report.ok, report.checked) == (True, EVENTS)


async def test_clean_log_verifies(db: Path) -> None:
    report = await EventStore(db).verify()
    assert report.ok
    assert (report.checked, report.last_position) == (EVENTS, EVENTS)
    assert (report.first_bad_position, report.reason) == (None, None)


def _flip_data_byte(db: Path, position: int) -> None:
    with closing(_connect(db)) as conn:
        conn.execute("DROP TRIGGER events_no_update")
        (data,) = conn.execute("SELECT data FROM events WHERE position = ?", (position,)).fetchone()
        changed = bytearray(data)
        # Same length, so only the hash over the bytes themselves can notice.
        changed[len(changed) // 2] ^= 0x01
        conn.execute("UPDATE events SET data = ? WHERE position = ?", (bytes(changed), position))
        (stored,) = conn.execute(
            "SELECT data FROM events WHERE position = ?", (position,)
        ).fetchone()
    assert stored != data and len(stored) == len(data)


@pytest.mark.parametrize("position", [1, MIDDLE, EVENTS])
async def test_one_changed_data_byte_is_located(db: Path, position: int) -> None:
    _flip_data_byte(db, position)
    report = await EventStore(db).verify()
    assert not report.ok
    assert report.first_bad_position == position
    assert (report.checked, report.last_position) == (position - 1, position - 1)


async def test_deleted_row_is_located(db: Path) -> None:
    _execute(db, "DROP TRIGGER events_no_delete", f"DELETE FROM events WHERE position = {MIDDLE}")
    assert len(_snapshot(db)) == EVENTS - 1
    report = await EventStore(db).verify()
    assert not report.ok
    assert report.first_bad_position == MIDDLE


async def test_changed_hash_is_located(db: Path) -> None:
    _execute(
        db,
        "DROP TRIGGER events_no_update",
        f"UPDATE events SET hash = zeroblob(32) WHERE position = {MIDDLE}",
    )
    report = await EventStore(db).verify()
    assert not report.ok
    # The row no longer matches its hash, or the next row no longer chains to it.
    assert report.first_bad_position in (MIDDLE, MIDDLE + 1)


async def test_cli_verify_exit_codes(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The CLI runs its own event loop, so it gets a thread of its own.
    assert await asyncio.to_thread(cli.main, ["verify", "--db", str(db)]) == 0
    assert f"{EVENTS} events" in capsys.readouterr().out
    _flip_data_byte(db, MIDDLE)
    assert await asyncio.to_thread(cli.main, ["verify", "--db", str(db)]) == 1
    assert f"position {MIDDLE}" in capsys.readouterr().err


def test_cli_verify_refuses_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    assert cli.main(["verify", "--db", str(missing)]) == 2
    assert not missing.exists()  # verifying must never create an empty log
