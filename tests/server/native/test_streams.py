"""Live streams over HTTP: one execution, the whole store, resuming, filters,
heartbeats and shutdown."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer

from eventstore import (
    ErrorInfo,
    EventStore,
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
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    Usage,
    json_value,
)
from eventstore.events import EVENT_TYPES
from server.app import create_app
from server.http.keys import STORE, STREAMS
from server.http.settings import Settings

from ..conftest import Api, event
from ..sse_client import Message, messages, take

ROOT = "root-token"
HEADERS = {"Authorization": f"Bearer {ROOT}"}


class Live:
    def __init__(self, client: TestClient[Any, Any], store: EventStore) -> None:
        self.client, self.store = client, store


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    settings = Settings(env_token=ROOT, heartbeat=0.2, write_timeout=1.0, stream_buffer=50)
    app = create_app(tmp_path / "e.db", settings)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield Live(client, app[STORE])


async def _running(store: EventStore, workflow_id: str = "wf", team: str | None = None) -> int:
    queued = ExecutionQueued(workflow_id=workflow_id, team_id=team)
    created = await store.create_execution(queued, [ExecutionStarted()])
    return created.execution_id


async def test_an_execution_stream_sends_the_snapshot_then_events_until_terminal(
    live: Live,
) -> None:
    target = await _running(live.store)
    async with live.client.get(f"/v1/executions/{target}/stream", headers=HEADERS) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        [snapshot] = await take(response, 1)
        assert (snapshot.event, snapshot.id) == ("snapshot", 2)
        assert snapshot.data["status"] == "running"
        await live.store.append(target, [NodeStarted(node_id="a")])
        await live.store.append(target, [NodeCompleted(node_id="a", tokens=7)])
        [started, completed] = await take(response, 2)
        assert (started.event, started.id) == ("node.started", 3)
        assert completed.data["summary"]["tokens"] == 7
        assert completed.data["event"]["version"] == 4
        await live.store.append(target, [ExecutionCompleted()])
        rest = [m async for m in messages(response) if m.comment is None]
    assert [m.event for m in rest] == ["execution.completed"]
    assert rest[0].data["summary"]["status"] == "completed"


async def test_a_finished_execution_streams_its_snapshot_and_ends(live: Live) -> None:
    target = await _running(live.store)
    await live.store.append(target, [ExecutionCompleted()])
    async with live.client.get(f"/v1/executions/{target}/stream", headers=HEADERS) as response:
        received = [m async for m in messages(response) if m.comment is None]
    assert [(m.event, m.data["status"]) for m in received] == [("snapshot", "completed")]


async def test_from_version_replays_instead_of_the_snapshot(live: Live) -> None:
    target = await _running(live.store)
    await live.store.append(target, [NodeStarted(node_id="a"), NodeCompleted(node_id="a")])
    await live.store.append(target, [ExecutionCompleted()])
    path = f"/v1/executions/{target}/stream?from_version=2"
    async with live.client.get(path, headers=HEADERS) as response:
        received = [m async for m in messages(response) if m.comment is None]
    assert [m.data["event"]["version"] for m in received] == [2, 3, 4, 5]
    assert received[0].event == "execution.started"
    assert received[-1].data["summary"]["status"] == "completed"


async def test_each_summary_a_stream_sends_is_the_list_row(live: Live) -> None:
    # The stream folds its own rows; they must be the rows the list serves.
    target = await _running(live.store, team="t")
    await live.store.append(
        target, [NodeStarted(node_id="a"), NodeCompleted(node_id="a", tokens=3)]
    )
    await live.store.append(target, [ExecutionCompleted()])
    async with live.client.get(
        f"/v1/executions/{target}/stream?from_version=1", headers=HEADERS
    ) as response:
        received = [m async for m in messages(response) if m.comment is None]
    async with live.client.get("/v1/executions", headers=HEADERS) as response:
        [row] = (await response.json())["items"]
    assert received[-1].data["summary"] == row


async def test_the_store_stream_resumes_after_last_event_id(live: Live) -> None:
    ids = [await _running(live.store, f"wf-{n}") for n in range(3)]
    async with live.client.get("/v1/stream?from=0", headers=HEADERS) as response:
        first = await take(response, 4)
    assert [m.id for m in first] == [1, 2, 3, 4]
    await live.store.append(ids[2], [NodeStarted(node_id="x")])
    resume = {**HEADERS, "Last-Event-ID": "4"}
    # Last-Event-ID wins over ?from=, as a browser reconnecting sends both.
    async with live.client.get("/v1/stream?from=0", headers=resume) as response:
        rest = await take(response, 3)
    assert [m.id for m in rest] == [5, 6, 7]
    assert rest[-1].event == "node.started"
    assert rest[-1].data["execution_id"] == ids[2]


async def test_filters_and_team_restrictions(live: Live, tmp_path: Path) -> None:
    a = await _running(live.store, "wf-a", team="team-a")
    await _running(live.store, "wf-b", team="team-b")
    path = "/v1/stream?from=0&type=execution.started&workflow_id=wf-a&workflow_id=wf-b"
    async with live.client.get(path, headers=HEADERS) as response:
        started = await take(response, 2)
    assert [m.event for m in started] == ["execution.started"] * 2
    token = "es_team_a_only_0123456789"
    await live.store.add_token(token, frozenset({"executions:read"}), "team-a")
    async with live.client.get(f"/v1/stream?from=0&access_token={token}") as response:
        assert response.status == 200
        mine = await take(response, 2)
    assert {m.data["execution_id"] for m in mine} == {a}
    async with live.client.get(f"/v1/stream?team_id=team-b&access_token={token}") as refused:
        assert refused.status == 403
    async with live.client.get("/v1/stream?type=nope", headers=HEADERS) as bad:
        assert bad.status == 400
        assert (await bad.json())["error"]["field"] == "type"
    async with live.client.get("/v1/stream") as anonymous:
        assert anonymous.status == 401


async def test_a_quiet_stream_sends_heartbeat_comments(live: Live) -> None:
    async with live.client.get("/v1/stream", headers=HEADERS) as response:
        seen: list[Message] = []
        async for message in messages(response):
            seen.append(message)
            if len(seen) == 2:
                break
    assert [m.comment for m in seen] == ["ping", "ping"]


async def test_shutdown_ends_open_streams_cleanly(tmp_path: Path) -> None:
    app = create_app(tmp_path / "e.db", Settings(env_token=ROOT, heartbeat=60))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with ClientSession() as session:
        response = await session.get(server.make_url("/v1/stream"), headers=HEADERS)
        assert response.status == 200
        assert len(app[STREAMS]) == 1
        closing = asyncio.create_task(server.close())
        # The body ends cleanly (no reset, no payload error) well before any timeout.
        body = await asyncio.wait_for(response.content.read(), 10)
        await closing
        response.release()
    assert body == b""
    assert not app[STREAMS]


async def test_the_api_fixture_streams_too(api: Api) -> None:
    created = await api.create(events=[event("execution.started")])
    status, _ = await api.call("GET", f"/v1/executions/{created['id']}/stream")
    assert status == 200


async def test_another_teams_execution_cannot_be_streamed(live: Live) -> None:
    theirs = await _running(live.store, team="team-b")
    token = "es_team_a_only_0123456789"
    await live.store.add_token(token, frozenset({"executions:read"}), "team-a")
    path = f"/v1/executions/{theirs}/stream?access_token={token}"
    async with live.client.get(path) as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"
    async with live.client.get(f"/v1/executions/{theirs}/stream?from_version=0") as bad:
        assert bad.status == 401  # no token: refused before anything is looked up


async def test_replaying_past_the_end_of_a_finished_execution_ends(live: Live) -> None:
    target = await _running(live.store)
    await live.store.append(target, [ExecutionCompleted()])
    path = f"/v1/executions/{target}/stream?from_version=9"
    async with live.client.get(path, headers=HEADERS) as response:
        # Bounded: a stream that waited for events that cannot come would never end.
        body = await asyncio.wait_for(response.content.read(), 5)
    assert body == b""


# Streams that end after what was recorded, and what each message looks like


async def _every_type(store: EventStore) -> None:
    """Executions that between them record every event type there is."""
    usage = Usage(prompt_tokens=3, completion_tokens=4, cost=0.01, currency="USD")
    boom = ErrorInfo(code="E", message="boom", node_id="b")
    first = await _running(store, "wf-all")
    await store.append(
        first,
        [
            ExecutionWaiting(reason="approval", wait_till=1_800_000_000_000_000),
            ExecutionResumed(),
            NodeStarted(node_id="a", input=json_value({"q": 1})),
            NodeCompleted(node_id="a", output=json_value([1]), tokens=7, usage=usage),
            NodeStarted(node_id="b"),
            NodeFailed(node_id="b", error=boom),
            ExecutionFailed(error=boom),
        ],
    )
    second = await _running(store, "wf-all")
    await store.append(second, [ExecutionCancelRequested(by="u", reason="r")])
    await store.append(second, [ExecutionCancelled(by="u"), ExecutionDeleted(by="u")])
    for ending in (ExecutionCompleted(), ExecutionCrashed(reason="lost")):
        await store.append(await _running(store, "wf-all"), [ending])


async def _received(live: Live, path: str) -> list[Message]:
    async with live.client.get(path, headers=HEADERS) as response:
        assert response.status == 200
        return [m async for m in messages(response) if m.comment is None]


async def test_not_following_ends_after_the_events_recorded_when_asked(live: Live) -> None:
    await _every_type(live.store)
    head = live.store.head
    path = "/v1/stream?from=0&follow=false&type=execution.started"
    async with live.client.get(path, headers=HEADERS) as response:
        [first] = await take(response, 1)
        await _running(live.store, "wf-later")  # after the request: not in it
        rest = [m async for m in messages(response) if m.comment is None]
    received = [first, *rest]
    assert [m.event for m in received] == ["execution.started"] * 4
    assert all(m.id is not None and m.id <= head for m in received)
    target = received[0].data["execution_id"]
    replayed = await _received(live, f"/v1/executions/{target}/stream?from_version=1&follow=false")
    assert [m.data["event"]["version"] for m in replayed] == list(range(1, 10))
    running = await _running(live.store)
    snapshot_only = await _received(live, f"/v1/executions/{running}/stream?follow=false")
    assert [(m.event, m.data["status"]) for m in snapshot_only] == [("snapshot", "running")]


async def test_every_message_is_one_the_document_describes(live: Live) -> None:
    await _every_type(live.store)
    async with live.client.get("/v1/openapi.json") as response:
        document = await response.json()
    components = document["components"]
    for path, streamed in (
        ("/v1/stream?from=0&follow=false", "/v1/stream"),
        ("/v1/executions/1/stream?follow=false", "/v1/executions/{id}/stream"),
        ("/v1/executions/1/stream?from_version=1&follow=false", "/v1/executions/{id}/stream"),
    ):
        ok = document["paths"][streamed]["get"]["responses"]["200"]["content"]
        variants = {
            v["properties"]["event"]["const"]: v
            for v in ok["text/event-stream"]["itemSchema"]["oneOf"]
        }
        received = await _received(live, path)
        for message in received:
            shape = variants[message.event]["properties"]
            assert re.fullmatch(shape["id"]["pattern"], str(message.id))
            content = {**shape["data"]["contentSchema"], "components": components}
            jsonschema_rs.validator_for(content).validate(message.data)
        if streamed == "/v1/stream":
            assert {m.event for m in received} == set(variants) == set(EVENT_TYPES)
