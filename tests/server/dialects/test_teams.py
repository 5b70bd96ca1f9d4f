"""/compat/teams: the teams document's executions API, reproduced from events."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from server.dialects.teams.export import mask_text, secrets_pattern
from server.dialects.teams.shapes import NODE_NAMESPACE
from server.http.settings import Settings

from ..conftest import Api, at, event, open_api

BASE = "/compat/teams/api/executions"
SPRING_ERROR = {"timestamp", "status", "error", "message", "path"}
CSV_COLUMNS = [
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
]


def node_uuid(execution: str, node: str) -> str:
    return str(uuid.uuid5(NODE_NAMESPACE, f"{execution}/{node}"))


# The document's detail: created 10:30:00.000, picked up at .050, done at 02.350.
ORDER = {"body": {"orderId": 42}}
ACME = {"orderId": 42, "customer": "Acme Corp"}
BRANCH = {"branch": "true", "orderId": 42}
EXAMPLE = (
    at("execution.started", "2026-02-17T10:30:00.050Z"),
    at(
        "node.started",
        "2026-02-17T10:30:00.050Z",
        node_id="trigger-1",
        node_name="Webhook Trigger",
        node_type="WEBHOOK_TRIGGER",
        input=ORDER,
    ),
    at("node.completed", "2026-02-17T10:30:00.120Z", node_id="trigger-1", output=ACME),
    at(
        "node.started",
        "2026-02-17T10:30:00.125Z",
        node_id="validate-1",
        node_name="Validate Order",
        node_type="IF_ELSE",
        input=ACME,
    ),
    at("node.completed", "2026-02-17T10:30:00.130Z", node_id="validate-1", output=BRANCH),
    at("execution.completed", "2026-02-17T10:30:02.350Z", output={"result": "processed"}),
)
# A node that failed, was retried and failed again; its execution failed.
FAILED = (
    at("execution.started", "2026-02-18T08:00:01Z"),
    at("node.started", "2026-02-18T08:00:02Z", node_id="http-1", input={"u": 1}),
    at(
        "node.failed",
        "2026-02-18T08:00:03Z",
        node_id="http-1",
        will_retry=True,
        error={"code": "timeout", "message": "slow"},
    ),
    at("node.started", "2026-02-18T08:00:05Z", node_id="http-1", attempt=2, input={"u": 2}),
    at(
        "node.failed",
        "2026-02-18T08:00:06.5Z",
        node_id="http-1",
        attempt=2,
        error={"code": "http_500"},
    ),
    at(
        "execution.failed",
        "2026-02-18T08:00:07Z",
        error={"code": "node_failed", "message": "boom", "node_id": "http-1"},
    ),
)


async def _example(api: Api, team: str = "team-a", workflow: str = "wf-orders") -> str:
    created = await api.create(
        workflow_id=workflow,
        workflow_name="Order Processing",
        workflow_version=3,
        trigger="webhook",
        team_id=team,
        input=ORDER,
        occurred_at="2026-02-17T10:30:00.000Z",
        events=list(EXAMPLE),
    )
    return str(created["uuid"])


async def _failed(api: Api, team: str = "team-a") -> str:
    created = await api.create(
        workflow_id="wf-http",
        team_id=team,
        occurred_at="2026-02-18T08:00:00Z",
        events=list(FAILED),
    )
    return str(created["uuid"])


async def test_the_documents_detail_is_reproduced_from_events(api: Api) -> None:
    ident = await _example(api)
    status, body = await api.call("GET", f"{BASE}/{ident}", token="read")
    assert status == 200, body
    assert body == {
        "id": ident,
        "workflowId": "wf-orders",
        "workflowName": "Order Processing",
        "workflowVersion": 3,
        "status": "SUCCESS",
        "trigger": "WEBHOOK",
        "inputData": ORDER,
        "outputData": {"result": "processed"},
        "errorMessage": None,
        "createdAt": "2026-02-17T10:30:00.000Z",
        "startedAt": "2026-02-17T10:30:00.050Z",
        "completedAt": "2026-02-17T10:30:02.350Z",
        "durationMs": 2300,
        "nodeExecutions": [
            {
                "id": node_uuid(ident, "trigger-1"),
                "nodeId": "trigger-1",
                "nodeName": "Webhook Trigger",
                "nodeType": "WEBHOOK_TRIGGER",
                "status": "SUCCESS",
                "startedAt": "2026-02-17T10:30:00.050Z",
                "completedAt": "2026-02-17T10:30:00.120Z",
                "durationMs": 70,
                "inputData": ORDER,
                "outputData": ACME,
                "errorMessage": None,
                "retryCount": 0,
            },
            {
                "id": node_uuid(ident, "validate-1"),
                "nodeId": "validate-1",
                "nodeName": "Validate Order",
                "nodeType": "IF_ELSE",
                "status": "SUCCESS",
                "startedAt": "2026-02-17T10:30:00.125Z",
                "completedAt": "2026-02-17T10:30:00.130Z",
                "durationMs": 5,
                "inputData": ACME,
                "outputData": BRANCH,
                "errorMessage": None,
                "retryCount": 0,
            },
        ],
    }
    # Ids are UUIDs, in any case; nothing else names an execution here.
    status, _ = await api.call("GET", f"{BASE}/{ident.upper()}", token="read")
    assert status == 200
    for other in ("1", "wf-orders", str(uuid.uuid4())):
        status, error = await api.call("GET", f"{BASE}/{other}", token="read")
        assert status == 404, other
        assert set(error) == SPRING_ERROR
        assert error["error"] == "Not Found"


async def test_the_documents_list_row_and_page(api: Api) -> None:
    ident = await _example(api)
    status, body = await api.call("GET", f"{BASE}/team/team-a", token="read")
    assert status == 200, body
    assert body == {
        "content": [
            {
                "id": ident,
                "workflowId": "wf-orders",
                "workflowName": "Order Processing",
                "status": "SUCCESS",
                "startedAt": "2026-02-17T10:30:00.000Z",  # created, as the document shows
                "finishedAt": "2026-02-17T10:30:02.350Z",
                "durationMs": 2300,  # the time it ran, as the detail and the native API say
                "triggerType": "WEBHOOK",
                "nodeCount": 2,
                "errorMessage": None,
            }
        ],
        "totalElements": 1,
        "totalPages": 1,
        "number": 0,
        "size": 20,
    }


async def test_a_retried_failed_node_is_one_node_execution(api: Api) -> None:
    ident = await _failed(api)
    _, body = await api.call("GET", f"{BASE}/{ident}")
    assert (body["status"], body["errorMessage"], body["durationMs"]) == ("FAILED", "boom", 6000)
    assert body["outputData"] is None
    assert body["nodeExecutions"] == [
        {
            "id": node_uuid(ident, "http-1"),
            "nodeId": "http-1",
            "nodeName": None,
            "nodeType": None,
            "status": "FAILED",
            "startedAt": "2026-02-18T08:00:02.000Z",
            "completedAt": "2026-02-18T08:00:06.500Z",
            "durationMs": 4500,
            "inputData": {"u": 2},
            "outputData": None,
            "errorMessage": "http_500",  # no message: its code
            "retryCount": 1,
        }
    ]
    _, page = await api.call("GET", f"{BASE}/team/team-a")
    row = page["content"][0]
    assert (row["status"], row["errorMessage"], row["durationMs"]) == ("FAILED", "boom", 6000)
    assert (row["nodeCount"], row["triggerType"]) == (1, "API")


async def _statuses(api: Api) -> dict[str, str]:
    """One execution in each of our seven statuses, in team-a, by status."""
    started = event("execution.started")
    made = {
        "queued": await api.create(team_id="team-a"),
        "running": await api.create(
            team_id="team-a", events=[started, event("node.started", node_id="n")]
        ),
        "waiting": await api.create(team_id="team-a", events=[started, event("execution.waiting")]),
        "completed": await api.create(
            team_id="team-a", events=[started, event("execution.completed")]
        ),
        "failed": await api.create(team_id="team-a", events=[started, event("execution.failed")]),
        "cancelled": await api.create(team_id="team-a", events=[event("execution.cancelled")]),
        "crashed": await api.create(
            team_id="team-a", events=[started, event("execution.crashed", reason="oom")]
        ),
    }
    return {status: str(created["uuid"]) for status, created in made.items()}


async def test_seven_statuses_become_five(api: Api) -> None:
    made = await _statuses(api)
    want = {
        "queued": ("PENDING", None),
        "running": ("RUNNING", None),
        "waiting": ("RUNNING", None),
        "completed": ("SUCCESS", None),
        "failed": ("FAILED", "the execution failed"),
        "cancelled": ("CANCELLED", None),
        "crashed": ("FAILED", "oom"),
    }
    for ours, ident in made.items():
        _, body = await api.call("GET", f"{BASE}/{ident}")
        assert (body["status"], body["errorMessage"]) == want[ours], ours
    running = (await api.call("GET", f"{BASE}/{made['running']}"))[1]
    assert running["nodeExecutions"][0]["status"] == "RUNNING"
    assert running["nodeExecutions"][0]["completedAt"] is None
    assert (running["completedAt"], running["durationMs"]) == (None, None)
    _, page = await api.call("GET", f"{BASE}/team/team-a")
    listed = {row["id"]: (row["status"], row["errorMessage"]) for row in page["content"]}
    assert listed[made["crashed"]] == ("FAILED", "the execution crashed")  # lists lack the reason

    async def ids(status: str) -> set[str]:
        code, body = await api.call("GET", f"{BASE}/team/team-a", params={"status": status})
        assert code == 200, body
        return {row["id"] for row in body["content"]}

    assert await ids("PENDING") == {made["queued"]}
    assert await ids("RUNNING") == {made["running"], made["waiting"]}
    assert await ids("SUCCESS") == {made["completed"]}
    assert await ids("FAILED") == {made["failed"], made["crashed"]}
    assert await ids("CANCELLED") == {made["cancelled"]}


async def test_pages_are_numbered_from_zero(api: Api) -> None:
    made = [str((await api.create(team_id="team-a"))["uuid"]) for _ in range(25)]
    await api.create(team_id="team-b")  # another team's: never counted
    newest_first = made[::-1]
    seen: list[str] = []
    for number, length in ((0, 10), (1, 10), (2, 5), (3, 0)):
        status, body = await api.call(
            "GET", f"{BASE}/team/team-a", params={"page": str(number), "size": "10"}
        )
        assert status == 200, body
        assert len(body["content"]) == length
        assert (body["totalElements"], body["totalPages"]) == (25, 3)
        assert (body["number"], body["size"]) == (number, 10)
        seen += [row["id"] for row in body["content"]]
    assert seen == newest_first
    _, body = await api.call("GET", f"{BASE}/team/team-a", params={"size": "100"})
    assert [row["id"] for row in body["content"]] == newest_first
    _, empty = await api.call("GET", f"{BASE}/team/team-z")
    assert empty == {"content": [], "totalElements": 0, "totalPages": 0, "number": 0, "size": 20}


async def test_workflow_and_time_filters(api: Api) -> None:
    first = await _example(api)  # created 2026-02-17T10:30:00Z
    failed = await _failed(api)  # created 2026-02-18T08:00:00Z
    other = await _example(api, workflow="wf-other")
    theirs = await _example(api, team="team-b")

    async def ids(path: str = "/team/team-a", token: str = "admin", **query: str) -> list[str]:
        status, page = await api.call("GET", BASE + path, params=query, token=token)
        assert status == 200, page
        return [row["id"] for row in page["content"]]

    assert await ids(workflowId="wf-orders") == [first]
    assert await ids(**{"from": "2026-02-18T08:00:00Z"}) == [failed]
    assert await ids(to="2026-02-17T10:30:00Z") == [other, first]  # same time: higher id first
    assert await ids(**{"from": "2026-02-17T10:30:00.001Z", "to": "2026-02-18"}) == []
    assert await ids("", workflowId="wf-orders") == [theirs, first]  # every team's
    assert await ids("", token="team_a", workflowId="wf-orders") == [first]
    assert await ids("", workflowId="wf-orders", page="1", size="1") == [first]


async def test_auth_scopes_and_teams(api: Api) -> None:
    ours = await _example(api)
    theirs = await _failed(api, team="team-b")
    status, body = await api.call("GET", f"{BASE}/{ours}", token=None)
    assert (status, body["status"], body["error"]) == (401, 401, "Unauthorized")
    assert set(body) == SPRING_ERROR
    for method, path in (
        ("GET", f"/{ours}"),
        ("GET", "/team/team-a"),
        ("GET", "?workflowId=wf-orders"),
        ("GET", "/team/team-a/export"),
        ("POST", f"/{ours}/cancel"),
    ):
        status, body = await api.call(method, BASE + path, token="write")
        assert status == 403, path
        assert body["error"] == "Forbidden"
    status, _ = await api.call("POST", f"{BASE}/{ours}/cancel", token="read")
    assert status == 403
    # A team token: its own team only; another team's data is a 403.
    for path in ("/team/team-b", "/team/team-b/export", f"/{theirs}", f"/{theirs}/cancel"):
        method = "POST" if path.endswith("cancel") else "GET"
        status, body = await api.call(method, BASE + path, token="team_a")
        assert status == 403, path
        assert body["path"] == BASE + path
    status, _ = await api.call("GET", f"{BASE}/{ours}", token="team_a")
    assert status == 200
    _, page = await api.call("GET", f"{BASE}/team/team-a", token="team_a")
    assert [row["id"] for row in page["content"]] == [ours]
    # An unrestricted token sees any team.
    _, page = await api.call("GET", f"{BASE}/team/team-b", token="read")
    assert [row["id"] for row in page["content"]] == [theirs]
    _, detail = await api.call("GET", f"{BASE}/{theirs}", token="read")
    assert detail["status"] == "FAILED"


T, E = "/team/team-a", "/team/team-a/export"


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        (T, {"page": "-1"}, "page"),
        (T, {"page": "x"}, "page"),
        (T, {"page": "2147483648"}, "page"),
        (T, {"size": "0"}, "size"),
        (T, {"size": "101"}, "size"),
        (T, {"page": ["0", "1"]}, "page"),
        (T, {"status": "SUCCESS,FAILED"}, "status"),
        (T, {"status": "success"}, "status"),
        (T, {"status": "WAITING"}, "status"),
        (T, {"from": "yesterday"}, "from"),
        (T, {"to": "2026-02-17T10:00"}, "to"),
        (T, {"limit": "5"}, "limit"),
        (T, {"workflowId": ""}, "workflowId"),
        ("", {}, "workflowId"),
        ("", {"workflowId": "w", "status": "FAILED"}, "status"),
        (E, {"format": "xml"}, "format"),
        (E, {"format": "CSV"}, "format"),
        (E, {"days": "0"}, "days"),
        (E, {"days": "3651"}, "days"),
        (E, {"days": "1.5"}, "days"),
        (E, {"page": "0"}, "page"),
    ],
)
async def test_bad_parameters_are_400_naming_them(
    api: Api, path: str, query: dict[str, Any], field: str
) -> None:
    status, body = await api.call("GET", BASE + path, params=query, token="read")
    assert status == 400, body
    assert set(body) == SPRING_ERROR
    assert (body["status"], body["error"], body["path"]) == (400, "Bad Request", BASE + path)
    assert body["message"].startswith(f"{field}: ")
    datetime.fromisoformat(body["timestamp"])


async def _history_length(api: Api, ident: str) -> int:
    _, detail = await api.call("GET", f"{BASE}/{ident}")
    _, page = await api.call("GET", "/v1/executions", params={"limit": "100"})
    (number,) = [row["id"] for row in page["items"] if row["uuid"] == detail["id"]]
    _, history = await api.call("GET", f"/v1/executions/{number}/history")
    return len(history["events"])


async def test_cancel_pending_and_running_only(api: Api) -> None:
    made = await _statuses(api)
    for ours in ("queued", "running", "waiting"):
        status, body = await api.call("POST", f"{BASE}/{made[ours]}/cancel", token="cancel")
        assert (status, body) == (200, ""), ours
    _, body = await api.call("GET", f"{BASE}/{made['queued']}")
    assert body["status"] == "CANCELLED"  # at once
    # Running ones stay so until their engine confirms the request, once recorded.
    running = await _history_length(api, made["running"])
    for ours in ("running", "waiting"):
        _, body = await api.call("GET", f"{BASE}/{made[ours]}")
        assert body["status"] == "RUNNING"
    status, _ = await api.call("POST", f"{BASE}/{made['running']}/cancel", token="cancel")
    assert status == 200
    assert await _history_length(api, made["running"]) == running
    for ours in ("completed", "failed", "cancelled", "crashed", "queued"):
        before = await _history_length(api, made[ours])
        status, body = await api.call("POST", f"{BASE}/{made[ours]}/cancel", token="cancel")
        assert (status, body["error"]) == (409, "Conflict"), ours
        assert body["message"].startswith("id: only RUNNING or PENDING")
        assert await _history_length(api, made[ours]) == before
    status, _ = await api.call("POST", f"{BASE}/{uuid.uuid4()}/cancel", token="cancel")
    assert status == 404
    status, body = await api.call(
        "POST", f"{BASE}/{made['completed']}/cancel", params={"force": "1"}, token="cancel"
    )
    assert (status, body["message"][:6]) == (400, "force:")


def _ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="milliseconds")


async def _recent(api: Api, days_ago: float, **fields: Any) -> dict[str, Any]:
    created = await api.create(occurred_at=_ago(days_ago), **fields)
    status, body = await api.call("GET", f"/v1/executions/{created['id']}")
    assert status == 200
    return dict(body)


async def _exported(api: Api, query: dict[str, str], token: str = "read") -> tuple[int, Any]:
    return await api.call("GET", f"{BASE}/team/team-a/export", params=query, token=token)


async def test_the_csv_export_has_a_row_per_node_execution(api: Api) -> None:
    secret = {"code": "auth", "message": "login failed: password=hunter2; Authorization: Bearer x1"}
    failed = await _recent(
        api,
        1,
        workflow_id="wf-1",
        workflow_name="=cmd",
        team_id="team-a",
        trigger="schedule",
        events=[
            event("execution.started"),
            event("node.started", node_id="a", node_type="HTTP"),
            event("node.failed", node_id="a", error=secret),
            event("execution.failed"),
        ],
    )
    queued = await _recent(api, 10, team_id="team-a")
    await _recent(api, 40, team_id="team-a")  # beyond the default 30 days
    await _recent(api, 1, team_id="team-b")
    status, text = await _exported(api, {})
    assert status == 200
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == CSV_COLUMNS
    node = failed["nodes"][0]["attempts"][0]
    assert rows[1] == [
        failed["uuid"],
        "wf-1",
        "'=cmd",
        "FAILED",
        "SCHEDULE",  # a formula is kept text
        failed["created_at"],
        failed["finished_at"],
        str(failed["duration_ms"]),  # the native number: one definition
        "a",
        "HTTP",
        "",
        "FAILED",
        node["started_at"],
        node["finished_at"],
        str(node["duration_ms"]),
        "login failed: password=***; Authorization: ***",
    ]
    assert (
        rows[2] == [queued["uuid"], "wf-1", "", "PENDING", "API", queued["created_at"]] + [""] * 10
    )
    assert len(rows) == 3
    status, text = await _exported(api, {"days": "5", "format": "csv"})
    assert [row[0] for row in csv.reader(io.StringIO(text))][1:] == [failed["uuid"]]
    status, text = await _exported(api, {"days": "41"})
    assert len(text.splitlines()) == 4


async def test_the_json_export_nests_node_executions(api: Api) -> None:
    error = {"code": "bad", "message": '{"token": "abc", "api_key": "k\\"2"}'}
    made = await _recent(
        api,
        2,
        workflow_id="wf-9",
        workflow_name="Order Processing",
        trigger="webhook",
        team_id="team-a",
        events=[
            event("execution.started"),
            event(
                "node.started",
                node_id="t",
                node_name="Webhook Trigger",
                node_type="WEBHOOK_TRIGGER",
            ),
            event("node.completed", node_id="t"),
            event("node.started", node_id="x"),
            event("node.failed", node_id="x", error=error),
            event("execution.completed"),
        ],
    )
    status, body = await api.call(
        "GET", f"{BASE}/team/team-a/export", params={"format": "json"}, token="team_a"
    )
    assert status == 200, body
    t, x = (n["attempts"][0] for n in made["nodes"])
    assert body == [
        {
            "executionId": made["uuid"],
            "workflowId": "wf-9",
            "workflowName": "Order Processing",
            "status": "SUCCESS",
            "trigger": "WEBHOOK",
            "startedAt": made["created_at"],
            "completedAt": made["finished_at"],
            "durationMs": made["duration_ms"],
            "nodeExecutions": [
                {
                    "nodeId": "t",
                    "nodeType": "WEBHOOK_TRIGGER",
                    "nodeName": "Webhook Trigger",
                    "status": "SUCCESS",
                    "startedAt": t["started_at"],
                    "completedAt": t["finished_at"],
                    "durationMs": t["duration_ms"],
                    "error": None,
                },
                {
                    "nodeId": "x",
                    "nodeType": None,
                    "nodeName": None,
                    "status": "FAILED",
                    "startedAt": x["started_at"],
                    "completedAt": x["finished_at"],
                    "durationMs": x["duration_ms"],
                    "error": '{"token": "***", "api_key": "***"}',
                },
            ],
        }
    ]
    status, body = await _exported(api, {"format": "json", "days": "1"})
    assert (status, body) == (200, [])


def test_error_text_masking() -> None:
    secrets = secrets_pattern(["password", "token", "secret", "api_key", "authorization"])
    cases = {
        "token=abc&user=x": "token=***&user=x",
        "PASSWORD: 'p w'": "PASSWORD: '***'",
        "authorization=Basic dXNlcg== next": "authorization=*** next",
        'api_key="unclosed': 'api_key="***"',
        "access_token=abc tokens=3 x-token=q": "access_token=abc tokens=3 x-token=q",
        "no secrets here": "no secrets here",
    }
    for text, masked in cases.items():
        assert mask_text(text, secrets) == masked, text
    assert mask_text("token=abc", secrets_pattern([])) == "token=abc"
    assert mask_text(None, secrets) is None


async def test_the_masked_keys_are_the_setting(tmp_path: Path) -> None:
    async with open_api(tmp_path / "x.db", Settings(masked_keys=("ssn",))) as api:
        error = {"code": "e", "message": "ssn=123-45 token=t"}
        await _recent(
            api,
            1,
            team_id="team-a",
            events=[
                event("execution.started"),
                event("node.started", node_id="n"),
                event("node.failed", node_id="n", error=error),
            ],
        )
        _, body = await _exported(api, {"format": "json"})
        assert body[0]["nodeExecutions"][0]["error"] == "ssn=*** token=t"


async def test_the_root_setting_serves_it_at_the_root(tmp_path: Path) -> None:
    async with open_api(tmp_path / "x.db", Settings(root_dialect="teams")) as api:
        ident = await _example(api)
        status, body = await api.call("GET", f"/api/executions/{ident}", token="read")
        assert (status, body["id"]) == (200, ident)
        status, body = await api.call("GET", "/api/executions/x", token="read")
        assert (status, body["path"]) == (404, "/api/executions/x")


async def test_durations_are_the_native_one_in_every_view(api: Api) -> None:
    """One execution, one duration: created 50 ms before it started, it ran 2300 ms."""
    ident = await _example(api)
    _, listed = await api.call("GET", "/v1/executions", params={"workflow_id": "wf-orders"})
    (native,) = listed["items"]
    assert (native["uuid"], native["duration_ms"]) == (ident, 2300)
    _, detail = await api.call("GET", f"{BASE}/{ident}")
    _, page = await api.call("GET", f"{BASE}/team/team-a")
    _, exported = await _exported(api, {"days": "3650", "format": "json"})
    _, text = await _exported(api, {"days": "3650"})
    from_csv = int(next(csv.DictReader(io.StringIO(text)))["duration_ms"])
    seen = [detail["durationMs"], page["content"][0]["durationMs"], exported[0]["durationMs"]]
    assert [*seen, from_csv] == [native["duration_ms"]] * 4


async def test_a_window_that_ends_before_it_starts_is_a_400_naming_both(api: Api) -> None:
    query = {"from": "2026-12-02", "to": "2026-12-01"}
    status, body = await api.call("GET", f"{BASE}/team/team-a", params=query)
    assert status == 400, body
    assert set(body) == SPRING_ERROR
    assert "from (2026-12-02) is later than to (2026-12-01)" in body["message"]
