"""Where a group commit's time goes, timed inside the server process.

``python -m benchmarks.http --writer-cycle`` installs this into the server
before it starts. It wraps ``Writer._commit`` and the writer's commit thread,
so each batch records four intervals:

- prepare: on the loop thread, from the batch's start (rule checks, hashing,
  inserts, the summary hook) until COMMIT is handed to the commit thread;
- to thread: from that hand-off until the commit thread runs it (a thread
  wake-up, a free CPU and the GIL);
- COMMIT: SQLite's COMMIT on that thread: the WAL write, the fsync, and
  taking the GIL back afterwards;
- back to loop: from the end of COMMIT until ``_commit`` returns: the writer
  task's wake-up on the loop, then adopting the batch's state and attaching
  each new execution's events (microseconds).

The sum is the cycle a request waits through. Requests that arrive during
one cycle form the next batch, so the requests per batch show how much the
group commit amortises. It is white-box on purpose (it patches private
methods): a benchmark instrument, never imported by the packages.

For scale, the same COMMIT with nothing else running in the process:

    .venv/bin/python -m benchmarks.writer_cycle [--events 27] [--batches 2000]
"""

from __future__ import annotations

import argparse
import atexit
import json
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from time import perf_counter
from typing import Any, Final

from eventstore import requests, schema, writer

from .gil_contention import make_rows

FIELDS: Final = ("requests", "prepare", "to thread", "COMMIT", "back to loop", "cycle")


class _TimedThread(ThreadPoolExecutor):
    """The commit thread, noting when each job was handed over, started and ended."""

    def __init__(self) -> None:
        super().__init__(1, thread_name_prefix="execstore-commit")
        self.marks: list[float] = [0.0, 0.0, 0.0]

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        marks = self.marks
        marks[0] = perf_counter()

        def timed() -> Any:
            marks[1] = perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                marks[2] = perf_counter()

        return super().submit(timed)


def install(out: Path) -> None:
    """Patch the writer of this process; write the summary to ``out`` at exit."""
    cycles: list[tuple[float, ...]] = []
    original_init = writer.Writer.__init__
    original_commit = writer.Writer._commit

    def init(self: writer.Writer, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._commit_thread.shutdown()
        self._commit_thread = _TimedThread()

    async def commit(
        self: writer.Writer, batch: Sequence[requests.Request]
    ) -> tuple[list[requests.Outcome], Any]:
        start = perf_counter()
        result = await original_commit(self, batch)
        end = perf_counter()
        pool = self._commit_thread
        if isinstance(pool, _TimedThread):
            handed, began, ended = pool.marks
            parts = (handed - start, began - handed, ended - began, end - ended, end - start)
            cycles.append((float(len(batch)), *(1000 * p for p in parts)))
        return result

    writer.Writer.__init__ = init  # type: ignore[method-assign]
    writer.Writer._commit = commit  # type: ignore[method-assign]
    atexit.register(lambda: out.write_text(json.dumps(cycles)))


def report(path: Path) -> str:
    """p50, mean and p90 of each interval, in ms, over the batches recorded."""
    try:
        cycles = json.loads(path.read_text())
    except (OSError, ValueError):
        return "writer cycle: nothing recorded (the server did not exit cleanly)"
    if not cycles:
        return "writer cycle: no batch was committed"
    lines = [
        f"writer cycle, in the server ({len(cycles):,} batches; ms, requests per batch):",
        f"  {'':<14} {'p50':>8} {'mean':>8} {'p90':>8}",
    ]
    for index, name in enumerate(FIELDS):
        column = sorted(cycle[index] for cycle in cycles)
        p50, p90 = column[len(column) // 2], column[int(len(column) * 0.9)]
        mean = sum(column) / len(column)
        lines.append(f"  {name:<14} {p50:>8.2f} {mean:>8.2f} {p90:>8.2f}")
    return "\n".join(lines)


def commit_alone(events: int, batches: int) -> list[float]:
    """COMMIT times (ms) of ``batches`` transactions of ``events`` log rows
    each, on the log's schema with the server's pragmas, in this thread only."""
    rows = make_rows(events * batches)
    taken = []
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "c.db", isolation_level=None)
        try:
            schema.configure(conn, "full")
            schema.migrate(conn)
            for start in range(0, len(rows), events):
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(writer._INSERT_EVENT, rows[start : start + events])
                began = perf_counter()
                conn.execute("COMMIT")
                taken.append(1000 * (perf_counter() - began))
        finally:
            conn.close()
    return taken


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.writer_cycle")
    parser.add_argument("--events", type=int, default=27, help="log rows per transaction")
    parser.add_argument("--batches", type=int, default=2000)
    args = parser.parse_args(argv)
    column = sorted(commit_alone(args.events, args.batches))
    p50, p90 = column[len(column) // 2], column[int(len(column) * 0.9)]
    mean = sum(column) / len(column)
    print(f"COMMIT alone, {args.events} events a transaction, synchronous=FULL, WAL:")
    print(f"  p50 {p50:.2f} ms, mean {mean:.2f} ms, p90 {p90:.2f} ms ({len(column):,} commits)")


if __name__ == "__main__":
    main()
