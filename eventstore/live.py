"""Live across processes: what other processes commit reaches this
process's subscriptions.

SQLite has no notification between processes, so while anyone here listens
the watcher looks at ``PRAGMA data_version`` every ``POLL_SECONDS`` on the
store's point connection (not the writer's): a read of shared memory that changes when any other
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
import sqlite3
from typing import Final

from . import outside, reads
from .subscriptions import CATCH_UP_BATCH, CATCH_UP_BYTES, Hub, ReadAfter, SubscriptionFilter

# 100 looks a second while listening: delivery within about 10 ms of another
# process's commit, for under 0.8% of a core when nothing happens (measured
# 0.76%; the loop's wake-up is most of it).
POLL_SECONDS: Final = 0.01
_ANY: Final = SubscriptionFilter()


async def watch(hub: Hub, point: sqlite3.Connection, read_after: ReadAfter) -> None:
    """Publish to ``hub`` what others commit, until cancelled."""
    seen = outside.data_version(point)
    loop = asyncio.get_running_loop()
    while True:
        if not hub.listening():
            await hub.listened.wait()
        if not hub.behind:
            await _nap(hub, loop)
        version = outside.data_version(point)
        if version == seen and not hub.behind:
            continue
        seen = version
        hub.behind = False
        await _publish_up_to(hub, reads.head_sync(point), read_after)


async def _nap(hub: Hub, loop: asyncio.AbstractEventLoop) -> None:
    """``POLL_SECONDS``, or less if the hub finds itself behind. A bare future
    and timer: this runs a hundred times a second in every listening process."""
    nap: asyncio.Future[None] = loop.create_future()
    timer = loop.call_later(POLL_SECONDS, _wake, nap)
    hub.waker = nap
    try:
        await nap
    finally:
        timer.cancel()
        hub.waker = None


def _wake(nap: asyncio.Future[None]) -> None:
    if not nap.done():
        nap.set_result(None)


async def _publish_up_to(hub: Hub, head: int, read_after: ReadAfter) -> None:
    while hub.listening() and hub.published < head:
        batch = await read_after(hub.published, _ANY, CATCH_UP_BATCH, CATCH_UP_BYTES)
        if not batch:
            return
        hub.publish(batch)
