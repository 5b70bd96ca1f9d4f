"""One measurement of ``benchmarks.stream``: ``subscribers`` streams open
while the appender writes at ``rate`` events/s, against a running server.

The steps, each bounded in time: wait for the server to be idle; spawn the
client processes and wait until every stream is connected (or failed); send
them the timed window; run the appender (its own process, from the pool);
tell the clients the head to reach and the deadline; collect what they saw
and stop them by their own pids; read the new events back from the file to
know what each subscriber should have got; append one more event, so that
every server-side stream whose client has gone writes once, notices, and ends
(an idle stream would otherwise only notice at its next heartbeat); wait for
the server to be idle again and read its memory.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.context import SpawnContext, SpawnProcess
from pathlib import Path
from time import perf_counter
from typing import Any, Final

from . import http_server
from .http_load import Target, cpu_between, cpu_seconds
from .stream_append import Appended, append_paced
from .stream_clients import CONNECT_TIMEOUT, Queue, Received, read_back, subscribe

LEAD: Final = 0.5  # seconds between telling the appender its start and the first due request
IDLE_CORES: Final = 0.05  # the server counts as idle below this much CPU
IDLE_WAIT: Final = 20.0
RESULT_GRACE: Final = 60.0  # beyond the drain deadline, for a client to hand in its tallies


@dataclass(frozen=True, slots=True)
class Settings:
    seconds: float
    warm_up: float
    drain: float
    batch: int
    processes: int


@dataclass(slots=True)
class Cell:
    subscribers: int
    rate: float
    appended: Appended
    start: int  # the head before the cell
    head: int  # the head after the appender
    expected: int = 0  # events each subscriber should get: head - start, read back
    window_events: int = 0  # of those, recorded in the timed window
    connected: int = 0
    errors: tuple[str, ...] = ()
    received: tuple[Received, ...] = ()
    # Server (process, loop-thread) CPU seconds from the start to the drain's end.
    total_cpu: tuple[float, float] = (0.0, 0.0)
    total_wall: float = 0.0
    rss_kb: tuple[int, int, int] = (0, 0, 0)  # server RSS: before, peak during, after


def rss_kb(pid: int) -> int:
    """The server's RSS: with ``serve --workers``, its workers' too."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return sum(_one_rss(p) for p in (str(pid), *children))


def _one_rss(pid: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:  # a worker that just ended
        pass
    return 0


def wait_idle(pid: int) -> None:
    """Until the server's CPU use falls below IDLE_CORES (at most IDLE_WAIT s)."""
    deadline = time.monotonic() + IDLE_WAIT
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.25)
        after = cpu_seconds(pid)
        if before is None or after is None or (after[0] - before[0]) / 0.25 < IDLE_CORES:
            return


class PeakRss:
    """The server's RSS, sampled every 0.2 s on a thread while in use."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, rss_kb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, rss_kb(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_kb(self.pid))


def flush(target: Target) -> None:
    """One more event (a bare create): every stream left by its client writes and ends."""
    request = urllib.request.Request(
        f"{target.base}/v1/executions",
        data=b'{"workflow_id": "wf-stream-flush"}',
        headers={"Content-Type": "application/json", **target.auth()},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def _split(total: int, parts: int) -> list[int]:
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


@contextmanager
def clients(
    context: SpawnContext, target: Target, subscribers: int, start: int, processes: int
) -> Iterator[tuple[list[Queue[Any]], Queue[Any]]]:
    """The client processes, each with its control queue, and the shared result queue."""
    out: Queue[Any] = context.Queue()
    started: list[tuple[SpawnProcess, Queue[Any]]] = []
    try:
        for count in _split(subscribers, processes) if subscribers else []:
            control: Queue[Any] = context.Queue()
            process = context.Process(target=subscribe, args=(target, count, start, control, out))
            process.start()
            started.append((process, control))
        yield [control for _, control in started], out
    finally:
        for process, _ in started:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()  # this one child, by its own pid
                process.join()


def run_cell(
    pool: ProcessPoolExecutor,
    server: http_server.Server,
    token: str,
    subscribers: int,
    rate: float,
    settings: Settings,
) -> Cell:
    pid = server.process.pid
    target = Target(server.base, token, pid)
    wait_idle(pid)
    before, start = rss_kb(pid), http_server.head(server.base)
    context = multiprocessing.get_context("spawn")
    with clients(context, target, subscribers, start, settings.processes) as (controls, out):
        connected, errors = _ready(out, len(controls))
        start_ns = time.time_ns() + int(LEAD * 1e9)
        first_us = start_ns // 1000 + int(settings.warm_up * 1e6)
        window = (first_us, first_us + int(settings.seconds * 1e6))
        for control in controls:
            control.put(("window", *window))
        with PeakRss(pid) as peak:
            cpu, began = cpu_seconds(pid), perf_counter()
            cell = _append(pool, target, subscribers, rate, settings, start_ns, start)
            cell.connected, cell.errors = connected, tuple(errors)
            _drain(cell, controls, out, settings.drain)
            used = cpu_between(cpu, cpu_seconds(pid)) or (0.0, 0.0)
            cell.total_cpu, cell.total_wall = used, perf_counter() - began
    cell.expected, cell.window_events = read_back(target, start, cell.head, window)
    flush(target)
    wait_idle(pid)
    cell.rss_kb = (before, peak.peak, rss_kb(pid))
    return cell


def _ready(out: Queue[Any], processes: int) -> tuple[int, list[str]]:
    connected, errors = 0, list[str]()
    for _ in range(processes):
        _, count, failed = out.get(timeout=CONNECT_TIMEOUT + 60)
        connected, errors = connected + count, errors + failed
    return connected, errors


def _append(
    pool: ProcessPoolExecutor,
    target: Target,
    subscribers: int,
    rate: float,
    settings: Settings,
    start_ns: int,
    start: int,
) -> Cell:
    job = pool.submit(
        append_paced, target, rate, settings.batch, start_ns, settings.warm_up, settings.seconds
    )
    appended = job.result()
    return Cell(subscribers, rate, appended, start, http_server.head(target.base))


def _drain(cell: Cell, controls: list[Queue[Any]], out: Queue[Any], drain: float) -> None:
    deadline_ns = time.time_ns() + int(drain * 1e9)
    for control in controls:
        control.put(("end", cell.head, deadline_ns))
    cell.received = tuple(out.get(timeout=drain + RESULT_GRACE) for _ in controls)
