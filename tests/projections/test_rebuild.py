"""Rebuild: dropping the view tables and replaying the log gives the rows the
incremental path keeps, and both are the rows a fold of each execution gives
(DESIGN.md, invariant 3)."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstore import EventStore, ExecutionCompleted, ExecutionQueued, ExecutionStarted
from eventstore.lifecycle import Lifecycle
from eventstore.schema import SCHEMA_VERSION, SchemaTooNew
from projections.rebuild import RebuildStats, rebuild
from projections.summary import TABLE, SummaryHook
from server.cli.main import main

from .store_histories import (
    ROW_NAMES,
    FlakyHook,
    expected_rows,
    log_events,
    view_rows,
    write_file,
    write_history,
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rng=st.randoms(use_true_random=False))
def test_incremental_rebuilt_and_folded_rows_agree(rng: random.Random) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(check_three_ways(Path(tmp), rng))


async def check_three_ways(tmp: Path, rng: random.Random) -> None:
    path, copy = tmp / "events.db", tmp / "copy.db"
    # Tiny caches make the hook fold executions again from the file, mid-batch.
    hook = FlakyHook(SummaryHook(cache_size=rng.choice([1, 2, 5, 20_000])))
    async with EventStore(path, hook=hook, durability="normal") as store:
        history = await write_history(store, hook, rng)
    incremental = view_rows(path)
    copy_file(path, copy)
    stats = rebuild(copy, batch_size=rng.choice([1, 3, 50, 5000]))

    events = log_events(path)
    folded = expected_rows(events)
    assert incremental == folded
    assert view_rows(copy) == folded
    assert (stats.events, stats.executions) == (len(events), len(folded))
    # Checked against the lifecycle model too, not only against the fold.
    assert {x: from_row(row) for x, row in incremental.items()} == {
        x: from_model(state) for x, state in history.states.items()
    }
    deleted_at = ROW_NAMES.index("deleted_at")
    assert {x for x, row in incremental.items() if row[deleted_at] is not None} == {
        x for x, state in history.states.items() if state.deleted
    }


MODELLED = ("status", "version", "workflow_id", "team_id", "nodes_total", "nodes_running")


def from_row(row: tuple[object, ...]) -> tuple[object, ...]:
    return tuple(row[ROW_NAMES.index(name)] for name in MODELLED)


def from_model(state: Lifecycle) -> tuple[object, ...]:
    running = sum(1 for _, ended in state.nodes.values() if not ended)
    nodes = (len(state.nodes), running)
    return (state.status, state.version, state.workflow_id, state.team_id, *nodes)


def copy_file(source: Path, target: Path) -> None:
    """A consistent copy, whatever is still in the write-ahead log."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def execute(path: Path, *statements: str) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for statement in statements:
            conn.execute(statement)


async def test_rebuild_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    await write_file(path, 7)
    incremental = view_rows(path)
    assert len(incremental) >= 2
    first = rebuild(path)
    assert view_rows(path) == incremental
    second = rebuild(path, batch_size=2)
    assert view_rows(path) == incremental
    assert (first.events, first.executions) == (second.events, second.executions)
    assert first.events == len(log_events(path))


async def test_rebuild_restores_a_tampered_view(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    await write_file(path, 11)
    incremental = view_rows(path)
    first, middle, *_, last = sorted(incremental)
    execute(
        path,
        f"DELETE FROM {TABLE} WHERE id = {first}",
        f"UPDATE {TABLE} SET id = 9999 WHERE id = {middle}",  # a row of no execution
        f"UPDATE {TABLE} SET status = 'completed', tokens = 999, retry_success_id = {last}"
        f" WHERE id = {last}",
    )
    assert view_rows(path) != incremental
    rebuild(path)
    assert view_rows(path) == incremental == expected_rows(log_events(path))


@pytest.mark.parametrize(
    "vandalism",
    [
        f"DROP TABLE {TABLE}",  # its version row stays behind
        "DROP TABLE projection_versions",
        f"CREATE INDEX {TABLE}_stray ON {TABLE}(tokens)",
    ],
)
async def test_rebuild_restores_dropped_view_tables(tmp_path: Path, vandalism: str) -> None:
    path = tmp_path / "events.db"
    await write_file(path, 5)
    incremental = view_rows(path)
    execute(path, vandalism)
    rebuild(path)
    assert view_rows(path) == incremental
    async with EventStore(path, hook=SummaryHook()) as store:
        await store.create_execution(ExecutionQueued(workflow_id="after"))
    assert view_rows(path) == expected_rows(log_events(path))


async def test_rebuild_fills_the_view_of_a_log_written_without_one(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    async with EventStore(path) as store:
        created = await store.create_execution(ExecutionQueued(workflow_id="wf"))
        await store.append(created.execution_id, [ExecutionStarted()])
        retry = ExecutionQueued(workflow_id="wf", retry_of=created.execution_id)
        await store.create_execution(retry, [ExecutionStarted(), ExecutionCompleted()])
    stats = rebuild(path)
    assert (stats.events, stats.executions) == (5, 2) and stats.seconds >= 0
    rows = view_rows(path)
    assert rows == expected_rows(log_events(path))
    assert rows[1][ROW_NAMES.index("retry_success_id")] == 2


async def test_rebuild_of_an_empty_log(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    async with EventStore(path):
        pass
    stats = rebuild(path, progress=True)
    assert (stats.events, stats.executions) == (0, 0)
    assert isinstance(stats, RebuildStats)
    assert view_rows(path) == {}


async def test_a_file_from_a_newer_release_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    await write_file(path, 3)
    incremental = view_rows(path)
    execute(path, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNew):
        rebuild(path)
    with pytest.raises(SchemaTooNew):
        await EventStore(path).open()  # the store refuses it the same way
    assert view_rows(path) == incremental


async def test_view_tables_from_a_newer_release_are_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    await write_file(path, 3)
    incremental = view_rows(path)
    execute(path, "UPDATE projection_versions SET version = version + 1")
    with pytest.raises(RuntimeError, match="newer"):
        rebuild(path)
    with pytest.raises(RuntimeError, match="newer"):
        await EventStore(path, hook=SummaryHook()).open()
    assert view_rows(path) == incremental


def test_a_missing_file_is_not_created(tmp_path: Path) -> None:
    for path in (tmp_path / "none.db", tmp_path / "no-dir" / "none.db"):
        with pytest.raises(FileNotFoundError):
            rebuild(path)
        assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_batch_size_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        rebuild(tmp_path / "none.db", batch_size=0)


async def test_progress_goes_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.db"
    await write_file(path, 7)
    total = len(log_events(path))
    rebuild(path, batch_size=3)
    assert capsys.readouterr() == ("", "")
    rebuild(path, batch_size=3, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("\rrebuild [") and err.endswith("\n")
    assert err.count("\n") == 1
    last = err.rstrip("\n").rsplit("\r", 1)[1]
    assert f" {total:,}/{total:,} events 100% " in last and "#" * 30 in last


async def test_cli_rebuild(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.db"
    await write_file(path, 13)
    incremental = view_rows(path)
    execute(path, f"DELETE FROM {TABLE}")
    assert main(["rebuild", "--db", str(path), "--batch-size", "4"]) == 0
    assert view_rows(path) == incremental
    out, err = capsys.readouterr()
    events = len(log_events(path))
    assert out.startswith(f"rebuilt {events} events of {len(incremental)} executions in ")
    assert out.endswith(" events/s)\n")
    assert f"{events:,}/{events:,} events" in err


def test_cli_rebuild_of_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "none.db"
    assert main(["rebuild", "--db", str(path)]) == 2
    assert not path.exists()
    out, err = capsys.readouterr()
    assert out == "" and "execstore rebuild: no event log at" in err


async def test_cli_rebuild_of_a_newer_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.db"
    async with EventStore(path):
        pass
    execute(path, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    assert main(["rebuild", "--db", str(path)]) == 1
    assert "newer than this release" in capsys.readouterr().err
