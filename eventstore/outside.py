"""What other processes wrote: how a writer notices it and carries on from
the file's real state.

Every store on a file writes. ``PRAGMA data_version`` on the writer's own
connection changes exactly when another connection (another process, or
another store in this one) has committed since the last look, and reading
it costs about a microsecond. So inside each write transaction, where no one
else can commit, the writer looks, and on a change reloads what it keeps in
memory: the head (position, hash, ``recorded_at`` clock), the next execution
id, and forgets the lifecycle states of the executions the others touched.
"""

from __future__ import annotations

import sqlite3
from typing import Final, NamedTuple

from .hashchain import GENESIS

# Past this many events written elsewhere, forgetting every cached state is
# cheaper than finding which executions they touched.
FORGET_ALL_PAST: Final = 10_000


class FileState(NamedTuple):
    position: int
    hash: bytes
    recorded_at: int
    next_id: int


def data_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def file_state(conn: sqlite3.Connection) -> FileState:
    last = conn.execute(
        "SELECT position, hash, recorded_at FROM events ORDER BY position DESC LIMIT 1"
    ).fetchone()
    (next_id,) = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM executions").fetchone()
    if last is None:
        return FileState(0, GENESIS, 0, next_id)
    return FileState(last[0], last[1], last[2], next_id)


def touched_since(conn: sqlite3.Connection, position: int, head: int) -> set[int] | None:
    """The executions that events after ``position`` belong to; None for
    more events than are worth sorting out (forget them all)."""
    if head - position > FORGET_ALL_PAST:
        return None
    # Not DISTINCT: for that the planner would scan the whole (execution_id,
    # version) index rather than the few rows after ``position``.
    rows = conn.execute("SELECT execution_id FROM events WHERE position > ?", (position,))
    return {row[0] for row in rows}
