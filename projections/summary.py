"""The summary table: one row per execution, kept in step with the log.

``SummaryHook`` is the log's commit hook: the writer calls it inside each
write transaction, so a row is exactly as durable as the events it reflects.
A row (``views.SummaryRow``) is a function of the execution's folded detail
(``views.summary_row``; the hook computes the same row with the leaner
``summary_fold``), plus
``retry_success_id``, which only another execution's events can set: when an
execution with ``retry_of = X`` completes, X's row points at it (the first
such success in log order wins, so a rebuild gives the same answer).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final, NamedTuple

from eventstore import RecordedEvent
from eventstore.reads import events_for_folds_sync, execution_events_sync, head_sync
from eventstore.recent import RecentlyUsed
from eventstore.schema import immediate

from . import summary_fold
from .summary_fold import SummaryFold, fold_summary
from .views import ROW_COLUMNS

TABLE: Final = "execution_summary"
POSITION_TABLE: Final = "execution_summary_position"
CATCH_UP_BATCH: Final = 5000
# The summary folds kept for the executions last written, by their weight.
FOLD_CACHE_BYTES: Final = 64 * 1024 * 1024

# The columns the table was created with (migration 1): the schema's history,
# as the migrations below need it. A row names its columns by ``SummaryRow``'s fields.
_FIRST_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("id", "INTEGER PRIMARY KEY"),
    ("uuid", "TEXT NOT NULL"),
    ("external_id", "TEXT"),
    ("workflow_id", "TEXT NOT NULL"),
    ("workflow_name", "TEXT"),
    ("workflow_version", "INTEGER"),
    ("status", "TEXT NOT NULL"),
    ("trigger", "TEXT NOT NULL"),
    ("display_name", "TEXT"),
    ("test_mode", "INTEGER NOT NULL"),
    ("team_id", "TEXT"),
    ("created_at", "INTEGER NOT NULL"),
    ("started_at", "INTEGER"),
    ("finished_at", "INTEGER"),
    ("duration_ms", "INTEGER"),
    ("tokens", "INTEGER NOT NULL"),
    ("nodes_total", "INTEGER NOT NULL"),
    ("nodes_running", "INTEGER NOT NULL"),
    ("nodes_completed", "INTEGER NOT NULL"),
    ("nodes_failed", "INTEGER NOT NULL"),
    ("steps", "INTEGER NOT NULL"),
    ("error_code", "TEXT"),
    ("error_message", "TEXT"),
    ("error_node_id", "TEXT"),
    ("retry_of", "INTEGER"),
    ("wait_till", "INTEGER"),
    ("cancel_requested", "INTEGER NOT NULL"),
    ("version", "INTEGER NOT NULL"),
    ("position", "INTEGER NOT NULL"),
    ("updated_at", "INTEGER NOT NULL"),
)
# Added by migration 2. Lists leave deleted rows out, so every index ends in it:
# the index alone still decides, and counts stay covering.
DELETED_AT: Final = ("deleted_at", "INTEGER")
# Set only by other executions' events, so the upsert leaves it alone.
RETRY_SUCCESS: Final = ("retry_success_id", "INTEGER")
# The indexes of migration 1 (name -> columns); migration 2 appends deleted_at to each.
_INDEXED: Final[dict[str, str]] = {
    f"{TABLE}_created": "created_at, id",
    f"{TABLE}_status": "status, created_at, id",
    f"{TABLE}_workflow": "workflow_id, created_at, id",
    f"{TABLE}_workflow_status": "workflow_id, status, created_at, id",
    f"{TABLE}_team": "team_id, created_at, id",
}

# Each migration takes the view tables from version i to i + 1. A file from
# before execution.deleted existed holds no such event (that release refused
# the type), so the column added by migration 2 is rightly NULL in every row.
MIGRATIONS: Final[tuple[str, ...]] = (
    f"""
    CREATE TABLE {TABLE}(
        {", ".join(f"{name} {kind}" for name, kind in (*_FIRST_COLUMNS, RETRY_SUCCESS))}
    ) STRICT;
    CREATE INDEX {TABLE}_created ON {TABLE}(created_at, id);
    CREATE INDEX {TABLE}_status ON {TABLE}(status, created_at, id);
    CREATE INDEX {TABLE}_workflow ON {TABLE}(workflow_id, created_at, id);
    CREATE INDEX {TABLE}_workflow_status ON {TABLE}(workflow_id, status, created_at, id);
    CREATE INDEX {TABLE}_team ON {TABLE}(team_id, created_at, id);
    """,
    f"ALTER TABLE {TABLE} ADD COLUMN {' '.join(DELETED_AT)};"
    + "".join(
        f"DROP INDEX {name}; CREATE INDEX {name} ON {TABLE}({columns}, deleted_at);"
        for name, columns in _INDEXED.items()
    ),
    # 3: the last log position the table has folded, so that whoever writes
    # next folds what a process without the hook wrote before it.
    f"""
    CREATE TABLE {POSITION_TABLE}(
        one INTEGER PRIMARY KEY CHECK (one = 1),
        position INTEGER NOT NULL
    ) STRICT;
    INSERT INTO {POSITION_TABLE} VALUES (1, 0);
    """,
)
VERSION_TABLE: Final = "projection_versions"
NAME: Final = "summary"
# The migration that began keeping the table's position (1-based).
POSITIONS_SINCE: Final = 3
# Every version of an execution.
_ALL: Final = 2**62
# Present while a rebuild runs with the indexes dropped (see ``indexes_dropped``).
REBUILDING: Final = "summary:rebuilding"

# Taken from the execution.queued event, so never changed once the row is written.
_WRITTEN_ONCE: Final = frozenset(
    {
        *("id", "uuid", "external_id", "workflow_id", "workflow_name", "workflow_version"),
        *("trigger", "display_name", "test_mode", "team_id", "created_at", "retry_of"),
    }
)
# A new row is written whole. An update sets only what events change, so SQLite
# rewrites only the indexes made of those: status's two, not created_at's,
# workflow_id's or team_id's. Every index ends in deleted_at, so it is set apart
# (``_MARK_DELETED``), as is the retry link (``_LINK_RETRY``), which only another
# execution's events set.
_UPSERT: Final = (
    f"INSERT INTO {TABLE}({', '.join(ROW_COLUMNS)}) VALUES ({', '.join('?' * len(ROW_COLUMNS))})"
    " ON CONFLICT(id) DO UPDATE SET "
    + ", ".join(
        f"{name} = excluded.{name}"
        for name in ROW_COLUMNS
        if name not in _WRITTEN_ONCE | {DELETED_AT[0], RETRY_SUCCESS[0]}
    )
)
_MARK_DELETED: Final = f"UPDATE {TABLE} SET deleted_at = ? WHERE id = ?"
_ID, _DELETED = ROW_COLUMNS.index("id"), ROW_COLUMNS.index(DELETED_AT[0])
_LINK_RETRY: Final = (
    f"UPDATE {TABLE} SET retry_success_id = ? WHERE id = ? AND retry_success_id IS NULL"
)


def migrate(conn: sqlite3.Connection) -> int:
    """Create or bring the view tables up to date (inside its own transaction);
    return the version found (0: the table was just created)."""
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE}(name TEXT PRIMARY KEY, version INTEGER"
        " NOT NULL) STRICT"
    )
    row = conn.execute(f"SELECT version FROM {VERSION_TABLE} WHERE name = ?", (NAME,)).fetchone()
    found = 0 if row is None else int(row[0])
    if found > len(MIGRATIONS):
        raise RuntimeError(f"the summary table has version {found}, newer than this release's")
    for version in range(found, len(MIGRATIONS)):
        with immediate(conn):
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                f"INSERT OR REPLACE INTO {VERSION_TABLE}(name, version) VALUES (?, ?)",
                (NAME, version + 1),
            )
    return found


def replay_batch(
    conn: sqlite3.Connection, hook: SummaryHook, position: int, batch_size: int
) -> tuple[int, int, int] | None:
    """Feed the events after ``position``, at most ``batch_size``, to ``hook`` in
    one transaction: their last position, how many, how many executions they
    created. None at the end of the log.

    The batch is let go on return, before the next one is read.
    """
    try:
        with immediate(conn):
            batch = events_for_folds_sync(conn, position, batch_size)
            if batch:
                hook.on_commit(conn, batch)
    except BaseException:
        hook.settled(False)
        raise
    hook.settled(True)
    if not batch:
        return None
    return batch[-1].position, len(batch), sum(1 for event in batch if event.version == 1)


class Folded(NamedTuple):
    """What a batch of events does to the view, ready to write: the rows of
    the executions it touched (their columns, in ``ROW_COLUMNS`` order), and
    its retry links as ``(position of the completion, successful retry, the
    execution it retried)``, in log order."""

    rows: Sequence[tuple[Any, ...]]
    links: Sequence[tuple[int, int, int]]


def write(
    conn: sqlite3.Connection,
    rows: Sequence[Sequence[Any]],
    links: Sequence[tuple[int, int, int]],
) -> None:
    """Write rows (their columns, in ``ROW_COLUMNS`` order) and retry links, inside the
    caller's transaction. Links go in the order given: the first successful
    retry in the log wins."""
    conn.executemany(_UPSERT, rows)
    # Nothing is recorded after execution.deleted, so this runs once per
    # deleted execution: in the write that holds its delete.
    deleted = [(row[_DELETED], row[_ID]) for row in rows if row[_DELETED] is not None]
    if deleted:
        conn.executemany(_MARK_DELETED, deleted)
    if links:
        conn.executemany(_LINK_RETRY, [(retry, of) for _, retry, of in links])


def drop(conn: sqlite3.Connection) -> None:
    """Remove the view tables (a rebuild starts from nothing)."""
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    conn.execute(f"DROP TABLE IF EXISTS {POSITION_TABLE}")
    conn.execute(f"DELETE FROM {VERSION_TABLE} WHERE name IN (?, ?)", (NAME, REBUILDING))


@contextmanager
def indexes_dropped(conn: sqlite3.Connection) -> Iterator[None]:
    """The table without its indexes for the block, and with them again after it.

    A marker row stands in the version table meanwhile, committed with the
    drop and removed with the rebuild of the indexes: if the process dies in
    between, ``SummaryHook.setup`` finds it and replays the view afresh.
    """
    with immediate(conn):
        found = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
            " AND sql IS NOT NULL ORDER BY name",
            (TABLE,),
        ).fetchall()
        for name, _ in found:
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute(
            f"INSERT OR REPLACE INTO {VERSION_TABLE}(name, version) VALUES (?, 1)", (REBUILDING,)
        )
    yield
    with immediate(conn):
        for _, sql in found:
            conn.execute(sql)
        conn.execute(f"DELETE FROM {VERSION_TABLE} WHERE name = ?", (REBUILDING,))


def folded_through(conn: sqlite3.Connection) -> int:
    """The last log position the table has folded."""
    (position,) = conn.execute(f"SELECT position FROM {POSITION_TABLE}").fetchone()
    return int(position)


def set_folded_through(conn: sqlite3.Connection, position: int) -> None:
    conn.execute(f"UPDATE {POSITION_TABLE} SET position = ?", (position,))


def interrupted(conn: sqlite3.Connection) -> bool:
    """Whether a rebuild died with the indexes dropped (the view is partial)."""
    try:
        row = conn.execute(
            f"SELECT 1 FROM {VERSION_TABLE} WHERE name = ?", (REBUILDING,)
        ).fetchone()
    except sqlite3.OperationalError:  # no version table: no view yet
        return False
    return row is not None


class SummaryHook:
    """Keeps ``execution_summary`` in step with the log, inside each write.

    Rows come from ``summary_fold``, which folds only what a row needs, in
    place; it gives the rows ``summary_row`` gives from the detail fold.

    It caches the folds of recent executions. A cached fold is used only when
    it is exactly one version behind the incoming event; otherwise (evicted,
    or written since by another process) the execution is folded again from
    the file. Folds are stepped in place, inside the write: when that write
    rolls back (``settled(False)``), the folds it stepped are dropped, since
    another process may write those versions with other events next.
    """

    def __init__(self, cache_size: int = 20_000) -> None:
        self._folds: RecentlyUsed[int, SummaryFold] = RecentlyUsed(
            cache_size, FOLD_CACHE_BYTES, _fold_weight
        )
        self._unsettled: set[int] = set()  # executions folded in the open write

    def setup(self, conn: sqlite3.Connection) -> None:
        if interrupted(conn):
            # A rebuild was killed half way: its rows are partial and its
            # indexes gone. Start the view again from the log.
            with immediate(conn):
                drop(conn)
        found = migrate(conn)
        if found == 0:
            # A log written before the view existed: fill the new table from
            # it, or earlier executions would never get rows.
            position = 0
            while (step := replay_batch(conn, self, position, CATCH_UP_BATCH)) is not None:
                position = step[0]
        elif found < POSITIONS_SINCE:
            with immediate(conn):
                self._repair(conn)
        if folded_through(conn) < head_sync(conn):
            with immediate(conn):
                self.catch_up(conn)
        self.settled(True)  # each step above committed, or raised out of the open

    def on_commit(self, conn: sqlite3.Connection, events: Sequence[RecordedEvent]) -> None:
        if not events:
            return
        first = events[0].position
        if folded_through(conn) < first - 1:  # another process wrote without the hook
            self._fold_range(conn, first - 1)
        write(conn, *self.fold(conn, events))
        set_folded_through(conn, events[-1].position)

    def catch_up(self, conn: sqlite3.Connection) -> None:
        self._fold_range(conn, head_sync(conn))

    def _fold_range(self, conn: sqlite3.Connection, through: int) -> None:
        """Fold the log from the table's position through ``through``, a
        bounded batch at a time, in the caller's transaction."""
        position = folded_through(conn)
        while position < through:
            batch = [
                e
                for e in events_for_folds_sync(conn, position, CATCH_UP_BATCH)
                if e.position <= through
            ]
            if not batch:
                break
            write(conn, *self.fold(conn, batch))
            position = batch[-1].position
        set_folded_through(conn, max(position, through))

    def _repair(self, conn: sqlite3.Connection) -> None:
        """Refold the executions whose rows are missing or behind their log: a
        table from before positions were kept cannot say what it missed (events
        written by a process without the hook), so it is checked row by row."""
        stale = conn.execute(
            f"SELECT x.id FROM executions x LEFT JOIN {TABLE} s ON s.id = x.id"
            " WHERE s.id IS NULL OR s.version <"
            " (SELECT max(e.version) FROM events e WHERE e.execution_id = x.id)"
        ).fetchall()
        for (execution_id,) in stale:
            events = execution_events_sync(conn, execution_id, _ALL)
            write(conn, *self.fold(conn, events))
        set_folded_through(conn, head_sync(conn))

    def fold(self, conn: sqlite3.Connection, events: Sequence[RecordedEvent]) -> Folded:
        """The rows and retry links that ``events`` make, without writing them;
        ``conn`` is read only for executions not in the cache."""
        touched: dict[int, SummaryFold] = {}
        links: list[tuple[int, int, int]] = []
        apply = summary_fold.apply  # a local: this loop runs once per event written
        for event in events:
            acc = touched.get(event.execution_id)
            if acc is None:
                acc = self._fold_through(conn, event)
                touched[event.execution_id] = acc
            else:
                apply(acc, event)
            if acc.retry_of is not None and event.type == "execution.completed":
                links.append((event.position, acc.id, acc.retry_of))
        self._remember(touched.values())
        self._unsettled.update(touched)
        return Folded([summary_fold.columns(acc) for acc in touched.values()], links)

    def _fold_through(self, conn: sqlite3.Connection, event: RecordedEvent) -> SummaryFold:
        """The fold of the execution up to and including ``event``."""
        acc = None
        if event.version > 1:
            acc = self._folds.get(event.execution_id)
            if acc is None or acc.version != event.version - 1:
                acc = fold_summary(execution_events_sync(conn, event.execution_id, event.version))
        return summary_fold.step(acc, event)

    def settled(self, committed: bool) -> None:
        if not committed:
            for execution_id in self._unsettled:
                self._folds.discard(execution_id)
        self._unsettled.clear()

    def _remember(self, folds: Iterable[SummaryFold]) -> None:
        for acc in folds:
            self._folds.store(acc.id, acc)


def _fold_weight(fold: SummaryFold) -> int:
    """About what a summary fold holds: its columns, and entries per node."""
    return 600 + 200 * (len(fold.nodes) + len(fold.failures))
