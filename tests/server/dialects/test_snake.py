"""/compat/snake: the snake document's executions API, reproduced from events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.app import create_app
from server.http.settings import Settings

from ..conftest import Api, at, event

BASE = "/compat/snake/api/v1"


# The document's example: 10:00:00 to 10:00:42.381 in Tokyo, 51 + 73 = 124 tokens.
EXAMPLE = (
    at("execution.started", "2026-05-07T01:00:00Z"),
    at("node.started", "2026-05-07T01:00:05Z", node_id="ai_gen_1", input={"q": 1}),
    at("node.completed", "2026-05-07T01:00:20Z", node_id="ai_gen_1", tokens=51, output={"a": 1}),
    at("node.started", "2026-05-07T01:00:21Z", node_id="ai_gen_2"),
    at("node.completed", "2026-05-07T01:00:40.999Z", node_id="ai_gen_2", tokens=73),
    at("execution.completed", "2026-05-07T01:00:42.381Z"),
)
FAILED = (
    event("execution.started"),
    event("node.started", node_id="http_1"),
    event("node.failed", node_id="http_1", error={"code": "timeout", "message": "slow"}),
    event(
        "execution.failed",
        error={"code": "node_failed", "message": "boom", "node_id": "http_1"},
    ),
)


async def _example(api: Api) -> int:
    created = await api.create(
        workflow_id="45",
        display_name="問い合わせ #4821",
        input={"ticket": 4821},
        occurred_at="2026-05-07T00:59:59Z",
        events=list(EXAMPLE),
    )
    return int(created["id"])


async def test_the_documents_example_is_reproduced_from_events(api: Api) -> None:
    number = await _example(api)
    status, body = await api.call("GET", f"{BASE}/executions/{number}", token="read")
    assert status == 200, body
    assert body == {
        "id": number,
        "workflow_id": 45,
        "status": "completed",
        "display_name": "問い合わせ #4821",
        "started_at": "2026-05-07T10:00:00+09:00",
        "completed_at": "2026-05-07T10:00:42+09:00",
        "duration_ms": 42381,
        "consumed_ai_tokens": 124,
        "is_test_mode": False,
        "input_data": {"ticket": 4821},
        "node_outputs": {
            "ai_gen_1": {
                "status": "success",
                "output": {"a": 1},
                "consumed_ai_tokens": 51,
                "started_at": "2026-05-07T10:00:05+09:00",
                "completed_at": "2026-05-07T10:00:20+09:00",
            },
            "ai_gen_2": {
                "status": "success",
                "output": None,
                "consumed_ai_tokens": 73,
                "started_at": "2026-05-07T10:00:21+09:00",
                "completed_at": "2026-05-07T10:00:40+09:00",
            },
        },
    }


async def test_a_failed_execution_carries_the_error_with_its_node(api: Api) -> None:
    created = await api.create(workflow_id="wf-x", events=list(FAILED))
    _, body = await api.call("GET", f"{BASE}/executions/{created['id']}")
    assert body["status"] == "failed"
    assert body["workflow_id"] == "wf-x"  # not digits: kept as text
    assert body["error"] == {"code": "node_failed", "message": "boom", "node_id": "http_1"}
    assert body["node_outputs"]["http_1"]["status"] == "failed"
    assert body["node_outputs"]["http_1"]["completed_at"] is not None


async def test_running_waiting_and_crashed_are_mapped(api: Api) -> None:
    running = await api.create(
        events=[event("execution.started"), event("node.started", node_id="n")]
    )
    waiting = await api.create(events=[event("execution.started"), event("execution.waiting")])
    crashed = await api.create(
        events=[event("execution.started"), event("execution.crashed", reason="oom")]
    )
    _, body = await api.call("GET", f"{BASE}/executions/{running['id']}")
    assert (body["status"], body["completed_at"], body["duration_ms"]) == ("running", None, None)
    assert body["node_outputs"]["n"]["status"] == "running"
    assert body["node_outputs"]["n"]["completed_at"] is None
    assert "error" not in body
    _, body = await api.call("GET", f"{BASE}/executions/{waiting['id']}")
    assert body["status"] == "waiting_async"
    _, body = await api.call("GET", f"{BASE}/executions/{crashed['id']}")
    assert body["status"] == "failed"
    assert body["error"] == {"code": "crashed", "message": "oom", "node_id": None}


async def test_the_offset_is_a_setting(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    app = create_app(
        tmp_path / "x.db",
        Settings(env_token="t" * 32, dialects={"snake": {"utc_offset": "-05:30"}}),
    )
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        headers = {"Authorization": "Bearer " + "t" * 32}
        start = at("execution.started", "2026-05-07T01:00:00.999Z")
        async with client.post(
            "/v1/executions", json={"workflow_id": "w", "events": [start]}, headers=headers
        ) as response:
            assert response.status == 201
        async with client.get(f"{BASE}/executions/1", headers=headers) as response:
            body = await response.json()
    assert body["started_at"] == "2026-05-06T19:30:00-05:30"
    with pytest.raises(ValueError, match="offset"):
        create_app(tmp_path / "y.db", Settings(dialects={"snake": {"utc_offset": "JST"}}))


async def test_only_integer_ids_name_an_execution(api: Api) -> None:
    await api.create(external_id="ext-1")
    await api.create(external_id="99")
    for path in ("ext-1", "99", "0", "01", "x1", "9" * 30):
        status, body = await api.call("GET", f"{BASE}/executions/{path}")
        assert status == 404, path
        assert body["error"]["code"] == "not_found"  # the native error shape
    status, _ = await api.call("GET", f"{BASE}/executions/2")
    assert status == 200


async def test_auth_scope_and_team_visibility(api: Api) -> None:
    ours = await api.create(token="team_a")
    theirs = await api.create(workflow_id="wf-other", team_id="team-b")
    status, _ = await api.call("GET", f"{BASE}/executions/{ours['id']}", token=None)
    assert status == 401
    for path in (f"/executions/{ours['id']}", "/executions"):
        status, _ = await api.call("GET", BASE + path, token="write")
        assert status == 403
    status, _ = await api.call("GET", f"{BASE}/executions/{theirs['id']}", token="team_a")
    assert status == 404
    status, _ = await api.call("GET", f"{BASE}/executions/{ours['id']}", token="team_a")
    assert status == 200
    _, listed = await api.call("GET", f"{BASE}/executions", token="team_a")
    assert [row["id"] for row in listed["data"]] == [ours["id"]]


async def test_list_filters_and_shape(api: Api) -> None:
    first = await _example(api)
    failed = await api.create(workflow_id="45", events=list(FAILED))
    crashed = await api.create(
        workflow_id="7", events=[event("execution.started"), event("execution.crashed")]
    )
    status, body = await api.call("GET", f"{BASE}/executions", token="read")
    assert status == 200
    assert set(body) == {"data", "pagination"}
    assert [row["id"] for row in body["data"]] == [crashed["id"], failed["id"], first]
    assert body["pagination"] == {"next_cursor": None}
    row = body["data"][2]
    assert (row["workflow_id"], row["consumed_ai_tokens"], row["duration_ms"]) == (45, 124, 42381)
    assert row["started_at"] == "2026-05-07T10:00:00+09:00"
    assert "error" not in row and "node_outputs" not in row
    assert body["data"][1]["error"]["node_id"] == "http_1"

    async def ids(**query: str) -> list[int]:
        status, page = await api.call("GET", f"{BASE}/executions", params=query)
        assert status == 200, page
        return [row["id"] for row in page["data"]]

    assert await ids(workflow_id="45") == [failed["id"], first]
    assert await ids(status="failed") == [crashed["id"], failed["id"]]
    assert await ids(status="completed") == [first]
    assert await ids(created_before="2026-05-07T10:00:00+09:00") == [first]
    assert await ids(created_after="2026-05-07T10:00:00+09:00") == [crashed["id"], failed["id"]]


async def test_waiting_async_is_shown_but_refused_as_a_filter(api: Api) -> None:
    waiting = await api.create(events=[event("execution.started"), event("execution.waiting")])
    _, body = await api.call("GET", f"{BASE}/executions")
    assert body["data"][0]["status"] == "waiting_async"
    assert body["data"][0]["id"] == waiting["id"]
    for value in ("waiting_async", "waiting", "crashed", "running,failed"):
        status, error = await api.call("GET", f"{BASE}/executions", params={"status": value})
        assert status == 400, value
        assert error["error"]["field"] == "status"


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"cursor": "nonsense"},
        {"created_after": "yesterday"},
        {"team_id": "t"},
        {"q": "x"},
        {"status": ["failed", "completed"]},
    ],
)
async def test_bad_list_parameters_are_400(api: Api, query: dict[str, Any]) -> None:
    status, body = await api.call("GET", f"{BASE}/executions", params=query)
    assert status == 400, body
    assert set(body["error"]) >= {"code", "message"}


async def test_cursor_paging_walks_every_row_once(api: Api) -> None:
    made = [(await api.create())["id"] for _ in range(25)]
    seen: list[int] = []
    status, page = await api.call("GET", f"{BASE}/executions")
    assert status == 200
    assert len(page["data"]) == 20  # the default limit
    query: dict[str, str] = {"limit": "7"}
    while True:
        _, page = await api.call("GET", f"{BASE}/executions", params=query)
        seen += [row["id"] for row in page["data"]]
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            break
        query["cursor"] = cursor
    assert seen == made[::-1]


async def test_the_webhook_answers_202_with_the_native_body(api: Api) -> None:
    status, hook = await api.call("POST", "/v1/workflows/12/webhook", token="write")
    assert status == 201
    status, body = await api.call(
        "POST", f"{BASE}/webhooks/{hook['hash']}", token=None, json={"any": "json"}
    )
    assert status == 202
    assert body == {
        "success": True,
        "execution_id": body["execution_id"],
        "message": "Workflow execution started",
        "captured": False,
    }
    _, detail = await api.call("GET", f"{BASE}/executions/{body['execution_id']}")
    assert (detail["workflow_id"], detail["status"]) == (12, "queued")
    assert detail["input_data"] == {"any": "json"}
    status, _ = await api.call("POST", f"{BASE}/webhooks/nope", token=None, json={})
    assert status == 404
