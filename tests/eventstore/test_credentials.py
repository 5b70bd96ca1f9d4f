"""Credentials beside the log: digests only, found by secret, written by the one writer."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from eventstore import EventStore, ExecutionStarted
from eventstore.credentials import digest, insert_token, record_in_file

from .helpers import query, queued

SECRET = "es_3f9a8c1d2b7e4f60a9c8d7e6f5a4b3c2"


async def test_a_token_is_found_by_its_secret_with_its_scopes(store: EventStore) -> None:
    assert not await store.has_tokens()
    await store.add_token(SECRET, frozenset({"executions:read", "admin"}), "team-a", "ci")
    found = await store.find_token(SECRET)
    assert found is not None
    assert found.scopes == {"executions:read", "admin"}
    assert (found.team_id, found.label) == ("team-a", "ci")
    assert await store.has_tokens()
    assert await store.find_token(SECRET + "x") is None
    assert await store.find_token(SECRET[:-1]) is None


async def test_only_the_digest_reaches_the_file(store: EventStore) -> None:
    await store.add_token(SECRET, frozenset({"admin"}))
    await store.add_webhook("hook-" + SECRET, "wf-1", None)
    await store.close()
    raw = store.path.read_bytes()  # closing checkpointed the WAL into the file
    assert SECRET.encode() not in raw
    assert query(store.path, "SELECT digest FROM api_tokens") == [(digest(SECRET),)]


async def test_a_webhook_names_its_workflow_and_team(store: EventStore) -> None:
    await store.add_webhook(SECRET, "wf-orders", "team-b")
    found = await store.find_webhook(SECRET)
    assert found is not None
    assert (found.workflow_id, found.team_id) == ("wf-orders", "team-b")
    assert await store.find_webhook("other") is None


async def test_a_failing_credentials_write_fails_alone(store: EventStore) -> None:
    execution_id = await queued(store)
    await store.add_token(SECRET, frozenset({"admin"}))
    # The same digest twice breaks the primary key; the append batched with it stands.
    results = await asyncio.gather(
        store.add_token(SECRET, frozenset({"admin"})),
        store.append(execution_id, [ExecutionStarted()]),
        return_exceptions=True,
    )
    assert isinstance(results[0], sqlite3.IntegrityError)
    assert not isinstance(results[1], BaseException)
    assert [e.type for e in await store.read_execution(execution_id)][-1] == "execution.started"


async def test_the_cli_path_writes_to_a_file_a_server_has_open(
    store: EventStore, tmp_path: Path
) -> None:
    await asyncio.to_thread(
        record_in_file, store.path, insert_token(SECRET, frozenset({"executions:read"}), None, None)
    )
    found = await store.find_token(SECRET)
    assert found is not None
    assert found.scopes == {"executions:read"}
    with pytest.raises(FileNotFoundError):
        record_in_file(tmp_path / "missing.db", insert_token("x", frozenset(), None, None))
