"""The parent of ``serve --workers``: it starts the workers, restarts one that
dies, and stops them all as one.

It waits on a self-pipe that every signal it handles writes to (SIGCHLD for
a death, SIGTERM or SIGINT to stop), so it neither polls quickly nor misses
a signal between two checks. Workers run in a process group of their own:
Ctrl-C in a terminal reaches the parent alone, which stops each worker once,
gracefully, instead of racing them into their shutdown.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Collection, Mapping
from types import FrameType, TracebackType
from typing import Any, Final

import msgspec

from .serve import SHUTDOWN_GRACE
from .worker import SPEC_VARIABLE, WorkerSpec, command

START_BOUND: Final = 60.0  # seconds for every worker to bind the port at start
# Seconds a worker has to stop after SIGTERM before it is killed: its requests'
# grace, and time to close the file.
STOP_BOUND: Final = SHUTDOWN_GRACE + 4.0
# A worker that dies within STEADY seconds of its start is restarted after a
# delay, doubled at each such death up to MAX_BACKOFF: one that cannot start
# costs a line every few seconds, not a loop of restarts.
STEADY: Final = 10.0
FIRST_BACKOFF: Final = 0.5
MAX_BACKOFF: Final = 5.0
_LONGEST_SLEEP: Final = 1.0  # should a SIGCHLD ever go unseen
_STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)
log: Final = logging.getLogger("execstore.workers")
_Handler = Callable[[int, FrameType | None], Any] | int | None  # as signal.signal takes one


class Signals:
    """SIGTERM and SIGINT taken as a request to stop; those and SIGCHLD wake ``wait``."""

    def __init__(self) -> None:
        self.stopping = False
        self._read = self._write = self._previous_fd = -1
        self._previous: dict[int, _Handler] = {}

    def __enter__(self) -> Signals:
        self._read, self._write = os.pipe()
        for fd in (self._read, self._write):
            os.set_blocking(fd, False)  # a full pipe must not block the signal handler
        self._previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        for signum in (*_STOP_SIGNALS, signal.SIGCHLD):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(self._previous_fd)
        os.close(self._read)
        os.close(self._write)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum in _STOP_SIGNALS:
            self.stopping = True

    def wait(self, fds: Collection[int], timeout: float | None) -> list[int]:
        """Those of ``fds`` that can be read, after a signal or ``timeout`` seconds."""
        readable, _, _ = select.select([self._read, *fds], [], [], timeout)
        if self._read in readable:
            while _drained(self._read):
                pass
        return [fd for fd in readable if fd != self._read]


def _drained(fd: int) -> bool:
    try:
        return bool(os.read(fd, 512))
    except BlockingIOError:
        return False


class _Slot:
    """One worker's place: its process while it runs, when to restart it otherwise."""

    __slots__ = ("index", "process", "quick_deaths", "restart_at", "started")

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.quick_deaths = 0  # in a row, each within STEADY of its start
        self.restart_at = 0.0

    def died(self, now: float) -> float:
        """Seconds to wait before the restart."""
        self.process = None
        self.quick_deaths = self.quick_deaths + 1 if now - self.started < STEADY else 0
        delay = 0.0
        if self.quick_deaths:
            delay = min(FIRST_BACKOFF * 2 ** (self.quick_deaths - 1), MAX_BACKOFF)
        self.restart_at = now + delay
        return delay


class Supervisor:
    """``count`` workers run from ``base``; the demo engine in worker 0 alone."""

    def __init__(self, count: int, base: WorkerSpec, env: Mapping[str, str]) -> None:
        self._slots = [_Slot(index) for index in range(count)]
        self._base = base
        self._env = dict(env)

    def start(self, signals: Signals) -> bool:
        """Whether every worker bound the port, each reporting on a pipe of its own."""
        pending: dict[int, _Slot] = {}
        try:
            for slot in self._slots:
                read, write = os.pipe()
                pending[read] = slot
                try:
                    self._spawn(slot, write)
                finally:
                    os.close(write)  # the worker's copy alone: its exit closes the pipe
            return self._await_ready(signals, pending)
        finally:
            for fd in pending:
                os.close(fd)

    def _await_ready(self, signals: Signals, pending: dict[int, _Slot]) -> bool:
        deadline = time.monotonic() + START_BOUND
        while pending and not signals.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                log.error("%d worker(s) did not start within %g s", len(pending), START_BOUND)
                return False
            for fd in signals.wait(pending, left):
                slot = pending.pop(fd)
                word = os.read(fd, 1)
                os.close(fd)
                if not word:  # it exited; what it printed says why
                    pid = slot.process.pid if slot.process else "?"
                    log.error("worker %d (pid %s) stopped before it was serving", slot.index, pid)
                    return False
        return not pending

    def supervise(self, signals: Signals) -> None:
        """Restart workers as they die, until SIGTERM or SIGINT."""
        while not signals.stopping:
            now = time.monotonic()
            for slot in self._slots:
                self._tend(slot, now)
            waits = [s.restart_at - now for s in self._slots if s.process is None]
            signals.wait((), max(0.0, min([_LONGEST_SLEEP, *waits])))

    def _tend(self, slot: _Slot, now: float) -> None:
        process = slot.process
        if process is not None and (code := process.poll()) is not None:
            delay = slot.died(now)
            how, later = ended(code), f" in {delay:g} s" if delay else ""
            log.warning(
                "worker %d (pid %d) %s; restarting it%s", slot.index, process.pid, how, later
            )
        if slot.process is None and slot.restart_at <= now:
            try:
                self._spawn(slot)
            except OSError as refused:  # no process to be had now (EAGAIN, ENOMEM)
                slot.started = now  # a failed start counts as a quick death: no spinning
                delay = slot.died(now)
                log.warning("worker %d: %s; trying again in %g s", slot.index, refused, delay)

    def _spawn(self, slot: _Slot, ready_fd: int | None = None) -> None:
        spec = msgspec.structs.replace(
            self._base,
            index=slot.index,
            demo_engine=self._base.demo_engine and slot.index == 0,
            ready_fd=ready_fd,
        )
        env = {**self._env, SPEC_VARIABLE: msgspec.json.encode(spec).decode()}
        slot.process = subprocess.Popen(
            command(),
            env=env,
            stdin=subprocess.DEVNULL,
            pass_fds=() if ready_fd is None else (ready_fd,),
            process_group=0,
        )
        slot.started = time.monotonic()

    def stop(self) -> None:
        """SIGTERM to every worker; SIGKILL to those still running after STOP_BOUND."""
        running = [(s.index, s.process) for s in self._slots if s.process is not None]
        for _, process in running:
            process.send_signal(signal.SIGTERM)  # none to one already reaped
        deadline = time.monotonic() + STOP_BOUND
        for index, process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                log.warning(
                    "worker %d (pid %d) still ran after %g s: killed",
                    index,
                    process.pid,
                    STOP_BOUND,
                )
        for slot in self._slots:
            slot.process = None


def ended(code: int) -> str:
    """How a process ended, from its return code."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"
