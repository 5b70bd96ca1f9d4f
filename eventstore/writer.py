"""The one writer: a task that owns the only write connection and commits
every append that is waiting, together, in one transaction (group commit).

Callers enqueue requests and await futures that resolve only after COMMIT
returns. Everything a batch needs (rule checks, positions, the hash chain) is
computed in Python before the rows go in with one ``executemany`` per table;
a batch that fails at the SQL level is replayed one request per transaction,
so one bad append fails alone and never takes its neighbours with it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import msgspec

from . import lifecycle, outside, resends
from .errors import (
    ExecutionNotFound,
    RuleViolation,
    StoreBusy,
    VersionConflict,
    storage_failure,
)
from .events import ExecutionQueued, RecordedEvent, decode_data, now_us
from .hashchain import row_hash
from .hooks import CommitHook
from .limits import LimitExceeded, Limits
from .recent import RecentlyUsed
from .requests import (
    AppendRequest,
    AppendResult,
    CreatedExecution,
    CreateRequest,
    Outcome,
    Prepared,
    Request,
    Tx,
    with_events,
)
from .writelock import WriteLock

MAX_BATCH: Final = 512
# The lifecycle states kept for the executions last written, by their weight.
STATE_CACHE_BYTES: Final = 64 * 1024 * 1024
# Bounds how long one batch holds the event loop (about 10 us an event).
MAX_BATCH_EVENTS: Final = 2000
# Payload bytes past which a batch is written on the commit thread, start to
# COMMIT: hashing and inserting grow with the bytes (about 3 ms a MiB), and a
# request of 10 MiB would hold the loop for 30 ms. Below it the loop thread
# writes, which is faster (see benchmarks/gil_contention.py).
OFF_LOOP_BYTES: Final = 1024 * 1024

_INSERT_EVENT: Final = (
    "INSERT INTO events(position, execution_id, version, event_id, type, data,"
    " occurred_at, recorded_at, hash) VALUES (?,?,?,?,?,?,?,?,?)"
)
_INSERT_EXECUTION: Final = (
    "INSERT INTO executions(id, uuid, external_id, workflow_id, team_id, created_position)"
    " VALUES (?,?,?,?,?,?)"
)


class Writer:
    """The single writer: one asyncio task that owns the write connection.

    Rule checks, hashing and inserts run on the event-loop thread, so no row
    ever waits to re-acquire the GIL from a busy loop; only COMMIT, where
    SQLite waits for the disk with the GIL released, runs on a thread of its
    own. A batch of more than ``OFF_LOOP_BYTES`` of payloads is the
    exception: all of it runs on that thread, so the loop keeps its turns.
    Requests that arrive during a commit form the next batch.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        hook: CommitHook | None,
        publish: Callable[[list[RecordedEvent]], None],
        listening: Callable[[], bool],
        cache_size: int,
        limits: Limits,
        lock: WriteLock,
    ) -> None:
        self._conn = conn
        self._limits = limits
        self._lock = lock
        self._hook = hook
        self._publish = publish
        self._listening = listening
        self._pending: deque[Request] = deque()
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._commit_thread = ThreadPoolExecutor(1, thread_name_prefix="execstore-commit")
        self._task: asyncio.Task[None] | None = None
        self._states: RecentlyUsed[int, lifecycle.Lifecycle] = RecentlyUsed(
            cache_size, STATE_CACHE_BYTES, _state_weight
        )
        # The version first: a commit elsewhere between the two reads shows as a change.
        self._data_version = outside.data_version(conn)
        self._position, self._hash, self._recorded_at, self._next_id = outside.file_state(conn)

    @property
    def position(self) -> int:
        return self._position

    @property
    def next_id(self) -> int:
        return self._next_id

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="execstore-writer")

    def submit(self, request: Request) -> None:
        self._pending.append(request)
        self._wakeup.set()

    async def stop(self) -> None:
        """Finish every queued request, then close the connection."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        await asyncio.get_running_loop().run_in_executor(self._commit_thread, self._conn.close)
        self._commit_thread.shutdown()
        self._lock.close()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                await self._take_turn()
            if self._stopping:
                return

    async def _take_turn(self) -> None:
        """Write the next batch, holding the file's write lock. The batch is
        taken once the lock is ours: what arrived while other processes
        wrote joins it, so a busy file makes fewer, larger commits."""
        try:
            await self._lock.acquire()
        except StoreBusy as busy:
            batch = self._take_batch()
            self._deliver(batch, [busy] * len(batch), [])
            return
        batch = self._take_batch()
        try:
            outcomes, txs = await self._process(batch)
        finally:
            self._lock.release()
        # Answers and publishing need no lock: the next writer goes meanwhile.
        outcomes, recorded = self._finish(outcomes, txs)
        self._deliver(batch, outcomes, recorded)

    def _finish(
        self, outcomes: list[Outcome], txs: list[Tx]
    ) -> tuple[list[Outcome], list[RecordedEvent]]:
        """The committed events, if anyone reads them, and each new execution's
        answer with the events its create recorded."""
        creates = any(tx.execution_rows for tx in txs)
        if not (creates or self._hook is not None or self._listening()):
            return outcomes, []  # row tuples sufficed for the file
        recorded = [event for tx in txs for event in tx.events()]
        if creates:
            outcomes = with_events(outcomes, recorded)
        return outcomes, recorded

    def _take_batch(self) -> list[Request]:
        batch: list[Request] = []
        events = 0
        pending = self._pending
        while pending and len(batch) < MAX_BATCH and events < MAX_BATCH_EVENTS:
            request = pending.popleft()
            batch.append(request)
            events += len(request.events)
        return batch

    async def _process(self, batch: list[Request]) -> tuple[list[Outcome], list[Tx]]:
        """Each request's outcome, and the transactions that committed."""
        try:
            outcomes, tx = await self._commit(batch)
            return outcomes, [tx]
        except Exception as exc:
            self._rollback()
            failed = storage_failure(exc)
            if failed is not None:
                # The disk, not a request: one by one they would fail alike.
                return [failed] * len(batch), []
            if len(batch) == 1:
                return [resends.explain(self._conn, batch[0], exc)], []
        outcomes, txs = [], []
        for request in batch:
            one, committed = await self._commit_alone(request)
            outcomes.append(one)
            txs.extend(committed)
        return outcomes, txs

    async def _commit_alone(self, request: Request) -> tuple[Outcome, list[Tx]]:
        try:
            outcomes, tx = await self._commit([request])
            return outcomes[0], [tx]
        except Exception as exc:
            self._rollback()
            return resends.explain(self._conn, request, exc), []

    async def _commit(self, batch: Sequence[Request]) -> tuple[list[Outcome], Tx]:
        loop = asyncio.get_running_loop()
        if sum(request.size for request in batch) > OFF_LOOP_BYTES:
            # The writer task waits for the thread: nothing else touches its state meanwhile.
            outcomes, tx = await loop.run_in_executor(
                self._commit_thread, self._write_and_commit, batch
            )
        else:
            outcomes, tx = self._write(batch)
            await loop.run_in_executor(self._commit_thread, self._conn.execute, "COMMIT")
        if self._hook is not None:
            self._hook.settled(True)
        self._adopt(tx)
        return outcomes, tx

    def _write_and_commit(self, batch: Sequence[Request]) -> tuple[list[Outcome], Tx]:
        written = self._write(batch)
        self._conn.execute("COMMIT")
        return written

    def _write(self, batch: Sequence[Request]) -> tuple[list[Outcome], Tx]:
        """The batch's rule checks, hashes and rows, in a transaction left open."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        self._notice_others()
        tx = Tx(self._position, self._hash, self._next_id, max(now_us(), self._recorded_at))
        outcomes = [self._prepare_any(r, tx) for r in batch]
        if tx.execution_rows:
            conn.executemany(_INSERT_EXECUTION, tx.execution_rows)
        if tx.rows:
            conn.executemany(_INSERT_EVENT, tx.rows)
            if self._hook is not None:
                self._hook.on_commit(conn, tx.events())
        return outcomes, tx

    def _notice_others(self) -> None:
        """Carry on from the file as others left it, if another connection
        committed since this one last looked (inside the transaction, where
        nobody else can)."""
        conn = self._conn
        version = outside.data_version(conn)
        if version == self._data_version:
            return
        self._data_version = version
        state = outside.file_state(conn)
        if state.position != self._position:
            touched = outside.touched_since(conn, self._position, state.position)
            if touched is None:
                self._states.clear()
            for execution_id in touched or ():
                self._states.discard(execution_id)
        self._position, self._hash, self._recorded_at, self._next_id = state
        if self._hook is not None:
            self._hook.catch_up(conn)

    def _prepare_any(self, request: Request, tx: Tx) -> Outcome:
        if isinstance(request, AppendRequest):
            return self._prepare(request, tx)
        if isinstance(request, CreateRequest):
            return self._prepare_create(request, tx)
        # Raises out of the batch: the batch is replayed alone and this fails alone.
        return request.call(self._conn)

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        if self._hook is not None:
            self._hook.settled(False)
        # What the transaction caught up with (a hook's rows) went with it: look again next time.
        self._data_version = -1

    def _adopt(self, tx: Tx) -> None:
        self._position, self._hash = tx.position, tx.hash
        self._next_id, self._recorded_at = tx.next_id, tx.recorded_at
        for execution_id, state in tx.states.items():
            self._states.store(execution_id, state)

    def _deliver(
        self, batch: list[Request], outcomes: list[Outcome], recorded: list[RecordedEvent]
    ) -> None:
        for request, outcome in zip(batch, outcomes, strict=True):
            if request.future.done():
                continue  # the caller gave up waiting; the outcome stands in the file
            if isinstance(outcome, BaseException):
                request.future.set_exception(outcome)
            else:
                request.future.set_result(outcome)
        if recorded:
            self._publish(recorded)

    def _state(self, execution_id: int, tx: Tx) -> lifecycle.Lifecycle | None:
        state = tx.states.get(execution_id) or self._states.get(execution_id)
        if state is not None:
            return state
        rows = self._conn.execute(
            "SELECT e.data, x.workflow_id, x.team_id FROM events e"
            " JOIN executions x ON x.id = e.execution_id"
            " WHERE e.execution_id = ? ORDER BY e.version",
            (execution_id,),
        ).fetchall()
        if not rows:
            return None
        state = lifecycle.Lifecycle()
        for data, _, _ in rows:
            lifecycle.apply(state, decode_data(data))
            state.size += len(data)
        self._states.store(execution_id, state)
        return state

    def _prepare(self, request: AppendRequest, tx: Tx) -> Outcome:
        state = self._state(request.execution_id, tx)
        if state is None:
            return ExecutionNotFound(request.execution_id)
        try:
            if request.expected_version is not None and request.expected_version != state.version:
                raise VersionConflict(request.execution_id, request.expected_version, state.version)
            new = state.copy()
            for index, event in enumerate(request.events):
                lifecycle.apply(new, event.data, index)
            self._grow(new, request.size)
        except (RuleViolation, VersionConflict, LimitExceeded) as err:
            # A re-sent append breaks the rules the second time; recognise it first.
            return resends.duplicates(self._conn, request, tx.seen) or err
        positions = self._add_rows(tx, request.execution_id, state, request.events)
        tx.states[request.execution_id] = new
        return AppendResult(request.execution_id, new.version, positions)

    def _prepare_create(self, request: CreateRequest, tx: Tx) -> Outcome:
        first, *rest = request.events
        queued = first.data
        assert isinstance(queued, ExecutionQueued)
        if queued.external_id is not None:
            known = tx.created.get(queued.external_id) or resends.find_external(
                self._conn, queued.external_id
            )
            if known is not None:
                state = self._state(known.execution_id, tx)
                return msgspec.structs.replace(known, version=state.version if state else 1)
        if queued.retry_of is not None and self._state(queued.retry_of, tx) is None:
            return RuleViolation(
                "execution.retry_of_unknown", f"execution {queued.retry_of} does not exist"
            )
        empty = lifecycle.Lifecycle(workflow_id=queued.workflow_id, team_id=queued.team_id)
        new = empty.copy()
        lifecycle.apply(new, queued)
        try:
            for index, event in enumerate(rest):
                lifecycle.apply(new, event.data, index)
            self._grow(new, request.size)
        except (RuleViolation, LimitExceeded) as err:
            return err
        execution_id = tx.next_id
        tx.next_id += 1
        position = self._add_rows(tx, execution_id, empty, request.events)[0]
        tx.execution_rows.append(
            (
                execution_id,
                queued.uuid,
                queued.external_id,
                queued.workflow_id,
                queued.team_id,
                position,
            )
        )
        tx.states[execution_id] = new
        created = CreatedExecution(execution_id, queued.uuid, position, True, new.version)
        if queued.external_id is not None:
            tx.created[queued.external_id] = msgspec.structs.replace(created, created=False)
        return created

    def _grow(self, state: lifecycle.Lifecycle, size: int) -> None:
        """Count ``size`` bytes of payloads into ``state``; refuse an execution past its limits."""
        limits = self._limits
        state.size += size
        if state.version > limits.events_per_execution:
            raise LimitExceeded(
                "events",
                "events_per_execution",
                f"an execution holds at most {limits.events_per_execution:,} events;"
                f" this would make {state.version:,}",
            )
        if state.size > limits.execution_bytes:
            raise LimitExceeded(
                "events",
                "execution_bytes",
                f"an execution holds at most {limits.execution_bytes:,} bytes of payloads;"
                f" this would make {state.size:,}",
            )

    def _add_rows(
        self, tx: Tx, execution_id: int, before: lifecycle.Lifecycle, events: list[Prepared]
    ) -> tuple[int, ...]:
        # Locals rather than attribute updates: this loop runs once per event.
        first = position = tx.position + 1
        version, digest, recorded_at = before.version, tx.hash, tx.recorded_at
        add_row, seen = tx.rows.append, tx.seen
        for event in events:
            version += 1
            digest = row_hash(
                digest,
                position,
                execution_id,
                version,
                event.event_id,
                event.type,
                event.raw,
                event.occurred_at,
                recorded_at,
            )
            add_row(
                (
                    position,
                    execution_id,
                    version,
                    event.event_id,
                    event.type,
                    event.raw,
                    event.occurred_at,
                    recorded_at,
                    digest,
                )
            )
            if event.supplied:
                seen[event.event_id] = (position, execution_id, version, event.type, event.raw)
            position += 1
        tx.owners.extend([(before.workflow_id, before.team_id)] * len(events))
        tx.position, tx.hash = position - 1, digest
        return tuple(range(first, position))


def _state_weight(state: lifecycle.Lifecycle) -> int:
    """About what a lifecycle state holds: its fields, and an entry per node."""
    return 300 + 120 * len(state.nodes)
