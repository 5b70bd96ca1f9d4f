"""``execstore``: the command line (serve, verify)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from eventstore.hashchain import verify_file

from .app import create_app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="execstore", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the store over HTTP")
    serve.add_argument("--db", default="data/executions.db", help="SQLite file")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    verify = commands.add_parser("verify", help="check the log's hash chain")
    verify.add_argument("--db", required=True, help="SQLite file")
    args = parser.parse_args(argv)
    if args.command == "serve":
        print(f"execstore: serving {args.db} on http://{args.host}:{args.port}", flush=True)
        web.run_app(create_app(args.db), host=args.host, port=args.port, print=None)
        return 0
    return _verify(Path(args.db))


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


if __name__ == "__main__":
    sys.exit(main())
