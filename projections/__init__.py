"""Views folded from the log: summary table, detail fold, replay, rebuild.

``views`` holds the shapes, ``detail`` the pure fold of one execution,
``replay`` the fold as of a version or a time, ``queries`` the filtered list
over the summary table, ``reader`` all of them over an open store. It imports
``eventstore`` and nothing of HTTP.
"""

from .detail import DetailFold, NodeNow, elapsed_ms, fold, fold_step
from .queries import (
    InvalidQuery,
    ListFilter,
    Page,
    count_executions,
    count_query,
    list_executions,
    list_query,
)
from .reader import ViewReader
from .rebuild import RebuildStats, rebuild
from .replay import replay_as_of_time, replay_as_of_version
from .summary import SummaryHook
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
    SummaryRow,
    UsageDetail,
    summary_row,
)

__all__ = [
    "MIXED_CURRENCY",
    "AttemptDetail",
    "DetailFold",
    "ExecutionDetail",
    "ExecutionError",
    "ExecutionStatus",
    "FoldError",
    "InvalidQuery",
    "ListFilter",
    "NodeDetail",
    "NodeError",
    "NodeNow",
    "NodeStatus",
    "NodeTotals",
    "Page",
    "RebuildStats",
    "SummaryHook",
    "SummaryRow",
    "UsageDetail",
    "ViewReader",
    "count_executions",
    "count_query",
    "elapsed_ms",
    "fold",
    "fold_step",
    "list_executions",
    "list_query",
    "merge_usage",
    "rebuild",
    "replay_as_of_time",
    "replay_as_of_version",
    "summary_row",
]
