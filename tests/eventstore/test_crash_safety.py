"""Invariant: an acknowledged append survives ``kill -9``.

A child process (``crash_writer``) appends under load and prints one line per
acknowledged create or append; the test kills it with SIGKILL at a random
moment, then checks the file as the kill left it. Twenty runs share one file,
so each run also starts from what the previous kill left behind.

Reproduce a failure with the seed it printed: ``CRASH_SEED=<seed> pytest ...``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from eventstore import EventStore, ExecutionQueued, ExecutionStarted, NewEvent

RUNS = 20
MIN_ACKS = 5
MAX_EXTRA_DELAY = 0.3
START_TIMEOUT = 20.0
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Ack:
    """One acknowledged write as the child reported it."""

    execution_id: int
    version: int  # the execution's version after the write
    positions: tuple[int, ...]
    event_ids: tuple[str, ...] | None  # None: a create, whose queued event id the store chose


# (execution_id, version, event_id, type) by position
Rows = dict[int, tuple[int, int, str, str]]


def _ack_count(out: Path) -> int:
    return out.read_bytes().count(b"\n")


def _read_acks(out: Path) -> list[Ack]:
    # Whatever follows the last newline is a line the kill cut short: never acknowledged.
    complete = out.read_bytes().split(b"\n")[:-1]
    acks = []
    for line in complete:
        raw = json.loads(line)
        ids = raw["event_ids"]
        acks.append(
            Ack(
                execution_id=raw["execution_id"],
                version=raw["version"],
                positions=tuple(raw["positions"]),
                event_ids=None if ids is None else tuple(ids),
            )
        )
    return acks


async def _wait_for_acks(proc: asyncio.subprocess.Process, out: Path, err: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while _ack_count(out) < MIN_ACKS:
        if proc.returncode is not None:
            pytest.fail(f"the writer exited ({proc.returncode}) early:\n{_text(err)}")
        if time.monotonic() > deadline:
            pytest.fail(f"the writer acknowledged under {MIN_ACKS} writes in {START_TIMEOUT} s")
        await asyncio.sleep(0.005)


def _text(path: Path) -> str:
    return path.read_text(errors="replace")


def _kill(pid: int) -> None:
    # The child may already be gone (and reaped); that is the outcome we wanted.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


async def _run_and_kill(db: Path, out: Path, seed: int, delay: float) -> list[Ack]:
    """Start a writer on ``db``, SIGKILL it mid-load, return what it acknowledged."""
    err = out.with_suffix(".err")
    # Files, not pipes: a full pipe would stall the child and the kill would
    # always land while the writer idles.
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.eventstore.crash_writer",
            str(db),
            str(seed),
            cwd=REPO_ROOT,
            stdout=stdout,
            stderr=stderr,
        )
    try:
        await _wait_for_acks(proc, out, err)
        await asyncio.sleep(delay)
        _kill(proc.pid)
        returncode = await proc.wait()
    finally:
        if proc.returncode is None:
            _kill(proc.pid)
            await proc.wait()
    assert returncode == -signal.SIGKILL, f"the writer was not killed:\n{_text(err)}"
    return _read_acks(out)


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    return "\n".join(str(row[0]) for row in rows)


def _rows(db: Path) -> Rows:
    conn = sqlite3.connect(db)
    try:
        cursor = conn.execute("SELECT position, execution_id, version, event_id, type FROM events")
        return {row[0]: (row[1], row[2], row[3], row[4]) for row in cursor}
    finally:
        conn.close()


def _missing(acks: list[Ack], rows: Rows) -> list[str]:
    """Every acknowledged event that is not in the file as acknowledged."""
    problems = []
    for ack in acks:
        first_version = ack.version - len(ack.positions) + 1
        for i, position in enumerate(ack.positions):
            row = rows.get(position)
            event_id = None if ack.event_ids is None else ack.event_ids[i]
            ok = (
                row is not None
                and row[:2] == (ack.execution_id, first_version + i)
                and (row[2] == event_id if event_id is not None else row[3] == "execution.queued")
            )
            if not ok:
                problems.append(f"{ack} at position {position}: file has {row}")
    return problems


async def _append_after_recovery(db: Path, tag: str) -> list[Ack]:
    async with EventStore(db) as store:
        head = store.head
        created = await store.create_execution(ExecutionQueued(workflow_id="after-crash"))
        event_id = f"after-crash-{tag}"
        result = await store.append(
            created.execution_id, [NewEvent(data=ExecutionStarted(), event_id=event_id)]
        )
    assert (created.position, result.positions) == (head + 1, (head + 2,))
    return [
        Ack(created.execution_id, 1, (created.position,), None),
        Ack(created.execution_id, result.version, result.positions, (event_id,)),
    ]


async def _check_recovered(db: Path, acks: list[Ack], run: int) -> list[Ack]:
    # verify() first, on the file exactly as the kill left it (WAL not yet recovered).
    report = await EventStore(db).verify()
    assert report.ok, f"run {run}: {report}"
    assert _integrity(db) == "ok", f"run {run}"
    rows = _rows(db)
    assert report.checked == len(rows) == max(rows), f"run {run}: {report}, {len(rows)} rows"
    problems = _missing(acks, rows)
    assert not problems, f"run {run}: {len(problems)} acknowledged events lost:\n" + "\n".join(
        problems[:20]
    )
    return await _append_after_recovery(db, str(run))


@pytest.mark.slow
async def test_acknowledged_appends_survive_kill_9(tmp_path: Path) -> None:
    seed = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"crash test seed: {seed} (rerun with CRASH_SEED={seed})")  # shown on failure
    rng = random.Random(seed)
    db = tmp_path / "crash.db"
    acknowledged: list[Ack] = []
    for run in range(RUNS):
        child_seed, delay = rng.randrange(2**32), rng.uniform(0.0, MAX_EXTRA_DELAY)
        acks = await _run_and_kill(db, tmp_path / f"run{run}.out", child_seed, delay)
        assert len(acks) >= MIN_ACKS, f"run {run}"
        acknowledged.extend(acks)
        # Every earlier run's acknowledged events too: a later crash must not lose them.
        acknowledged.extend(await _check_recovered(db, acknowledged, run))
