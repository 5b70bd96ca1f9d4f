"""Live streams under load: SSE subscribers on ``/v1/stream`` while events are
appended at a fixed rate, all over loopback.

    .venv/bin/python -m benchmarks.stream                  # the target, and a grid around it
    .venv/bin/python -m benchmarks.stream --grid none --subscribers 100 --rate 1000
    .venv/bin/python -m benchmarks.stream --grid 10,100x100,1000 --seconds 5
    .venv/bin/python -m benchmarks.stream --rate 100 --grid none --workers 1,2

Processes: this one (starts the others, watches the server's CPU and memory
through /proc), the server (``python -m server.cli serve`` on 127.0.0.1,
stopped by its pid), the appender (``benchmarks.stream_append``: one create
of ``--batch`` events per request, paced to ``--rate`` events/s) and
``--processes`` client processes that share the subscribers
(``benchmarks.stream_clients``, aiohttp, one connection per subscriber).

Each cell of the grid (subscribers x rate) runs ``--warm-up`` seconds, then
``--seconds`` measured; the subscribers then get at most ``--drain`` seconds
to receive the last events. Every rate runs first with no subscriber, to give
the appended events/s the ratio compares with. Reported per cell:

- appended events/s over the measured window, and its ratio to the same rate
  with no subscriber (below 1: the streams slow the writer down);
- delivery: every subscriber must get every new event, in order, once:
  positions skipped (gaps) and repeated are counted (any is a bug); events not
  received by the deadline are counted apart (a slow stream, not a wrong one);
- latency from commit to receipt, p50/p99/max, over every (subscriber, event)
  pair of the measured window; a pair not delivered by the deadline counts as
  slower than the drain time (so an overloaded cell cannot look fast);
- the server's CPU, in cores and per message delivered (beyond what the same
  appends cost with no subscriber), the clients' CPU, and the server's RSS
  before, at its peak and after (idle again).

With several ``--workers`` counts (``serve --workers N``), every cell runs
against each, on a fresh server and file, and each count gets its table.

Target (from the issue): p99 under 100 ms at 1,000 events/s with 1,000 subscribers.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from time import perf_counter
from typing import Final

from . import http_server
from .http import counts, load_average, print_table
from .stream_cell import Cell, Settings, run_cell
from .stream_clients import raise_open_files
from .stream_report import LATENCY_METHOD, Summary, print_cells, target_rows

GRID: Final = "10,100,1000x100,1000"


def cells(args: argparse.Namespace) -> list[tuple[int, float]]:
    """Every (subscribers, rate) to run: the baselines (0 subscribers) first,
    then from the lightest load to the heaviest, so that a cell the server
    cannot keep up with comes last and delays nothing measured after it."""
    chosen = {(args.subscribers, args.rate), *args.grid}
    rates = sorted({rate for _, rate in chosen})
    loaded = sorted((c for c in chosen if c[0] > 0), key=lambda c: (c[0] * c[1], c[1]))
    return [(0, rate) for rate in rates] + loaded


def run(args: argparse.Namespace) -> tuple[dict[int, list[Cell]], str]:
    token = "es_bench_" + secrets.token_urlsafe(24)
    settings = Settings(args.seconds, args.warm_up, args.drain, args.batch, args.processes)
    # The server inherits this limit: it holds one socket per subscriber.
    most = max(args.subscribers, *(s for s, _ in args.grid), 0)
    raise_open_files(most * 2 + 1024)
    done: dict[int, list[Cell]] = {}
    report = ""
    with (
        tempfile.TemporaryDirectory(prefix="execstore-stream-", dir=args.dir) as tmp,
        ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool,
    ):
        pool.submit(int).result()  # spawned now, so the first cell's schedule starts on time
        work = Path(tmp)
        profile = work / "server.prof" if args.profile_server else None
        for workers in args.workers:
            db = work / f"stream-{workers}.db"
            ran = done.setdefault(workers, [])
            # A connection per subscriber, past the server's default cap of 1,000.
            room = ("--max-connections", str(2 * most + 100))
            with http_server.running(db, token, work, profile, None, workers, room) as server:
                for subscribers, rate in cells(args):
                    cell = run_cell(pool, server, token, subscribers, rate, settings)
                    ran.append(cell)
                    print(f"  {workers}w {Summary(cell, ran, args.drain).progress()}", flush=True)
            if profile is not None:
                report = http_server.profile_report(profile, args.profile_server)
    return done, report


def report(
    args: argparse.Namespace,
    done: dict[int, list[Cell]],
    profile: str,
    wall: float,
    loads: list[str],
) -> None:
    print()
    print("SSE streams benchmark: server, appender and clients in separate processes, 127.0.0.1")
    print(f"load average (1, 5, 15 min) at start / end: {' / '.join(loads)};", end=" ")
    print(f"{os.cpu_count()} CPUs")
    print(
        f"each cell: {args.warm_up:g} s warm-up, {args.seconds:g} s measured, up to"
        f" {args.drain:g} s to drain; {args.batch} events per append request;"
        f" subscribers over {args.processes} client processes"
    )
    for workers, ran in done.items():
        summaries = [Summary(cell, ran, args.drain) for cell in ran]
        print()
        print(f"serve --workers {workers}:")
        headline = next(
            s
            for s in summaries
            if (s.cell.subscribers, s.cell.rate) == (args.subscribers, args.rate)
        )
        print_table(target_rows(headline))
        print()
        print_cells(summaries)
    print()
    print(LATENCY_METHOD)
    if profile:
        print()
        print("server profile (cProfile, main thread; it slows the server):")
        print(profile)
    print()
    print(f"wall time {wall:.1f} s")


def _grid(text: str) -> list[tuple[int, float]]:
    if text.strip().lower() == "none":
        return []
    subscribers, _, rates = text.partition("x")
    try:
        counts = [int(s) for s in subscribers.split(",") if s.strip()]
        paces = [float(r) for r in rates.split(",") if r.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write SUBSCRIBERS,...xRATE,...") from None
    if not counts or not paces or min(counts) < 1 or min(paces) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: write SUBSCRIBERS,...xRATE,... (positive)")
    return [(s, r) for s in counts for r in paces]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.stream",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--subscribers", type=int, default=1000, help="the target cell's subscribers")
    add("--rate", type=float, default=1000.0, help="the target cell's events appended per second")
    add(
        "--grid",
        type=_grid,
        default=_grid(GRID),
        metavar="S,...xR,...",
        help=f"more cells, subscribers x rates (default {GRID}), or 'none'",
    )
    add("--seconds", type=float, default=10.0, help="measured time per cell")
    add("--warm-up", type=float, default=2.0, help="untimed appends before each cell's window")
    add("--drain", type=float, default=5.0, help="at most this long for the last deliveries")
    add("--batch", type=int, default=10, help="events per append request (even, >= 2)")
    add("--processes", type=int, default=2, help="client processes sharing the subscribers")
    add(
        "--workers",
        type=counts,
        default=(1,),
        help="serve --workers; several, comma-separated, each on a fresh server and file",
    )
    add(
        "--profile-server",
        type=int,
        nargs="?",
        const=30,
        default=0,
        metavar="TOP",
        help="run the server under cProfile and print its TOP functions",
    )
    add("--dir", type=Path, default=None, help="where the temporary directory goes")
    args = parser.parse_args(argv)
    if args.subscribers < 1 or args.rate <= 0 or args.processes < 1:
        parser.error("--subscribers, --rate and --processes must be positive")
    if args.seconds <= 0 or args.warm_up < 0 or args.drain < 0:
        parser.error("--seconds must be positive, --warm-up and --drain not negative")
    if args.profile_server and args.workers != (1,):
        parser.error("--profile-server sees one process: use --workers 1")
    if args.batch < 2 or args.batch % 2:
        parser.error("--batch must be even and at least 2 (queued, started, node pairs)")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    start, loads = perf_counter(), [load_average()]
    print(f"running {len(cells(args))} cells (subscribers, events/s):", flush=True)
    done, profile = run(args)
    loads.append(load_average())
    report(args, done, profile, perf_counter() - start, loads)


if __name__ == "__main__":
    main()
