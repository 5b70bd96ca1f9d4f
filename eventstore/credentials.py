"""Credentials kept beside the log: API tokens and webhook hashes.

Only SHA-256 digests of the secrets reach the file. Secrets are random (at
least 128 bits), so a fast digest is enough: there is nothing to brute-force
that a slow password hash would protect. Rows are found by digest, so the
lookup's timing depends on the digest only, never on how much of a guessed
secret was right.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite

from . import schema
from .events import now_us
from .frozen import Frozen


class TokenRecord(Frozen):
    scopes: frozenset[str]
    team_id: str | None
    label: str | None


class WebhookRecord(Frozen):
    workflow_id: str
    team_id: str | None


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def insert_token(
    secret: str, scopes: frozenset[str], team_id: str | None, label: str | None
) -> Callable[[sqlite3.Connection], object]:
    """The write that records a token, for the writer's transaction or a CLI connection."""
    row = (digest(secret), " ".join(sorted(scopes)), team_id, label, now_us())
    return partial(_execute, "INSERT INTO api_tokens VALUES (?,?,?,?,?)", row)


def insert_webhook(
    secret: str, workflow_id: str, team_id: str | None
) -> Callable[[sqlite3.Connection], object]:
    row = (digest(secret), workflow_id, team_id, now_us())
    return partial(_execute, "INSERT INTO webhooks VALUES (?,?,?,?)", row)


def _execute(sql: str, row: tuple[object, ...], conn: sqlite3.Connection) -> None:
    conn.execute(sql, row)


def record_in_file(path: Path, write: Callable[[sqlite3.Connection], object]) -> None:
    """Run one credentials write on a connection of its own (the CLI's), in
    its own transaction; SQLite's lock orders it with a running server's writer."""
    if not path.exists():
        raise FileNotFoundError(f"no such database: {path}")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        schema.configure(conn, "full")
        schema.migrate(conn)
        with schema.immediate(conn):
            write(conn)
    finally:
        conn.close()


async def find_token(conn: aiosqlite.Connection, secret: str) -> TokenRecord | None:
    wanted = digest(secret)
    sql = "SELECT digest, scopes, team_id, label FROM api_tokens WHERE digest = ?"
    row = _first(await conn.execute_fetchall(sql, (wanted,)))
    if row is None or not hmac.compare_digest(row[0], wanted):
        return None
    return TokenRecord(frozenset(row[1].split()), row[2], row[3])


async def any_token(conn: aiosqlite.Connection) -> bool:
    return bool(await conn.execute_fetchall("SELECT 1 FROM api_tokens LIMIT 1"))


async def find_webhook(conn: aiosqlite.Connection, secret: str) -> WebhookRecord | None:
    wanted = digest(secret)
    sql = "SELECT digest, workflow_id, team_id FROM webhooks WHERE digest = ?"
    row = _first(await conn.execute_fetchall(sql, (wanted,)))
    if row is None or not hmac.compare_digest(row[0], wanted):
        return None
    return WebhookRecord(row[1], row[2])


def _first(rows: Iterable[Any]) -> Any:
    # execute_fetchall: one job on the connection's thread, no statement left
    # open to pin an older snapshot for the next read.
    return next(iter(rows), None)
