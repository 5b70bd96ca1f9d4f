"""The file's write lock: which process writes next, woken the moment the
lock frees.

SQLite lets one connection write at a time and makes the others wait in its
busy handler, which sleeps in steps of up to 100 ms: a writer would sit idle
long after the lock was free. So every store's writer first takes an
exclusive ``flock`` on a file beside the database (``<db>-lock``), which the
kernel hands to the next waiter as soon as it is released, and only then
begins its SQLite transaction, which then finds the database free.

Uncontended, the lock costs two system calls on the loop. Contended, the
wait runs on a thread of its own, bounded by ``timeout``: past it the caller
gets ``StoreBusy``, and the thread, which cannot be interrupted, lets the
lock go as soon as it gets it. A separate file, because closing any
descriptor of the database itself would drop SQLite's own POSIX locks.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .errors import StoreBusy, StoreError

SUFFIX: Final = "-lock"


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + SUFFIX)


def _beside(db: Path, suffix: str) -> int:
    """A descriptor of the lock file ``<db><suffix>``, made if missing."""
    return os.open(db.with_name(db.name + suffix), os.O_RDWR | os.O_CREAT, 0o644)


@dataclass(slots=True)
class _Ticket:
    taken: bool = False
    abandoned: bool = False


class WriteLock:
    """One store's hold on the file's write lock (loop thread only)."""

    def __init__(self, db: Path, timeout: float) -> None:
        self._timeout = timeout
        self._fd = _beside(db, SUFFIX)
        self._mutex = threading.Lock()  # between a waiting thread and a timed-out caller
        self._waiter = ThreadPoolExecutor(1, thread_name_prefix="execstore-lock")

    async def acquire(self) -> None:
        """Hold the lock, or raise ``StoreBusy`` after ``timeout`` seconds."""
        if _try(self._fd, fcntl.LOCK_EX):
            return
        ticket = _Ticket()
        loop = asyncio.get_running_loop()
        waiting = loop.run_in_executor(self._waiter, self._wait, ticket)
        done, _ = await asyncio.wait({waiting}, timeout=self._timeout)
        with self._mutex:
            if ticket.taken:  # in time, or just as the time ran out: it is ours
                return
            ticket.abandoned = True
        if done:
            waiting.result()  # an error of flock itself
        raise StoreBusy(self._timeout)

    def _wait(self, ticket: _Ticket) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        with self._mutex:
            if ticket.abandoned:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            else:
                ticket.taken = True

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._waiter.shutdown(wait=True)
        os.close(self._fd)


def _try(fd: int, mode: int) -> bool:
    """Whether ``fd`` got the lock in ``mode`` (shared or exclusive) without waiting."""
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextmanager
def held(db: Path) -> Iterator[None]:
    """The write lock for a blocking caller (the command line's own writes), unbounded."""
    fd = _beside(db, SUFFIX)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # which releases it


# Every open store holds a shared lock on ``<db>-open`` for as long as it is
# open; whoever needs the file to itself (a rebuild) takes it exclusively.
_OPEN: Final = "-open"


class InUse(StoreError):
    """The file is open elsewhere, for a use that needs it alone (or the other way round)."""


def mark_open(db: Path) -> int:
    """Note that a store has ``db`` open: a descriptor to close when it closes.
    Raises ``InUse`` while something has the file to itself."""
    fd = _beside(db, _OPEN)
    if not _try(fd, fcntl.LOCK_SH):
        os.close(fd)
        raise InUse(f"{db} is being rebuilt; open it when the rebuild is done")
    return fd


@contextmanager
def alone(db: Path) -> Iterator[None]:
    """``db`` to the caller alone: raises ``InUse`` while any store has it open,
    and keeps stores from opening it meanwhile."""
    fd = _beside(db, _OPEN)
    try:
        if not _try(fd, fcntl.LOCK_EX):
            raise InUse(
                f"{db} is open in another process (a server, or an engine's store): stop it first"
            )
        yield
    finally:
        os.close(fd)
