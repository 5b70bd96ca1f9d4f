"""Rebuild the view tables from the log: drop them, then replay every event.

The replay feeds the log, in position order and in batches, to a fresh
``SummaryHook``: the very code the writer runs inside each commit. The rebuilt
rows therefore equal the incremental ones by construction (DESIGN.md,
invariant 3), retry links included, since those too follow log order.

Run it while no server writes to the file. Each batch is its own
``BEGIN IMMEDIATE`` transaction, so a writer that runs anyway never writes in
the middle of a batch: it waits, and gets SQLITE_BUSY after its busy timeout.
Between batches it could write, and a retry link it set then, ahead of the
replay, could name the wrong retry. An interrupted rebuild leaves the view
partly filled: run it again, it starts from nothing.

Memory stays bounded whatever the size of the log: one batch of events, and
the hook's cache of at most ``batch_size`` folded executions (those still
running across a batch boundary, so that they need not be folded again).
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import time
from pathlib import Path
from typing import Final, TextIO

import msgspec

from eventstore import schema
from eventstore.reads import head_sync

from . import summary
from .summary import SummaryHook, replay_batch

# Redraws of the progress bar: often enough to look live, rarely enough to cost nothing.
_REDRAW_SECONDS: Final = 0.1
_BAR_WIDTH: Final = 30


class RebuildStats(msgspec.Struct, frozen=True):
    events: int
    executions: int
    seconds: float


def rebuild(path: str | Path, *, batch_size: int = 5000, progress: bool = False) -> RebuildStats:
    """Drop the view tables of the log at ``path`` and replay the whole log into them.

    Raises ``FileNotFoundError`` for a missing file (never creates one) and
    ``SchemaTooNew`` for a file from a newer release, as the store does. A
    file from an older release is migrated first, as opening the store would.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no event log at {path}")
    started = time.perf_counter()
    # mode=rw: should the file vanish after the check, fail rather than create it.
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None)
    try:
        schema.configure(conn, "full")
        schema.migrate(conn)
        _reset(conn)
        bar = _Progress(head_sync(conn), sys.stderr) if progress else None
        events, executions = _replay(conn, batch_size, bar)
    finally:
        conn.close()
    return RebuildStats(events, executions, time.perf_counter() - started)


def _replay(conn: sqlite3.Connection, batch_size: int, bar: _Progress | None) -> tuple[int, int]:
    hook = SummaryHook(cache_size=batch_size)
    position = events = executions = 0
    try:
        while (step := replay_batch(conn, hook, position, batch_size)) is not None:
            position, count, new = step
            events += count
            executions += new
            if bar is not None:
                bar.update(events)
    finally:
        if bar is not None:
            bar.close(events)
    return events, executions


def _reset(conn: sqlite3.Connection) -> None:
    """Empty view tables at this release's version."""
    # Refuses view tables from a newer release before anything is dropped. Tables
    # it cannot make sense of (a version row lost) are about to be dropped anyway.
    with contextlib.suppress(sqlite3.OperationalError):
        summary.migrate(conn)
    # One transaction: a version row left without its table would be taken as up to date.
    with summary.immediate(conn):
        summary.drop(conn)
    summary.migrate(conn)


class _Progress:
    """A one-line text bar: events done of the total, and the rate."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self._total = total
        self._stream = stream
        self._started = self._drawn = time.monotonic()
        self._draw(0)

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self._drawn >= _REDRAW_SECONDS:
            self._drawn = now
            self._draw(done)

    def close(self, done: int) -> None:
        self._draw(done)
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
