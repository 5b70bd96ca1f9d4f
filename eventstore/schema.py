"""The log's tables, the pragmas every connection uses, and forward migrations.

The schema version lives in ``PRAGMA user_version``. Each entry of
``MIGRATIONS`` takes the file from version ``i`` to ``i + 1``; a file written
by a newer release is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, Literal

from .errors import StoreError

Durability = Literal["full", "normal"]

MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: the log and the registry of executions (its streams).
    """
    CREATE TABLE executions(
        id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        external_id TEXT UNIQUE,
        workflow_id TEXT NOT NULL,
        team_id TEXT,
        created_position INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE events(
        position INTEGER PRIMARY KEY,
        execution_id INTEGER NOT NULL,
        version INTEGER NOT NULL,
        event_id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        data BLOB NOT NULL,
        occurred_at INTEGER NOT NULL,
        recorded_at INTEGER NOT NULL,
        hash BLOB NOT NULL,
        UNIQUE(execution_id, version)
    ) STRICT;

    CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only: UPDATE refused'); END;
    CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only: DELETE refused'); END;
    CREATE TRIGGER executions_no_update BEFORE UPDATE ON executions
    BEGIN SELECT RAISE(ABORT, 'executions are immutable: UPDATE refused'); END;
    CREATE TRIGGER executions_no_delete BEFORE DELETE ON executions
    BEGIN SELECT RAISE(ABORT, 'executions are immutable: DELETE refused'); END;
    """,
    # 2: credentials beside the log. Only SHA-256 digests of the secrets are
    # kept, and they are looked up by digest: a lookup's timing can tell an
    # attacker about a digest, never about a secret.
    """
    CREATE TABLE api_tokens(
        digest BLOB PRIMARY KEY,
        scopes TEXT NOT NULL,
        team_id TEXT,
        label TEXT,
        created_at INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE webhooks(
        digest BLOB PRIMARY KEY,
        workflow_id TEXT NOT NULL,
        team_id TEXT,
        created_at INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    """,
    # 3: credentials can be revoked, and tokens remember when they were last
    # used. ``credentials_revision`` counts every change that may take a
    # credential's power away (a revocation, a row deleted or edited by hand),
    # by triggers, whoever writes: a process that caches a credential sees from
    # one read that the file may no longer hold it.
    """
    ALTER TABLE api_tokens ADD COLUMN last_used_at INTEGER;
    ALTER TABLE api_tokens ADD COLUMN revoked_at INTEGER;
    ALTER TABLE webhooks ADD COLUMN revoked_at INTEGER;
    CREATE INDEX webhooks_workflow ON webhooks(workflow_id, created_at);
    CREATE TABLE credentials_revision(
        one INTEGER PRIMARY KEY CHECK (one = 1),
        revision INTEGER NOT NULL
    ) STRICT;
    INSERT INTO credentials_revision VALUES (1, 0);
    CREATE TRIGGER api_tokens_changed AFTER UPDATE OF digest, scopes, team_id, revoked_at
        ON api_tokens
        BEGIN UPDATE credentials_revision SET revision = revision + 1; END;
    CREATE TRIGGER api_tokens_deleted AFTER DELETE ON api_tokens
        BEGIN UPDATE credentials_revision SET revision = revision + 1; END;
    """,
)

SCHEMA_VERSION: Final = len(MIGRATIONS)


class SchemaTooNew(StoreError):
    def __init__(self, found: int) -> None:
        super().__init__(
            f"the file has schema version {found}, newer than this release's {SCHEMA_VERSION}"
        )


def configure(conn: sqlite3.Connection, durability: Durability) -> None:
    """Pragmas for the writer. ``normal`` may lose the last commits on power
    loss, never on a process crash: WAL frames are written before commit returns."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-65536")


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the file up to ``SCHEMA_VERSION``; return the version found."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(found)
    for version in range(found, SCHEMA_VERSION):
        with immediate(conn):
            for statement in _split(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={version + 1}")
    return found


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction on an autocommit connection: committed, or rolled
    back (a failed COMMIT included) and the error raised."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _split(script: str) -> list[str]:
    """Statements of a migration, keeping trigger bodies whole."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements
