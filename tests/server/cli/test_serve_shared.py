"""`execstore serve` on a file that others write too: a second server, and
an engine's own embedded store (the README's example), each writing while
the server writes, lists and streams."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest

from eventstore import (
    EventStore,
    ExecutionQueued,
    ExecutionStarted,
    NewEvent,
    NodeCompleted,
    NodeStarted,
    SubscriptionFilter,
    json_value,
)

from ..processes import HOST, REPO, free_port, ready, stop

pytestmark = pytest.mark.slow

TOKEN: Final = "es_shared_file_test_token_0123456789"
AUTH: Final = {"Authorization": f"Bearer {TOKEN}"}


@contextmanager
def serve(db: Path, log: Path) -> Iterator[str]:
    """``execstore serve`` on ``db``: its base URL, stopped (by its PID) on leaving."""
    port = free_port()
    command = [sys.executable, "-m", "server.cli", "serve", "--host", HOST, "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--db", str(db)],
            cwd=REPO,
            env={**os.environ, "EXECSTORE_TOKEN": TOKEN},
            stdout=out,
            stderr=out,
        )
    base = f"http://{HOST}:{port}"
    try:
        assert ready(process, base), log.read_text(errors="replace")[-3000:]
        yield base
    finally:
        stop(process)


async def sse_ids(response: aiohttp.ClientResponse, count: int) -> AsyncIterator[tuple[int, str]]:
    """(id, event name) of the next ``count`` messages of an event stream."""
    name, seen = "", 0
    # Bounded as a whole (pings come every 15 s): a message that never comes
    # fails the test rather than hangs it.
    deadline = asyncio.get_running_loop().time() + 30
    while seen < count:
        left = deadline - asyncio.get_running_loop().time()
        line = (await asyncio.wait_for(response.content.readline(), left)).decode().rstrip("\n")
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("id: "):
            seen += 1
            yield int(line.removeprefix("id: ")), name


async def record(http: aiohttp.ClientSession, base: str, workflow: str) -> tuple[int, int]:
    """An execution with three events over HTTP: every answer must be a 201."""
    body = {"workflow_id": workflow, "events": [{"type": "execution.started", "data": {}}]}
    async with http.post(f"{base}/v1/executions", json=body, headers=AUTH) as created:
        assert created.status == 201, await created.text()
        execution_id = (await created.json())["id"]
    node = {"type": "node.started", "data": {"node_id": "n"}}
    path = f"{base}/v1/executions/{execution_id}/events"
    async with http.post(path, json={"events": [node]}, headers=AUTH) as appended:
        assert appended.status == 201, await appended.text()
    return execution_id, 3


async def test_a_stream_of_one_server_carries_what_another_server_writes(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    with ExitStack() as servers:
        a = servers.enter_context(serve(db, tmp_path / "a.log"))
        b = servers.enter_context(serve(db, tmp_path / "b.log"))
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{a}/v1/stream?from=0", headers=AUTH) as stream,
        ):
            assert stream.status == 200
            # Both servers take writes, in turns and at once.
            writes = [record(http, base, f"wf-{i}") for i in range(30) for base in (a, b)]
            written = await asyncio.gather(*writes)
            total = sum(events for _, events in written)
            got = [id async for id, _ in sse_ids(stream, total)]
    assert got == list(range(1, total + 1))  # each once, in order, from both
    assert "Traceback" not in (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()


async def _engine_runs(db: Path, heard: asyncio.Queue[str], go: asyncio.Event) -> int:
    """The README's embedded example, as an engine beside the server runs it."""
    async with EventStore(db) as store:
        created = await store.create_execution(
            ExecutionQueued(
                workflow_id="wf-engine",
                trigger="webhook",
                input=json_value({"q": "hi"}),
                external_id="engine-run-42",
            )
        )
        await store.append(
            created.execution_id,
            [
                ExecutionStarted(worker="w1"),
                NodeStarted(node_id="llm", node_type="llm"),
                NewEvent(data=NodeCompleted(node_id="llm", tokens=51), event_id="run-42-llm-done"),
            ],
            expected_version=1,
        )
        go.set()
        mine = SubscriptionFilter(execution_ids=frozenset({created.execution_id}))
        async with store.subscribe(from_position=0, filter=mine) as subscription:
            async for event in subscription:
                await heard.put(event.type)
                if event.type == "execution.cancel_requested":
                    break
    return created.execution_id


async def test_the_embedded_example_beside_a_server(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    with serve(db, tmp_path / "server.log") as base:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{base}/v1/stream?workflow_id=wf-engine", headers=AUTH) as live,
        ):
            assert live.status == 200
            heard: asyncio.Queue[str] = asyncio.Queue()
            go = asyncio.Event()
            engine = asyncio.create_task(_engine_runs(db, heard, go))
            await asyncio.wait_for(go.wait(), 30)
            streamed = [name async for _, name in sse_ids(live, 4)]
            assert streamed == [
                "execution.queued",
                "execution.started",
                "node.started",
                "node.completed",
            ]
            # The server keeps writing beside the engine, and lists its execution.
            await record(http, base, "wf-server")
            async with http.get(f"{base}/v1/executions", headers=AUTH) as listed:
                rows = (await listed.json())["items"]
            assert [r["workflow_id"] for r in rows] == ["wf-server", "wf-engine"]
            assert rows[1]["status"] == "running" and rows[1]["tokens"] == 51
            # A cancel over HTTP reaches the engine's own subscription.
            async with http.post(
                f"{base}/v1/executions/engine-run-42/cancel", json={}, headers=AUTH
            ) as cancel:
                assert cancel.status == 202, await cancel.text()
            execution_id = await asyncio.wait_for(engine, 30)
    types: list[Any] = []
    while not heard.empty():
        types.append(heard.get_nowait())
    assert types[-1] == "execution.cancel_requested"
    assert execution_id == rows[1]["id"]


def test_maintenance_beside_a_server(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    with serve(db, tmp_path / "server.log"):

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            command = [sys.executable, "-m", "server.cli", *args, "--db", str(db)]
            return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)

        rebuilt = cli("rebuild")
        assert rebuilt.returncode == 1
        assert "open in another process" in rebuilt.stderr
        verified = cli("verify")
        assert verified.returncode == 0 and verified.stdout.startswith("ok:"), verified
