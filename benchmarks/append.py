"""Append throughput of execstore against raw sqlite3 and the eventsourcing library.

    .venv/bin/python -m benchmarks.append [--producers 200] [--executions 10] [--repeat 3]

Every case records the same executions: queued, started, a node started/completed
pair per node (4 by default), completed: 3 + 2 x nodes events, 11 by default (node
events come in pairs, so no valid completed lifecycle has exactly 10), small JSON.

(a)  execstore, many asyncio producers: one ``create_execution`` carrying all of an
     execution's events, one atomic write each (as (d) makes one ``app.save`` each).
(a2) as (a), but a create and then one append of the rest: two writes each.
(a3) as (a), with the summary table kept in step inside each write (SummaryHook).
(aN) as (a), the same producers dealt out to N processes (1, 2, 4), each with a
     store of its own on the one file (``append_processes``).
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
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from time import perf_counter
from typing import Any

from eventstore import (
    EventStore,
)
from eventstore.events import data_encoder
from projections.summary import SummaryHook

from .append_processes import execstore_processes
from .peers import (
    ES_THREADS,
    eventsourcing_save,
    library_durability,
    raw_build_insert,
    raw_insert,
    read_rows,
    to_payloads,
)
from .workload import Execution, check, count_events, make_execution

PROCESSES = (1, 2, 4)

# --- (a) and (b): execstore ---------------------------------------------------------------


async def execstore_concurrent(
    path: Path, groups: Sequence[Sequence[Execution]], writes: int = 1, views: bool = False
) -> float:
    async with EventStore(path, hook=SummaryHook() if views else None) as store:

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
        check(store.head, sum(map(count_events, groups)))
    return elapsed


async def execstore_serial(path: Path, executions: Sequence[Execution]) -> float:
    async with EventStore(path) as store:
        start = perf_counter()
        for execution in executions:
            created = await store.create_execution(execution.queued)
            for data in execution.rest:
                await store.append(created.execution_id, [data])
        elapsed = perf_counter() - start
        check(store.head, count_events(executions))
    return elapsed


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
        "a3": lambda p: asyncio.run(execstore_concurrent(p, plan.groups, views=True)),
        "b": lambda p: asyncio.run(execstore_serial(p, plan.serial)),
        "c2": lambda p: raw_build_insert(p, plan.workload),
        "d": lambda p: eventsourcing_save(p, plan.payloads),
        **{
            f"a{n}p": partial(execstore_processes, groups=plan.groups, processes=n)
            for n in PROCESSES
        },
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
    by_processes = "   ".join(
        f"{n}p/1p = {median[f'a{n}p'] / median['a1p']:.2f}" for n in PROCESSES[1:]
    )
    print(f"processes on one file: {by_processes}   (target: 2p/1p >= 1.3)")
    best = max(("a", *(f"a{n}p" for n in PROCESSES)), key=median.__getitem__)
    a = median[best]
    print(
        f"a/c = {a / median['c']:.2f}   a/d = {a / median['d']:.1f}"
        f"   a/e = {a / median['e']:.2f}   e/c = {median['e'] / median['c']:.2f}"
        f"   (a = {cases[best].label}, the best; target a/d >= 8)"
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
        "a3": Case("(a3) as (a), with the summary table", total),
        **{
            f"a{n}p": Case(f"(a{n}p) as (a), in {n} processes on one file", total)
            for n in PROCESSES
        },
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
