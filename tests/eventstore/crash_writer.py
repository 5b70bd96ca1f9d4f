"""The child process of the crash-safety test: appends under load until killed.

    python -m tests.eventstore.crash_writer DBPATH SEED

Several tasks run whole execution histories concurrently, so the writer
batches their appends into group commits. After each create or append has
been acknowledged (its await returned) one JSON line goes to stdout and is
flushed: every complete line the parent reads names an event the store
promised to keep. The parent kills this process with SIGKILL at a random
moment; nothing here is meant to end cleanly.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
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

WRITERS = 8
# A safety net only: the parent kills the child long before this.
MAX_SECONDS = 60.0


def _ack(
    execution_id: int, version: int, positions: Sequence[int], ids: Sequence[str] | None
) -> None:
    line: dict[str, object] = {
        "execution_id": execution_id,
        "version": version,
        "positions": list(positions),
        "event_ids": None if ids is None else list(ids),
    }
    # One write per line, so a kill leaves at most one partial line at the end.
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def _payload(rng: random.Random) -> str:
    # Mostly small rows, sometimes rows that spill into overflow pages, so a
    # kill can land in the middle of a multi-page transaction or a checkpoint.
    size = rng.choice((16, 200, 1_500, 20_000))
    return "x" * size


class _Producer:
    """One task's run of executions; event ids are unique across runs via the seed."""

    def __init__(self, store: EventStore, seed: int, index: int) -> None:
        self._store = store
        self._rng = random.Random(seed * 1_000 + index)
        self._prefix = f"{seed:x}-{index}"
        self._count = 0

    async def _append(self, execution_id: int, events: Sequence[EventData]) -> None:
        ids = []
        for _ in events:
            self._count += 1
            ids.append(f"{self._prefix}-{self._count}")
        batch = [NewEvent(data=d, event_id=i) for d, i in zip(events, ids, strict=True)]
        result = await self._store.append(execution_id, batch)
        _ack(execution_id, result.version, result.positions, ids)

    async def one_execution(self) -> None:
        rng = self._rng
        created = await self._store.create_execution(
            ExecutionQueued(workflow_id=f"wf-{rng.randrange(5)}", input=json_value(_payload(rng)))
        )
        execution_id = created.execution_id
        _ack(execution_id, 1, [created.position], None)
        await self._append(execution_id, [ExecutionStarted(worker=self._prefix)])
        for node in range(rng.randint(1, 4)):
            started = NodeStarted(node_id=f"n{node}")
            completed = NodeCompleted(node_id=f"n{node}", output=json_value(_payload(rng)))
            if rng.random() < 0.5:
                await self._append(execution_id, [started, completed])
            else:
                await self._append(execution_id, [started])
                await self._append(execution_id, [completed])
        await self._append(execution_id, [ExecutionCompleted(output=json_value("done"))])


async def _run(path: str, seed: int) -> None:
    deadline = time.monotonic() + MAX_SECONDS
    async with EventStore(path) as store:

        async def produce(index: int) -> None:
            producer = _Producer(store, seed, index)
            while time.monotonic() < deadline:
                await producer.one_execution()

        async with asyncio.TaskGroup() as group:
            for index in range(WRITERS):
                group.create_task(produce(index))


def main(argv: Sequence[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    path, seed = args[0], int(args[1])
    asyncio.run(_run(path, seed))


if __name__ == "__main__":
    main()
