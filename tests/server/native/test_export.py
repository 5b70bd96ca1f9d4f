"""GET /v1/executions/export: streamed CSV (a row per node attempt) and JSON, masked."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.http.settings import Settings
from server.render.export_rows import CSV_COLUMNS

from ..conftest import Api, event

RETRIED = (
    event("execution.started"),
    event("node.started", node_id="fetch", node_type="http", input={"api_key": "k-1", "q": 2}),
    event(
        "node.failed", node_id="fetch", error={"code": "HTTP_500", "message": "x"}, will_retry=True
    ),
    event("node.started", node_id="fetch", attempt=2, input={"Authorization": "Bearer z"}),
    event("node.completed", node_id="fetch", attempt=2, output={"ok": True}),
    event("node.started", node_id="llm", node_type="llm"),
    event("node.completed", node_id="llm", tokens=9, output={"token": "t", "tokens": 9}),
    event("execution.completed", output={"password": "p", "answer": 42}),
)


async def _export(api: Api, **params: str) -> tuple[int, str, str]:
    async with api.client.get(
        "/v1/executions/export", params=params, headers=api.auth("read")
    ) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.text()


async def test_csv_has_a_row_per_node_attempt_and_a_row_for_an_execution_without_nodes(
    api: Api,
) -> None:
    done = await api.create(workflow_id="wf-a", events=list(RETRIED))
    idle = await api.create(workflow_id="wf-a")
    await api.create(workflow_id="wf-other")
    status, content_type, text = await _export(api, format="csv", workflow_id="wf-a")
    assert status == 200
    assert content_type.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    # Newest first: the idle execution's single row, then one row per attempt.
    assert [(r["execution_id"], r["node_id"]) for r in rows] == [
        (str(idle["id"]), ""),
        (str(done["id"]), "fetch"),
        (str(done["id"]), "fetch"),
        (str(done["id"]), "llm"),
    ]
    first, second = rows[1], rows[2]
    assert (first["node_status"], first["node_error"]) == ("failed", "HTTP_500: x")
    assert (second["node_status"], second["node_error"]) == ("completed", "")
    assert rows[3]["status"] == "completed"


async def test_json_nests_attempts_and_masks_configured_keys(api: Api) -> None:
    done = await api.create(events=list(RETRIED), input={"secret": {"deep": 1}, "keep": "me"})
    status, content_type, text = await _export(api, format="json")
    assert (status, content_type.split(";")[0]) == (200, "application/json")
    [execution] = json.loads(text)
    assert execution["executionId"] == done["id"]
    assert execution["input"] == {"secret": "***", "keep": "me"}
    assert execution["output"] == {"password": "***", "answer": 42}
    attempts = [(n["nodeId"], n["attempt"]) for n in execution["nodeExecutions"]]
    assert attempts == [("fetch", 1), ("fetch", 2), ("llm", 1)]
    nodes = execution["nodeExecutions"]
    assert nodes[0]["input"] == {"api_key": "***", "q": 2}
    assert nodes[1]["input"] == {"Authorization": "***"}
    assert nodes[2]["output"] == {"token": "***", "tokens": 9}  # counts are not secrets
    assert "k-1" not in text and "Bearer z" not in text


async def test_an_empty_export_is_an_empty_array(api: Api) -> None:
    status, _, text = await _export(api, format="json")
    assert (status, text) == (200, "[]")


async def test_the_masked_keys_are_configurable(tmp_path: Path) -> None:
    app = create_app(tmp_path / "x.db", Settings(env_token="root", masked_keys=("ssn",)))
    headers = {"Authorization": "Bearer root"}
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        body: dict[str, Any] = {"workflow_id": "w", "input": {"SSN": "123", "password": "p"}}
        async with client.post("/v1/executions", json=body, headers=headers) as created:
            assert created.status == 201
        async with client.get(
            "/v1/executions/export", params={"format": "json"}, headers=headers
        ) as response:
            exported = await response.json()
    assert exported[0]["input"] == {"SSN": "***", "password": "p"}


async def test_a_bad_format_or_filter_is_refused_before_streaming(api: Api) -> None:
    status, _, text = await _export(api, format="xml")
    assert status == 400
    assert '"field":"format"' in text
    status, _, text = await _export(api, status="sleeping")
    assert status == 400
    assert '"field":"status"' in text
