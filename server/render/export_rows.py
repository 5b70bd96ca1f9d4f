"""Export of executions for audits: CSV and JSON renderings of a detail view.

Pure rendering, no HTTP and no I/O, so that a route can stream one execution
at a time. The CSV has one row per node attempt, the JSON nests the attempts
in their execution, as the export of seed 002 shows (with our status names).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Final

import msgspec

from eventstore.frozen import Frozen
from projections import (
    AttemptDetail,
    ExecutionDetail,
    ExecutionStatus,
    NodeDetail,
    NodeError,
    NodeStatus,
)

from .masking import Masker
from .times import iso_ms, iso_ms_or_none
from .wire import Camel

CSV_COLUMNS: Final = (
    "execution_id",
    "workflow_id",
    "workflow_name",
    "status",
    "trigger",
    "started_at",
    "completed_at",
    "duration_ms",
    "node_id",
    "node_type",
    "node_name",
    "node_status",
    "node_started_at",
    "node_completed_at",
    "node_duration_ms",
    "node_error",
)

# A spreadsheet runs a cell starting with one of these as a formula (OWASP's
# list for CSV injection); a leading apostrophe makes it text.
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def _cell(value: str | int | None) -> str:
    if value is None:
        return ""
    text = str(value)
    if text.startswith(_FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_text(rows: Iterable[Iterable[str | int | None]]) -> str:
    """Rows as CSV text, each cell guarded against spreadsheet formulas."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([_cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def csv_header() -> str:
    return csv_text([CSV_COLUMNS])


def csv_rows(detail: ExecutionDetail) -> str:
    """One row per node attempt, in the order the nodes first started; an
    execution without any keeps one row, with empty node columns, so that an
    audit never loses it."""
    execution: list[str | int | None] = [
        detail.id,
        detail.workflow_id,
        detail.workflow_name,
        detail.status,
        detail.trigger,
        iso_ms_or_none(detail.started_at),
        iso_ms_or_none(detail.finished_at),
        detail.duration_ms,
    ]
    rows = [
        [
            *execution,
            node.node_id,
            node.node_type,
            node.node_name,
            attempt.status,
            iso_ms(attempt.started_at),
            iso_ms_or_none(attempt.finished_at),
            attempt.duration_ms,
            _error_text(attempt.error),
        ]
        for node in detail.nodes
        for attempt in node.attempts
    ]
    return csv_text(rows or [execution + [None] * (len(CSV_COLUMNS) - len(execution))])


def _error_text(error: NodeError | None) -> str | None:
    if error is None:
        return None
    return f"{error.code}: {error.message}" if error.message else error.code


class _NodeError(Frozen):
    code: str
    message: str


class _ExecutionError(Camel):
    code: str
    message: str
    node_id: str | None


class _NodeExecution(Camel):
    node_id: str
    node_type: str | None
    node_name: str | None
    attempt: int
    status: NodeStatus
    started_at: str
    completed_at: str | None
    duration_ms: int | None
    tokens: int
    input: msgspec.Raw | None
    output: msgspec.Raw | None
    error: _NodeError | None


class _Execution(Camel):
    execution_id: int
    uuid: str
    workflow_id: str
    workflow_name: str | None
    status: ExecutionStatus
    trigger: str
    team_id: str | None
    created_at: str
    started_at: str | None
    completed_at: str | None
    duration_ms: int | None
    tokens: int
    error: _ExecutionError | None
    input: msgspec.Raw | None
    output: msgspec.Raw | None
    node_executions: list[_NodeExecution]


_encoder: Final = msgspec.json.Encoder()


def json_execution(detail: ExecutionDetail, masker: Masker) -> bytes:
    """One execution as a JSON object, its node attempts nested and every input
    and output masked."""
    error = detail.error
    return _encoder.encode(
        _Execution(
            execution_id=detail.id,
            uuid=detail.uuid,
            workflow_id=detail.workflow_id,
            workflow_name=detail.workflow_name,
            status=detail.status,
            trigger=detail.trigger,
            team_id=detail.team_id,
            created_at=iso_ms(detail.created_at),
            started_at=iso_ms_or_none(detail.started_at),
            completed_at=iso_ms_or_none(detail.finished_at),
            duration_ms=detail.duration_ms,
            tokens=detail.tokens,
            error=None
            if error is None
            else _ExecutionError(code=error.code, message=error.message, node_id=error.node_id),
            input=masker.mask(detail.input),
            output=masker.mask(detail.output),
            node_executions=[
                _node_execution(node, attempt, masker)
                for node in detail.nodes
                for attempt in node.attempts
            ],
        )
    )


def _node_execution(node: NodeDetail, attempt: AttemptDetail, masker: Masker) -> _NodeExecution:
    error = attempt.error
    return _NodeExecution(
        node_id=node.node_id,
        node_type=node.node_type,
        node_name=node.node_name,
        attempt=attempt.attempt,
        status=attempt.status,
        started_at=iso_ms(attempt.started_at),
        completed_at=iso_ms_or_none(attempt.finished_at),
        duration_ms=attempt.duration_ms,
        tokens=attempt.tokens,
        input=masker.mask(attempt.input),
        output=masker.mask(attempt.output),
        error=None if error is None else _NodeError(code=error.code, message=error.message),
    )
