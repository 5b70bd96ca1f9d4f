"""The HTTP API measured end to end, with the load from a second process over loopback.

    .venv/bin/python -m benchmarks.http [--executions 100000] [--seconds 10] [--clients 16]
    .venv/bin/python -m benchmarks.http --workers 1,2 --clients 16,64  # side by side
    .venv/bin/python -m benchmarks.http --quick                 # a small smoke run
    .venv/bin/python -m benchmarks.http --phases executions --profile-server   # where time goes
    .venv/bin/python -m benchmarks.http --phases executions --writer-cycle     # a commit's parts

Three processes: this one (prepares the file, starts and watches the others),
the server (``python -m server.cli serve`` on 127.0.0.1, the token in
``EXECSTORE_TOKEN``), and one spawned client process that makes every request
(``benchmarks.http_load``, aiohttp). Measured, in this order:

- latency: list (``GET /v1/executions?limit=20``) with no filter and with
  ``status=failed``, the first page and the page reached by following
  ``next_cursor`` ``--depth`` times; detail (``GET /v1/executions/{id}``) of
  random executions. One connection, one request at a time, timed by the
  client around each request (body read included): p50 and p99.
- executions recorded/s: ``--clients`` concurrent workers on a pool of as many
  connections, each execution a ``POST /v1/executions`` (with an external_id)
  then one ``POST /v1/executions/{id}/events`` with the rest of its lifecycle;
  any answer but 201 stops the run.
- webhook triggers/s: one ``POST /v1/workflows/{wf}/webhook`` for a hash, then
  ``POST /v1/webhooks/{hash}`` with a small JSON body from as many workers.

With several ``--workers`` counts, the server is started once per count
(``serve --workers N``), on the same file, and every phase runs against
each; with several ``--clients`` counts, each throughput phase runs once per
count. One table holds them all.

Each throughput phase also shows per-request latency under load and the CPU
used, in cores, by the client process, the server process and the server's
event-loop thread (from /proc): which side, and which thread, is the limit.
After each, the log's head (``/v1/health``) must have grown by exactly the
events the client had acknowledged.

The latency file is filled before the server starts, in this process, by
``benchmarks.views.load`` (``EventStore`` with ``SummaryHook``): loading
100,000 executions over HTTP would take minutes. The server then opens it with
its own settings (synchronous=FULL). The writes run after the latency
phase, so the lists are measured at exactly ``--executions`` executions.
Every phase is bounded in time and count; the file lives in a temporary
directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Final

from . import http_server, writer_cycle
from .http_load import (
    EVENTS_PER_EXECUTION,
    Latency,
    Rate,
    Target,
    measure_latencies,
    quantile_ms,
    record_executions,
    trigger_webhooks,
)
from .views import load_file

PHASES: Final = ("latency", "executions", "webhooks")
EXECUTIONS_TARGET: Final = 1000.0  # per second
P99_TARGET_MS: Final = 5.0
# Per phase, so that a fast machine cannot grow the file without bound.
CAP: Final = 200_000
REFERENCE: Final = (
    "reference, quoted from the issue (not measured here): n8n on this machine records"
    " ~10 webhook executions/s, with a list p99 of 22-108 ms"
)


@dataclass(slots=True)
class Results:
    loaded: str = "none (no latency phase): the server started on an empty file"
    # Per server: (workers, its latencies); per (phase, workers, clients): its rate.
    latencies: dict[int, list[Latency]] = field(default_factory=dict)
    rates: dict[tuple[str, int, int], Rate] = field(default_factory=dict)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    profile: str = ""
    writer_cycle: str = ""


def prepare(db: Path, args: argparse.Namespace, results: Results) -> None:
    events, seconds = asyncio.run(load_file(db, args.executions, EVENTS_PER_EXECUTION))
    results.phase_seconds["load the file (in-process)"] = seconds
    results.loaded = (
        f"{args.executions:,} executions ({events:,} events, mixed statuses) recorded in"
        f" {seconds:.1f} s before the server started, in-process, by benchmarks.views.load"
        " (EventStore + SummaryHook, durability=normal, 200 producers)"
    )


def run_phases(
    pool: ProcessPoolExecutor,
    server: http_server.Server,
    token: str,
    args: argparse.Namespace,
    results: Results,
    workers: int,
) -> None:
    target = Target(server.base, token, server.process.pid)
    _add_seconds(results, f"start {workers} worker(s)", server.started_in)
    if "latency" in args.phases:
        start = perf_counter()
        job = pool.submit(measure_latencies, target, args.samples, args.depth, args.executions)
        results.latencies[workers] = job.result()
        _add_seconds(results, "latency", perf_counter() - start)
    for clients in args.clients:
        bounds = (clients, args.seconds, args.warm_up, CAP)
        for phase, measure, events in (
            ("executions", record_executions, EVENTS_PER_EXECUTION),
            ("webhooks", trigger_webhooks, 1),
        ):
            if phase not in args.phases:
                continue
            start, before = perf_counter(), http_server.head(server.base)
            rate = pool.submit(measure, target, *bounds).result()
            check(phase, http_server.head(server.base) - before, rate.total * events)
            results.rates[(phase, workers, clients)] = rate
            _add_seconds(results, phase, perf_counter() - start)


def _add_seconds(results: Results, phase: str, seconds: float) -> None:
    results.phase_seconds[phase] = results.phase_seconds.get(phase, 0.0) + seconds


def check(phase: str, recorded: int, expected: int) -> None:
    # A rate from a run that silently dropped or doubled events would be worthless.
    if recorded != expected:
        raise RuntimeError(f"{phase}: the log grew by {recorded} events, expected {expected}")


def run(args: argparse.Namespace) -> Results:
    token = "es_bench_" + secrets.token_urlsafe(24)
    # Spawn, not fork: the client starts clean, with no copy of this process's state.
    context = multiprocessing.get_context("spawn")
    with (
        tempfile.TemporaryDirectory(prefix="execstore-http-", dir=args.dir) as tmp,
        ProcessPoolExecutor(max_workers=1, mp_context=context) as pool,
    ):
        work = Path(tmp)
        db, profile = work / "http.db", work / "server.prof" if args.profile_server else None
        cycle = work / "writer-cycle.json" if args.writer_cycle else None
        results = Results()
        if "latency" in args.phases:
            prepare(db, args, results)
        for workers in args.workers:
            with http_server.running(db, token, work, profile, cycle, workers) as server:
                run_phases(pool, server, token, args, results, workers)
        if profile is not None:
            results.profile = http_server.profile_report(profile, args.profile_server)
        if cycle is not None:
            results.writer_cycle = writer_cycle.report(cycle)
    return results


def rate_rows(results: Results) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for (phase, workers, clients), rate in results.rates.items():
        value = rate.done / rate.seconds
        setup = f"{workers} worker(s), {clients} clients"
        if phase == "webhooks":
            rows.append((f"webhook triggers/s, {setup}", f"{value:,.0f}", "none set", "-", "-"))
            continue
        label = f"executions/s ({EVENTS_PER_EXECUTION} events, 2 requests), {setup}"
        passed = "pass" if value >= EXECUTIONS_TARGET else "FAIL"
        target = f">= {EXECUTIONS_TARGET:,.0f}"
        rows.append((label, f"{value:,.0f}", target, passed, f"{value / EXECUTIONS_TARGET:.2f}"))
    for workers, latencies in results.latencies.items():
        for latency in latencies:
            p99 = quantile_ms(latency.samples_ns, 0.99)
            passed = "pass" if p99 <= P99_TARGET_MS else "FAIL"
            ratio = f"{p99 / P99_TARGET_MS:.2f}"
            label = f"{latency.label}, {workers} worker(s): p99 ms"
            rows.append((label, f"{p99:.2f}", f"<= {P99_TARGET_MS:g}", passed, ratio))
    return rows


def print_table(rows: list[tuple[str, str, str, str, str]]) -> None:
    header = ("metric", "value", "target", "result", "value/target")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in (header, *rows):
        cells = [
            f"{row[0]:<{widths[0]}}",
            *(f"{c:>{w}}" for c, w in zip(row[1:], widths[1:], strict=True)),
        ]
        print("  ".join(cells))


def print_latencies(latencies: list[Latency]) -> None:
    print("latency, client side, one connection, sequential requests:")
    print(f"  {'request':<42} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'samples':>8}")
    for t in latencies:
        p50, p99 = quantile_ms(t.samples_ns, 0.5), quantile_ms(t.samples_ns, 0.99)
        worst = max(t.samples_ns) / 1e6
        print(f"  {t.label:<42} {p50:>8.2f} {p99:>8.2f} {worst:>8.2f} {len(t.samples_ns):>8,}")


def print_rates(args: argparse.Namespace, rates: dict[tuple[str, int, int], Rate]) -> None:
    for (phase, workers, clients), rate in rates.items():
        print(
            f"{phase}, {workers} worker(s): {rate.done:,} in {rate.seconds:.2f} s after"
            f" {args.warm_up:g} s of warm-up, {clients} concurrent clients;"
            f" {rate.total:,} recorded and checked on the log"
        )
        for kind, taken in rate.requests_ns.items():
            p50, p99 = quantile_ms(taken, 0.5), quantile_ms(taken, 0.99)
            print(f"  {kind:<30} {len(taken):>7,}  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms")
        # CPU in cores (CPU seconds per wall second), to show which side is the limit.
        cores = f"  CPU, in cores: client process {rate.client_cpu / rate.seconds:.2f}"
        if rate.server_cpu is not None:
            process, loop = (s / rate.seconds for s in rate.server_cpu)
            cores += f", server {process:.2f} (its event-loop threads {loop:.2f})"
        print(cores)


def report(args: argparse.Namespace, results: Results, wall: float, loads: list[str]) -> None:
    print("HTTP API benchmark: server and load generator in separate processes, over 127.0.0.1")
    # Other processes competing for the CPUs stretch every hop, and the tails most.
    averages = " / ".join(loads)
    print(f"load average (1, 5, 15 min) at start / end: {averages}; {os.cpu_count()} CPUs")
    print(f"latency file: {results.loaded}")
    print()
    print_table(rate_rows(results))
    print(REFERENCE)
    print()
    for workers, latencies in results.latencies.items():
        print(f"{workers} worker(s):", end=" ")
        print_latencies(latencies)
        print()
    print_rates(args, results.rates)
    print()
    phases = ", ".join(f"{name} {s:.1f} s" for name, s in results.phase_seconds.items())
    print(f"wall time {wall:.1f} s: {phases}")
    if results.writer_cycle:
        print()
        print(results.writer_cycle)
    if results.profile:
        print()
        print("server profile (cProfile, main thread; it slows the server, so rates above are")
        print("lower than without it):")
        print(results.profile)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http", description=__doc__)
    add = parser.add_argument
    add("--executions", type=int, default=100_000, help="executions in the latency file")
    add("--seconds", type=float, default=10.0, help="measured time per throughput phase")
    add("--warm-up", type=float, default=2.0, help="untimed load before each throughput phase")
    add(
        "--clients",
        type=counts,
        default=(16,),
        help="concurrent client workers and connections; several, comma-separated, run in turn",
    )
    add(
        "--workers",
        type=counts,
        default=(1,),
        help="serve --workers; several, comma-separated, run in turn on the same file",
    )
    add("--samples", type=int, default=2000, help="timed requests per latency query")
    add("--depth", type=int, default=2000, help="next_cursor hops to the deep list page")
    add("--phases", default=",".join(PHASES), help=f"comma-separated, of {', '.join(PHASES)}")
    add(
        "--profile-server",
        type=int,
        nargs="?",
        const=30,
        default=0,
        metavar="TOP",
        help="run the server under cProfile and print its TOP functions",
    )
    add(
        "--writer-cycle",
        action="store_true",
        help="time each group commit's parts in the server (benchmarks.writer_cycle)",
    )
    add("--quick", action="store_true", help="a small smoke run")
    add("--dir", type=Path, default=None, help="where the temporary directory goes")
    args = parser.parse_args(argv)
    args.phases = frozenset(p.strip() for p in args.phases.split(",") if p.strip())
    if not args.phases or args.phases - set(PHASES):
        parser.error(f"--phases: choose from {', '.join(PHASES)}")
    if args.quick:
        args.executions, args.samples = min(args.executions, 5000), min(args.samples, 200)
        args.seconds, args.warm_up, args.depth = min(args.seconds, 2), min(args.warm_up, 0.5), 50
    if (args.profile_server or args.writer_cycle) and args.workers != (1,):
        parser.error("--profile-server and --writer-cycle see one process: use --workers 1")
    if min(args.samples, args.depth) < 1 or args.seconds <= 0 or args.warm_up < 0:
        parser.error("--clients, --samples, --depth, --seconds must be positive, --warm-up not < 0")
    if "latency" in args.phases and args.executions < 2 * 20:
        parser.error("the latency phase needs --executions of at least 40 (two pages)")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    start, loads = perf_counter(), [load_average()]
    results = run(args)
    loads.append(load_average())
    report(args, results, perf_counter() - start, loads)


def counts(text: str) -> tuple[int, ...]:
    counts = tuple(int(part) for part in text.split(","))
    if min(counts) < 1:
        raise argparse.ArgumentTypeError(f"each count must be at least 1: {text}")
    return counts


def load_average() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    main()
