"""Live across processes: what other processes commit reaches this
process's subscriptions.

SQLite has no notification between processes, so while anyone here listens
the watcher looks at ``PRAGMA data_version`` every ``POLL_SECONDS`` on a
connection of its own: a read of shared memory that changes when any other
connection commits (about a microsecond, no I/O). On a change it compares the
file's head with what the hub has published and reads the difference from
the file, in position order, in batches bounded in count and bytes. A process
whose subscribers all left stops looking until one comes back.

This process's own commits reach the hub straight from its writer, without
waiting for a look; the watcher sees them too, finds them published, and
reads nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from typing import Final

from . import outside, reads
from .subscriptions import CATCH_UP_BATCH, CATCH_UP_BYTES, Hub, ReadAfter, SubscriptionFilter

# 100 looks a second while listening: delivery within about 10 ms of another
# process's commit, for a few hundredths of a per cent of a core.
POLL_SECONDS: Final = 0.01
_ANY: Final = SubscriptionFilter()


async def watch(hub: Hub, point: sqlite3.Connection, read_after: ReadAfter) -> None:
    """Publish to ``hub`` what others commit, until cancelled."""
    seen = outside.data_version(point)
    while True:
        if not hub.listening():
            await hub.listened.wait()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(POLL_SECONDS):
                await hub.behind.wait()
        version = outside.data_version(point)
        if version == seen and not hub.behind.is_set():
            continue
        seen = version
        hub.behind.clear()
        await _publish_up_to(hub, reads.head_sync(point), read_after)


async def _publish_up_to(hub: Hub, head: int, read_after: ReadAfter) -> None:
    while hub.listening() and hub.published < head:
        batch = await read_after(hub.published, _ANY, CATCH_UP_BATCH, CATCH_UP_BYTES)
        if not batch:
            return
        hub.publish(batch)
