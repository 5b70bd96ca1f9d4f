"""Why the writer inserts on the event-loop thread: ``executemany`` beside busy Python.

    .venv/bin/python -m benchmarks.gil_contention [--rows 20000] [--repeat 5]

sqlite3 releases the GIL around each row's step and takes it back to bind the
next row. With another thread running Python, every take-back waits for that
thread to yield, so inserting on a second thread while the loop thread works
is slower than inserting on the loop thread itself. This prints rows/s for the
same rows (the log's schema and pragmas, synchronous=FULL) inserted alone and
while a second thread spins in pure Python.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from time import perf_counter
from typing import Any

from eventstore import schema
from eventstore.events import data_encoder, new_event_id, now_us
from eventstore.hashchain import GENESIS, row_hash


def make_rows(count: int) -> list[tuple[Any, ...]]:
    rows, previous, now = [], GENESIS, now_us()
    payload = data_encoder.encode({"type": "node.completed", "node_id": "n", "tokens": 25})
    for position in range(1, count + 1):
        event_id = new_event_id()
        previous = row_hash(previous, position, 1, position, event_id, "x", payload, now, now)
        rows.append((position, 1, position, event_id, "x", payload, now, now, previous))
    return rows


def insert(rows: list[tuple[Any, ...]], busy: bool) -> float:
    stop = threading.Event()

    def spin() -> None:
        count = 0
        while not stop.is_set():
            count += 1

    spinner = threading.Thread(target=spin)
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "g.db", isolation_level=None)
        schema.configure(conn, "full")
        schema.migrate(conn)
        if busy:
            spinner.start()
        try:
            start = perf_counter()
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)", rows)
            conn.execute("COMMIT")
            return perf_counter() - start
        finally:
            stop.set()
            if busy:
                spinner.join()
            conn.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gil_contention")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    rows = make_rows(args.rows)
    alone = [args.rows / insert(rows, busy=False) for _ in range(args.repeat)]
    beside = [args.rows / insert(rows, busy=True) for _ in range(args.repeat)]
    print(f"executemany of {args.rows} rows, one transaction, synchronous=FULL")
    print(f"  alone:                       {statistics.median(alone):>10,.0f} rows/s (median)")
    print(f"  beside a busy Python thread: {statistics.median(beside):>10,.0f} rows/s (median)")
    print(f"  ratio: {statistics.median(beside) / statistics.median(alone):.2f}")


if __name__ == "__main__":
    main()
