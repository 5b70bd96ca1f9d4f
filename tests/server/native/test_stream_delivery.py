"""What streaming subscribers are promised: every event once, in order, across
a reconnect; and a subscriber that stops reading never slows the writers and
holds bounded memory."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, ClientTimeout
from aiohttp.test_utils import TestServer

from eventstore import (
    EventData,
    EventStore,
    ExecutionCompleted,
    ExecutionQueued,
    ExecutionStarted,
    NodeCompleted,
    NodeStarted,
    json_value,
)
from server.app import create_app
from server.http.keys import STORE, STREAMS
from server.http.settings import Settings

from ..sse_client import messages

ROOT = "root-token"
HEADERS = {"Authorization": f"Bearer {ROOT}"}
WRITERS = 10
CLIENTS = 5
RUNS_PER_WRITER = 12
EVENTS_PER_RUN = 5  # queued, started, a node's start and completion, completed


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[TestServer]:
    settings = Settings(env_token=ROOT, heartbeat=0.5, write_timeout=1.0, stream_buffer=64)
    running = TestServer(create_app(tmp_path / "e.db", settings), host="127.0.0.1")
    await running.start_server()
    try:
        yield running
    finally:
        await running.close()


async def _write(store: EventStore, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(RUNS_PER_WRITER):
        created = await store.create_execution(ExecutionQueued(workflow_id=f"wf-{seed}"))
        target = created.execution_id
        batches: list[list[EventData]] = [
            [ExecutionStarted()],
            [NodeStarted(node_id="a"), NodeCompleted(node_id="a", tokens=rng.randrange(99))],
            [ExecutionCompleted()],
        ]
        for batch in batches:
            await store.append(target, batch)
            await asyncio.sleep(rng.random() / 500)


async def _read(
    session: ClientSession, url: str, start: int, until: int, *, drop_after: int | None = None
) -> list[int]:
    """Positions received from ``start`` until ``until``; with ``drop_after``,
    the connection is dropped after that many events and resumed with Last-Event-ID."""
    received: list[int] = []
    headers = dict(HEADERS)
    while not received or received[-1] < until:
        async with session.get(f"{url}/v1/stream?from={start}", headers=headers) as response:
            assert response.status == 200
            async for message in messages(response):
                if message.comment is not None:
                    continue
                assert message.id is not None
                received.append(message.id)
                if received[-1] >= until:
                    break
                if drop_after is not None and len(received) == drop_after:
                    drop_after = None
                    break  # the connection closes here, mid-stream
        headers = {**HEADERS, "Last-Event-ID": str(received[-1])} if received else headers
    return received


async def test_five_clients_get_every_event_once_in_order_across_a_reconnect(
    server: TestServer,
) -> None:
    store: EventStore = server.app[STORE]
    await _write(store, 999)  # some history before the clients start
    starts = [0, 5, 20, store.head, store.head]
    total = store.head + WRITERS * RUNS_PER_WRITER * EVENTS_PER_RUN
    url = str(server.make_url("")).rstrip("/")
    async with ClientSession(timeout=ClientTimeout(total=60)) as session:
        readers = [
            asyncio.create_task(
                _read(session, url, start, total, drop_after=150 if n == 1 else None)
            )
            for n, start in enumerate(starts)
        ]
        await asyncio.gather(*(_write(store, seed) for seed in range(WRITERS)))
        assert store.head == total
        results = await asyncio.wait_for(asyncio.gather(*readers), 60)
    for start, received in zip(starts, results, strict=True):
        assert received == list(range(start + 1, total + 1))


# Big outputs fill the stalled reader's socket buffers (megabytes on loopback) quickly.
BIG = json_value({"text": "x" * 8192})


async def _append_rate(store: EventStore, seconds: float) -> float:
    appended = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        run: list[EventData] = [
            ExecutionStarted(),
            NodeStarted(node_id="a"),
            NodeCompleted(node_id="a", output=BIG),
            ExecutionCompleted(),
        ]
        created = await store.create_execution(ExecutionQueued(workflow_id="wf"), run)
        appended += created.version
    return appended / (time.perf_counter() - started)


async def test_a_reader_that_stops_reading_slows_no_writer_and_is_let_go(
    server: TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    store: EventStore = server.app[STORE]
    alone = await _append_rate(store, 1.0)
    url = server.make_url(f"/v1/stream?from={store.head}")
    async with ClientSession() as session:
        # Read the headers, then nothing more: its socket and buffers fill up.
        stalled = await session.get(url, headers=HEADERS, read_bufsize=2**10)
        assert stalled.status == 200
        [subscription] = server.app[STREAMS]
        beside = await _append_rate(store, 1.0)
        peak = subscription.buffered
        # It is let go once a write waits longer than write_timeout (1 s).
        deadline = time.monotonic() + 10
        while server.app[STREAMS] and time.monotonic() < deadline:
            await _append_rate(store, 0.05)
            peak = max(peak, subscription.buffered)
        gone = not server.app[STREAMS]
        stalled.close()
    with capsys.disabled():
        print(
            f"\nappends/s alone {alone:,.0f}, beside a stalled reader {beside:,.0f}"
            f" (ratio {beside / alone:.2f}); its buffer peaked at {peak} of 64 events,"
            f" overflows {subscription.overflows}"
        )
    assert gone, "a reader that stopped reading was never let go"
    assert peak <= 64  # memory for it is bounded by its buffer, whatever the log's size
    # It overflowed while stuck, and dropped its buffer rather than grow it.
    assert subscription.overflows >= 1
