"""``execstore``: the command line (serve, verify, rebuild)."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from eventstore import StoreError
from eventstore.hashchain import verify_file
from projections.rebuild import rebuild

from .app import create_app


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        print(f"execstore: serving {args.db} on http://{args.host}:{args.port}", flush=True)
        web.run_app(create_app(args.db), host=args.host, port=args.port, print=None)
        return 0
    if args.command == "rebuild":
        return _rebuild(Path(args.db), args.batch_size)
    return _verify(Path(args.db))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="execstore", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the store over HTTP")
    serve.add_argument("--db", default="data/executions.db", help="SQLite file")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    verify = commands.add_parser("verify", help="check the log's hash chain")
    verify.add_argument("--db", required=True, help="SQLite file")
    rebuilt = commands.add_parser(
        "rebuild", help="drop the view tables and replay the log into them (server stopped)"
    )
    rebuilt.add_argument("--db", required=True, help="SQLite file")
    rebuilt.add_argument(
        "--batch-size", type=_positive, default=5000, help="events per transaction"
    )
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _verify(db: Path) -> int:
    try:
        report = verify_file(db)
    except FileNotFoundError as missing:
        print(f"execstore verify: {missing}", file=sys.stderr)
        return 2
    if report.ok:
        print(f"ok: {report.checked} events, hash chain intact")
        return 0
    print(f"broken at position {report.first_bad_position}: {report.reason}", file=sys.stderr)
    return 1


def _rebuild(db: Path, batch_size: int) -> int:
    try:
        stats = rebuild(db, batch_size=batch_size, progress=True)
    except FileNotFoundError as missing:
        print(f"execstore rebuild: {missing}", file=sys.stderr)
        return 2
    # A file from a newer release, a file that is no database, a writer holding the lock.
    except (StoreError, RuntimeError, sqlite3.Error) as refused:
        print(f"execstore rebuild: {refused}", file=sys.stderr)
        return 1
    rate = stats.events / stats.seconds if stats.seconds > 0 else 0.0
    print(
        f"rebuilt {stats.events} events of {stats.executions} executions"
        f" in {stats.seconds:.2f} s ({rate:,.0f} events/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
