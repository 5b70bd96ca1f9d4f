"""The SHA-256 chain over the log: each row's hash covers the previous row's
hash and the row's canonical bytes, so editing, removing or reordering any
row breaks every hash from that row on.

Canonical bytes: the JSON array ``[position, execution_id, version, event_id,
type, occurred_at, recorded_at, len(data)]`` followed by ``data`` as stored.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Final

import msgspec

from .frozen import Frozen

GENESIS: Final = bytes(32)

_header: Final = msgspec.json.Encoder()
_sha256: Final = hashlib.sha256


def row_hash(
    previous: bytes,
    position: int,
    execution_id: int,
    version: int,
    event_id: str,
    type_: str,
    data: bytes,
    occurred_at: int,
    recorded_at: int,
) -> bytes:
    header = _header.encode(
        (position, execution_id, version, event_id, type_, occurred_at, recorded_at, len(data))
    )
    return _sha256(previous + header + data).digest()


class VerifyReport(Frozen):
    ok: bool
    checked: int
    last_position: int
    first_bad_position: int | None = None
    reason: str | None = None


_BATCH: Final = 10_000


def verify_file(path: Path) -> VerifyReport:
    """Verify a log file read-only; a missing file is an error, never an empty log."""
    if not path.is_file():
        raise FileNotFoundError(f"no event log at {path}")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return verify_chain(conn)
    finally:
        conn.close()


def verify_chain(conn: sqlite3.Connection) -> VerifyReport:
    """Walk the whole log in position order, in bounded batches."""
    previous = GENESIS
    expected_position = 1
    checked = 0
    while True:
        rows = conn.execute(
            "SELECT position, execution_id, version, event_id, type, data, occurred_at,"
            " recorded_at, hash FROM events WHERE position >= ? ORDER BY position LIMIT ?",
            (expected_position, _BATCH),
        ).fetchall()
        if not rows:
            return VerifyReport(ok=True, checked=checked, last_position=expected_position - 1)
        for pos, eid, version, event_id, type_, data, occurred, recorded, stored in rows:
            if pos != expected_position:
                return _broken(checked, expected_position, "a row is missing here")
            if row_hash(previous, pos, eid, version, event_id, type_, data, occurred, recorded) != (
                stored
            ):
                return _broken(checked, pos, "the row does not match its hash")
            previous = stored
            expected_position += 1
            checked += 1


def _broken(checked: int, position: int, reason: str) -> VerifyReport:
    return VerifyReport(
        ok=False,
        checked=checked,
        last_position=position - 1,
        first_bad_position=position,
        reason=reason,
    )
