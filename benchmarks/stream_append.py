"""The writer side of ``benchmarks.stream``: events appended at a fixed rate,
from a process of its own, over HTTP.

Each request is one ``POST /v1/executions`` that records a new execution with
its first events atomically (``execution.queued``, ``execution.started`` and
node pairs: ``--batch`` events in all; the execution is left running). The
requests follow a schedule, not each other: request ``n`` is sent at
``start + n * batch / rate`` whether or not the ones before it were answered
(at most ``IN_FLIGHT`` at once, so a stalled server cannot pile up an
unbounded queue). A server that cannot keep up answers late, and the rate
achieved over the measured window drops below the target.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from time import perf_counter, perf_counter_ns
from typing import Any, Final

import aiohttp
import msgspec

from .http_load import INPUT, JSON, OUTPUT, TIMEOUT, Target, expect

IN_FLIGHT: Final = 64


@dataclass(frozen=True, slots=True)
class Appended:
    events: int  # acknowledged, warm-up included: what the log must have grown by
    window_events: int  # acknowledged, of the requests due in the measured window
    window_seconds: float  # from the window's start to its last answer (at least its length)
    requests_ns: list[int]  # round trips of the window's requests
    failures: list[str]


def body(tag: str, n: int, batch: int) -> bytes:
    """A new execution with ``batch`` events (``batch`` >= 2, even: queued and
    started, then node started/completed pairs)."""
    events: list[dict[str, Any]] = [{"type": "execution.started", "data": {"worker": "bench"}}]
    for node in range((batch - 2) // 2):
        node_id = f"step-{node}"
        started = {"node_id": node_id, "node_type": "llm", "input": INPUT}
        done = {"node_id": node_id, "output": OUTPUT, "tokens": 100 + node}
        events += [{"type": "node.started", "data": started}]
        events += [{"type": "node.completed", "data": done}]
    return msgspec.json.encode(
        {
            "workflow_id": f"wf-stream-{n % 20}",
            "trigger": "api",
            "input": INPUT,
            "external_id": f"stream-{tag}-{n}",
            "events": events,
        }
    )


def append_paced(
    target: Target, rate: float, batch: int, start_ns: int, warm_up: float, seconds: float
) -> Appended:
    """Requests due from ``start_ns`` (wall clock) on: ``warm_up`` seconds
    untimed, then ``seconds`` measured; returns after the last answer."""
    return asyncio.run(_append(target, rate, batch, start_ns, warm_up, seconds))


@dataclass(slots=True)
class _Tally:
    events: int = 0
    window_events: int = 0
    last_answer: float = 0.0


async def _append(
    target: Target, rate: float, batch: int, start_ns: int, warm_up: float, seconds: float
) -> Appended:
    interval = batch / rate
    first_window, requests = round(warm_up / interval), round((warm_up + seconds) / interval)
    # The schedule on this process's monotonic clock, anchored to the shared wall clock.
    t0 = perf_counter() + (start_ns - time.time_ns()) / 1e9
    tally, times, failures = _Tally(), list[int](), list[str]()
    gate = asyncio.Semaphore(IN_FLIGHT)
    url, headers = f"{target.base}/v1/executions", {**JSON, **target.auth()}

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        began = perf_counter_ns()
        try:
            data = body(str(start_ns), n, batch)
            async with session.post(url, data=data, headers=headers) as response:
                await expect(response, 201)
        except (aiohttp.ClientError, TimeoutError, RuntimeError) as e:
            failures.append(f"{type(e).__name__}: {e}")
            return
        finally:
            gate.release()
        tally.events += batch
        if n >= first_window:
            tally.window_events += batch
            tally.last_answer = perf_counter()
            times.append(perf_counter_ns() - began)

    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as session:
        tasks = []
        for n in range(requests):
            due = t0 + n * interval
            await asyncio.sleep(max(0.0, due - perf_counter()))
            await gate.acquire()
            tasks.append(asyncio.create_task(one(session, n)))
        await asyncio.gather(*tasks)
    window_start = t0 + first_window * interval
    elapsed = max(seconds, tally.last_answer - window_start)
    return Appended(tally.events, tally.window_events, elapsed, times, failures)
