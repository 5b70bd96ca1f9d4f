"""The largest requests the limits allow, and whether the server stays responsive.

    .venv/bin/python -m benchmarks.abuse [--seconds 20]
    .venv/bin/python -m benchmarks.abuse --quick          # a small smoke run

Measured, side by side in one run:

1. **Fold time per 1,000 events**, in this process: one execution of node
   start/complete pairs at 1,000, 10,000 (the per-execution limit) and
   100,000 events (ten times the limit, recorded with the limit raised), each
   read from the file and folded into its detail. A linear fold shows the
   same cost per 1,000 events at every size; the quadratic fold this replaced
   took 6.4 s for 10,000 pairs.
2. **The server** (``execstore serve`` in a process of its own on 127.0.0.1,
   its default limits):
   - the largest allowed create: one ``POST /v1/executions`` of 2,000 events
     (the per-request limit) whose payloads fill the 10 MiB body limit, timed
     by the client around the request (loopback: the server's time);
   - the largest allowed execution: 10,000 events and about 32 MiB of
     payloads (the per-execution limits), built by appends of the largest
     allowed size, and its detail read (``GET /v1/executions/{id}``), body
     included;
   - ``/v1/health`` p50/p99/max, first idle, then while a client loops on
     those two (create the largest, build the largest, read its detail) for
     ``--seconds``. The prober is a process of its own, polling every 10 ms,
     so that the load client's decoding never delays its clock.

Every answer's status is checked: a fast figure never comes from a refusal.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import secrets
import tempfile
import time
import urllib.request
from collections.abc import Callable
from functools import partial
from multiprocessing.synchronize import Event
from pathlib import Path
from time import perf_counter, perf_counter_ns
from typing import Any, Final

import aiohttp
import msgspec

from eventstore import (
    EventData,
    EventStore,
    ExecutionQueued,
    ExecutionStarted,
    Limits,
    NodeCompleted,
    NodeStarted,
    json_value,
)
from projections import fold
from server.http.settings import DEFAULT_MAX_BODY

from . import http_server
from .http_load import quantile_ms

FOLD_SIZES: Final = (1_000, 10_000, 100_000)
PROBE_EVERY: Final = 0.01  # seconds between health probes
HEALTH_TARGET_MS: Final = 50.0
LIMITS: Final = Limits()
TIMEOUT: Final = aiohttp.ClientTimeout(total=120)
JSON: Final = {"Content-Type": "application/json"}
# What a body holds besides its events' payloads: field names, types, quotes.
ENVELOPE_PER_EVENT: Final = 120


def node_events(pairs: int, payload: int, first: int = 0) -> list[dict[str, Any]]:
    """``pairs`` node start/complete pairs, each completion carrying ``payload`` bytes."""
    blob = "x" * payload
    events: list[dict[str, Any]] = []
    for n in range(first, first + pairs):
        events.append({"type": "node.started", "data": {"node_id": f"n{n}"}})
        done = {"node_id": f"n{n}", "output": {"text": blob}, "tokens": 3}
        events.append({"type": "node.completed", "data": done})
    return events


def largest_create() -> bytes:
    """A create at both request limits: 2,000 events, the body near 10 MiB."""
    pairs = (LIMITS.events_per_append - 2) // 2  # with queued and started
    payload = (DEFAULT_MAX_BODY - 64 * 1024) // pairs - 2 * ENVELOPE_PER_EVENT
    events = [{"type": "execution.started"}, *node_events(pairs, payload)]
    body = msgspec.json.encode({"workflow_id": "wf-abuse", "events": events})
    assert len(body) <= DEFAULT_MAX_BODY, len(body)
    return body


def largest_appends() -> list[bytes]:
    """Appends that take a created execution (2 events) to the execution limits:
    10,000 events and just under 32 MiB of payloads in all."""
    pairs = (LIMITS.events_per_execution - 2) // 2
    payload = (LIMITS.execution_bytes - 1024 * 1024) // pairs - 2 * ENVELOPE_PER_EVENT
    per_append = LIMITS.events_per_append // 2
    per_append = min(per_append, (DEFAULT_MAX_BODY - 64 * 1024) // (payload + 300))
    bodies = []
    for first in range(0, pairs, per_append):
        events = node_events(min(per_append, pairs - first), payload, first)
        bodies.append(msgspec.json.encode({"events": events}))
        assert len(bodies[-1]) <= DEFAULT_MAX_BODY
    return bodies


# 1. Fold time


async def fold_times(work: Path) -> list[tuple[int, float]]:
    """(events, ms per 1,000 events) of folding one execution of that many events."""
    raised = Limits(events_per_execution=max(FOLD_SIZES) + 2, execution_bytes=1 << 34)
    found = []
    async with EventStore(work / "fold.db", limits=raised) as store:
        for size in FOLD_SIZES:
            created = await store.create_execution(
                ExecutionQueued(workflow_id="wf-fold"), [ExecutionStarted()]
            )
            target = created.execution_id
            for first in range(0, (size - 2) // 2, 1_000):
                batch: list[EventData] = []
                for n in range(first, min(first + 1_000, (size - 2) // 2)):
                    batch += [
                        NodeStarted(node_id=f"n{n}"),
                        NodeCompleted(node_id=f"n{n}", output=json_value({"n": n}), tokens=1),
                    ]
                await store.append(target, batch)
            events = await store.read_execution(target)
            best = min(_timed(partial(fold, events)) for _ in range(3))
            found.append((len(events), best * 1000 / len(events) * 1000))
    return found


def _timed(call: Callable[[], object]) -> float:
    start = perf_counter()
    call()
    return perf_counter() - start


# 2. The server


def probe(base: str, stop: Event, out: Any) -> None:
    """Poll /v1/health until ``stop``; send the latencies (ns) to ``out``."""
    samples: list[int] = []
    while not stop.is_set():
        start = perf_counter_ns()
        with urllib.request.urlopen(f"{base}/v1/health", timeout=30) as response:
            response.read()
            assert response.status == 200
        samples.append(perf_counter_ns() - start)
        time.sleep(PROBE_EVERY)
    out.send(samples)


class Timings(msgspec.Struct):
    creates: list[float] = msgspec.field(default_factory=list)  # seconds
    builds: list[float] = msgspec.field(default_factory=list)
    details: list[float] = msgspec.field(default_factory=list)
    detail_bytes: int = 0


async def _request(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> bytes:
    async with session.request(method, url, **kw) as response:
        body = await response.read()
        if response.status not in (200, 201):
            raise RuntimeError(f"{method} {url}: {response.status} {body[:300]!r}")
        return body


async def abuse(base: str, token: str, seconds: float, rounds: int | None) -> Timings:
    """Create the largest, build the largest and read it, over and over."""
    headers = {"Authorization": f"Bearer {token}", **JSON}
    create, appends = largest_create(), largest_appends()
    small = msgspec.json.encode(
        {"workflow_id": "wf-abuse", "events": [{"type": "execution.started"}]}
    )
    timings = Timings()
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(base, headers=headers, timeout=TIMEOUT) as session:
        while time.monotonic() < deadline and (rounds is None or len(timings.details) < rounds):
            start = perf_counter()
            await _request(session, "POST", "/v1/executions", data=create)
            timings.creates.append(perf_counter() - start)
            start = perf_counter()
            made = msgspec.json.decode(
                await _request(session, "POST", "/v1/executions", data=small)
            )
            path = f"/v1/executions/{made['id']}"
            for body in appends:
                await _request(session, "POST", f"{path}/events", data=body)
            timings.builds.append(perf_counter() - start)
            start = perf_counter()
            detail = await _request(session, "GET", path)
            timings.details.append(perf_counter() - start)
            timings.detail_bytes = len(detail)
    return timings


def health_while(base: str, during: Any) -> tuple[list[int], Any]:
    """Health latencies (ns) measured while ``during()`` runs, and its result."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    receive, send = context.Pipe(duplex=False)
    prober = context.Process(target=probe, args=(base, stop, send))
    prober.start()
    try:
        time.sleep(0.5)  # the prober's interpreter is up and polling
        result = during()
    finally:
        stop.set()
        samples: list[int] = receive.recv()
        prober.join(timeout=30)
    return samples, result


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{ordered[len(ordered) // 2] * 1000:,.0f} ms (max {ordered[-1] * 1000:,.0f})"


def _health(name: str, samples: list[int]) -> str:
    p50, p99 = quantile_ms(samples, 0.5), quantile_ms(samples, 0.99)
    worst = max(samples) / 1e6
    return f"| /v1/health, {name} | {len(samples):,} | {p50:.1f} | {p99:.1f} | {worst:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="of abuse, while probing")
    parser.add_argument("--quick", action="store_true", help="one round, short probes")
    args = parser.parse_args()
    seconds, rounds = (5.0, 1) if args.quick else (args.seconds, None)
    with tempfile.TemporaryDirectory(prefix="execstore-abuse-") as folder:
        work = Path(folder)
        print("Fold time (in process, best of 3):\n")
        print("| events in the execution | fold, ms per 1,000 events |")
        print("|---:|---:|")
        for events, per_thousand in asyncio.run(fold_times(work)):
            print(f"| {events:,} | {per_thousand:.2f} |")
        token = f"es_abuse_{secrets.token_urlsafe(16)}"
        with http_server.running(work / "serve.db", token, work) as server:
            idle, _ = health_while(server.base, lambda: time.sleep(min(seconds, 5.0)))
            loaded, timings = health_while(
                server.base, lambda: asyncio.run(abuse(server.base, token, seconds, rounds))
            )
        print("\nThe server under its largest allowed requests (median, and max):\n")
        print(f"- largest create (2,000 events, {len(largest_create()) / 2**20:.1f} MiB body):")
        print(f"  {_ms(timings.creates)} over {len(timings.creates)} creates")
        mib = timings.detail_bytes / 2**20
        print(f"- largest execution (10,000 events, ~32 MiB) built by {len(largest_appends())}")
        print(f"  appends: {_ms(timings.builds)}; its detail read ({mib:.1f} MiB):")
        print(f"  {_ms(timings.details)} over {len(timings.details)} reads")
        print("\n| probe | requests | p50 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|---:|")
        print(_health("idle", idle))
        print(_health("during the abuse", loaded))
        p99 = quantile_ms(loaded, 0.99)
        verdict = "met" if p99 < HEALTH_TARGET_MS else "NOT met"
        print(f"\nhealth p99 under abuse {p99:.1f} ms: target < {HEALTH_TARGET_MS:g} ms {verdict}")


if __name__ == "__main__":
    main()
