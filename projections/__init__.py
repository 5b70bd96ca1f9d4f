"""Views folded from the log: summary table, detail fold, replay, rebuild.

``views`` holds the shapes, ``detail`` the pure fold of one execution,
``replay`` the fold as of a version or a time. It imports ``eventstore``
and nothing of HTTP.
"""

from .detail import elapsed_ms, fold, fold_step
from .replay import replay_as_of_time, replay_as_of_version
from .usage import merge_usage
from .views import (
    MIXED_CURRENCY,
    AttemptDetail,
    ExecutionDetail,
    ExecutionError,
    ExecutionStatus,
    FoldError,
    NodeDetail,
    NodeError,
    NodeStatus,
    NodeTotals,
    UsageDetail,
)

__all__ = [
    "MIXED_CURRENCY",
    "AttemptDetail",
    "ExecutionDetail",
    "ExecutionError",
    "ExecutionStatus",
    "FoldError",
    "NodeDetail",
    "NodeError",
    "NodeStatus",
    "NodeTotals",
    "UsageDetail",
    "elapsed_ms",
    "fold",
    "fold_step",
    "merge_usage",
    "replay_as_of_time",
    "replay_as_of_version",
]
