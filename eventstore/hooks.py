"""The seam through which views stay in step with the log.

The writer calls ``on_commit`` inside the write transaction, after the
batch's rows are inserted and before COMMIT, so a view updated there is
exactly as durable as the events it reflects. ``eventstore`` defines this
protocol and never imports an implementation of it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Protocol

from .events import RecordedEvent


class CommitHook(Protocol):
    def setup(self, conn: sqlite3.Connection) -> None:
        """Create or migrate the hook's own tables; runs once at open."""

    def on_commit(self, conn: sqlite3.Connection, events: Sequence[RecordedEvent]) -> None:
        """Apply newly appended events; raising fails the appends, which then retry alone."""

    def catch_up(self, conn: sqlite3.Connection) -> None:
        """Apply what the log holds past what the hook has seen: events that
        another process wrote without this hook. The writer calls it inside a
        write transaction when it notices another connection's commits."""

    def settled(self, committed: bool) -> None:
        """The write transaction of the last ``on_commit`` or ``catch_up``
        ended: committed, or rolled back. A hook that keeps anything in
        memory from a write drops it here on a rollback: another process
        may write those versions next."""
