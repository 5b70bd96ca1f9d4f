"""Closing, the file's schema and durability settings."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path

import pytest

from eventstore import (
    EventStore,
    ExecutionQueued,
    ExecutionStarted,
    StoreClosed,
    credentials,
)
from eventstore.schema import MIGRATIONS, SCHEMA_VERSION, SchemaTooNew
from tests.eventstore.helpers import query, queued

# --- closing, schema, durability -------------------------------------------


CALLS: dict[str, Callable[[EventStore], Awaitable[object]]] = {
    "append": lambda s: s.append(1, [ExecutionStarted()]),
    "create_execution": lambda s: s.create_execution(ExecutionQueued(workflow_id="wf")),
    "read_execution": lambda s: s.read_execution(1),
    "read_all": lambda s: s.read_all(),
    "find_external": lambda s: s.find_external("x"),
    "find_uuid": lambda s: s.find_uuid("x"),
}


@pytest.mark.parametrize("call", CALLS)
async def test_closed_store_refuses_calls(tmp_path: Path, call: str) -> None:
    store = EventStore(tmp_path / "x.db")
    await store.open()
    await queued(store)
    await store.close()
    with pytest.raises(StoreClosed):
        await CALLS[call](store)
    with pytest.raises(StoreClosed):
        _ = store.head


def user_version(path: Path) -> int:
    (row,) = query(path, "PRAGMA user_version")
    return int(row[0])


async def test_file_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNew):
        await EventStore(path).open()
    assert user_version(path) == SCHEMA_VERSION + 1
    assert query(path, "SELECT name FROM sqlite_master WHERE type = 'table'") == []


async def test_fresh_file_gets_the_current_schema(store: EventStore) -> None:
    assert user_version(store.path) == SCHEMA_VERSION
    strict = query(store.path, "SELECT name, strict FROM pragma_table_list WHERE schema = 'main'")
    assert {"events": 1, "executions": 1}.items() <= dict(strict).items()


@pytest.mark.parametrize("column", ["position", "version"])
async def test_tables_refuse_values_of_the_wrong_type(store: EventStore, column: str) -> None:
    # A non-STRICT table would store 'abc' in an INTEGER column that is not the rowid.
    values = {
        "position": 99,
        "execution_id": 1,
        "version": 99,
        "event_id": "e",
        "type": "t",
        "data": b"{}",
        "occurred_at": 0,
        "recorded_at": 0,
        "hash": b"",
    }
    values[column] = "abc"
    with closing(sqlite3.connect(store.path)) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            f"INSERT INTO events({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
            tuple(values.values()),
        )


async def test_normal_durability_keeps_wal(tmp_path: Path) -> None:
    async with EventStore(tmp_path / "x.db", durability="normal") as store:
        assert store.durability == "normal"
        await queued(store)
        assert query(store.path, "PRAGMA journal_mode") == [("wal",)]
        assert store.head == 1


async def test_a_file_of_schema_2_keeps_its_credentials_and_gains_revocation(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v2.db"
    with closing(sqlite3.connect(path)) as conn:
        for script in MIGRATIONS[:2]:
            conn.executescript(script)
        conn.execute(
            "INSERT INTO api_tokens(digest, scopes, team_id, label, created_at)"
            " VALUES (?, 'admin', NULL, 'old', 1)",
            (credentials.digest("es_old_token"),),
        )
        conn.execute("PRAGMA user_version=2")
        conn.commit()
    async with EventStore(path) as store:
        assert user_version(path) == SCHEMA_VERSION == 3
        found = await store.find_token("es_old_token")
        assert found is not None and found.scopes == frozenset({"admin"})
        (listed,) = await store.list_tokens()
        assert (listed.label, listed.last_used_at) == ("old", None)
        assert store.credentials_revision() == 0
        assert await store.revoke_token(listed.id)
        assert store.credentials_revision() == 1
        assert await store.find_token("es_old_token") is None
