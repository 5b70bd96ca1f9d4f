"""The subscriber side of ``benchmarks.stream``: many ``GET /v1/stream``
connections in one process, each message parsed and checked as it arrives.

``subscribe`` runs in a spawned process of its own (several of them share the
subscribers, so no one client's GIL holds up the rest). Its protocol with the
parent, over two queues:

1. it connects ``count`` streams with ``?from=START`` and puts
   ``("ready", connected, errors)``;
2. it gets ``("window", first_us, end_us)``: the wall-clock span (the store's
   ``recorded_at``) whose events are timed;
3. it gets ``("end", head, deadline_ns)``: it stops once every stream has
   received position ``head``, or at the deadline, and puts its ``Received``.

Latency of a message = the wall clock (``time.time_ns``) when the chunk that
completes it is read, minus its ``recorded_at``. Both clocks are this
machine's ``CLOCK_REALTIME``. ``recorded_at`` is the store's clock when the
committing transaction began (before its inserts and its COMMIT), and it is
truncated to the millisecond on the wire: the figure is an upper bound on
commit-to-receipt, by the commit's own duration plus up to 1 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing.queues
import resource
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import process_time
from typing import Any, Final

import aiohttp
import msgspec

from .http_load import Target

BUCKET_US: Final = 100  # latency histogram resolution: 0.1 ms
BUCKETS: Final = 600_000  # up to 60 s; anything later lands in the last bucket
CONNECT_TIMEOUT: Final = 60.0
TIMEOUT: Final = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT)
Queue = multiprocessing.queues.Queue


class _Message(msgspec.Struct):
    position: int
    recorded_at: str


_decode: Final = msgspec.json.Decoder(_Message).decode


class Countdown:
    """An event set once ``count`` parties have arrived."""

    def __init__(self, count: int) -> None:
        self.left, self.done = count, asyncio.Event()
        if count <= 0:
            self.done.set()

    def arrive(self) -> None:
        self.left -= 1
        if self.left <= 0:
            self.done.set()


@dataclass(slots=True)
class Follower:
    """One subscriber's stream, as seen by the client."""

    last: int  # the last position received (the start before any)
    received: int = 0
    duplicates: int = 0  # a position at or below the last one: repeated or out of order
    missing: int = 0  # positions skipped: a later one arrived first
    connected: bool = False
    error: str | None = None
    finished: bool = False  # at the head, or failed, once the head is known


@dataclass(slots=True)
class Received:
    """What one client process saw, for the parent to merge."""

    connected: int
    errors: list[str]
    followers: list[tuple[int, int, int, int]]  # (last, received, duplicates, missing)
    histogram: dict[int, int]  # bucket -> messages, timed ones only
    worst_us: int
    messages: int  # all messages, timed or not
    chunks: int  # reads that returned data: fewer than messages when writes coalesce
    bytes_in: int
    cpu_seconds: float  # this process, from the window message to the end
    seconds: float


@dataclass(slots=True)
class Recorder:
    """Parses messages and keeps the per-process tallies."""

    window: tuple[int, int] = (0, 0)  # [first_us, end_us) of recorded_at to time
    histogram: dict[int, int] = field(default_factory=dict)
    timed: int = 0
    worst_us: int = 0
    messages: int = 0
    chunks: int = 0
    bytes_in: int = 0
    connecting: Countdown | None = None
    finishing: Countdown | None = None  # once the head to reach is known
    head: int = 0
    _seconds: dict[bytes, int] = field(default_factory=dict)

    def settled(self, follower: Follower) -> None:
        """Called when a follower connects, fails, or receives messages."""
        if self.connecting is not None and not follower.connected:
            self.connecting.arrive()
        if (
            self.finishing is not None
            and not follower.finished
            and (follower.error is not None or follower.last >= self.head)
        ):
            follower.finished = True
            self.finishing.arrive()

    def finish_at(self, head: int, followers: list[Follower]) -> asyncio.Event:
        """The event set once every follower has reached ``head`` or failed."""
        self.head, self.finishing = head, Countdown(len(followers))
        for follower in followers:
            self.settled(follower)
        return self.finishing.done

    def take(self, follower: Follower, message: bytes, now_us: int) -> None:
        data, id_ = b"", -1
        for line in message.split(b"\n"):
            if line.startswith(b"data: "):
                data = line[6:]
            elif line.startswith(b"id: "):
                id_ = int(line[4:])
        if not data:
            return  # a comment (": ping")
        event = _decode(data)
        if event.position != id_:
            raise ValueError(f"message id {id_} but position {event.position}")
        self.messages += 1
        self._check(follower, event.position)
        recorded = self._microseconds(event.recorded_at.encode())
        if self.window[0] <= recorded < self.window[1]:
            latency = max(0, now_us - recorded)
            bucket = min(latency // BUCKET_US, BUCKETS - 1)
            self.histogram[bucket] = self.histogram.get(bucket, 0) + 1
            self.timed += 1
            self.worst_us = max(self.worst_us, latency)

    @staticmethod
    def _check(follower: Follower, position: int) -> None:
        if position <= follower.last:
            follower.duplicates += 1
            return
        follower.missing += position - follower.last - 1
        follower.last = position
        follower.received += 1

    def _microseconds(self, text: bytes) -> int:
        """``2026-11-22T10:00:00.123Z`` in microseconds since the epoch."""
        second = text[:19]
        found = self._seconds.get(second)
        if found is None:
            moment = datetime.fromisoformat(second.decode()).replace(tzinfo=UTC)
            found = self._seconds[second] = int(moment.timestamp()) * 1_000_000
        return found + int(text[20:23]) * 1000


async def follow(
    session: aiohttp.ClientSession, url: str, follower: Follower, recorder: Recorder
) -> None:
    """Read one stream until cancelled; an error is kept on the follower."""
    try:
        async with session.get(url) as response:
            if response.status != 200:
                body = await response.read()
                raise RuntimeError(f"GET /v1/stream: {response.status} {body[:200]!r}")
            recorder.settled(follower)
            follower.connected = True
            rest = b""
            async for chunk in response.content.iter_any():
                now_us = time.time_ns() // 1000
                recorder.chunks += 1
                recorder.bytes_in += len(chunk)
                *messages, rest = (rest + chunk).split(b"\n\n")
                for message in messages:
                    recorder.take(follower, message, now_us)
                recorder.settled(follower)
            follower.error = "the server ended the stream"
    except (aiohttp.ClientError, OSError, RuntimeError, ValueError, msgspec.DecodeError) as e:
        follower.error = f"{type(e).__name__}: {e}"
    recorder.settled(follower)


def raise_open_files(wanted: int) -> None:
    """The soft limit on open files up to ``wanted``, within the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        top = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))


def subscribe(target: Target, count: int, start: int, control: Queue[Any], out: Queue[Any]) -> None:
    """The entry point of one client process (see the module's docstring)."""
    raise_open_files(count + 256)
    out.put(asyncio.run(_subscribe(target, count, start, control, out)))


async def _subscribe(
    target: Target, count: int, start: int, control: Queue[Any], out: Queue[Any]
) -> Received:
    loop = asyncio.get_running_loop()
    url = f"{target.base}/v1/stream?from={start}"
    followers = [Follower(start) for _ in range(count)]
    recorder = Recorder(connecting=Countdown(count))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=TIMEOUT, headers=target.auth()
    ) as session:
        tasks = [asyncio.create_task(follow(session, url, f, recorder)) for f in followers]
        try:
            await _wait(recorder.connecting.done if recorder.connecting else None, CONNECT_TIMEOUT)
            recorder.connecting = None
            errors = [f.error for f in followers if f.error is not None]
            out.put(("ready", sum(f.connected for f in followers), errors[:3]))
            _, *window = await loop.run_in_executor(None, control.get)
            recorder.window = (window[0], window[1])
            began, cpu = time.perf_counter(), process_time()
            _, head, deadline_ns = await loop.run_in_executor(None, control.get)
            finished = recorder.finish_at(head, followers)
            await _wait(finished, (deadline_ns - time.time_ns()) / 1e9)
            cpu, seconds = process_time() - cpu, time.perf_counter() - began
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)
    return _received(followers, recorder, cpu, seconds)


async def _wait(event: asyncio.Event | None, seconds: float) -> None:
    """Until ``event`` is set, or ``seconds`` pass."""
    if event is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(0.0, seconds))


def _received(
    followers: list[Follower], recorder: Recorder, cpu: float, seconds: float
) -> Received:
    errors = [f.error for f in followers if f.error is not None]
    return Received(
        connected=sum(f.connected for f in followers),
        errors=sorted(set(errors))[:5],
        followers=[(f.last, f.received, f.duplicates, f.missing) for f in followers],
        histogram=recorder.histogram,
        worst_us=recorder.worst_us,
        messages=recorder.messages,
        chunks=recorder.chunks,
        bytes_in=recorder.bytes_in,
        cpu_seconds=cpu,
        seconds=seconds,
    )


def read_back(target: Target, start: int, head: int, window: tuple[int, int]) -> tuple[int, int]:
    """(events after ``start`` up to ``head``, those recorded in ``window``),
    read from the file through one more stream: what each subscriber should have got."""

    async def read() -> tuple[int, int]:
        follower, recorder = Follower(start), Recorder(window=window)
        finished = recorder.finish_at(head, [follower])
        url = f"{target.base}/v1/stream?from={start}"
        async with aiohttp.ClientSession(timeout=TIMEOUT, headers=target.auth()) as session:
            task = asyncio.create_task(follow(session, url, follower, recorder))
            await _wait(finished, CONNECT_TIMEOUT)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if follower.last != head or follower.missing or follower.duplicates:
            raise RuntimeError(f"reading back to {head}: {follower}")
        return follower.received, recorder.timed

    return asyncio.run(read())
