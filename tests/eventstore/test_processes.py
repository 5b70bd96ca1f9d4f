"""Several processes on one file: each writes at any time, a subscription in
one hears the others' commits, the write lock is waited for and bounded, and
a rebuild keeps away while the file is open."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from eventstore import (
    EventData,
    EventStore,
    ExecutionQueued,
    ExecutionStarted,
    NodeCompleted,
    NodeStarted,
    RecordedEvent,
    StoreBusy,
)
from eventstore.writelock import InUse, held
from projections import ListFilter, ViewReader
from projections.rebuild import rebuild
from projections.summary import SummaryHook

SPAWN = multiprocessing.get_context("spawn")
PAIRS = 40  # node start/complete pairs each writer process appends


def _write_from_another_process(path: str, workflow: str, ready: Connection) -> None:
    """Create one execution and append PAIRS node pairs, one append each."""

    async def write() -> None:
        async with EventStore(path) as store:
            ready.send("open")
            ready.recv()  # go
            created = await store.create_execution(
                ExecutionQueued(workflow_id=workflow), [ExecutionStarted()]
            )
            for index in range(PAIRS):
                node = f"{workflow}-{index}"
                pair: list[EventData] = [NodeStarted(node_id=node), NodeCompleted(node_id=node)]
                await store.append(created.execution_id, pair)

    asyncio.run(write())
    ready.send("done")


@contextmanager
def writers(path: Path, *workflows: str) -> Iterator[list[Connection]]:
    """Writer processes, open on ``path`` and waiting for "go"; joined after."""
    started = []
    try:
        for workflow in workflows:
            ours, theirs = SPAWN.Pipe()
            process = SPAWN.Process(
                target=_write_from_another_process, args=(path, workflow, theirs)
            )
            process.start()
            started.append((process, ours))
        for _, pipe in started:
            assert pipe.poll(30) and pipe.recv() == "open"
        yield [pipe for _, pipe in started]
    finally:
        for process, pipe in started:
            process.join(30)
            if process.is_alive():
                process.kill()
                process.join()
            pipe.close()
        for process, _ in started:
            assert process.exitcode == 0


def _done(pipes: list[Connection]) -> None:
    for pipe in pipes:
        assert pipe.poll(60) and pipe.recv() == "done"


async def test_stores_in_several_processes_all_write(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    async with EventStore(path) as store:
        before = await store.create_execution(ExecutionQueued(workflow_id="here"))
        with writers(path, "b", "c") as pipes:
            for pipe in pipes:
                pipe.send("go")
            # This process writes too, meanwhile: its head, ids and clock go stale.
            mine = [
                await store.create_execution(ExecutionQueued(workflow_id="here")) for _ in range(20)
            ]
            await asyncio.to_thread(_done, pipes)
        after = await store.append(before.execution_id, [ExecutionStarted()])
        log = await store.read_all(0, limit=10_000)
        report = await store.verify()
    assert report.ok, report
    assert [e.position for e in log] == list(range(1, len(log) + 1))
    assert len(log) == 1 + 20 + 2 * (1 + 1 + 2 * PAIRS) + 1
    assert len({e.execution_id for e in log}) == 1 + 20 + 2
    assert sorted(m.execution_id for m in mine) == sorted(set(m.execution_id for m in mine))
    assert after.version == 2 and after.positions == (len(log),)
    times = [e.recorded_at for e in log]
    assert times == sorted(times), "the recorded_at clock went back along the log"


async def test_a_subscription_hears_every_process_once_in_order(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    expected = 1 + 2 * (1 + 1 + 2 * PAIRS)
    async with EventStore(path) as store:
        await store.create_execution(ExecutionQueued(workflow_id="here"))
        heard: list[RecordedEvent] = []

        async def listen() -> None:
            async with store.subscribe(from_position=0) as subscription:
                async for event in subscription:
                    heard.append(event)
                    if len(heard) == expected:
                        return

        listening = asyncio.create_task(listen())
        with writers(path, "b", "c") as pipes:
            await asyncio.sleep(0.05)  # the subscription has read the file and follows live
            for pipe in pipes:
                pipe.send("go")
            await asyncio.wait_for(listening, 60)
            await asyncio.to_thread(_done, pipes)
        log = await store.read_all(0, limit=10_000)
    assert [e.position for e in heard] == list(range(1, expected + 1))
    assert heard == log
    assert {e.workflow_id for e in heard} == {"here", "b", "c"}


async def test_a_write_waits_for_the_lock_and_gives_up_past_its_bound(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    async with EventStore(path, lock_timeout=0.3) as store:
        with held(path):  # as another process's writer would hold it
            refused = store.create_execution(ExecutionQueued(workflow_id="w"))
            with pytest.raises(StoreBusy, match=r"0\.3 s"):
                await refused
            waiting = asyncio.create_task(store.create_execution(ExecutionQueued(workflow_id="w")))
            await asyncio.sleep(0.1)
            assert not waiting.done()
        created = await asyncio.wait_for(waiting, 5)
        assert created.execution_id == 1  # the refused one wrote nothing
        assert store.head == 1


async def test_views_fold_what_a_process_without_the_hook_wrote(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    async with EventStore(path, hook=SummaryHook()) as store, ViewReader(store) as views:
        await store.create_execution(ExecutionQueued(workflow_id="served"))
        with writers(path, "b") as pipes:  # an engine's store: no summary hook
            pipes[0].send("go")
            await asyncio.to_thread(_done, pipes)
        page = await views.list(ListFilter())
        count = await views.count(ListFilter())
        assert [row.workflow_id for row in page.rows] == ["b", "served"]
        assert count == 2
        assert page.rows[0].nodes_completed == PAIRS
        # And the next write through the hook finds the table caught up.
        await store.create_execution(ExecutionQueued(workflow_id="served"))
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT * FROM execution_summary ORDER BY id").fetchall()
    rebuild(path)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT * FROM execution_summary ORDER BY id").fetchall() == rows


async def test_a_rebuild_is_refused_while_a_store_has_the_file_open(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    async with EventStore(path, hook=SummaryHook()) as store:
        await store.create_execution(ExecutionQueued(workflow_id="w"))
        with pytest.raises(InUse, match="open in another process"):
            rebuild(path)
    assert rebuild(path).events == 1  # closed: it may


def _open_fresh_files(paths: list[str], barrier: Barrier, results: Connection) -> None:
    """Open each fresh file the moment the other process does too."""

    async def open_and_close(path: str) -> None:
        async with EventStore(path):
            pass

    for path in paths:
        barrier.wait(30)
        try:
            asyncio.run(open_and_close(path))
            results.send("ok")
        except Exception as failed:  # reported, so the parent can name it
            results.send(repr(failed))


def test_two_processes_open_a_new_file_at_once(tmp_path: Path) -> None:
    # Two processes switching a new file to WAL at once: SQLite refused one
    # without waiting ("database is locked") in about a third of the trials.
    paths = [str(tmp_path / f"{trial}.db") for trial in range(30)]
    barrier = SPAWN.Barrier(2)
    pipes = [SPAWN.Pipe() for _ in range(2)]
    openers = [
        SPAWN.Process(target=_open_fresh_files, args=(paths, barrier, theirs))
        for _, theirs in pipes
    ]
    for process in openers:
        process.start()
    try:
        outcomes = [ours.recv() if ours.poll(60) else "silent" for _ in paths for ours, _ in pipes]
    finally:
        for process in openers:
            process.join(30)
            if process.is_alive():
                process.kill()
                process.join()
        for ours, theirs in pipes:
            ours.close()
            theirs.close()
    assert set(outcomes) == {"ok"}, sorted(set(outcomes))
