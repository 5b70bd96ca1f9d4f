"""A child process of the two-process crash test: writes valid events until
told to stop (SIGTERM), or until the parent kills it with SIGKILL.

    python -m tests.eventstore.multi_writer DBPATH SEED TAG SHARED_ID HOOK

Several tasks write concurrently through one ``EventStore`` on ``DBPATH``,
which another process of the same kind writes at the same time. Every write
is valid whatever the other process does: each task runs whole executions of
its own (create, ``execution.started``, node pairs with ids unique to it,
``execution.completed``), and one task appends node pairs to ``SHARED_ID``,
an execution the parent left running, which both processes write.

One JSON line goes to stdout, flushed, for each acknowledged write (right
after its await returned), for any exception a write raised (a failure: no
write here is invalid), and ``done`` once the store closed after SIGTERM.
``HOOK`` is 1 to open the store with the summary view's commit hook.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
import time
import traceback
from collections.abc import Sequence

from eventstore import (
    EventData,
    EventStore,
    ExecutionCompleted,
    ExecutionQueued,
    ExecutionStarted,
    NewEvent,
    NodeCompleted,
    NodeStarted,
    json_value,
)
from projections.summary import SummaryHook

TASKS = 4
# A safety net only: the parent stops or kills the child long before this.
MAX_SECONDS = 60.0


def _report(line: dict[str, object]) -> None:
    # One write per line, so a kill leaves at most one partial line at the end.
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def _payload(rng: random.Random) -> str:
    # Mostly small rows; some spill into overflow pages, and a rare large one
    # can push a group commit past OFF_LOOP_BYTES onto the commit thread.
    size = rng.choices((16, 300, 3_000, 30_000, 400_000), (30, 30, 20, 15, 5))[0]
    return "x" * size


class _Producer:
    def __init__(self, store: EventStore, seed: int, tag: str, index: int) -> None:
        self._store = store
        self._rng = random.Random(seed * 1_000 + index)
        self._prefix = f"{tag}-{index}"
        self._count = 0

    def _next_id(self) -> str:
        self._count += 1
        return f"{self._prefix}-{self._count}"

    async def _append(self, execution_id: int, events: Sequence[EventData]) -> None:
        ids = [self._next_id() for _ in events]
        batch = [NewEvent(data=d, event_id=i) for d, i in zip(events, ids, strict=True)]
        result = await self._store.append(execution_id, batch)
        _report(
            {
                "ack": "append",
                "execution_id": execution_id,
                "version": result.version,
                "positions": list(result.positions),
                "event_ids": ids,
            }
        )

    async def _node(self, execution_id: int, output: str) -> None:
        """A node of an id no one else uses: valid on any running execution."""
        node = self._next_id()
        started = NodeStarted(node_id=node)
        completed = NodeCompleted(node_id=node, output=json_value(output))
        if self._rng.random() < 0.5:
            await self._append(execution_id, [started, completed])
        else:
            await self._append(execution_id, [started])
            await self._append(execution_id, [completed])

    async def one_execution(self, stop: asyncio.Event) -> None:
        rng = self._rng
        queued = ExecutionQueued(
            workflow_id=f"wf-{rng.randrange(3)}", input=json_value(_payload(rng))
        )
        created = await self._store.create_execution(queued)
        _report(
            {
                "ack": "create",
                "execution_id": created.execution_id,
                "version": created.version,
                "positions": [created.position],
                "uuid": created.uuid,
            }
        )
        execution_id = created.execution_id
        await self._append(execution_id, [ExecutionStarted(worker=self._prefix)])
        for _ in range(rng.randint(1, 4)):
            if stop.is_set():
                return  # left running: valid too
            await self._node(execution_id, _payload(rng))
        await self._append(execution_id, [ExecutionCompleted(output=json_value("done"))])

    async def shared_nodes(self, execution_id: int, stop: asyncio.Event) -> None:
        # Small outputs: the execution both write must stay within its limits
        # (32 MiB) however long a round runs, or a write would rightly fail.
        while not stop.is_set():
            await self._node(execution_id, "ok")


async def _run(path: str, seed: int, tag: str, shared: int, hook: bool) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    asyncio.get_running_loop().call_later(MAX_SECONDS, stop.set)

    async def keep_going(producer: _Producer, index: int) -> None:
        while not stop.is_set():
            try:
                if index == 0:
                    await producer.shared_nodes(shared, stop)
                else:
                    await producer.one_execution(stop)
            except Exception as exc:  # every write here is valid: any error is a failure
                _report({"error": repr(exc), "traceback": traceback.format_exc()})
                await asyncio.sleep(0.01)

    async with (
        EventStore(path, hook=SummaryHook() if hook else None) as store,
        asyncio.TaskGroup() as group,
    ):
        for index in range(TASKS + 1):
            group.create_task(keep_going(_Producer(store, seed, tag, index), index))
    _report({"done": True, "at": time.monotonic()})


def main(argv: Sequence[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    path, seed, tag, shared, hook = args
    asyncio.run(_run(path, int(seed), tag, int(shared), hook == "1"))


if __name__ == "__main__":
    main()
