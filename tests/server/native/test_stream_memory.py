"""Memory bounded in bytes: large events through /v1/stream leave no more
behind than the frame cache's byte bound once their subscriber has gone."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from eventstore import ExecutionQueued, ExecutionStarted, NodeStarted, json_value
from eventstore.limits import MiB
from server.app import create_app
from server.http.keys import FRAMES, STORE
from server.http.settings import Settings

ROOT = "root-token"
EVENTS = 30
PAYLOAD = 1_500_000  # bytes of each event's input: 45 MB in all
FRAME_CACHE = 4 * MiB
# What may stay besides the cache: allocator slack, interned objects, the
# client's and the test's own bookkeeping. The cache bound plus this is the
# stated margin; the cache alone once kept every frame (45 MB here).
SLACK = 6 * MiB


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
        store = app[STORE]
        # Three executions, as one may hold at most 32 MiB of payloads.
        targets = [
            (
                await store.create_execution(ExecutionQueued(workflow_id="w"), [ExecutionStarted()])
            ).execution_id
            for _ in range(3)
        ]
        big = json_value("x" * PAYLOAD)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            path = f"/v1/stream?type=node.started&access_token={ROOT}"
            async with client.get(path) as response:
                assert response.status == 200
                for index in range(EVENTS):
                    node = NodeStarted(node_id=f"n{index}", input=big)
                    await store.append(targets[index % 3], [node])
                received = 0
                async for chunk in response.content.iter_any():
                    received += chunk.count(b"\nid: ")
                    if received == EVENTS:
                        break
            await asyncio.sleep(0.1)  # the stream's handler ends and lets go
            del big
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert app[FRAMES].bytes <= FRAME_CACHE
        assert grown < FRAME_CACHE + SLACK, f"{grown / MiB:.1f} MiB stayed"
