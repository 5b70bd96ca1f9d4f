"""Credentials kept beside the log: API tokens and webhook hashes.

Only SHA-256 digests of the secrets reach the file. Secrets are random (at
least 128 bits), so a fast digest is enough: there is nothing to brute-force
that a slow password hash would protect. Rows are found by digest, so the
lookup's timing depends on the digest only, never on how much of a guessed
secret was right.

A credential's public id is the first six bytes of its digest, in hex: it
names the credential (to list or revoke it) and tells nothing of the secret.
A revoked credential stays in the file, refused. Any change that may take a
token's power away (a revocation, or a row deleted or edited by hand) counts
up ``credentials_revision``, by the schema's triggers: a process that caches
tokens learns from one small read that the file may no longer hold one it
cached. Webhooks are looked up in the file on every trigger, uncached.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, Final

import aiosqlite

from . import schema, writelock
from .events import now_us
from .frozen import Frozen

ID_BYTES: Final = 6


class TokenRecord(Frozen):
    scopes: frozenset[str]
    team_id: str | None
    label: str | None


class TokenInfo(Frozen, kw_only=True):
    """A token as it may be shown: never its secret, nor its digest."""

    id: str
    scopes: frozenset[str]
    team_id: str | None
    label: str | None
    created_at: int
    last_used_at: int | None


class WebhookRecord(Frozen):
    workflow_id: str
    team_id: str | None


class WebhookInfo(Frozen, kw_only=True):
    id: str
    workflow_id: str
    team_id: str | None
    created_at: int


Write = Callable[[sqlite3.Connection], Any]


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def public_id(secret: str) -> str:
    return digest(secret)[:ID_BYTES].hex()


def insert_token(
    secret: str, scopes: frozenset[str], team_id: str | None, label: str | None
) -> Write:
    """The write that records a token, for the writer's transaction or a CLI connection."""
    row = (digest(secret), " ".join(sorted(scopes)), team_id, label, now_us())
    sql = "INSERT INTO api_tokens(digest, scopes, team_id, label, created_at) VALUES (?,?,?,?,?)"
    return partial(_execute, sql, row)


def insert_webhook(secret: str, workflow_id: str, team_id: str | None) -> Write:
    row = (digest(secret), workflow_id, team_id, now_us())
    sql = "INSERT INTO webhooks(digest, workflow_id, team_id, created_at) VALUES (?,?,?,?)"
    return partial(_execute, sql, row)


def revoke_token(token_id: str) -> Write:
    """The write that revokes the token ``token_id`` names; it returns whether
    there was one (not yet revoked) to revoke."""
    return partial(_revoke, "api_tokens", token_id, now_us())


def revoke_webhook(webhook_id: str) -> Write:
    return partial(_revoke, "webhooks", webhook_id, now_us())


def touch_token(secret_digest: bytes, when: int) -> Write:
    sql = "UPDATE api_tokens SET last_used_at = ? WHERE digest = ? AND revoked_at IS NULL"
    return partial(_execute, sql, (when, secret_digest))


def _execute(sql: str, row: tuple[object, ...], conn: sqlite3.Connection) -> None:
    conn.execute(sql, row)


def _revoke(table: str, credential_id: str, when: int, conn: sqlite3.Connection) -> bool:
    bounds = _id_bounds(credential_id)
    if bounds is None:
        return False
    # The schema's triggers count the file's credentials revision up.
    revoked = conn.execute(
        f"UPDATE {table} SET revoked_at = ? WHERE digest BETWEEN ? AND ? AND revoked_at IS NULL",
        (when, *bounds),
    ).rowcount
    return bool(revoked)


def _id_bounds(credential_id: str) -> tuple[bytes, bytes] | None:
    """The digests a public id stands for (a range of the primary key)."""
    try:
        prefix = bytes.fromhex(credential_id)
    except ValueError:
        return None
    if len(prefix) != ID_BYTES:
        return None
    rest = 32 - ID_BYTES
    return prefix + b"\x00" * rest, prefix + b"\xff" * rest


def record_in_file(path: Path, write: Write) -> Any:
    """Run one credentials write on a connection of its own (the CLI's), in
    its own transaction, in turn with the stores' writers (the file's write
    lock, as theirs). Returns what the write returns."""
    conn = _open(path)
    try:
        with writelock.held(path), schema.immediate(conn):
            return write(conn)
    finally:
        conn.close()


def tokens_in_file(path: Path) -> list[TokenInfo]:
    """The tokens not revoked, oldest first (the CLI's ``token list``)."""
    conn = _open(path)
    try:
        return _tokens(conn.execute(_TOKENS).fetchall())
    finally:
        conn.close()


def _open(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise FileNotFoundError(f"no such database: {path}")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        schema.configure(conn, "full")
        schema.migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


_TOKENS: Final = (
    "SELECT digest, scopes, team_id, label, created_at, last_used_at FROM api_tokens"
    " WHERE revoked_at IS NULL ORDER BY created_at, digest"
)


def _tokens(rows: Iterable[Any]) -> list[TokenInfo]:
    return [
        TokenInfo(
            id=bytes(row[0][:ID_BYTES]).hex(),
            scopes=frozenset(row[1].split()),
            team_id=row[2],
            label=row[3],
            created_at=row[4],
            last_used_at=row[5],
        )
        for row in rows
    ]


async def list_tokens(conn: aiosqlite.Connection) -> list[TokenInfo]:
    return _tokens(await conn.execute_fetchall(_TOKENS))


async def find_token(conn: aiosqlite.Connection, secret: str) -> TokenRecord | None:
    wanted = digest(secret)
    sql = (
        "SELECT digest, scopes, team_id, label FROM api_tokens"
        " WHERE digest = ? AND revoked_at IS NULL"
    )
    row = _first(await conn.execute_fetchall(sql, (wanted,)))
    if row is None or not hmac.compare_digest(row[0], wanted):
        return None
    return TokenRecord(frozenset(row[1].split()), row[2], row[3])


async def any_token(conn: aiosqlite.Connection) -> bool:
    sql = "SELECT 1 FROM api_tokens WHERE revoked_at IS NULL LIMIT 1"
    return bool(await conn.execute_fetchall(sql))


async def find_webhook(conn: aiosqlite.Connection, secret: str) -> WebhookRecord | None:
    wanted = digest(secret)
    sql = (
        "SELECT digest, workflow_id, team_id FROM webhooks WHERE digest = ? AND revoked_at IS NULL"
    )
    row = _first(await conn.execute_fetchall(sql, (wanted,)))
    if row is None or not hmac.compare_digest(row[0], wanted):
        return None
    return WebhookRecord(row[1], row[2])


_WEBHOOKS: Final = (
    "SELECT digest, workflow_id, team_id, created_at FROM webhooks WHERE revoked_at IS NULL"
)


def _webhooks(rows: Iterable[Any]) -> list[WebhookInfo]:
    return [
        WebhookInfo(
            id=bytes(row[0][:ID_BYTES]).hex(),
            workflow_id=row[1],
            team_id=row[2],
            created_at=row[3],
        )
        for row in rows
    ]


async def list_webhooks(conn: aiosqlite.Connection, workflow_id: str) -> list[WebhookInfo]:
    """The workflow's webhooks not revoked, oldest first."""
    sql = _WEBHOOKS + " AND workflow_id = ? ORDER BY created_at, digest"
    return _webhooks(await conn.execute_fetchall(sql, (workflow_id,)))


async def webhook_by_id(conn: aiosqlite.Connection, webhook_id: str) -> WebhookInfo | None:
    bounds = _id_bounds(webhook_id)
    if bounds is None:
        return None
    sql = _WEBHOOKS + " AND digest BETWEEN ? AND ?"
    return next(iter(_webhooks(await conn.execute_fetchall(sql, bounds))), None)


def revision(conn: sqlite3.Connection) -> int:
    """How many revocations the file has seen (on a plain read connection)."""
    (found,) = conn.execute("SELECT revision FROM credentials_revision").fetchone()
    return int(found)


def _first(rows: Iterable[Any]) -> Any:
    # execute_fetchall: one job on the connection's thread, no statement left
    # open to pin an older snapshot for the next read.
    return next(iter(rows), None)
