"""``execstore token``: create, list and revoke API tokens on the file,
whether or not a server is running on it (SQLite's lock orders the writes).

A token's secret is printed once, at creation; the file keeps its digest,
and its id (the digest's first bytes) is what lists show and revokes take."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from eventstore import StoreError
from eventstore.credentials import (
    TokenInfo,
    insert_token,
    public_id,
    record_in_file,
    revoke_token,
    tokens_in_file,
)

from ..http.auth import SCOPES, new_secret
from ..render.times import iso_ms, iso_ms_or_none

_COLUMNS = ("ID", "SCOPES", "TEAM", "CREATED", "LAST USED", "LABEL")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = commands.add_parser("token", help="create, list and revoke API tokens")
    actions = token.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a token and print it, once")
    create.add_argument("--db", required=True, help="SQLite file")
    create.add_argument(
        "--scope", action="append", required=True, choices=sorted(SCOPES), help="repeatable"
    )
    create.add_argument("--team", default=None, help="restrict the token to this team")
    create.add_argument("--label", default=None, help="a note on what the token is for")
    listed = actions.add_parser("list", help="the tokens not revoked: never their secrets")
    listed.add_argument("--db", required=True, help="SQLite file")
    revoke = actions.add_parser("revoke", help="revoke a token: refused from the next request")
    revoke.add_argument("id", help="the token's id, as `token list` shows it")
    revoke.add_argument("--db", required=True, help="SQLite file")


def run(args: argparse.Namespace) -> int:
    db = Path(args.db)
    try:
        if args.action == "create":
            return _create(db, frozenset(args.scope), args.team, args.label)
        if args.action == "list":
            return _list(db)
        return _revoke(db, args.id)
    except FileNotFoundError as missing:
        print(f"execstore token {args.action}: {missing}", file=sys.stderr)
        return 2
    except (StoreError, sqlite3.Error) as refused:
        print(f"execstore token {args.action}: {refused}", file=sys.stderr)
        return 1


def _create(db: Path, scopes: frozenset[str], team: str | None, label: str | None) -> int:
    secret = new_secret()
    record_in_file(db, insert_token(secret, scopes, team, label))
    # The secret goes to stdout alone, so that scripts can capture it; it is not kept.
    print(secret)
    print(
        f"id: {public_id(secret)}; scopes: {' '.join(sorted(scopes))}; team: {team or 'all'}."
        " Keep it now: the file holds only its digest.",
        file=sys.stderr,
    )
    return 0


def _list(db: Path) -> int:
    rows = [_COLUMNS, *(_row(token) for token in tokens_in_file(db))]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())
    return 0


def _row(token: TokenInfo) -> tuple[str, ...]:
    return (
        token.id,
        ",".join(sorted(token.scopes)),
        token.team_id or "-",
        iso_ms(token.created_at),
        iso_ms_or_none(token.last_used_at) or "never",
        token.label or "",
    )


def _revoke(db: Path, token_id: str) -> int:
    if not record_in_file(db, revoke_token(token_id)):
        print(f"execstore token revoke: no token {token_id!r} (see `token list`)", file=sys.stderr)
        return 1
    print(f"revoked {token_id}")
    return 0
