"""The store's limits over HTTP: the requests that froze or poisoned the
server are refused with a 4xx naming the field and the limit, and write
nothing."""

from __future__ import annotations

import io
from pathlib import Path

import msgspec

from eventstore import Limits
from server.http.settings import Settings

from ..conftest import error_of, event, open_api

LIMITED = Settings(
    env_token="t" * 32,
    max_body=4 * 1024 * 1024,
    limits=Limits(events_per_execution=5, event_bytes=1000),
)


def pairs(count: int) -> list[dict[str, object]]:
    found = [event("execution.started")]
    for index in range(count):
        found += [
            event("node.started", node_id=f"n{index}"),
            event("node.completed", node_id=f"n{index}"),
        ]
    return found


def deep(depth: int) -> str:
    """JSON text nested ``depth`` arrays deep."""
    return "[" * depth + "]" * depth


async def test_ten_thousand_node_pairs_in_one_create_are_refused(tmp_path: Path) -> None:
    settings = Settings(env_token="t" * 32, max_body=4 * 1024 * 1024)
    async with open_api(tmp_path / "x.db", settings) as api:
        body = msgspec.json.encode({"workflow_id": "wf", "events": pairs(10_000)})
        assert len(body) > 1_000_000  # the body that held the event loop for 6.4 s
        # A stream, not bytes: the client warns of large bytes bodies.
        async with api.client.post(
            "/v1/executions", data=io.BytesIO(body), headers=api.auth("admin")
        ) as response:
            status, answer = response.status, await response.json()
        assert status == 413, answer
        error = error_of(answer, "limit_exceeded")
        assert (error["field"], error["rule"]) == ("events", "events_per_append")
        assert "at most 2,000 events, not 20,002" in error["message"]
        assert api.store.head == 0


async def test_json_nested_too_deep_is_refused_wherever_it_comes_in(tmp_path: Path) -> None:
    async with open_api(tmp_path / "x.db") as api:
        # As deep as was once stored (201), then poisoned every read: refused
        # before any decoder recurses into it.
        raw = '{"workflow_id": "wf", "input": ' + deep(975) + "}"
        status, answer = await api.call("POST", "/v1/executions", data=raw.encode())
        assert status == 400, answer
        error = error_of(answer, "limit_exceeded")
        assert (error["field"], error["rule"]) == ("body", "json_depth")
        raw = '{"workflow_id": "wf", "input": ' + deep(65) + "}"
        status, answer = await api.call("POST", "/v1/executions", data=raw.encode())
        assert status == 400, answer
        error = error_of(answer, "limit_exceeded")
        assert (error["field"], error["rule"]) == ("input", "json_depth")
        created = await api.create(events=[event("execution.started")])
        node = '{"type": "node.started", "data": {"node_id": "n", "input": ' + deep(65) + "}}"
        raw = '{"events": [' + node + "]}"
        path = f"/v1/executions/{created['id']}/events"
        status, answer = await api.call("POST", path, data=raw.encode())
        assert status == 400, answer
        assert error_of(answer, "limit_exceeded")["field"] == "events[0].data.input"
        status, hook = await api.call("POST", "/v1/workflows/wf/webhook")
        assert status == 201, hook
        status, answer = await api.call("POST", hook["url"], token=None, data=deep(80).encode())
        assert status == 400, answer
        assert error_of(answer, "limit_exceeded")["field"] == "body"
        assert api.store.head == 2


async def test_an_event_over_its_bytes_is_a_413(tmp_path: Path) -> None:
    async with open_api(tmp_path / "x.db", LIMITED) as api:
        created = await api.create(events=[event("execution.started")])
        big = event("node.started", node_id="n", input="x" * 1000)
        path = f"/v1/executions/{created['id']}/events"
        status, answer = await api.call(
            "POST", path, json={"events": [event("node.started", node_id="m"), big]}
        )
        assert status == 413, answer
        error = error_of(answer, "limit_exceeded")
        assert (error["field"], error["rule"]) == ("events[1].data", "event_bytes")
        assert api.store.head == 2


async def test_an_execution_past_its_limit_is_a_422(tmp_path: Path) -> None:
    async with open_api(tmp_path / "x.db", LIMITED) as api:
        created = await api.create(events=pairs(1))
        path = f"/v1/executions/{created['id']}/events"
        status, answer = await api.call(
            "POST", path, json={"events": [event("node.started", node_id="b")]}
        )
        assert status == 201, answer
        status, answer = await api.call(
            "POST", path, json={"events": [event("node.completed", node_id="b")]}
        )
        assert status == 422, answer
        error = error_of(answer, "limit_exceeded")
        assert (error["field"], error["rule"]) == ("events", "events_per_execution")
        assert api.store.head == 5
