"""Case (a) of ``benchmarks.append`` spread over several processes on one file.

The same producers as (a), dealt out to ``processes`` spawned processes,
each with an ``EventStore`` of its own on the same file. Every process opens
its store first; the clock starts when all are open and are told to go, and
stops when the last one has its last acknowledgement. ``perf_counter`` is
the system's monotonic clock, so the processes' readings compare.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from time import perf_counter

from eventstore import EventStore

from .workload import Execution, check, count_events

_SPAWN = multiprocessing.get_context("spawn")
_TIMEOUT = 300.0  # seconds any step may take before the run is called failed


def execstore_processes(path: Path, groups: Sequence[Sequence[Execution]], processes: int) -> float:
    """Seconds for ``processes`` processes to record every group (one producer each)."""
    shares = [list(groups[p::processes]) for p in range(processes)]
    pipes = [_SPAWN.Pipe() for _ in shares]
    children = [
        _SPAWN.Process(target=_produce_in_child, args=(str(path), share, theirs))
        for share, (_, theirs) in zip(shares, pipes, strict=True)
    ]
    for child in children:
        child.start()
    try:
        for ours, _ in pipes:
            _expect(ours, "open")
        start = perf_counter()
        for ours, _ in pipes:
            ours.send("go")
        ends = [_expect(ours, "done") for ours, _ in pipes]
    finally:
        for child in children:
            child.join(_TIMEOUT)
            if child.is_alive():
                child.kill()
                child.join()
        for ours, theirs in pipes:
            ours.close()
            theirs.close()
    elapsed = max(ends) - start
    asyncio.run(_check(path, sum(map(count_events, groups))))
    return elapsed


def _expect(pipe: Connection, what: str) -> float:
    if not pipe.poll(_TIMEOUT):
        raise RuntimeError(f"a producing process did not say {what!r} in {_TIMEOUT:.0f} s")
    said, when = pipe.recv()
    if said != what:
        raise RuntimeError(f"a producing process failed: {said}")
    return float(when)


def _produce_in_child(path: str, groups: list[list[Execution]], pipe: Connection) -> None:
    try:
        asyncio.run(_produce(path, groups, pipe))
    except Exception as failed:  # told to the parent, which stops the run
        pipe.send((repr(failed), 0.0))


async def _produce(path: str, groups: list[list[Execution]], pipe: Connection) -> None:
    async with EventStore(path) as store:
        pipe.send(("open", perf_counter()))
        await asyncio.to_thread(pipe.recv)

        async def produce(group: Sequence[Execution]) -> None:
            for execution in group:
                await store.create_execution(execution.queued, execution.rest)

        await asyncio.gather(*(produce(group) for group in groups))
        pipe.send(("done", perf_counter()))


async def _check(path: Path, expected: int) -> None:
    async with EventStore(path) as store:
        check(store.head, expected)
