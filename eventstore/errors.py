"""Typed errors of the store. Each carries what a caller needs to react."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class StoreClosed(StoreError):
    def __init__(self) -> None:
        super().__init__("the event store is closed")


class ExecutionNotFound(StoreError):
    def __init__(self, execution_id: int) -> None:
        self.execution_id = execution_id
        super().__init__(f"execution {execution_id} does not exist")


class RuleViolation(StoreError):
    """An append broke a lifecycle rule; nothing of it was written."""

    def __init__(self, rule: str, message: str, *, index: int = 0) -> None:
        self.rule = rule
        self.index = index  # which event of the append broke it
        super().__init__(f"{rule}: {message}")


class VersionConflict(StoreError):
    """``expected_version`` was stale; nothing was written."""

    def __init__(self, execution_id: int, expected: int, current: int) -> None:
        self.execution_id = execution_id
        self.expected = expected
        self.current = current
        super().__init__(
            f"execution {execution_id} is at version {current}, not the expected {expected}"
        )


class IdempotencyConflict(StoreError):
    """An ``event_id`` already recorded was sent again with other content."""

    def __init__(self, event_id: str, reason: str) -> None:
        self.event_id = event_id
        super().__init__(f"event_id {event_id!r} {reason}")


class StorageFailed(StoreError):
    """The disk refused a write (full, or failing); nothing of it was written,
    and what was acknowledged before stands. The next writes may succeed."""


class StorageFull(StorageFailed):
    def __init__(self) -> None:
        super().__init__("the disk (or the database's size limit) is full; nothing was written")


class StorageUnavailable(StorageFailed):
    def __init__(self, detail: str) -> None:
        super().__init__(f"the disk failed a write ({detail}); nothing was written")


class StoreBusy(StorageFailed):
    """Another process held the file's write lock for longer than the store
    waits; nothing was written."""

    def __init__(self, waited: float) -> None:
        self.waited = waited
        super().__init__(
            f"another process kept the file busy for over {waited:g} s; nothing was written"
        )


def storage_failure(exc: BaseException) -> StorageFailed | None:
    """The store's error for an SQLite error that the disk caused, or a lock
    held too long by a writer that does not take the store's lock, else None."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    primary = code & 0xFF
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return StoreBusy(_BUSY_TIMEOUT)
    if primary == _SQLITE_FULL:
        return StorageFull()
    if primary == _SQLITE_IOERR:
        return StorageUnavailable(getattr(exc, "sqlite_errorname", "SQLITE_IOERR"))
    return None


_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_IOERR = 10
_SQLITE_FULL = 13
# SQLite's own wait (``schema.configure``), for writers that skip the store's lock.
_BUSY_TIMEOUT = 5.0


class InvalidEvent(StoreError):
    """An event is malformed before any rule applies (bad field value)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")
