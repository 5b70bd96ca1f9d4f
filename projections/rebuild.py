"""Rebuild the view tables from the log: drop them, then replay every event.

The replay feeds the log, in position order and in batches, to a fresh
``SummaryHook``: the very code the writer runs inside each commit. The rebuilt
rows therefore equal the incremental ones by construction (DESIGN.md,
invariant 3), retry links included, since those too follow log order.

It needs the file to itself: while any store has it open (a server, an
engine's embedded store, in any process) it is refused with ``InUse``, and
no store opens the file until it is done. A store writing meanwhile would
write rows that the drop throws away, or retry links ahead of the replay.
An interrupted rebuild leaves the view partly filled: run it again, it
starts from nothing.

The table's indexes are dropped for the replay and built again at the end,
from sorted rows, which is cheaper than keeping five indexes in step with every
row. A marker row says so meanwhile: should the rebuild be killed, the store
finds the marker when it next opens the file, and replays the view afresh
from the log rather than serve a partial view without its indexes.

Memory stays bounded whatever the size of the log: one batch of events, and
the hook's cache of at most ``batch_size`` folded executions (those still
running across a batch boundary, so that they need not be folded again).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Final, TextIO

from eventstore import schema
from eventstore.frozen import Frozen
from eventstore.reads import head_sync
from eventstore.writelock import alone

from . import summary
from .rebuild_workers import replay_in_workers
from .summary import SummaryHook, replay_batch

# Redraws of the progress bar: often enough to look live, rarely enough to cost nothing.
_REDRAW_SECONDS: Final = 0.1
_BAR_WIDTH: Final = 30
# Fold workers pay for themselves from about this many events (each takes ~0.3 s to start).
PARALLEL_FROM: Final = 200_000
MAX_WORKERS: Final = 2


class RebuildStats(Frozen):
    events: int
    executions: int
    seconds: float


def rebuild(
    path: str | Path,
    *,
    batch_size: int = 5000,
    progress: bool = False,
    workers: int | None = None,
) -> RebuildStats:
    """Drop the view tables of the log at ``path`` and replay the whole log into them.

    ``workers`` processes fold while this one writes (``rebuild_workers``); 0
    folds here. By default, one per core up to ``MAX_WORKERS`` once the log has
    ``PARALLEL_FROM`` events (below that, starting them costs more than they save).

    Raises ``FileNotFoundError`` for a missing file (never creates one) and
    ``SchemaTooNew`` for a file from a newer release, as the store does. A
    file from an older release is migrated first, as opening the store would.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be 0 or more, not {workers}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no event log at {path}")
    started = time.perf_counter()
    with alone(path):  # a store open meanwhile would write rows the drop throws away
        return _rebuild(path, batch_size, workers, progress, started)


def _rebuild(
    path: Path, batch_size: int, workers: int | None, progress: bool, started: float
) -> RebuildStats:
    # mode=rw: should the file vanish after the check, fail rather than create it.
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None)
    try:
        schema.configure(conn, "full")
        schema.migrate(conn)
        _reset(conn)
        head = head_sync(conn)
        if workers is None:
            workers = min(os.cpu_count() or 1, MAX_WORKERS) if head >= PARALLEL_FROM else 0
        bar = _Progress(head, sys.stderr) if progress else None
        try:
            with summary.indexes_dropped(conn):
                events, executions = _replay(conn, path, head, batch_size, workers, bar)
        finally:
            if bar is not None:
                bar.close()
    finally:
        conn.close()
    return RebuildStats(events, executions, time.perf_counter() - started)


def _replay(
    conn: sqlite3.Connection,
    path: Path,
    head: int,
    batch_size: int,
    workers: int,
    bar: _Progress | None,
) -> tuple[int, int]:
    update = bar.update if bar is not None else _ignore
    position = events = executions = 0
    if workers > 0 and head > 0:
        events, executions = replay_in_workers(
            conn, path, head, workers=workers, batch_size=batch_size, progress=update
        )
        position = head
        with schema.immediate(conn):
            summary.set_folded_through(conn, head)
    # Here, folding alone; and after the workers, whatever a writer appended
    # meanwhile (executions they folded are read again from the file).
    hook = SummaryHook(cache_size=batch_size)
    while (step := replay_batch(conn, hook, position, batch_size)) is not None:
        position, count, new = step
        events += count
        executions += new
        update(events)
    return events, executions


def _ignore(done: int) -> None:
    pass


def _reset(conn: sqlite3.Connection) -> None:
    """Empty view tables at this release's version."""
    # Refuses view tables from a newer release before anything is dropped. Tables
    # it cannot make sense of (a version row lost) are about to be dropped anyway.
    with contextlib.suppress(sqlite3.OperationalError):
        summary.migrate(conn)
    # One transaction: a version row left without its table would be taken as up to date.
    with schema.immediate(conn):
        summary.drop(conn)
    summary.migrate(conn)


class _Progress:
    """A one-line text bar: events done of the total, and the rate."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self._total = total
        self._stream = stream
        self._started = self._drawn = time.monotonic()
        self._done = 0
        self._draw(0)

    def update(self, done: int) -> None:
        self._done = done
        now = time.monotonic()
        if now - self._drawn >= _REDRAW_SECONDS:
            self._drawn = now
            self._draw(done)

    def close(self) -> None:
        self._draw(self._done)
        self._stream.write("\n")
        self._stream.flush()

    def _draw(self, done: int) -> None:
        # A writer that ran anyway may have taken the log past the total read at the start.
        share = min(1.0, done / self._total) if self._total else 1.0
        filled = round(share * _BAR_WIDTH)
        elapsed = time.monotonic() - self._started
        rate = done / elapsed if elapsed > 0 else 0.0
        self._stream.write(
            f"\rrebuild [{'#' * filled}{'-' * (_BAR_WIDTH - filled)}]"
            f" {done:,}/{self._total:,} events {share:4.0%} {rate:,.0f} events/s"
        )
        self._stream.flush()
