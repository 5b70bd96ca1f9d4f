"""The rebuild's replay, folded by worker processes while this one writes.

Folding is most of a rebuild's time and runs in Python, one core at a time;
on a machine with several cores, workers fold and the main process only
writes. Each worker owns the executions whose id leaves its remainder modulo
the number of workers, so no execution is folded in two places. The log is
cut into rounds of ``batch_size`` positions; every worker reads its share of
a round (SQLite skips the other rows in C), folds it with the same
``SummaryHook.fold`` the writer runs inside each commit, and sends the rows
and retry links. The main process writes a round once every worker has sent
it: the rows (disjoint between workers), then the links in log order, so the
first successful retry in the log still wins.

A worker is ``python -m projections.rebuild_workers``, not a multiprocessing
child: it imports nothing of the caller's ``__main__`` and shares no SQLite
handle. It writes length-prefixed msgpack frames to its stdout, and a pipe's
buffer is all it may fold ahead: memory stays bounded by a round per worker.
"""

from __future__ import annotations

import argparse
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, closing
from pathlib import Path
from typing import IO, Any, Final

import msgspec

from eventstore.reads import fold_share_sync
from eventstore.schema import immediate

from .summary import SummaryHook, write

_LENGTH: Final = struct.Struct("<I")


class Round(msgspec.Struct, array_like=True, tag=True):
    """One worker's share of one round: rows (their columns, in
    ``ROW_COLUMNS`` order), links, events folded, executions created."""

    rows: list[tuple[Any, ...]]
    links: list[tuple[int, int, int]]
    events: int
    created: int


class Failure(msgspec.Struct, array_like=True, tag=True):
    message: str


_decoder: Final = msgspec.msgpack.Decoder(Round | Failure)
_encoder: Final = msgspec.msgpack.Encoder()


class WorkerFailed(RuntimeError):
    """A fold worker raised (its message says what) or died."""


def replay_in_workers(
    conn: sqlite3.Connection,
    path: Path,
    head: int,
    *,
    workers: int,
    batch_size: int,
    progress: Callable[[int], None],
) -> tuple[int, int]:
    """Replay positions 1..``head`` into the view on ``conn``; return how many
    events and how many new executions were folded."""
    events = executions = 0
    with ExitStack() as stack:
        processes = [
            stack.enter_context(_start(path, head, batch_size, workers, share))
            for share in range(workers)
        ]
        for _ in range(0, head, batch_size):
            parts = [_receive(process) for process in processes]
            rows = [row for part in parts for row in part.rows]
            links = sorted(link for part in parts for link in part.links)
            with immediate(conn):
                write(conn, rows, links)
            events += sum(part.events for part in parts)
            executions += sum(part.created for part in parts)
            progress(events)
    return events, executions


def _start(path: Path, head: int, batch_size: int, shares: int, share: int) -> _Worker:
    command = [
        sys.executable,
        "-m",
        __name__,
        str(path),
        str(head),
        str(batch_size),
        str(shares),
        str(share),
    ]
    return _Worker(command)


class _Worker(subprocess.Popen[bytes]):
    """A worker that is waited for when the rebuild ends, and killed first if it failed."""

    def __init__(self, command: Sequence[str]) -> None:
        super().__init__(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if kind is not None and self.poll() is None:
            self.kill()
        super().__exit__(kind, value, traceback)  # type: ignore[arg-type]


def _receive(process: subprocess.Popen[bytes]) -> Round:
    assert process.stdout is not None
    item = _read_frame(process.stdout)
    if item is None:
        process.wait()
        assert process.stderr is not None
        said = process.stderr.read().decode(errors="replace").strip().splitlines()
        last = said[-1] if said else "no message"
        raise WorkerFailed(f"a fold worker exited with {process.returncode}: {last}")
    if isinstance(item, Failure):
        raise WorkerFailed(f"a fold worker failed: {item.message}")
    return item


def _read_frame(source: IO[bytes]) -> Round | Failure | None:
    header = source.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(header)
    body = source.read(size)
    if len(body) < size:
        return None
    item: Round | Failure = _decoder.decode(body)
    return item


def _send(sink: IO[bytes], item: Round | Failure) -> None:
    body = _encoder.encode(item)
    sink.write(_LENGTH.pack(len(body)))
    sink.write(body)
    sink.flush()  # the main process waits for this round; the pipe is the backpressure


def fold_rounds(
    conn: sqlite3.Connection, head: int, batch_size: int, shares: int, share: int
) -> Iterator[Round]:
    """This share of every round, in round order."""
    # The cache keeps executions that span rounds; it holds only this share's.
    hook = SummaryHook(cache_size=batch_size)
    for start in range(0, head, batch_size):
        batch = fold_share_sync(conn, start, min(start + batch_size, head), shares, share)
        folded = hook.fold(conn, batch)
        created = sum(1 for event in batch if event.version == 1)
        rows = list(folded.rows)
        yield Round(rows, list(folded.links), len(batch), created)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one fold worker of execstore rebuild")
    for name in ("db", "head", "batch_size", "shares", "share"):
        parser.add_argument(name, type=str if name == "db" else int)
    args = parser.parse_args(argv)
    sink = sys.stdout.buffer
    try:
        uri = f"{Path(args.db).resolve().as_uri()}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            for part in fold_rounds(conn, args.head, args.batch_size, args.shares, args.share):
                _send(sink, part)
    except Exception as exc:  # the main process raises it, with this text
        _send(sink, Failure(f"{type(exc).__name__}: {exc}"))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
