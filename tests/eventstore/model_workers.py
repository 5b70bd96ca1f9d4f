"""Worker processes that each hold an ``EventStore`` on a shared file and
run the creates and appends a test sends them, driven through pipes.

A worker answers each command with one reply: ``None`` for ``Open`` and
``Close``, a list of outcomes for ``Creates`` and ``Appends`` (in the order
of the calls), or ``Crash`` with the traceback of anything unexpected. The
calls of one command are submitted together (``asyncio.gather``, in order),
so the worker's writer batches them and keeps their order. Errors come back
as ``Refused`` (the store's exceptions do not pickle: their ``__init__``
takes other arguments than ``args``).

This module imports only the store and the summary hook: it is what a
spawned worker imports.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Final

from eventstore import (
    AppendResult,
    CreatedExecution,
    EventData,
    EventStore,
    ExecutionQueued,
    NewEvent,
)
from projections.summary import SummaryHook

# How long a worker may take to answer one command before the test gives up on it.
REPLY_TIMEOUT: Final = 60.0
JOIN_TIMEOUT: Final = 10.0


@dataclass(frozen=True)
class Open:
    """Open a store with the summary hook on ``path`` (closing the one open before)."""

    path: str


@dataclass(frozen=True)
class CreateCall:
    queued: ExecutionQueued
    events: list[EventData | NewEvent]


@dataclass(frozen=True)
class AppendCall:
    execution_id: int
    events: list[EventData | NewEvent]
    expected_version: int | None


@dataclass(frozen=True)
class Creates:
    calls: list[CreateCall]


@dataclass(frozen=True)
class Appends:
    calls: list[AppendCall]


@dataclass(frozen=True)
class Close:
    pass


Command = Open | Creates | Appends | Close


@dataclass(frozen=True)
class Refused:
    """A call that raised: the exception's class and message."""

    kind: type[BaseException]
    message: str


@dataclass(frozen=True)
class Crash:
    """A command that failed as a whole, with the worker's traceback."""

    text: str


Outcome = AppendResult | CreatedExecution | Refused
Reply = list[Outcome] | Crash | None


class _Handler:
    def __init__(self) -> None:
        self.store: EventStore | None = None

    async def handle(self, command: Command) -> list[Outcome] | None:
        if isinstance(command, Open):
            await self.close()
            opened = EventStore(command.path, hook=SummaryHook())
            await opened.open()
            self.store = opened
            return None
        if isinstance(command, Close):
            await self.close()
            return None
        store = self.store
        assert store is not None, "no store open"
        if isinstance(command, Creates):
            created = await asyncio.gather(
                *[store.create_execution(c.queued, c.events) for c in command.calls],
                return_exceptions=True,
            )
            return [_outcome(o) for o in created]
        appended = await asyncio.gather(
            *[
                store.append(c.execution_id, c.events, expected_version=c.expected_version)
                for c in command.calls
            ],
            return_exceptions=True,
        )
        return [_outcome(o) for o in appended]

    async def close(self) -> None:
        store, self.store = self.store, None
        if store is not None:
            await store.close()


def _outcome(result: AppendResult | CreatedExecution | BaseException) -> Outcome:
    if isinstance(result, BaseException):
        return Refused(type(result), str(result))
    return result


def serve(conn: Connection) -> None:
    """A worker's life: answer commands until the test closes its end of the pipe."""
    handler = _Handler()
    with conn, asyncio.Runner() as runner:
        try:
            while True:
                try:
                    command = conn.recv()
                except (EOFError, OSError):  # the test closed its end
                    return
                reply: Reply
                try:
                    reply = runner.run(handler.handle(command))
                except Exception:
                    reply = Crash(traceback.format_exc())
                conn.send(reply)
        finally:
            runner.run(handler.close())


class Workers:
    """The test's end of the pipes to its worker processes."""

    def __init__(self, processes: Sequence[BaseProcess], pipes: Sequence[Connection]) -> None:
        self.processes = list(processes)
        self.pipes = list(pipes)
        self.broken: str | None = None

    def __len__(self) -> int:
        return len(self.pipes)

    def ask(self, commands: dict[int, Command]) -> dict[int, list[Outcome] | None]:
        """Send each worker its command, all before any answer is awaited (so
        they run at once), then collect every answer (so the pipes stay in
        step even when one fails)."""
        if self.broken is not None:
            raise AssertionError(f"a worker failed earlier: {self.broken}")
        for index, command in commands.items():
            try:
                self.pipes[index].send(command)
            except OSError as error:
                self.broken = f"worker {index} is gone ({error!r})"
                raise AssertionError(self.broken) from None
        replies = {index: self._receive(index) for index in commands}
        for index, reply in replies.items():
            if isinstance(reply, Crash):
                raise AssertionError(f"worker {index} failed:\n{reply.text}")
        if self.broken is not None:
            raise AssertionError(self.broken)
        return {index: reply for index, reply in replies.items() if not isinstance(reply, Crash)}

    def everyone(self, command: Command) -> None:
        self.ask(dict.fromkeys(range(len(self)), command))

    def _receive(self, index: int) -> Reply:
        pipe = self.pipes[index]
        if self.broken is not None:
            return None
        try:
            if pipe.poll(REPLY_TIMEOUT):
                reply: Reply = pipe.recv()
                return reply
            self.broken = f"worker {index} did not answer within {REPLY_TIMEOUT} s"
        except (EOFError, OSError) as error:
            self.broken = f"worker {index} is gone ({error!r})"
        return None


@contextmanager
def started(count: int) -> Iterator[Workers]:
    """``count`` spawned workers; on leaving, their pipes closed (which ends
    them) and each joined, or killed by its own PID if it does not end."""
    context = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = []
    pipes: list[Connection] = []
    try:
        for index in range(count):
            ours, theirs = context.Pipe()
            pipes.append(ours)
            process: BaseProcess
            try:
                process = context.Process(
                    target=serve, args=(theirs,), name=f"model-worker-{index}", daemon=True
                )
                process.start()
            finally:
                theirs.close()
            processes.append(process)
        yield Workers(processes, pipes)
    finally:
        for pipe in pipes:
            pipe.close()
        for process in processes:
            process.join(JOIN_TIMEOUT)
            if process.exitcode is None:
                process.kill()
                process.join()
            process.close()
