"""Append throughput of execstore against raw sqlite3 and the eventsourcing library.

    .venv/bin/python -m benchmarks.append [--producers 200] [--executions 10] [--repeat 3]

Every case records the same executions: queued, started, a node started/completed
pair per node (4 by default), completed: 3 + 2 x nodes events, 11 by default (node
events come in pairs, so no valid completed lifecycle has exactly 10), small JSON.

(a)  execstore, many asyncio producers: one ``create_execution`` carrying all of an
     execution's events, one atomic write each (as (d) makes one ``app.save`` each).
(a2) as (a), but a create and then one append of the rest: two writes each.
(b)  execstore, one producer awaiting one single-event append at a time.
(c)  raw sqlite3: the rows (a) wrote, re-inserted by ``executemany`` in one transaction.
(c2) as (c), but the timed part also builds the rows (encoding, ids, hash chain).
(d)  eventsourcing with its SQLite persistence: one ``app.save`` per execution.
(e)  the floor for (a)'s pattern: the same rows through ``executemany``, but in as
     many transactions as (a) must commit one after another (each producer awaits
     one acknowledgement per execution in turn), so no implementation can beat it.

All cases run at synchronous=FULL in WAL mode (for (d) that is SQLite's default,
checked and printed), each on a fresh file in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import sqlite3
import statistics
import tempfile
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any, Final

import msgspec
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from eventstore import (
    EventData,
    EventStore,
    ExecutionCompleted,
    ExecutionQueued,
    ExecutionStarted,
    NodeCompleted,
    NodeStarted,
    Usage,
    json_value,
    schema,
)
from eventstore.events import data_encoder, new_event_id, now_us
from eventstore.hashchain import GENESIS, row_hash

NODES: Final = (
    ("Fetch ticket", "http"),
    ("Classify", "llm"),
    ("Draft reply", "llm"),
    ("Post reply", "http"),
)
# The library's pool serialises writers behind one lock, so threads only
# overlap the Python work outside it; 8 stays under its 15-connection cap.
ES_THREADS: Final = 8

_INSERT_EXECUTION: Final = "INSERT INTO executions VALUES (?,?,?,?,?,?)"
_INSERT_EVENT: Final = "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)"
_SELECT_EXECUTIONS: Final = (
    "SELECT id, uuid, external_id, workflow_id, team_id, created_position FROM executions"
    " ORDER BY id"
)
_SELECT_EVENTS: Final = (
    "SELECT position, execution_id, version, event_id, type, data, occurred_at, recorded_at,"
    " hash FROM events ORDER BY position"
)

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Execution:
    queued: ExecutionQueued
    rest: tuple[EventData, ...]  # the events after queued, in lifecycle order


def count_events(executions: Sequence[Execution]) -> int:
    return sum(1 + len(e.rest) for e in executions)


def make_execution(n: int, nodes: int) -> Execution:
    ticket = 40_000 + n
    queued = ExecutionQueued(
        workflow_id=f"wf-{n % 50}",
        workflow_name="Answer support ticket",
        workflow_version=3,
        trigger="webhook",
        input=json_value({"ticket_id": ticket, "customer": "acme-corp", "priority": "high"}),
        team_id=f"team-{n % 7}",
    )
    rest: list[EventData] = [ExecutionStarted(worker=f"worker-{n % 4}")]
    for index in range(1, nodes + 1):
        name, kind = NODES[(index - 1) % len(NODES)]
        node_id = f"node-{index}"
        llm = kind == "llm"
        rest.append(
            NodeStarted(
                node_id=node_id,
                node_name=name,
                node_type=kind,
                input=json_value({"ticket_id": ticket, "text": "Refund not received yet."}),
            )
        )
        rest.append(
            NodeCompleted(
                node_id=node_id,
                output=json_value({"status": "ok", "label": "billing", "score": 0.93}),
                tokens=412 if llm else 0,
                usage=Usage(prompt_tokens=350, completion_tokens=62) if llm else None,
            )
        )
    rest.append(ExecutionCompleted(output=json_value({"reply_id": f"r-{ticket}", "sent": True})))
    return Execution(queued, tuple(rest))


# --- (a) and (b): execstore ---------------------------------------------------------------


async def execstore_concurrent(
    path: Path, groups: Sequence[Sequence[Execution]], writes: int = 1
) -> float:
    async with EventStore(path) as store:

        async def produce(group: Sequence[Execution]) -> None:
            for execution in group:
                if writes == 1:
                    await store.create_execution(execution.queued, execution.rest)
                    continue
                created = await store.create_execution(execution.queued)
                await store.append(created.execution_id, execution.rest)

        start = perf_counter()
        await asyncio.gather(*(produce(group) for group in groups))
        elapsed = perf_counter() - start
        _check(store.head, sum(map(count_events, groups)))
    return elapsed


async def execstore_serial(path: Path, executions: Sequence[Execution]) -> float:
    async with EventStore(path) as store:
        start = perf_counter()
        for execution in executions:
            created = await store.create_execution(execution.queued)
            for data in execution.rest:
                await store.append(created.execution_id, [data])
        elapsed = perf_counter() - start
        _check(store.head, count_events(executions))
    return elapsed


def _check(recorded: int | None, expected: int) -> None:
    # A fast number from a run that silently dropped or doubled events would be worthless.
    if recorded != expected:
        raise RuntimeError(f"expected {expected} events, got {recorded}")


# --- (c) and (c2): raw sqlite3 ------------------------------------------------------------


def read_rows(path: Path) -> tuple[list[Row], list[Row]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(_SELECT_EXECUTIONS).fetchall(), conn.execute(_SELECT_EVENTS).fetchall()
    finally:
        conn.close()


def _open_like_store(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    schema.configure(conn, "full")
    schema.migrate(conn)
    return conn


def _insert(
    conn: sqlite3.Connection, executions: list[Row], events: list[Row], commits: int = 1
) -> None:
    # Contiguous slices, as (a)'s batches are: each commit appends at the end.
    for part in range(commits):
        conn.execute("BEGIN")
        conn.executemany(_INSERT_EXECUTION, _slice(executions, part, commits))
        conn.executemany(_INSERT_EVENT, _slice(events, part, commits))
        conn.execute("COMMIT")


def _slice(rows: list[Row], part: int, parts: int) -> list[Row]:
    return rows[len(rows) * part // parts : len(rows) * (part + 1) // parts]


def raw_insert(path: Path, executions: list[Row], events: list[Row], commits: int = 1) -> float:
    conn = _open_like_store(path)
    try:
        start = perf_counter()
        _insert(conn, executions, events, commits)
        elapsed = perf_counter() - start
        _check(conn.execute("SELECT count(*) FROM events").fetchone()[0], len(events))
    finally:
        conn.close()
    return elapsed


def build_rows(workload: Sequence[Execution]) -> tuple[list[Row], list[Row]]:
    """The rows the writer would produce, minus its rule checks and batching."""
    executions: list[Row] = []
    events: list[Row] = []
    previous, position, recorded_at = GENESIS, 0, now_us()
    for execution_id, execution in enumerate(workload, 1):
        queued = msgspec.structs.replace(execution.queued, uuid=str(uuid.uuid4()))
        executions.append(
            (execution_id, queued.uuid, None, queued.workflow_id, queued.team_id, position + 1)
        )
        for version, data in enumerate((queued, *execution.rest), 1):
            position += 1
            type_ = str(data.__struct_config__.tag)
            raw, event_id, occurred_at = data_encoder.encode(data), new_event_id(), now_us()
            previous = row_hash(
                previous, position, execution_id, version, event_id, type_, raw, occurred_at,
                recorded_at,
            )  # fmt: skip
            events.append(
                (position, execution_id, version, event_id, type_, raw, occurred_at,
                 recorded_at, previous)
            )  # fmt: skip
    return executions, events


def raw_build_insert(path: Path, workload: Sequence[Execution]) -> float:
    conn = _open_like_store(path)
    try:
        start = perf_counter()
        _insert(conn, *build_rows(workload))
        elapsed = perf_counter() - start
        _check(conn.execute("SELECT count(*) FROM events").fetchone()[0], count_events(workload))
    finally:
        conn.close()
    return elapsed


# --- (d): eventsourcing ------------------------------------------------------------------


class Run(Aggregate):
    """One execution; its created event carries the queued payload."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.last = str(payload["type"])

    # One event class for all the later events: the topic name does not change the cost.
    @event("Recorded")
    def record(self, payload: dict[str, Any]) -> None:
        self.last = str(payload["type"])


def to_payloads(workload: Sequence[Execution]) -> list[list[dict[str, Any]]]:
    """The same payloads as plain dicts, so the library encodes equal-sized JSON."""
    decode = msgspec.json.decode
    return [[decode(data_encoder.encode(d)) for d in (e.queued, *e.rest)] for e in workload]


def _save_all(app: Application[uuid.UUID], group: Sequence[list[dict[str, Any]]]) -> None:
    for payloads in group:
        run = Run(payloads[0])
        for payload in payloads[1:]:
            run.record(payload)
        app.save(run)  # all of the execution's events in one transaction


def eventsourcing_save(path: Path, payloads: Sequence[list[dict[str, Any]]]) -> float:
    # The library's pool is thread-safe (check_same_thread=False, a writer lock)
    # and its own test suite writes from a ThreadPoolExecutor, so producers are threads.
    app: Application[uuid.UUID] = Application(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    )
    try:
        groups = [payloads[i::ES_THREADS] for i in range(ES_THREADS)]
        with ThreadPoolExecutor(ES_THREADS) as pool:
            start = perf_counter()
            for future in [pool.submit(_save_all, app, g) for g in groups]:
                future.result()
            elapsed = perf_counter() - start
        _check(app.recorder.max_notification_id(), sum(map(len, payloads)))
    finally:
        app.close()
    return elapsed


def library_durability(path: Path) -> str:
    """What a connection opened the library's way gets: it sets WAL, never synchronous."""
    conn = sqlite3.connect(path)
    try:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        level = conn.execute("PRAGMA synchronous").fetchone()[0]
    finally:
        conn.close()
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return f"journal_mode={mode}, synchronous={names.get(level, level)}"


# --- driver ------------------------------------------------------------------------------


@dataclass(slots=True)
class Case:
    label: str
    events: int
    seconds: list[float] = field(default_factory=list)

    def rates(self) -> list[float]:
        return [self.events / s for s in self.seconds]


@dataclass(frozen=True, slots=True)
class Plan:
    groups: list[list[Execution]]  # (a): one list per producer
    workload: list[Execution]  # (a), (c2): every execution, in order
    serial: list[Execution]  # (b)
    payloads: list[list[dict[str, Any]]]  # (d)


def make_plan(args: argparse.Namespace) -> Plan:
    total = args.producers * args.executions
    workload = [make_execution(n, args.nodes) for n in range(total)]
    groups = [workload[p :: args.producers] for p in range(args.producers)]
    serial = [make_execution(n, args.nodes) for n in range(args.serial_executions)]
    return Plan(groups, workload, serial, to_payloads(workload[: args.es_executions]))


def one_round(plan: Plan, cases: dict[str, Case], root: str | None) -> str:
    """Run every case once, each on a fresh file; return (d)'s durability."""
    timed: dict[str, Callable[[Path], float]] = {
        "a2": lambda p: asyncio.run(execstore_concurrent(p, plan.groups, writes=2)),
        "b": lambda p: asyncio.run(execstore_serial(p, plan.serial)),
        "c2": lambda p: raw_build_insert(p, plan.workload),
        "d": lambda p: eventsourcing_save(p, plan.payloads),
    }
    with tempfile.TemporaryDirectory(prefix="execstore-bench-", dir=root) as tmp:
        base = Path(tmp)
        cases["a"].seconds.append(asyncio.run(execstore_concurrent(base / "a.db", plan.groups)))
        # (c) re-inserts exactly what (a) wrote, so the two differ only in the path taken.
        rows = read_rows(base / "a.db")
        cases["c"].seconds.append(raw_insert(base / "c.db", *rows))
        commits = len(plan.groups[0])
        cases["e"].seconds.append(raw_insert(base / "e.db", *rows, commits=commits))
        for key, run in timed.items():
            cases[key].seconds.append(run(base / f"{key}.db"))
        return library_durability(base / "d.db")


def report(args: argparse.Namespace, cases: dict[str, Case], durability: str) -> None:
    sample = make_execution(0, args.nodes)
    payload_bytes = statistics.mean(
        len(data_encoder.encode(d)) for d in (sample.queued, *sample.rest)
    )
    print(
        f"workload: {args.producers} producers x {args.executions} executions x "
        f"{1 + len(sample.rest)} events (synchronous=FULL), "
        f"~{payload_bytes:.0f} B JSON per event, {args.repeat} rounds"
    )
    width = max(len(c.label) for c in cases.values())
    print(f"{'case':<{width}}  {'events':>7}  {'events/s (median)':>17}  {'events/s (best)':>15}")
    for case in cases.values():
        rates = case.rates()
        print(
            f"{case.label:<{width}}  {case.events:>7}  "
            f"{statistics.median(rates):>17,.0f}  {max(rates):>15,.0f}"
        )
    median = {key: statistics.median(case.rates()) for key, case in cases.items()}
    print(
        f"a/c = {median['a'] / median['c']:.2f}   a/d = {median['a'] / median['d']:.1f}"
        f"   a/e = {median['a'] / median['e']:.2f}   e/c = {median['e'] / median['c']:.2f}"
    )
    print(f"(d) {ES_THREADS} threads, library defaults: {durability}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.append", description=__doc__)
    add = parser.add_argument
    add("--producers", type=int, default=200, help="concurrent producers in (a)")
    add("--executions", type=int, default=10, help="executions per producer in (a)")
    add("--nodes", type=int, default=4, help="node start/complete pairs per execution")
    add("--repeat", type=int, default=3, help="rounds; median and best are reported")
    add("--serial-executions", type=int, default=200, help="executions in (b)")
    add("--es-executions", type=int, default=2000, help="executions in (d)")
    add("--dir", default=None, help="where temporary files go (default: system temp)")
    args = parser.parse_args(argv)
    if min(args.producers, args.executions, args.repeat, args.serial_executions) < 1:
        parser.error("--producers, --executions, --repeat and --serial-executions must be >= 1")
    args.es_executions = min(args.es_executions, args.producers * args.executions)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    plan = make_plan(args)
    version = importlib.metadata.version("eventsourcing")
    total = count_events(plan.workload)
    cases = {
        "a": Case(f"(a) execstore, {args.producers} producers, 1 write/execution", total),
        "a2": Case(f"(a2) execstore, {args.producers} producers, 2 writes/execution", total),
        "b": Case("(b) execstore, one producer, one event/await", count_events(plan.serial)),
        "c": Case("(c) raw sqlite3 executemany, 1 transaction", total),
        "c2": Case("(c2) raw sqlite3 incl. encode + hash chain", total),
        "d": Case(f"(d) eventsourcing {version}, SQLite", sum(map(len, plan.payloads))),
        "e": Case(f"(e) raw sqlite3, {args.executions} dependent commits", total),
    }
    durability = ""
    for _ in range(args.repeat):
        durability = one_round(plan, cases, args.dir)
    report(args, cases, durability)


if __name__ == "__main__":
    main()
