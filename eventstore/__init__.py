"""The append-only execution log: event types, lifecycle rules, the SQLite
log with its hash chain, appends, reads and subscriptions."""

from .errors import (
    ExecutionNotFound,
    IdempotencyConflict,
    InvalidEvent,
    RuleViolation,
    StorageFailed,
    StorageFull,
    StorageUnavailable,
    StoreClosed,
    StoreError,
    VersionConflict,
)
from .events import (
    ErrorInfo,
    EventData,
    ExecutionCancelled,
    ExecutionCancelRequested,
    ExecutionCompleted,
    ExecutionCrashed,
    ExecutionDeleted,
    ExecutionFailed,
    ExecutionQueued,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionWaiting,
    NewEvent,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    RecordedEvent,
    Usage,
    json_value,
)
from .hashchain import VerifyReport
from .hooks import CommitHook
from .limits import LimitExceeded, Limits
from .store import EventStore
from .subscriptions import Subscription, SubscriptionFilter
from .writer import AppendResult, CreatedExecution

__all__ = [
    "AppendResult",
    "CommitHook",
    "CreatedExecution",
    "ErrorInfo",
    "EventData",
    "EventStore",
    "ExecutionCancelRequested",
    "ExecutionCancelled",
    "ExecutionCompleted",
    "ExecutionCrashed",
    "ExecutionDeleted",
    "ExecutionFailed",
    "ExecutionNotFound",
    "ExecutionQueued",
    "ExecutionResumed",
    "ExecutionStarted",
    "ExecutionWaiting",
    "IdempotencyConflict",
    "InvalidEvent",
    "LimitExceeded",
    "Limits",
    "NewEvent",
    "NodeCompleted",
    "NodeFailed",
    "NodeStarted",
    "RecordedEvent",
    "RuleViolation",
    "StorageFailed",
    "StorageFull",
    "StorageUnavailable",
    "StoreClosed",
    "StoreError",
    "Subscription",
    "SubscriptionFilter",
    "Usage",
    "VerifyReport",
    "VersionConflict",
    "json_value",
]
