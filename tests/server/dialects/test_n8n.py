"""/compat/n8n: n8n's public API v1 (executions), reproduced from events."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime
from typing import Any

import pytest

from eventstore import ExecutionQueued
from server.dialects.n8n import routes as n8n_routes

from ..conftest import Api, at, event

BASE = "/compat/n8n/api/v1"
LIST_FIELDS = {
    "id",
    "finished",
    "mode",
    "retryOf",
    "retrySuccessId",
    "status",
    "startedAt",
    "stoppedAt",
    "workflowId",
    "waitTill",
}
DETAIL_FIELDS = LIST_FIELDS | {"createdAt", "deletedAt"}
DATA_FIELDS = {"customData", "data", "workflowData"}


def ms(time: str) -> int:
    """Epoch milliseconds of an ISO time, as n8n's runData ``startTime``."""
    return int(datetime.fromisoformat(time).timestamp() * 1000)


# The document's example: created .805, started .913, stopped .933 (a webhook run).
CREATED, STARTED, STOPPED = (
    "2025-10-29T08:33:05.805Z",
    "2025-10-29T08:33:05.913Z",
    "2025-10-29T08:33:05.933Z",
)
HOOK_START, HOOK_END = "2025-10-29T08:33:05.915Z", "2025-10-29T08:33:05.920Z"
REPLY_START, REPLY_END = "2025-10-29T08:33:05.921Z", "2025-10-29T08:33:05.930Z"
EXAMPLE = (
    at("execution.started", STARTED),
    at("node.started", HOOK_START, node_id="n1", node_name="Webhook", node_type="webhook"),
    at("node.completed", HOOK_END, node_id="n1", output={"body": {"q": 1}}),
    at("node.started", REPLY_START, node_id="n2", node_name="Respond"),
    at("node.completed", REPLY_END, node_id="n2", output=[{"ok": True}, 7]),
    at("execution.completed", STOPPED),
)
WORKFLOW = "6FB4pk3SAhf9riN4"


async def _example(api: Api, **fields: Any) -> str:
    created = await api.create(
        workflow_id=WORKFLOW,
        workflow_name="Support",
        trigger="webhook",
        occurred_at=CREATED,
        metadata={"ticket": "4821"},
        events=list(EXAMPLE),
        **fields,
    )
    return str(created["id"])


async def test_the_documents_single_execution_is_reproduced_from_events(api: Api) -> None:
    number = await _example(api)
    status, body = await api.call("GET", f"{BASE}/executions/{number}", token="read")
    assert status == 200, body
    assert body == {
        "id": number,
        "finished": True,
        "mode": "webhook",
        "retryOf": None,
        "retrySuccessId": None,
        "status": "success",
        "createdAt": CREATED,
        "startedAt": STARTED,
        "stoppedAt": STOPPED,
        "deletedAt": None,
        "workflowId": WORKFLOW,
        "waitTill": None,
    }
    assert list(body) == [
        "id",
        "finished",
        "mode",
        "retryOf",
        "retrySuccessId",
        "status",
        "createdAt",
        "startedAt",
        "stoppedAt",
        "deletedAt",
        "workflowId",
        "waitTill",
    ]


async def test_the_documents_list_is_reproduced_from_events(api: Api) -> None:
    number = await _example(api)
    status, body = await api.call("GET", f"{BASE}/executions", token="read")
    assert status == 200, body
    assert body == {
        "data": [
            {
                "id": number,
                "finished": True,
                "mode": "webhook",
                "retryOf": None,
                "retrySuccessId": None,
                "status": "success",
                "startedAt": STARTED,
                "stoppedAt": STOPPED,
                "workflowId": WORKFLOW,
                "waitTill": None,
            }
        ],
        "nextCursor": None,
    }


async def test_include_data_adds_run_data_by_node_name(api: Api) -> None:
    number = await _example(api)
    status, body = await api.call(
        "GET", f"{BASE}/executions/{number}", params={"includeData": "true"}
    )
    assert status == 200, body
    assert set(body) == DETAIL_FIELDS | DATA_FIELDS
    assert body["customData"] == {"ticket": "4821"}
    assert body["workflowData"] == {
        "id": WORKFLOW,
        "name": "Support",
        "active": False,
        "nodes": [],
        "connections": {},
    }
    data = body["data"]
    assert data["startData"] == {}
    assert data["executionData"] == {
        "contextData": {},
        "nodeExecutionStack": [],
        "waitingExecution": {},
        "waitingExecutionSource": {},
    }
    assert data["resultData"] == {
        "runData": {
            "Webhook": [
                {
                    "startTime": ms(HOOK_START),
                    "executionTime": ms(HOOK_END) - ms(HOOK_START),
                    "executionStatus": "success",
                    "data": {"main": [[{"json": {"body": {"q": 1}}}]]},
                    "error": None,
                }
            ],
            "Respond": [
                {
                    "startTime": ms(REPLY_START),
                    "executionTime": ms(REPLY_END) - ms(REPLY_START),
                    "executionStatus": "success",
                    # An output array is one item per element; a non-object is wrapped.
                    "data": {"main": [[{"json": {"ok": True}}, {"json": {"data": 7}}]]},
                    "error": None,
                }
            ],
        },
        "lastNodeExecuted": "Respond",
    }
    _, listed = await api.call("GET", f"{BASE}/executions", params={"includeData": "true"})
    (item,) = listed["data"]
    assert set(item) == LIST_FIELDS | DATA_FIELDS
    assert (item["data"], item["customData"]) == (data, {"ticket": "4821"})
    _, plain = await api.call("GET", f"{BASE}/executions/{number}", params={"includeData": "false"})
    assert set(plain) == DETAIL_FIELDS


RETRIED = (
    event("execution.started"),
    event("node.started", node_id="http", node_name="Fetch"),
    event("node.failed", node_id="http", will_retry=True, error={"code": "E1", "message": "slow"}),
    at("node.started", "2026-01-01T00:00:01.500Z", node_id="http", attempt=2),
    at(
        "node.failed",
        "2026-01-01T00:00:03.750Z",
        node_id="http",
        attempt=2,
        error={"code": "E2", "message": "down"},
    ),
    event("node.started", node_id="other", node_name="Fetch"),  # a name already taken
    event("node.started", node_id="bare"),  # no name: its id stands in
    event("node.completed", node_id="bare"),
    event("execution.failed", error={"code": "node_failed", "message": "boom"}),
)


async def test_a_failed_execution_has_one_run_per_attempt_and_its_error(api: Api) -> None:
    original = await _example(api)
    created = await api.create(retry_of=int(original), trigger="retry", events=list(RETRIED))
    _, body = await api.call("GET", f"{BASE}/executions/{created['id']}?includeData=true")
    assert (body["status"], body["finished"], body["mode"]) == ("error", False, "retry")
    assert body["retryOf"] == original
    result = body["data"]["resultData"]
    assert list(result["runData"]) == ["Fetch", "Fetch (other)", "bare"]
    first, second = result["runData"]["Fetch"]
    assert (first["executionStatus"], first["error"]) == (
        "error",
        {"name": "E1", "message": "slow"},
    )
    assert (second["executionStatus"], second["error"]) == (
        "error",
        {"name": "E2", "message": "down"},
    )
    assert first["data"] == second["data"] == {"main": []}
    assert second["startTime"] == ms("2026-01-01T00:00:01.500Z")
    assert second["executionTime"] == 2250
    (running,) = result["runData"]["Fetch (other)"]
    assert (running["executionStatus"], running["error"]) == ("running", None)
    assert result["runData"]["bare"][0]["data"] == {"main": [[]]}  # completed with a null output
    assert result["lastNodeExecuted"] == "bare"
    assert result["error"] == {"name": "node_failed", "message": "boom"}
    # A failure links no retry; only a success would.
    _, first_body = await api.call("GET", f"{BASE}/executions/{original}")
    assert first_body["retrySuccessId"] is None


async def test_a_successful_retry_is_linked_both_ways(api: Api) -> None:
    failed = await api.create(events=[event("execution.started"), event("execution.failed")])
    retry = await api.create(
        retry_of=failed["id"], events=[event("execution.started"), event("execution.completed")]
    )
    _, body = await api.call("GET", f"{BASE}/executions/{failed['id']}")
    assert (body["retrySuccessId"], body["finished"]) == (str(retry["id"]), False)
    _, body = await api.call("GET", f"{BASE}/executions/{retry['id']}")
    assert (body["retryOf"], body["finished"], body["mode"]) == (
        str(failed["id"]),
        True,
        "integrated",
    )


# Events after queued that leave an execution in each canonical status.
STATES: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "queued": ("new", []),
    "running": ("running", [event("execution.started")]),
    "waiting": (
        "waiting",
        [event("execution.started"), event("execution.waiting", wait_till="2030-01-02T03:04:05Z")],
    ),
    "completed": ("success", [event("execution.started"), event("execution.completed")]),
    "failed": ("error", [event("execution.started"), event("execution.failed")]),
    "cancelled": ("canceled", [event("execution.cancelled")]),
    "crashed": ("crashed", [event("execution.started"), event("execution.crashed", reason="oom")]),
}


async def test_every_status_is_named_and_filtered_as_n8n_does(api: Api) -> None:
    ids = {}
    for ours, (_, events) in STATES.items():
        created = await api.create(workflow_id=f"wf-{ours}", trigger="schedule", events=events)
        ids[ours] = str(created["id"])
    for ours, (name, _) in STATES.items():
        status, page = await api.call("GET", f"{BASE}/executions", params={"status": name})
        assert status == 200, page
        assert [item["id"] for item in page["data"]] == [ids[ours]], name
        (item,) = page["data"]
        assert (item["status"], item["workflowId"], item["mode"]) == (name, f"wf-{ours}", "trigger")
        assert item["finished"] == (name == "success")
        assert (item["stoppedAt"] is None) == (ours in ("queued", "running", "waiting"))
        assert (item["startedAt"] is None) == (ours in ("queued", "cancelled"))
    _, waiting = await api.call("GET", f"{BASE}/executions/{ids['waiting']}")
    assert waiting["waitTill"] == "2030-01-02T03:04:05.000Z"
    _, crashed = await api.call("GET", f"{BASE}/executions/{ids['crashed']}?includeData=true")
    assert crashed["data"]["resultData"]["error"] == {"name": "crashed", "message": "oom"}
    assert crashed["data"]["resultData"]["lastNodeExecuted"] is None
    _, by_workflow = await api.call("GET", f"{BASE}/executions", params={"workflowId": "wf-failed"})
    assert [item["id"] for item in by_workflow["data"]] == [ids["failed"]]


async def test_the_api_key_header_auth_scopes_and_teams(api: Api) -> None:
    ours = await api.create(token="team_a", events=list(STATES["completed"][1]))
    theirs = await api.create(team_id="team-b", events=list(STATES["completed"][1]))
    path = f"{BASE}/executions/{ours['id']}"
    status, body = await api.call("GET", path, token=None)
    assert (status, body) == (401, {"message": "'X-N8N-API-KEY' header required"})
    headers = {"X-N8N-API-KEY": api.secrets["team_a"]}
    async with api.client.get(path, headers=headers) as response:
        assert response.status == 200
        assert (await response.json())["id"] == str(ours["id"])
    async with api.client.get(path, headers={"X-N8N-API-KEY": "es_nope"}) as response:
        assert (response.status, await response.json()) == (401, {"message": "unauthorized"})
    refused = (
        ("GET", path, "write"),
        ("GET", f"{BASE}/executions", "cancel"),
        ("DELETE", path, "read"),
        ("DELETE", path, "cancel"),
    )
    for method, target, token in refused:
        status, body = await api.call(method, target, token=token)
        assert (status, body) == (403, {"message": "Forbidden"}), (method, token)
    for method in ("GET", "DELETE"):
        status, body = await api.call(method, f"{BASE}/executions/{theirs['id']}", token="team_a")
        assert (status, body) == (404, {"message": "Not Found"})
    _, listed = await api.call("GET", f"{BASE}/executions", token="team_a")
    assert [item["id"] for item in listed["data"]] == [str(ours["id"])]
    _, everything = await api.call("GET", f"{BASE}/executions", token="read")
    assert len(everything["data"]) == 2


async def test_only_integer_ids_name_an_execution(api: Api) -> None:
    await api.create(external_id="ext-1")
    await api.create(external_id="7")
    for raw in ("ext-1", "7", "0", "01", "x1", "9" * 30):
        status, body = await api.call("GET", f"{BASE}/executions/{raw}")
        assert (status, body) == (404, {"message": "Not Found"}), raw
    status, _ = await api.call("GET", f"{BASE}/executions/2")
    assert status == 200


def cursor(last_id: str, limit: int) -> str:
    return base64.b64encode(json.dumps({"lastId": last_id, "limit": limit}).encode()).decode()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "251"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "unknown"}, "status"),
        ({"status": "failed"}, "status"),
        ({"status": ["error", "success"]}, "status"),
        ({"includeData": "yes"}, "includeData"),
        ({"projectId": "p"}, "projectId"),
        ({"workflow_id": "x"}, "workflow_id"),
    ],
)
async def test_bad_list_parameters_are_400_naming_the_field(
    api: Api, query: dict[str, Any], field: str
) -> None:
    status, body = await api.call("GET", f"{BASE}/executions", params=query)
    assert status == 400, body
    assert set(body) == {"message"}
    assert field in body["message"]


@pytest.mark.parametrize(
    "value",
    [
        "nonsense!",
        "e30=",
        cursor("1", 0),
        cursor("1", 251),
        cursor("0", 5),
        cursor("99", 5),
        cursor("x", 5),
        base64.b64encode(b'{"lastId": "1"}').decode(),
        "A" * 300,
    ],
)
async def test_bad_cursors_are_400(api: Api, value: str) -> None:
    await api.create()
    status, body = await api.call("GET", f"{BASE}/executions", params={"cursor": value})
    assert (status, body) == (400, {"message": "An invalid cursor was provided"})


async def test_bad_detail_and_delete_input_is_400(api: Api) -> None:
    created = await api.create()
    path = f"{BASE}/executions/{created['id']}"
    status, body = await api.call("GET", path, params={"includeData": "1"})
    assert (status, set(body)) == (400, {"message"})
    assert "includeData" in body["message"]
    status, body = await api.call("DELETE", path, params={"force": "true"})
    assert status == 400 and "force" in body["message"]
    assert len(await api.store.read_execution(created["id"])) == 1  # nothing was appended


async def test_cursor_paging_walks_every_execution_once(api: Api) -> None:
    made = [str((await api.create(workflow_id=f"wf-{i % 2}"))["id"]) for i in range(12)]
    seen: list[str] = []
    query: dict[str, str] = {"limit": "5"}
    while True:
        status, page = await api.call("GET", f"{BASE}/executions", params=query)
        assert status == 200, page
        seen += [item["id"] for item in page["data"]]
        if page["nextCursor"] is None:
            break
        assert json.loads(base64.b64decode(page["nextCursor"])) == {
            "lastId": seen[-1],
            "limit": 5,
        }
        # The cursor carries the limit: n8n lets it override the query's.
        query = {"cursor": page["nextCursor"], "limit": "1"}
    assert seen == made[::-1]
    _, page = await api.call("GET", f"{BASE}/executions", params={"cursor": cursor(made[4], 2)})
    assert [item["id"] for item in page["data"]] == [made[3], made[2]]
    odd = {"workflowId": "wf-1", "limit": "2"}
    _, page = await api.call("GET", f"{BASE}/executions", params=odd)
    assert [item["id"] for item in page["data"]] == [made[11], made[9]]
    _, page = await api.call(
        "GET", f"{BASE}/executions", params={**odd, "cursor": page["nextCursor"]}
    )
    assert [item["id"] for item in page["data"]] == [made[7], made[5]]


async def test_limits_default_to_100_and_reach_250(api: Api) -> None:
    created = await asyncio.gather(
        *[api.store.create_execution(ExecutionQueued(workflow_id="bulk")) for _ in range(130)]
    )
    ids = sorted((str(c.execution_id) for c in created), key=int, reverse=True)
    _, first = await api.call("GET", f"{BASE}/executions")
    assert [item["id"] for item in first["data"]] == ids[:100]
    assert json.loads(base64.b64decode(first["nextCursor"])) == {"lastId": ids[99], "limit": 100}
    _, rest = await api.call("GET", f"{BASE}/executions", params={"cursor": first["nextCursor"]})
    assert ([item["id"] for item in rest["data"]], rest["nextCursor"]) == (ids[100:], None)
    _, whole = await api.call("GET", f"{BASE}/executions", params={"limit": "250"})
    assert ([item["id"] for item in whole["data"]], whole["nextCursor"]) == (ids, None)
    _, part = await api.call("GET", f"{BASE}/executions", params={"limit": "120"})
    assert [item["id"] for item in part["data"]] == ids[:120]
    assert json.loads(base64.b64decode(part["nextCursor"]))["lastId"] == ids[119]


async def _history(api: Api, number: str) -> list[dict[str, Any]]:
    status, body = await api.call("GET", f"/v1/executions/{number}/history")
    assert status == 200, body
    events: list[dict[str, Any]] = body["events"]
    return events


async def test_a_delete_by_a_token_that_cannot_read_answers_only_the_id(api: Api) -> None:
    number = await _example(api)
    status, body = await api.call("DELETE", f"{BASE}/executions/{number}", token="write")
    assert (status, body) == (200, {"id": number})
    assert [e["type"] for e in await _history(api, number)][-1] == "execution.deleted"


async def test_delete_is_a_soft_delete_recorded_as_an_event(api: Api) -> None:
    number = await _example(api)
    kept = await _example(api)
    status, body = await api.call("DELETE", f"{BASE}/executions/{number}")
    assert status == 200, body
    history = await _history(api, number)
    assert [e["type"] for e in history][-2:] == ["execution.completed", "execution.deleted"]
    assert body == {
        "id": number,
        "finished": True,
        "mode": "webhook",
        "retryOf": None,
        "retrySuccessId": None,
        "status": "success",
        "createdAt": CREATED,
        "startedAt": STARTED,
        "stoppedAt": STOPPED,
        "deletedAt": history[-1]["occurred_at"],
        "workflowId": WORKFLOW,
        "waitTill": None,
    }
    # Gone for n8n clients: lists, the single execution, a second delete.
    _, listed = await api.call("GET", f"{BASE}/executions")
    assert [item["id"] for item in listed["data"]] == [kept]
    for method in ("GET", "DELETE"):
        status, body = await api.call(method, f"{BASE}/executions/{number}")
        assert (status, body) == (404, {"message": "Not Found"}), method
    assert len(await _history(api, number)) == len(history)
    # Kept for audits: the native detail shows when; native lists leave it out too.
    _, native = await api.call("GET", f"/v1/executions/{number}")
    assert (native["deleted_at"], native["status"]) == (history[-1]["occurred_at"], "completed")
    _, native_list = await api.call("GET", "/v1/executions")
    assert [item["id"] for item in native_list["items"]] == [int(kept)]
    _, exported = await api.call("GET", "/v1/executions/export", params={"format": "json"})
    assert [item["executionId"] for item in exported] == [int(kept)]
    status, body = await api.append(number, event("execution.deleted"))
    assert (status, body["error"]["rule"]) == (422, "execution.deleted")


async def test_a_running_execution_is_not_deleted(api: Api) -> None:
    created = await api.create(events=[event("execution.started")])
    status, body = await api.call("DELETE", f"{BASE}/executions/{created['id']}")
    assert (status, body) == (400, {"message": "Cannot delete a running execution"})
    assert [e["type"] for e in await _history(api, str(created["id"]))] == [
        "execution.queued",
        "execution.started",
    ]


@pytest.mark.parametrize("state", ["queued", "waiting"])
async def test_a_new_or_waiting_execution_is_cancelled_then_deleted(api: Api, state: str) -> None:
    created = await api.create(events=list(STATES[state][1]))
    status, body = await api.call("DELETE", f"{BASE}/executions/{created['id']}", token="team_a")
    assert status == 404  # another team's, for this token
    status, body = await api.call("DELETE", f"{BASE}/executions/{created['id']}")
    assert status == 200, body
    history = await _history(api, str(created["id"]))
    cancelled, deleted = history[-2:]
    assert (cancelled["type"], deleted["type"]) == ("execution.cancelled", "execution.deleted")
    assert (body["status"], body["finished"]) == ("canceled", False)
    assert (body["stoppedAt"], body["deletedAt"]) == (
        cancelled["occurred_at"],
        deleted["occurred_at"],
    )
    assert body["waitTill"] is None


async def test_a_page_with_data_stops_at_its_bytes_and_goes_on_from_there(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [str((await api.create(events=[event("execution.started")]))["id"]) for _ in range(5)]
    _, whole = await api.call("GET", f"{BASE}/executions", params={"includeData": "true"})
    assert [item["id"] for item in whole["data"]] == ids[::-1]
    assert whole["nextCursor"] is None
    # Bytes enough for two items: each page then holds two, then the cursor
    # goes on from the last one given, however large ``limit``.
    monkeypatch.setattr(n8n_routes, "PAGE_BYTES", len(json.dumps(whole["data"][0])) + 1)
    walked: list[dict[str, Any]] = []
    query: dict[str, str] = {"includeData": "true", "limit": "10"}
    while True:
        _, page = await api.call("GET", f"{BASE}/executions", params=query)
        assert len(page["data"]) <= 2
        walked += page["data"]
        if page["nextCursor"] is None:
            break
        assert json.loads(base64.b64decode(page["nextCursor"])) == {
            "lastId": page["data"][-1]["id"],
            "limit": 10,
        }
        query = {"includeData": "true", "cursor": page["nextCursor"]}
    assert walked == whole["data"]
