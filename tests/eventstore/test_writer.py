"""The writer's two paths: a batch of few payload bytes is written on the
event loop's thread, a heavy one on the commit thread, start to COMMIT; both
leave the same log, and a refused heavy batch leaves nothing."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from eventstore import (
    EventStore,
    ExecutionQueued,
    ExecutionStarted,
    NodeCompleted,
    NodeStarted,
    RuleViolation,
    json_value,
    writer,
)
from eventstore.writer import Writer


def spy_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    threads: list[str] = []
    real = Writer._write

    def spied(self: Writer, *args: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(self, *args)

    monkeypatch.setattr(Writer, "_write", spied)
    return threads


async def test_a_heavy_batch_is_written_off_the_loop_and_reads_back_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = spy_threads(monkeypatch)
    monkeypatch.setattr(writer, "OFF_LOOP_BYTES", 1000)
    async with EventStore(tmp_path / "x.db") as store:
        light = await store.create_execution(ExecutionQueued(workflow_id="w"), [ExecutionStarted()])
        big = json_value("x" * 2000)
        heavy = await store.create_execution(ExecutionQueued(workflow_id="w", input=big))
        await store.append(heavy.execution_id, [ExecutionStarted(), NodeStarted(node_id="n")])
        both = [
            store.append(light.execution_id, [NodeStarted(node_id="a")]),
            store.append(heavy.execution_id, [NodeCompleted(node_id="n", output=big)]),
        ]
        await asyncio.gather(*both)  # one batch, heavy as a whole
        report = await store.verify()
        events = await store.read_execution(heavy.execution_id)
    assert report.ok
    assert [e.type for e in events] == [
        "execution.queued",
        "execution.started",
        "node.started",
        "node.completed",
    ]
    assert bytes(big) in bytes(events[-1].data)
    loop = threading.main_thread().name
    assert threads[:3] == [loop, "execstore-commit_0", loop]
    assert threads[-1] == "execstore-commit_0"


async def test_a_refused_heavy_batch_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = spy_threads(monkeypatch)
    monkeypatch.setattr(writer, "OFF_LOOP_BYTES", 1000)
    async with EventStore(tmp_path / "x.db") as store:
        created = await store.create_execution(
            ExecutionQueued(workflow_id="w"), [ExecutionStarted()]
        )
        head = store.head
        big = json_value("x" * 2000)
        with pytest.raises(RuleViolation):  # the node never started
            await store.append(created.execution_id, [NodeCompleted(node_id="n", output=big)])
        assert store.head == head
        assert len(await store.read_execution(created.execution_id)) == 2
        await store.append(created.execution_id, [NodeStarted(node_id="n", input=big)])
        assert (await store.verify()).ok
    assert "execstore-commit_0" in threads
