"""/compat/dify: Dify's workflow-run detail and live events, reproduced from events."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientSession
from aiohttp.test_utils import TestServer

from server.app import create_app
from server.http.keys import STREAMS
from server.http.settings import Settings

from ..conftest import MAX_BODY, Api, at, event, open_api
from ..sse_client import messages, take

BASE = "/compat/dify/v1"
RUN_FIELDS = {
    "id",
    "workflow_id",
    "status",
    "inputs",
    "outputs",
    "error",
    "total_steps",
    "total_tokens",
    "created_at",
    "finished_at",
    "elapsed_time",
}
FINISHED_FIELDS = RUN_FIELDS - {"inputs"}
NODE_STARTED_FIELDS = {
    "id",
    "node_id",
    "node_type",
    "title",
    "index",
    "predecessor_node_id",
    "inputs",
    "created_at",
}
NODE_FINISHED_FIELDS = NODE_STARTED_FIELDS | {
    "process_data",
    "outputs",
    "status",
    "error",
    "elapsed_time",
    "execution_metadata",
    "finished_at",
}


T0 = "2026-03-01T09:00:00+00:00"


def unix(time: str) -> int:
    return int(datetime.fromisoformat(time).timestamp())


# The document's example: created 1705407629 (12:20:29 UTC), three steps,
# 150 tokens, finished 1.23 s after it started.
DOC_WORKFLOW = "7c3e33d4-2a8b-4e5f-9b1a-d3c6e8f12345"
EXAMPLE = (
    at("execution.started", "2024-01-16T12:20:29Z"),
    at("node.started", "2024-01-16T12:20:29Z", node_id="start", node_type="start"),
    at("node.completed", "2024-01-16T12:20:29.010Z", node_id="start"),
    at("node.started", "2024-01-16T12:20:29.010Z", node_id="llm", node_name="LLM", node_type="llm"),
    at("node.completed", "2024-01-16T12:20:30.200Z", node_id="llm", tokens=150),
    at("node.started", "2024-01-16T12:20:30.200Z", node_id="end", node_type="end"),
    at("node.completed", "2024-01-16T12:20:30.220Z", node_id="end"),
    at(
        "execution.completed",
        "2024-01-16T12:20:30.230Z",
        output={"result": "Traduisez ceci en francais"},
    ),
)


async def _example(api: Api) -> dict[str, Any]:
    return await api.create(
        workflow_id=DOC_WORKFLOW,
        input={"query": "Translate this to French"},
        occurred_at="2024-01-16T12:20:29Z",
        events=list(EXAMPLE),
    )


async def test_the_documents_example_is_reproduced_from_events(api: Api) -> None:
    created = await _example(api)
    status, body = await api.call("GET", f"{BASE}/workflows/run/{created['uuid']}", token="read")
    assert status == 200, body
    assert body == {
        "id": created["uuid"],
        "workflow_id": DOC_WORKFLOW,
        "status": "succeeded",
        "inputs": {"query": "Translate this to French"},
        "outputs": {"result": "Traduisez ceci en francais"},
        "error": None,
        "total_steps": 3,
        "total_tokens": 150,
        "created_at": 1705407629,
        "finished_at": 1705407630,
        "elapsed_time": 1.23,
    }
    assert uuid.UUID(body["id"]).version == 4
    # Any case names the same run, as UUIDs do.
    status, upper = await api.call("GET", f"{BASE}/workflows/run/{created['uuid'].upper()}")
    assert (status, upper["id"]) == (200, created["uuid"])


async def _run(api: Api, *events: dict[str, Any], **fields: Any) -> dict[str, Any]:
    status, body = await api.call(
        "GET", f"{BASE}/workflows/run/{(await api.create(events=list(events), **fields))['uuid']}"
    )
    assert status == 200, body
    assert set(body) == RUN_FIELDS
    return dict(body)


async def test_queued_and_running_are_running_and_waiting_is_paused(api: Api) -> None:
    queued = await _run(api, occurred_at=T0)
    assert queued == {
        **queued,
        "workflow_id": "wf-1",
        "status": "running",
        "inputs": {},
        "outputs": None,
        "error": None,
        "total_steps": 0,
        "total_tokens": 0,
        "created_at": unix(T0),
        "finished_at": None,
        "elapsed_time": None,
    }
    running = await _run(
        api,
        event("execution.started"),
        event("node.started", node_id="n"),
        event("node.completed", node_id="n", tokens=5),
    )
    assert (running["status"], running["total_steps"], running["total_tokens"]) == ("running", 1, 5)
    # Run time so far by the server's clock: a float, small since it just started.
    assert isinstance(running["elapsed_time"], float)
    assert 0 <= running["elapsed_time"] < 60
    waiting = await _run(api, event("execution.started"), event("execution.waiting"))
    assert (waiting["status"], waiting["finished_at"]) == ("paused", None)


async def test_failures_crashes_and_stops(api: Api) -> None:
    failed = await _run(
        api,
        event("execution.started"),
        event("node.started", node_id="http"),
        event("node.failed", node_id="http", error={"code": "timeout", "message": "slow"}),
        event("execution.failed", error={"code": "node_failed", "message": "boom"}),
    )
    assert (failed["status"], failed["error"], failed["total_steps"]) == ("failed", "boom", 1)
    no_message = await _run(
        api, event("execution.started"), event("execution.failed", error={"code": "quota"})
    )
    assert no_message["error"] == "quota"
    crashed = await _run(api, event("execution.started"), event("execution.crashed", reason="oom"))
    assert (crashed["status"], crashed["error"]) == ("failed", "oom")
    silent = await _run(api, event("execution.started"), event("execution.crashed"))
    assert silent["error"] == "the execution crashed"
    stopped = await _run(
        api,
        at("execution.cancelled", "2026-03-01T09:00:05Z", reason="user asked"),
        occurred_at="2026-03-01T09:00:00Z",
    )
    assert (stopped["status"], stopped["error"]) == ("stopped", "user asked")
    # Never started: no elapsed time, though it finished.
    assert stopped["elapsed_time"] is None
    assert stopped["finished_at"] == unix("2026-03-01T09:00:05+00:00")


async def test_a_handled_node_failure_is_partial_success_and_a_retry_is_not(api: Api) -> None:
    handled = await _run(
        api,
        event("execution.started"),
        event("node.started", node_id="a"),
        event("node.completed", node_id="a"),
        event("node.started", node_id="b"),
        event("node.failed", node_id="b", error={"code": "x"}),
        event("execution.completed", output={"ok": True}),
    )
    assert (handled["status"], handled["error"]) == ("partial-succeeded", None)
    assert handled["outputs"] == {"ok": True}
    retried = await _run(
        api,
        event("execution.started"),
        event("node.started", node_id="b"),
        event("node.failed", node_id="b", error={"code": "x"}, will_retry=True),
        event("node.started", node_id="b", attempt=2),
        event("node.completed", node_id="b", attempt=2),
        event("execution.completed"),
    )
    assert (retried["status"], retried["total_steps"]) == ("succeeded", 2)


def _assert_dify_error(body: Any, status: int, code: str) -> None:
    assert set(body) == {"status", "code", "message"}, body
    assert (body["status"], body["code"]) == (status, code)
    assert isinstance(body["message"], str) and body["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/workflows/run/{missing}",
        "/workflows/run/not-a-uuid",
        "/workflows/run/{long}",
        "/workflow/{missing}/events",
        "/workflow/not-a-uuid/events",
    ],
)
async def test_an_unknown_or_malformed_run_is_not_found(api: Api, path: str) -> None:
    await api.create()
    missing, long = str(uuid.uuid4()), "f" * 5000
    status, body = await api.call("GET", BASE + path.format(missing=missing, long=long))
    assert status == 404
    _assert_dify_error(body, 404, "not_found")


async def test_auth_scope_and_team_isolation(api: Api) -> None:
    ours = await api.create(token="team_a", events=[event("execution.started")])
    theirs = await api.create(team_id="team-b", events=[event("execution.started")])
    for path in (f"/workflows/run/{ours['uuid']}", f"/workflow/{ours['uuid']}/events"):
        status, body = await api.call("GET", BASE + path, token=None)
        assert status == 401
        _assert_dify_error(body, 401, "unauthorized")
        status, body = await api.call("GET", BASE + path, token="write")
        assert status == 403
        _assert_dify_error(body, 403, "forbidden")
        # Another team's run is answered exactly like a missing one.
        status, body = await api.call(
            "GET", BASE + path.replace(ours["uuid"], theirs["uuid"]), token="team_a"
        )
        assert status == 404
        _assert_dify_error(body, 404, "not_found")
    status, body = await api.call("GET", f"{BASE}/workflows/run/{ours['uuid']}", token="team_a")
    assert (status, body["id"]) == (200, ours["uuid"])
    # A query token is no Dify way in.
    path = f"{BASE}/workflow/{ours['uuid']}/events?access_token={api.secrets['read']}"
    status, body = await api.call("GET", path, token=None)
    assert status == 401, body


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/workflows/run/{id}", {"user": "abc"}, "user"),
        ("/workflow/{id}/events", {"include_state_snapshot": "yes"}, "include_state_snapshot"),
        ("/workflow/{id}/events", {"continue_on_pause": "1"}, "continue_on_pause"),
        ("/workflow/{id}/events", {"user": ["a", "b"]}, "user"),
        ("/workflow/{id}/events", {"cursor": "x"}, "cursor"),
    ],
)
async def test_bad_parameters_are_invalid_param_naming_the_field(
    api: Api, path: str, query: dict[str, Any], field: str
) -> None:
    created = await api.create()
    status, body = await api.call("GET", BASE + path.format(id=created["uuid"]), params=query)
    assert status == 400, body
    _assert_dify_error(body, 400, "invalid_param")
    assert body["message"].startswith(f"{field}: ")


# The live events


def _frames(raw: bytes) -> list[dict[str, Any]]:
    """The ``data:`` messages of a whole body, checking Dify's framing on the way."""
    found: list[dict[str, Any]] = []
    for block in raw.decode().split("\n\n")[:-1]:
        assert block.startswith("data: ") and "\n" not in block, block  # no event: or id: line
        found.append(json.loads(block.removeprefix("data: ")))
    assert raw.endswith(b"\n\n")
    return found


async def test_a_finished_run_streams_one_workflow_finished_and_ends(api: Api) -> None:
    created = await _example(api)
    path = f"{BASE}/workflow/{created['uuid']}/events"
    async with api.client.get(path, headers=api.auth("read"), params={"user": "abc-123"}) as got:
        assert got.status == 200
        assert got.content_type == "text/event-stream"
        raw = await asyncio.wait_for(got.read(), 5)
    assert _frames(raw) == [
        {
            "event": "workflow_finished",
            "task_id": created["uuid"],
            "workflow_run_id": created["uuid"],
            "data": {
                "id": created["uuid"],
                "workflow_id": DOC_WORKFLOW,
                "status": "succeeded",
                "outputs": {"result": "Traduisez ceci en francais"},
                "error": None,
                "elapsed_time": 1.23,
                "total_tokens": 150,
                "total_steps": 3,
                "created_at": 1705407629,
                "finished_at": 1705407630,
            },
        }
    ]


PAST = (
    at("execution.started", "2026-03-01T09:00:01Z"),
    at(
        "node.started",
        "2026-03-01T09:00:02Z",
        node_id="a",
        node_name="Fetch",
        node_type="http-request",
        input={"url": "x"},
    ),
    at("node.completed", "2026-03-01T09:00:02.500Z", node_id="a", output={"status": 200}),
)
LATER = (
    at("node.started", "2026-03-01T09:00:03Z", node_id="b", node_type="llm", input={"q": 1}),
    at(
        "node.failed",
        "2026-03-01T09:00:04Z",
        node_id="b",
        error={"code": "rate_limited", "message": "429"},
        will_retry=True,
    ),
    at("node.started", "2026-03-01T09:00:05Z", node_id="b", attempt=2, input={"q": 1}),
    at(
        "node.completed",
        "2026-03-01T09:00:06.250Z",
        node_id="b",
        attempt=2,
        tokens=40,
        output={"a": "ok"},
        usage={"prompt_tokens": 30, "completion_tokens": 10, "cost": 0.002, "currency": "USD"},
    ),
    at("execution.completed", "2026-03-01T09:00:07Z", output={"answer": "ok"}),
)


def _node(data: dict[str, Any], **expected: Any) -> None:
    assert {k: data[k] for k in expected} == expected
    assert uuid.UUID(data["id"])


async def test_a_running_run_replays_its_past_then_follows_until_finished(api: Api) -> None:
    created = await api.create(
        workflow_id="wf-7", input={"ticket": 1}, occurred_at=T0, events=list(PAST)
    )
    run = created["uuid"]
    async with api.client.get(f"{BASE}/workflow/{run}/events", headers=api.auth("read")) as got:
        assert got.status == 200
        past = await asyncio.wait_for(take(got, 3), 5)
        # A second connection replays the same ids: they come from the log.
        async with api.client.get(f"{BASE}/workflow/{run}/events", headers=api.auth("read")) as b:
            replayed = await asyncio.wait_for(take(b, 3), 5)
        assert [m.data for m in replayed] == [m.data for m in past]
        status, _ = await api.append(created["id"], *LATER)
        assert status == 201
        rest = [m async for m in messages(got) if m.comment is None]
    received = [m.data for m in past + rest]
    assert [m.event for m in past + rest] == ["message"] * 8  # the name is inside the JSON
    assert [d["event"] for d in received] == [
        "workflow_started",
        "node_started",
        "node_finished",
        "node_started",
        "node_finished",
        "node_started",
        "node_finished",
        "workflow_finished",
    ]
    assert {(d["task_id"], d["workflow_run_id"]) for d in received} == {(run, run)}
    started, *nodes, finished = [d["data"] for d in received]
    assert started == {
        "id": run,
        "workflow_id": "wf-7",
        "inputs": {"ticket": 1},
        "created_at": unix(T0),
    }
    assert set(nodes[0]) == NODE_STARTED_FIELDS and set(nodes[1]) == NODE_FINISHED_FIELDS
    _node(
        nodes[0],
        node_id="a",
        node_type="http-request",
        title="Fetch",
        index=1,
        predecessor_node_id=None,
        inputs={"url": "x"},
        created_at=unix(T0) + 2,
    )
    _node(
        nodes[1],
        node_id="a",
        title="Fetch",
        index=1,
        status="succeeded",
        error=None,
        outputs={"status": 200},
        process_data=None,
        elapsed_time=0.5,
        execution_metadata=None,
        created_at=unix(T0) + 2,
        finished_at=unix(T0) + 2,
    )
    _node(nodes[2], node_id="b", node_type="llm", title="b", index=2, inputs={"q": 1})
    _node(
        nodes[3],
        node_id="b",
        index=2,
        status="failed",
        error="429",
        outputs=None,
        elapsed_time=1.0,
        execution_metadata=None,
    )
    _node(nodes[4], node_id="b", index=3, created_at=unix(T0) + 5)
    _node(
        nodes[5],
        node_id="b",
        index=3,
        status="succeeded",
        outputs={"a": "ok"},
        elapsed_time=1.25,
        finished_at=unix(T0) + 6,
        execution_metadata={"total_tokens": 40, "total_price": 0.002, "currency": "USD"},
    )
    # One id per attempt, the same when it starts and when it finishes.
    ids = [n["id"] for n in nodes]
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[4] == ids[5]
    assert len(set(ids)) == 3
    assert finished == {
        "id": run,
        "workflow_id": "wf-7",
        "status": "succeeded",
        "outputs": {"answer": "ok"},
        "error": None,
        "elapsed_time": 6.0,
        "total_tokens": 40,
        "total_steps": 3,
        "created_at": unix(T0),
        "finished_at": unix(T0) + 7,
    }


async def test_a_failed_run_streams_partial_and_failed_endings(api: Api) -> None:
    created = await api.create(events=[event("execution.started")])
    path = f"{BASE}/workflow/{created['uuid']}/events"
    async with api.client.get(path, headers=api.auth("read")) as got:
        [started] = await asyncio.wait_for(take(got, 1), 5)
        await api.append(
            created["id"],
            event("node.started", node_id="n"),
            event("node.failed", node_id="n", error={"code": "bad", "message": ""}),
            event("execution.failed"),
        )
        rest = [m.data async for m in messages(got) if m.comment is None]
    assert started.data["event"] == "workflow_started"
    assert [d["event"] for d in rest] == ["node_started", "node_finished", "workflow_finished"]
    assert (rest[1]["data"]["status"], rest[1]["data"]["error"]) == ("failed", "bad")
    assert set(rest[2]["data"]) == FINISHED_FIELDS
    # The execution names no error: the failed node's is blamed, as the native detail does.
    assert (rest[2]["data"]["status"], rest[2]["data"]["error"]) == ("failed", "bad")


async def _lines_until_pings(response: ClientResponse, pings: int) -> list[str]:
    lines: list[str] = []
    # Up to the blank line that ends the last ping.
    while lines.count("event: ping") < pings or lines[-1] != "":
        raw = await response.content.readline()
        assert raw, "the stream ended"
        lines.append(raw.decode().rstrip("\n"))
    return lines


async def test_a_quiet_stream_sends_event_ping(tmp_path: Path) -> None:
    settings = Settings(heartbeat=0.05, max_body=MAX_BODY)
    async with open_api(tmp_path / "h.db", settings) as api:
        created = await api.create(events=[event("execution.started")])
        path = f"{BASE}/workflow/{created['uuid']}/events"
        async with api.client.get(path, headers=api.auth("read")) as got:
            lines = await asyncio.wait_for(_lines_until_pings(got, 2), 5)
    data = [line for line in lines if line.startswith("data: ")]
    assert [json.loads(line[6:])["event"] for line in data] == ["workflow_started"]
    # A ping is a bare named event: no data line follows it.
    for index, line in enumerate(lines):
        if line == "event: ping":
            assert lines[index + 1] == ""


async def test_shutdown_ends_an_open_stream_cleanly(tmp_path: Path) -> None:
    root = "r" * 32
    app = create_app(tmp_path / "s.db", Settings(env_token=root, heartbeat=60))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    headers = {"Authorization": f"Bearer {root}"}
    async with ClientSession() as session:
        async with session.post(
            server.make_url("/v1/executions"),
            headers=headers,
            json={"workflow_id": "w", "events": [event("execution.started")]},
        ) as created:
            run = (await created.json())["uuid"]
        response = await session.get(
            server.make_url(f"{BASE}/workflow/{run}/events"), headers=headers
        )
        first = await asyncio.wait_for(response.content.readline(), 5)
        assert first.startswith(b"data: ")
        assert len(app[STREAMS]) == 1
        closing = asyncio.create_task(server.close())
        rest = await asyncio.wait_for(response.content.read(), 10)
        await closing
        response.release()
    assert rest == b"\n"  # the end of the first message, then a clean end
    assert not app[STREAMS]
