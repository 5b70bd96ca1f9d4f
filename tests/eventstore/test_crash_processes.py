"""Invariant: two processes write one file, one is killed with ``kill -9``, and
nothing acknowledged is lost, the other never fails a valid write, and the
file stays whole.

Each round starts two ``multi_writer`` children on a fresh file, each with its
own ``EventStore`` (one with the summary hook, one without), both writing under
load, and to one shared execution too. At a random moment one of them, chosen
at random, gets SIGKILL; the survivor keeps writing a while, then is stopped
with SIGTERM and closes its store. The round then checks the file: every
acknowledged write of both, no error from either, a whole hash chain,
``PRAGMA integrity_check``, positions 1..N and versions 1..n per execution,
and the summary view, caught up on reopening, equal to a rebuild of it.

Reproduce a failure with the seed it printed: ``CRASH_SEED=<seed> pytest ...``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from eventstore import EventStore, ExecutionQueued, ExecutionStarted
from projections.rebuild import rebuild
from projections.summary import TABLE, SummaryHook

ROUNDS = 10
MIN_ACKS = 5  # each child's, before the kill can come
KILL_AFTER = (0.05, 0.4)  # seconds of writing together, then SIGKILL
SURVIVE = 0.2  # seconds the survivor writes alone before SIGTERM
MIN_ACKS_ALONE = 3  # what the survivor must acknowledge meanwhile
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Ack:
    """One acknowledged write, as its writer reported it."""

    writer: str
    execution_id: int
    version: int  # the execution's version after the write
    positions: tuple[int, ...]
    event_ids: tuple[str, ...] | None  # None: a create, whose queued event id the store chose
    uuid: str | None = None  # a create's


@dataclass
class Report:
    """What one child wrote to its stdout file."""

    acks: list[Ack] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    done: bool = False
    partial: bytes = b""  # after the last newline: a line a kill cut short


def _read_report(out: Path, writer: str) -> Report:
    *lines, partial = out.read_bytes().split(b"\n")
    report = Report(partial=partial)
    for line in lines:
        raw: dict[str, Any] = json.loads(line)
        if "error" in raw:
            report.errors.append(f"{raw['error']}\n{raw['traceback']}")
        elif "done" in raw:
            report.done = True
        else:
            ids = raw.get("event_ids")
            report.acks.append(
                Ack(
                    writer=writer,
                    execution_id=raw["execution_id"],
                    version=raw["version"],
                    positions=tuple(raw["positions"]),
                    event_ids=None if ids is None else tuple(ids),
                    uuid=raw.get("uuid"),
                )
            )
    return report


def _ack_count(out: Path) -> int:
    return out.read_bytes().count(b'"ack"')


def _text(path: Path) -> str:
    return path.read_text(errors="replace")


def _kill(pid: int) -> None:
    # The child may already be gone (and reaped); that is the outcome we wanted.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@dataclass
class Child:
    name: str
    out: Path
    err: Path
    proc: asyncio.subprocess.Process

    def acks(self) -> int:
        return _ack_count(self.out)

    def describe(self) -> str:
        return f"writer {self.name} (pid {self.proc.pid}), stderr:\n{_text(self.err)}"


async def _start(db: Path, name: str, seed: int, shared: int, hook: bool) -> Child:
    out, err = db.with_name(f"{db.stem}-{name}.out"), db.with_name(f"{db.stem}-{name}.err")
    # Files, not pipes: a full pipe would stall the child, and it reads back
    # whole after a kill.
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.eventstore.multi_writer",
            str(db),
            str(seed),
            name,
            str(shared),
            "1" if hook else "0",
            cwd=REPO_ROOT,
            stdout=stdout,
            stderr=stderr,
        )
    return Child(name, out, err, proc)


def _ready(child: Child, shared: int) -> bool:
    """Whether ``child`` has written, and to the shared execution too."""
    report = _read_report(child.out, child.name)
    if report.errors:
        pytest.fail(f"writer {child.name} failed a valid write:\n{report.errors[0]}")
    return len(report.acks) >= MIN_ACKS and any(a.execution_id == shared for a in report.acks)


async def _wait_until_writing(children: list[Child], shared: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not all(_ready(c, shared) for c in children):
        for child in children:
            if child.proc.returncode is not None:
                pytest.fail(f"exited ({child.proc.returncode}) early: {child.describe()}")
        if time.monotonic() > deadline:
            pytest.fail(f"the writers did not all get going in {START_TIMEOUT} s")
        await asyncio.sleep(0.005)


async def _prepare(db: Path) -> tuple[int, list[Ack]]:
    """The fresh file, with the execution both children write: running."""
    async with EventStore(db) as store:
        created = await store.create_execution(ExecutionQueued(workflow_id="shared"))
        started = await store.append(created.execution_id, [ExecutionStarted()])
    first = Ack("parent", created.execution_id, 1, (created.position,), None, created.uuid)
    event_id = _events_of(db, created.execution_id)[1][2]
    second = Ack("parent", created.execution_id, started.version, started.positions, (event_id,))
    return created.execution_id, [first, second]


@dataclass(frozen=True)
class Outcome:
    victim: str
    survivor: str
    victim_code: int | None
    survivor_code: int | None
    reports: dict[str, Report]
    stderr: dict[str, str]
    acks_at_kill: int  # the survivor's, once the victim was dead
    acks_at_stop: int  # the survivor's, as SIGTERM went


async def _exit_code(child: Child) -> int | None:
    """How ``child`` ended; None if it is still running after ``STOP_TIMEOUT``."""
    with contextlib.suppress(TimeoutError):
        return await asyncio.wait_for(child.proc.wait(), STOP_TIMEOUT)
    return None


async def _run_round(db: Path, rng: random.Random, shared: int) -> Outcome:
    names = ["a", "b"]
    hooked = rng.choice(names)
    victim = rng.choice(names)
    delay = rng.uniform(*KILL_AFTER)
    children: list[Child] = []
    try:
        for name in names:
            seed = rng.randrange(2**32)
            children.append(await _start(db, name, seed, shared, hook=name == hooked))
        by_name = {c.name: c for c in children}
        killed = by_name[victim]
        survivor = next(c for c in children if c is not killed)
        await _wait_until_writing(children, shared)
        await asyncio.sleep(delay)
        _kill(killed.proc.pid)
        victim_code = await _exit_code(killed)
        acks_at_kill = survivor.acks()
        await asyncio.sleep(SURVIVE)
        acks_at_stop = survivor.acks()
        if survivor.proc.returncode is None:
            survivor.proc.send_signal(signal.SIGTERM)
        survivor_code = await _exit_code(survivor)
    finally:
        for child in children:
            if child.proc.returncode is None:
                _kill(child.proc.pid)
                await child.proc.wait()
    return Outcome(
        victim=victim,
        survivor=survivor.name,
        victim_code=victim_code,
        survivor_code=survivor_code,
        reports={c.name: _read_report(c.out, c.name) for c in children},
        stderr={c.name: _text(c.err) for c in children},
        acks_at_kill=acks_at_kill,
        acks_at_stop=acks_at_stop,
    )


@contextlib.contextmanager
def _connect(db: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(db)
    try:
        yield conn
    finally:
        conn.close()


def _integrity(db: Path) -> str:
    with _connect(db) as conn:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    return "\n".join(str(row[0]) for row in rows)


# (execution_id, version, event_id, type) by position
Rows = dict[int, tuple[int, int, str, str]]


def _rows(db: Path) -> Rows:
    with _connect(db) as conn:
        cursor = conn.execute("SELECT position, execution_id, version, event_id, type FROM events")
        return {row[0]: (row[1], row[2], row[3], row[4]) for row in cursor}


def _events_of(db: Path, execution_id: int) -> list[tuple[int, int, str, str]]:
    with _connect(db) as conn:
        return conn.execute(
            "SELECT position, version, event_id, type FROM events WHERE execution_id = ?"
            " ORDER BY position",
            (execution_id,),
        ).fetchall()


def _executions(db: Path) -> dict[int, tuple[str, int]]:
    """(uuid, created_position) by execution id."""
    with _connect(db) as conn:
        rows = conn.execute("SELECT id, uuid, created_position FROM executions").fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def _shape_problems(rows: Rows, executions: dict[int, tuple[str, int]]) -> list[str]:
    """Positions 1..N; each execution's versions 1..n in position order, the
    first its ``execution.queued`` at its created position; ids 1..M."""
    problems = []
    if sorted(rows) != list(range(1, len(rows) + 1)):
        missing = sorted(set(range(1, max(rows, default=0) + 1)) - set(rows))
        problems.append(f"positions are not 1..{len(rows)}: missing {missing[:20]}")
    versions: dict[int, list[int]] = {}
    for position in sorted(rows):
        execution_id, version, _, type_ = rows[position]
        versions.setdefault(execution_id, []).append(version)
        if version == 1 and (
            type_ != "execution.queued" or executions.get(execution_id, ("", 0))[1] != position
        ):
            problems.append(f"execution {execution_id} starts at {position} with {type_}")
    for execution_id, found in sorted(versions.items()):
        if found != list(range(1, len(found) + 1)):
            problems.append(f"execution {execution_id} has versions {found[:50]}")
    if sorted(executions) != list(range(1, len(executions) + 1)):
        problems.append(f"execution ids are not 1..{len(executions)}: {sorted(executions)[:50]}")
    if set(executions) - set(versions):
        problems.append(f"executions without events: {sorted(set(executions) - set(versions))}")
    if set(versions) - set(executions):
        problems.append(f"events of no execution: {sorted(set(versions) - set(executions))}")
    return problems


def _missing(acks: list[Ack], rows: Rows, executions: dict[int, tuple[str, int]]) -> list[str]:
    """Every acknowledged event that is not in the file as acknowledged."""
    problems = []
    claimed: dict[int, Ack] = {}
    for ack in acks:
        first_version = ack.version - len(ack.positions) + 1
        for i, position in enumerate(ack.positions):
            row = rows.get(position)
            if ack.event_ids is None:
                content_ok = row is not None and row[3] == "execution.queued"
                content_ok = content_ok and executions.get(ack.execution_id, ("", 0)) == (
                    ack.uuid,
                    position,
                )
            else:
                content_ok = row is not None and row[2] == ack.event_ids[i]
            if not (
                content_ok and row is not None and row[:2] == (ack.execution_id, first_version + i)
            ):
                problems.append(f"{ack} at position {position}: file has {row}")
            if position in claimed:
                problems.append(f"{ack} and {claimed[position]} were both told position {position}")
            claimed[position] = ack
    return problems


def _turns(rows: Rows, shared: int) -> int:
    """How often the writer of the shared execution's events changes, in
    position order (event ids start with the writer's name)."""
    writers = [row[2].split("-")[0] for _, row in sorted(rows.items()) if row[0] == shared]
    writers = [w for w in writers if w in ("a", "b")]
    return sum(1 for first, second in itertools.pairwise(writers) if first != second)


def _summary(db: Path) -> list[tuple[Any, ...]]:
    with _connect(db) as conn:
        return conn.execute(f"SELECT * FROM {TABLE} ORDER BY id").fetchall()


async def _check_summary(db: Path, label: str) -> None:
    """Reopened with the hook, the view catches up with what the children
    left; a rebuild of a copy from the log must give the same rows."""
    async with EventStore(db, hook=SummaryHook()):
        pass
    copy = db.with_name(f"{db.stem}-rebuilt.db")
    with _connect(db) as source, _connect(copy) as target:
        source.backup(target)
    stats = rebuild(copy)
    incremental, rebuilt = _summary(db), _summary(copy)
    executions = len(_executions(db))
    assert len(incremental) == stats.executions == executions, (
        f"{label}: the summary has {len(incremental)} rows, its rebuild"
        f" {stats.executions}, for {executions} executions"
    )
    assert incremental == rebuilt, f"{label}: the summary differs from its rebuild"


async def _check_round(
    db: Path, outcome: Outcome, shared: int, parent: list[Ack], label: str
) -> str:
    survivor, victim = outcome.reports[outcome.survivor], outcome.reports[outcome.victim]
    assert outcome.victim_code == -signal.SIGKILL, f"{label}: writer {outcome.victim} not killed"
    assert outcome.survivor_code == 0, (
        f"{label}: writer {outcome.survivor} did not end cleanly ({outcome.survivor_code}):\n"
        + outcome.stderr[outcome.survivor][-3000:]
    )
    assert survivor.done and not survivor.partial, f"{label}: the survivor did not close its store"
    for name, report in outcome.reports.items():
        assert not report.errors, f"{label}: writer {name} failed valid writes:\n" + "\n".join(
            report.errors[:3]
        )
    for name, text in outcome.stderr.items():
        assert not text, f"{label}: writer {name} wrote to stderr:\n{text[-3000:]}"
    assert len(victim.acks) >= MIN_ACKS, label
    # The survivor went on writing after the kill, not only before it.
    alone = outcome.acks_at_stop - outcome.acks_at_kill
    assert alone >= MIN_ACKS_ALONE, f"{label}: the survivor acknowledged {alone} writes alone"

    # The file exactly as the two left it.
    chain = await EventStore(db).verify()
    assert chain.ok, f"{label}: {chain}"
    assert _integrity(db) == "ok", label
    rows, executions = _rows(db), _executions(db)
    assert chain.checked == len(rows), f"{label}: {chain}, {len(rows)} rows"
    problems = _shape_problems(rows, executions)
    assert not problems, f"{label}:\n" + "\n".join(problems[:20])
    acks = [*parent, *survivor.acks, *victim.acks]
    problems = _missing(acks, rows, executions)
    assert not problems, f"{label}: {len(problems)} acknowledged events lost:\n" + "\n".join(
        problems[:20]
    )
    # The two took turns on one execution: each saw the other's versions.
    turns = _turns(rows, shared)
    assert turns >= 2, f"{label}: the writers of the shared execution changed {turns} times"
    await _check_summary(db, label)
    return (
        f"{len(rows)} events; acks: {outcome.victim} {len(victim.acks)},"
        f" {outcome.survivor} {len(survivor.acks)} ({alone} alone); {turns} turns"
    )


@pytest.mark.slow
async def test_two_writing_processes_survive_kill_9_of_one(tmp_path: Path) -> None:
    seed = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"crash test seed: {seed} (rerun with CRASH_SEED={seed})")  # shown on failure
    rng = random.Random(seed)
    for round_ in range(ROUNDS):
        db = tmp_path / f"round{round_}.db"
        shared, parent = await _prepare(db)
        outcome = await _run_round(db, rng, shared)
        label = f"round {round_} (seed {seed}, {outcome.victim} killed)"
        print(f"{label}: {await _check_round(db, outcome, shared, parent, label)}")
