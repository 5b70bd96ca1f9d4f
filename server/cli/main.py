"""``execstore``: the command line (serve, token, verify, rebuild)."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec

from eventstore import Limits, StoreError
from eventstore.hashchain import verify_file
from projections.rebuild import rebuild

from ..dialects import DIALECTS
from ..http.connections import ConnectionLimits
from ..http.settings import DEFAULT_MAX_BODY, Settings
from ..render.masking import DEFAULT_MASKED_KEYS
from . import tokens
from .serve import serve
from .workers import serve_workers


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "token":
        return tokens.run(args)
    if args.command == "rebuild":
        return _rebuild(Path(args.db), args.batch_size)
    return _verify(Path(args.db))


def _serve(args: argparse.Namespace) -> int:
    flags = {
        "demo_data": args.demo_data,
        "demo_engine": args.demo_engine,
        "session_token": args.session_token,
        "access_log": args.access_log,
    }
    db, settings = Path(args.db), _settings(args)
    if args.workers == 1:  # this process serves: no supervisor
        return serve(db, args.host, args.port, settings, **flags)
    return serve_workers(db, args.host, args.port, settings, args.workers, **flags)


def _settings(args: argparse.Namespace) -> Settings:
    dialects: dict[str, dict[str, str]] = {}
    for name, key, value in args.dialect_setting or ():
        dialects.setdefault(name, {})[key] = value
    connections = ConnectionLimits(
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        keepalive_timeout=args.keepalive_timeout,
        max_connections=args.max_connections,
        max_header_bytes=args.max_header_bytes,
        max_headers=args.max_headers,
    )
    settings = Settings(
        max_body=args.max_body,
        limits=Limits(event_bytes=args.max_event_bytes),
        connections=connections,
        lock_timeout=args.lock_timeout,
        env_token=os.environ.get("EXECSTORE_TOKEN") or None,
        root_dialect=args.root_dialect,
        dialects=dialects,
    )
    if args.mask_key:
        settings = msgspec.structs.replace(settings, masked_keys=tuple(args.mask_key))
    return settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="execstore", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the store over HTTP")
    _serve_arguments(serve)
    _limit_arguments(serve)
    tokens.add_commands(commands)
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


def _serve_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--db", default="data/executions.db", help="SQLite file")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="processes serving the port and the file (1: this one alone)",
    )
    serve.add_argument(
        "--demo-data",
        action="store_true",
        help="record a few hundred demo executions first, if the file has no events",
    )
    serve.add_argument(
        "--demo-engine",
        action="store_true",
        help="run a simulated engine on the executions queued while serving (a webhook's, say)",
    )
    serve.add_argument(
        "--session-token",
        action="store_true",
        help="mint an admin token valid until the server stops (never stored) and print it",
    )
    serve.add_argument(
        "--mask-key",
        action="append",
        help="a key whose values exports mask (repeatable; replaces the defaults:"
        f" {', '.join(sorted(DEFAULT_MASKED_KEYS))})",
    )
    serve.add_argument(
        "--root-dialect",
        choices=sorted(DIALECTS),
        default=None,
        help="serve this dialect at the root instead of under /compat/<name>",
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log every request (to stderr, credentials removed)",
    )
    serve.add_argument(
        "--dialect-setting",
        type=_dialect_setting,
        action="append",
        metavar="NAME.KEY=VALUE",
        help="a dialect's own setting (repeatable), e.g. snake.utc_offset=+00:00"
        " or actions.time_zone=Europe/Paris",
    )


def _limit_arguments(serve: argparse.ArgumentParser) -> None:
    limits, connections = Limits(), ConnectionLimits()
    group = serve.add_argument_group("limits")
    group.add_argument(
        "--max-body", type=_positive, default=DEFAULT_MAX_BODY, help="request body limit, bytes"
    )
    group.add_argument(
        "--max-event-bytes",
        type=_positive,
        default=limits.event_bytes,
        help="one event's payload limit, bytes (as stored)",
    )
    group.add_argument(
        "--lock-timeout",
        type=float,
        default=Settings().lock_timeout,
        help="seconds a write waits while other processes write the file, then 503"
        f" storage_busy ({Settings().lock_timeout:g})",
    )
    for name, kind, help in (
        ("header_timeout", float, "seconds for a connection's first request head"),
        ("body_timeout", float, "seconds to read a request's body"),
        ("keepalive_timeout", float, "seconds an idle connection is kept"),
        ("max_connections", _positive, "connections open at once"),
        ("max_header_bytes", _positive, "one header line's limit, bytes"),
        ("max_headers", _positive, "header lines in one request"),
    ):
        default = getattr(connections, name)
        flag = "--" + name.replace("_", "-")
        group.add_argument(flag, type=kind, default=default, help=f"{help} ({default})")


def _dialect_setting(text: str) -> tuple[str, str, str]:
    name, dot, rest = text.partition(".")
    key, equals, value = rest.partition("=")
    if not (name and dot and key and equals):
        raise argparse.ArgumentTypeError(f"expected NAME.KEY=VALUE, not {text!r}")
    return name, key, value


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
