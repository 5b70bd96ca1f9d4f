"""Export rendering: CSV rows per node attempt and JSON objects, from folded histories."""

from __future__ import annotations

import csv
import io
from typing import Any

import msgspec

from eventstore import (
    ErrorInfo,
    EventData,
    ExecutionCompleted,
    ExecutionFailed,
    ExecutionQueued,
    ExecutionStarted,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    json_value,
)
from projections import ExecutionDetail, fold
from server.render.export_rows import CSV_COLUMNS, csv_header, csv_rows, json_execution
from server.render.masking import MASK, Masker
from server.render.times import iso_ms

from ...projections import history, t

QUEUED = ExecutionQueued(
    workflow_id="wf-orders",
    workflow_name="Order processing",
    trigger="webhook",
    team_id="team-1",
    input=json_value({"order": 7, "api_key": "sk-live-execution"}),
    uuid="u-1",
)
STARTED = ExecutionStarted(worker="w1")
FETCH_1 = NodeStarted(
    node_id="fetch",
    node_name="Fetch order",
    node_type="http",
    input=json_value({"url": "https://shop.example/o/7", "api_key": "sk-live-node"}),
)
FETCH_1_FAILED = NodeFailed(
    node_id="fetch", error=ErrorInfo(code="timeout", message="no answer in 30 s"), will_retry=True
)
FETCH_2 = NodeStarted(node_id="fetch", attempt=2)
# Written as the producer sent it: the export must pass it through byte for byte.
FETCH_OUTPUT = msgspec.Raw(b'{"status": 200,  "total": 1.50}')
FETCH_2_DONE = NodeCompleted(node_id="fetch", attempt=2, output=FETCH_OUTPUT)
DRAFT = NodeStarted(node_id="draft", node_name="Draft reply", node_type="llm")
DRAFT_DONE = NodeCompleted(node_id="draft", output=json_value({"text": "ok"}), tokens=51)
COMPLETED = ExecutionCompleted(output=json_value({"reply": "ok", "Token": "t-1", "tokens": 51}))

EVENTS: list[EventData] = [
    QUEUED,
    STARTED,
    FETCH_1,
    FETCH_1_FAILED,
    FETCH_2,
    FETCH_2_DONE,
    DRAFT,
    DRAFT_DONE,
    COMPLETED,
]


def at(event: EventData, events: list[EventData] = EVENTS) -> int:
    """When ``event`` occurred in the ``history`` of ``events``."""
    return t(events.index(event) + 1)


def ms(start: EventData, end: EventData, events: list[EventData] = EVENTS) -> int:
    return (at(end, events) - at(start, events)) // 1000


def iso(event: EventData) -> str:
    return iso_ms(at(event))


def folded(*events: EventData) -> ExecutionDetail:
    detail = fold(history(*events))
    assert detail is not None
    return detail


def parse(detail: ExecutionDetail) -> list[dict[str, str]]:
    text = csv_header() + csv_rows(detail)
    assert text.endswith("\r\n")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    return list(reader)


def test_csv_has_one_row_per_node_attempt() -> None:
    rows = parse(folded(*EVENTS))

    execution = {
        "execution_id": "1",
        "workflow_id": QUEUED.workflow_id,
        "workflow_name": QUEUED.workflow_name,
        "status": "completed",
        "trigger": QUEUED.trigger,
        "started_at": iso(STARTED),
        "completed_at": iso(COMPLETED),
        "duration_ms": str(ms(STARTED, COMPLETED)),
    }
    assert rows == [
        execution
        | {
            "node_id": FETCH_1.node_id,
            "node_type": FETCH_1.node_type,
            "node_name": FETCH_1.node_name,
            "node_status": "failed",
            "node_started_at": iso(FETCH_1),
            "node_completed_at": iso(FETCH_1_FAILED),
            "node_duration_ms": str(ms(FETCH_1, FETCH_1_FAILED)),
            "node_error": f"{FETCH_1_FAILED.error.code}: {FETCH_1_FAILED.error.message}",
        },
        execution
        | {
            "node_id": FETCH_2.node_id,
            "node_type": FETCH_1.node_type,
            "node_name": FETCH_1.node_name,
            "node_status": "completed",
            "node_started_at": iso(FETCH_2),
            "node_completed_at": iso(FETCH_2_DONE),
            "node_duration_ms": str(ms(FETCH_2, FETCH_2_DONE)),
            "node_error": "",
        },
        execution
        | {
            "node_id": DRAFT.node_id,
            "node_type": DRAFT.node_type,
            "node_name": DRAFT.node_name,
            "node_status": "completed",
            "node_started_at": iso(DRAFT),
            "node_completed_at": iso(DRAFT_DONE),
            "node_duration_ms": str(ms(DRAFT, DRAFT_DONE)),
            "node_error": "",
        },
    ]


def test_csv_keeps_an_execution_without_node_runs_as_one_row() -> None:
    (row,) = parse(folded(QUEUED))
    assert row["execution_id"] == "1"
    assert row["status"] == "queued"
    assert row["workflow_name"] == QUEUED.workflow_name
    empty = [column for column, value in row.items() if value == ""]
    assert empty == ["started_at", "completed_at", "duration_ms", *CSV_COLUMNS[8:]]


def test_csv_neutralises_formulas_but_not_numbers() -> None:
    queued = msgspec.structs.replace(QUEUED, workflow_name='=HYPERLINK("http://x")', trigger="-5")
    node = NodeStarted(node_id="+1+1", node_name="@SUM(A1)", node_type="\tcmd")
    failed = NodeFailed(node_id="+1+1", error=ErrorInfo(code="=2*3", message="\r\nboom"))
    events: list[EventData] = [queued, STARTED, node, failed]
    (row,) = parse(folded(*events))

    assert row["workflow_name"] == f"'{queued.workflow_name}"
    assert row["node_id"] == f"'{node.node_id}"
    assert row["node_name"] == f"'{node.node_name}"
    assert row["node_type"] == f"'{node.node_type}"
    assert row["node_error"] == f"'{failed.error.code}: {failed.error.message}"
    # A plain number is not a formula: it stays a number.
    assert row["trigger"] == "-5"
    assert row["execution_id"] == "1"
    assert row["node_duration_ms"] == str(ms(node, failed, events))


def decode(detail: ExecutionDetail, masker: Masker) -> dict[str, Any]:
    document = msgspec.json.decode(json_execution(detail, masker))
    assert isinstance(document, dict)
    return document


def test_json_nests_node_attempts_and_masks_inputs_and_outputs() -> None:
    detail = folded(*EVENTS)
    document = decode(detail, Masker())

    assert {key: document[key] for key in list(document)[:13]} == {
        "executionId": detail.id,
        "uuid": QUEUED.uuid,
        "workflowId": QUEUED.workflow_id,
        "workflowName": QUEUED.workflow_name,
        "status": "completed",
        "trigger": QUEUED.trigger,
        "teamId": QUEUED.team_id,
        "createdAt": iso(QUEUED),
        "startedAt": iso(STARTED),
        "completedAt": iso(COMPLETED),
        "durationMs": ms(STARTED, COMPLETED),
        "tokens": DRAFT_DONE.tokens,
        "error": None,
    }
    assert document["input"] == {"order": 7, "api_key": MASK}
    assert document["output"] == {"reply": "ok", "Token": MASK, "tokens": 51}
    first, second, third = document["nodeExecutions"]
    assert first == {
        "nodeId": FETCH_1.node_id,
        "nodeType": FETCH_1.node_type,
        "nodeName": FETCH_1.node_name,
        "attempt": 1,
        "status": "failed",
        "startedAt": iso(FETCH_1),
        "completedAt": iso(FETCH_1_FAILED),
        "durationMs": ms(FETCH_1, FETCH_1_FAILED),
        "tokens": 0,
        "input": {"url": "https://shop.example/o/7", "api_key": MASK},
        "output": None,
        "error": {"code": FETCH_1_FAILED.error.code, "message": FETCH_1_FAILED.error.message},
    }
    assert (second["attempt"], second["status"], second["error"]) == (2, "completed", None)
    assert second["startedAt"] == iso(FETCH_2)
    assert (third["nodeId"], third["tokens"]) == (DRAFT.node_id, DRAFT_DONE.tokens)


def test_json_passes_unmasked_documents_through_as_written() -> None:
    encoded = json_execution(folded(*EVENTS), Masker())
    assert b'"output":' + bytes(FETCH_OUTPUT) + b"," in encoded
    assert b"sk-live" not in encoded


def test_json_of_a_failed_execution_names_the_error_and_its_node() -> None:
    node = NodeStarted(node_id="charge", node_type="http")
    node_failed = NodeFailed(node_id="charge", error=ErrorInfo(code="card_declined"))
    failed = ExecutionFailed(error=ErrorInfo(code="card_declined", message="no", node_id="charge"))
    document = decode(folded(QUEUED, STARTED, node, node_failed, failed), Masker(()))

    assert document["status"] == "failed"
    assert document["error"] == {"code": "card_declined", "message": "no", "nodeId": "charge"}
    assert document["input"] == {"order": 7, "api_key": "sk-live-execution"}
    (attempt,) = document["nodeExecutions"]
    assert attempt["error"] == {"code": "card_declined", "message": ""}


def test_json_of_a_queued_execution_has_no_times_and_no_nodes() -> None:
    document = decode(folded(QUEUED), Masker())
    assert document["status"] == "queued"
    assert (document["startedAt"], document["completedAt"], document["durationMs"]) == (
        None,
        None,
        None,
    )
    assert document["nodeExecutions"] == []
