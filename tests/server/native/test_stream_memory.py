"""Memory bounded in bytes: large events through /v1/stream leave no more
behind than the frame cache's byte bound once their subscriber has gone."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from eventstore import EventStore, ExecutionQueued, ExecutionStarted, NodeStarted, json_value
from eventstore.limits import MiB
from eventstore.subscriptions import CATCH_UP_BYTES
from server.app import create_app
from server.http.keys import FRAMES, STORE, STREAMS
from server.http.settings import Settings

ROOT = "root-token"
EVENTS = 30
PAYLOAD = 1_500_000  # bytes of each event's input: 45 MB in all
FRAME_CACHE = 4 * MiB
# What may stay: the frame cache, up to its bound; the last read from the
# file, which aiosqlite's thread holds until its next read (a catch-up read
# is bounded in bytes too); and allocator slack, interned objects and the
# client's bookkeeping. The cache alone once kept every frame (45 MB here).
MARGIN = FRAME_CACHE + CATCH_UP_BYTES + 6 * MiB


async def _through_a_subscriber(client: TestClient[Any, Any], store: EventStore) -> None:
    """30 large events, each read by a /v1/stream subscriber, which then leaves.
    A function of its own, so nothing of them stays on the test's side."""
    # Three executions, as one may hold at most 32 MiB of payloads.
    targets = [
        (
            await store.create_execution(ExecutionQueued(workflow_id="w"), [ExecutionStarted()])
        ).execution_id
        for _ in range(3)
    ]
    big = json_value("x" * PAYLOAD)
    async with client.get(f"/v1/stream?type=node.started&access_token={ROOT}") as response:
        assert response.status == 200
        for index in range(EVENTS):
            await store.append(targets[index % 3], [NodeStarted(node_id=f"n{index}", input=big)])
        received = 0
        async for chunk in response.content.iter_any():
            received += chunk.count(b"\nid: ")
            if received == EVENTS:
                break


async def test_memory_returns_after_large_events_and_their_subscriber_are_gone(
    tmp_path: Path,
) -> None:
    settings = Settings(
        env_token=ROOT,
        max_body=4 * MiB,
        frame_cache_bytes=FRAME_CACHE,
        stream_buffer_bytes=4 * MiB,
    )
    app = create_app(tmp_path / "e.db", settings)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            await _through_a_subscriber(client, app[STORE])
            # The subscriber has gone once its stream's handler has ended and
            # the connection closed: memory falls back as they let go.
            grown = 0
            for _ in range(60):
                await asyncio.sleep(0.05)
                gc.collect()
                grown = tracemalloc.get_traced_memory()[0] - before
                if not app[STREAMS] and grown < MARGIN:
                    break
        finally:
            tracemalloc.stop()
        assert app[FRAMES].bytes <= FRAME_CACHE
        assert grown < MARGIN, f"{grown / MiB:.1f} MiB stayed"
