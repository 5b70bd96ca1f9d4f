"""The client side of ``benchmarks.http``: the load, generated in a process of
its own so that the client never competes with the server for one GIL.

Each entry point is a plain function of picklable values that runs its own
event loop and closes its sessions before it returns: the server sees no
connection left over from one phase in the next. Every response's status is
checked, so a fast number can never come from refused requests.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter, perf_counter_ns, process_time
from typing import Any, Final
from urllib.parse import quote

import aiohttp
import msgspec

PAGE: Final = 20
# Untimed requests first, so that no sample pays for a cold statement cache.
WARM_UP_REQUESTS: Final = 50
TIMEOUT: Final = aiohttp.ClientTimeout(total=60)
JSON: Final = {"Content-Type": "application/json"}
LISTS: Final = {"no filter": "", "status=failed": "&status=failed"}
WEBHOOK_WORKFLOW: Final = "wf-webhook"
_encode: Final = msgspec.json.encode
INPUT: Final = {"ticket_id": 40_123, "text": "Refund not received yet."}
OUTPUT: Final = {"status": "ok", "label": "billing", "score": 0.93}


def _node(node_id: str, kind: str, tokens: int) -> list[dict[str, Any]]:
    done: dict[str, Any] = {"node_id": node_id, "output": OUTPUT, "tokens": tokens}
    if tokens:
        done["usage"] = {"prompt_tokens": tokens - 62, "completion_tokens": 62}
    started = {"node_id": node_id, "node_name": node_id.title(), "node_type": kind, "input": INPUT}
    return [{"type": "node.started", "data": started}, {"type": "node.completed", "data": done}]


# The same events for every execution: the server never sees them as a
# re-send, because no event_id is given (it assigns one to each). Eight, not
# the seven the issue named: after queued, a completed lifecycle has started,
# completed and node events in pairs, so its count is always even.
EVENTS: Final = [
    {"type": "execution.started", "data": {"worker": "bench-worker"}},
    *_node("classify", "llm", 412),
    *_node("draft reply", "llm", 530),
    *_node("post reply", "http", 0),
    {"type": "execution.completed", "data": {"output": {"reply_id": "r-1", "sent": True}}},
]
APPEND_BODY: Final = _encode({"events": EVENTS})
EVENTS_PER_EXECUTION: Final = 1 + len(EVENTS)  # with execution.queued


def create_body(n: int) -> bytes:
    return _encode(
        {
            "workflow_id": f"wf-{n % 50}",
            "workflow_name": "Answer support ticket",
            "trigger": "api",
            "input": {"ticket_id": 40_000 + n, "text": "Refund not received yet."},
            "display_name": f"Ticket {40_000 + n}",
            "team_id": f"team-{n % 7}",
            "external_id": f"bench-{n}",
        }
    )


class _Id(msgspec.Struct):
    id: int


class _Page(msgspec.Struct):
    items: list[_Id]
    next_cursor: str | None


class _Hash(msgspec.Struct):
    hash: str


@dataclass(frozen=True, slots=True)
class Target:
    base: str  # http://127.0.0.1:PORT
    token: str
    server_pid: int

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True, slots=True)
class Rate:
    done: int  # operations completed in the measured window
    total: int  # with the warm-up: what the server must have recorded
    seconds: float
    client_cpu: float  # seconds of CPU this process used in the measured window
    server_cpu: tuple[float, float] | None  # (process, event-loop thread), if /proc has them
    requests_ns: dict[str, list[int]]  # per kind of request, in the measured window


@dataclass(frozen=True, slots=True)
class Latency:
    label: str
    samples_ns: list[int]


def quantile_ms(samples_ns: list[int], q: float) -> float:
    ordered = sorted(samples_ns)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


def cpu_seconds(pid: int) -> tuple[float, float] | None:
    """CPU used so far by process ``pid`` and its children, and by their main
    threads (the event loops'): the second near one core per process while
    the first is not means the loop threads, not the disk or the other
    threads, are what limits the rate."""
    tick = os.sysconf("SC_CLK_TCK")

    def used(stat: Path) -> float:
        # Fields after the command name, which may contain spaces: utime and stime.
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    try:
        # ``serve --workers``: the parent only watches, its workers serve.
        pids = [pid, *_children(pid)]
        return (
            sum(used(Path(f"/proc/{p}/stat")) for p in pids),
            sum(used(Path(f"/proc/{p}/task/{p}/stat")) for p in pids),
        )
    except (OSError, IndexError, ValueError):
        return None


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def cpu_between(
    before: tuple[float, float] | None, after: tuple[float, float] | None
) -> tuple[float, float] | None:
    """CPU used between two ``cpu_seconds`` readings; None if /proc gave none."""
    if before is None or after is None:
        return None
    return (after[0] - before[0], after[1] - before[1])


async def expect(response: aiohttp.ClientResponse, status: int) -> bytes:
    body = await response.read()
    if response.status != status:
        raise RuntimeError(f"{response.method} {response.url}: {response.status} {body[:300]!r}")
    return body


Times = dict[str, list[int]]
Operation = Callable[[aiohttp.ClientSession, int, Times], Awaitable[None]]


async def _drive(
    session: aiohttp.ClientSession,
    op: Operation,
    clients: int,
    seconds: float,
    cap: int,
    first: int,
) -> tuple[int, float, Times]:
    """``clients`` workers call ``op`` back to back until ``seconds`` pass or
    ``cap`` operations are done; the time includes the last ones to finish."""
    times: Times = defaultdict(list)
    numbers = itertools.count(first)
    done = 0
    deadline = perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while perf_counter() < deadline and done < cap:
            await op(session, next(numbers), times)
            done += 1

    start = perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return done, perf_counter() - start, times


_PHASES_RUN: Final = itertools.count()  # in this client process


async def _rate(
    target: Target, op: Operation, clients: int, seconds: float, warm_up: float, cap: int
) -> Rate:
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as session:
        # Numbers name external ids: a later phase on the same file (another
        # client or worker count) must not meet an earlier one's.
        origin = next(_PHASES_RUN) * 2 * cap
        warm, _, _ = await _drive(session, op, clients, warm_up, cap, origin)
        server_before, cpu = cpu_seconds(target.server_pid), process_time()
        done, elapsed, times = await _drive(session, op, clients, seconds, cap, origin + warm)
        cpu, server_after = process_time() - cpu, cpu_seconds(target.server_pid)
    server = cpu_between(server_before, server_after)
    return Rate(done, warm + done, elapsed, cpu, server, dict(times))


def record_executions(
    target: Target, clients: int, seconds: float, warm_up: float, cap: int
) -> Rate:
    """Executions recorded: each a create, then one append of the rest of its events."""
    executions = f"{target.base}/v1/executions"
    headers = {**JSON, **target.auth()}

    async def one(session: aiohttp.ClientSession, n: int, times: Times) -> None:
        start = perf_counter_ns()
        async with session.post(executions, data=create_body(n), headers=headers) as response:
            created = msgspec.json.decode(await expect(response, 201), type=_Id).id
        middle = perf_counter_ns()
        events = f"{executions}/{created}/events"
        async with session.post(events, data=APPEND_BODY, headers=headers) as response:
            await expect(response, 201)
        times["create"].append(middle - start)
        times["append"].append(perf_counter_ns() - middle)

    return asyncio.run(_rate(target, one, clients, seconds, warm_up, cap))


def trigger_webhooks(
    target: Target, clients: int, seconds: float, warm_up: float, cap: int
) -> Rate:
    """Webhook triggers: one hash created with the token, then POSTs to it
    without one (the hash is the credential), each with a small JSON body."""

    async def new_hash() -> str:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT, headers=target.auth()) as session,
            session.post(f"{target.base}/v1/workflows/{WEBHOOK_WORKFLOW}/webhook") as response,
        ):
            return msgspec.json.decode(await expect(response, 201), type=_Hash).hash

    url = f"{target.base}/v1/webhooks/{asyncio.run(new_hash())}"

    async def one(session: aiohttp.ClientSession, n: int, times: Times) -> None:
        body = _encode({"ticket_id": 40_000 + n, "text": "Refund not received yet."})
        start = perf_counter_ns()
        async with session.post(url, data=body, headers=JSON) as response:
            await expect(response, 202)
        times["trigger"].append(perf_counter_ns() - start)

    return asyncio.run(_rate(target, one, clients, seconds, warm_up, cap))


def measure_latencies(
    target: Target, samples: int, depth: int, executions: int, seed: int = 7
) -> list[Latency]:
    """List and detail latency: one connection, one request at a time, so that
    each sample is the server's answer time and never time spent in a queue."""
    return asyncio.run(_latencies(target, samples, depth, executions, seed))


async def _latencies(
    target: Target, samples: int, depth: int, executions: int, seed: int
) -> list[Latency]:
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(
        connector=connector, timeout=TIMEOUT, headers=target.auth()
    ) as session:
        found: list[Latency] = []
        for name, query in LISTS.items():
            first = f"{target.base}/v1/executions?limit={PAGE}{query}"
            found.append(await _timed(session, f"list, {name}, page 1", [first], samples))
            cursor, page = await _follow(session, first, depth)
            deep = f"{first}&cursor={quote(cursor, safe='')}"
            found.append(await _timed(session, f"list, {name}, page {page:,}", [deep], samples))
        rng = random.Random(seed)
        # A different execution each time, so no sample is served by a row cached for the last.
        ids = [rng.randint(1, executions) for _ in range(samples)]
        details = [f"{target.base}/v1/executions/{i}" for i in ids]
        found.append(await _timed(session, "detail, a random execution", details, samples))
        return found


async def _timed(
    session: aiohttp.ClientSession, label: str, urls: list[str], samples: int
) -> Latency:
    for url in itertools.islice(itertools.cycle(urls), WARM_UP_REQUESTS):
        async with session.get(url) as response:
            await expect(response, 200)
    taken: list[int] = []
    for url in itertools.islice(itertools.cycle(urls), samples):
        start = perf_counter_ns()
        async with session.get(url) as response:
            await expect(response, 200)
        taken.append(perf_counter_ns() - start)
    return Latency(label, taken)


async def _follow(session: aiohttp.ClientSession, first: str, depth: int) -> tuple[str, int]:
    """The cursor of the page reached by following ``next_cursor`` up to
    ``depth`` times (fewer when the list ends first), and that page's number."""
    url, cursor, page = first, "", 1
    while page <= depth:
        async with session.get(url) as response:
            found = msgspec.json.decode(await expect(response, 200), type=_Page)
        if len(found.items) != PAGE or found.next_cursor is None:
            break
        cursor, page = found.next_cursor, page + 1
        url = f"{first}&cursor={quote(cursor, safe='')}"
    if not cursor:
        raise RuntimeError(f"{first}: fewer than two pages; load more executions")
    return cursor, page
