"""Answers about a long execution are built and encoded on the app's
rendering thread, and are the same bytes as when built on the loop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from projections import reader
from server.dialects import snake
from server.native import export
from server.render import export_rows, wire

from ..conftest import Api, event, open_api


def spy(threads: list[str], real: Callable[..., Any]) -> Callable[..., Any]:
    def spied(*args: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(*args)

    return spied


async def answers(api: Api, paths: list[str]) -> list[Any]:
    found = []
    for path in paths:
        status, body = await api.call("GET", path)
        assert status == 200, body
        found.append(body)
    return found


@pytest.mark.parametrize(("bound", "value"), [("LARGE_EVENTS", 2), ("LARGE_BYTES", 100)])
async def test_a_long_execution_is_rendered_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bound: str, value: int
) -> None:
    async with open_api(tmp_path / "x.db") as api:
        events = [
            event("execution.started"),
            event("node.started", node_id="n", input="x" * 200),
            event("node.completed", node_id="n"),
            event("execution.completed"),  # finished: no answer depends on the clock
        ]
        created = await api.create(events=events, occurred_at="2026-01-01T00:00:00Z")
        paths = [
            f"/v1/executions/{created['id']}?as_of_version=3",
            f"/compat/snake/api/v1/executions/{created['id']}",
            "/v1/executions/export?format=json",
        ]
        # Each API's detail, whose nodes a long execution sends in pieces.
        others = [
            f"/v1/executions/{created['id']}",
            f"/compat/teams/api/executions/{created['uuid']}",
            f"/compat/actions/api/v1/executions/{created['uuid']}",
            f"/compat/n8n/api/v1/executions/{created['id']}?includeData=true",
        ]
        whole = await answers(api, others)
        on_loop = await answers(api, paths)
        threads: list[str] = []
        monkeypatch.setattr(wire, "execution", spy(threads, wire.execution))
        monkeypatch.setattr(wire, "execution_now", spy(threads, wire.execution_now))
        monkeypatch.setattr(snake, "execution", spy(threads, snake.execution))
        monkeypatch.setattr(export, "json_execution", spy(threads, export_rows.json_execution))
        assert await answers(api, paths) == on_loop
        assert threads == ["MainThread"] * 3  # 5 events, 300 bytes: short
        threads.clear()
        monkeypatch.setattr(reader, bound, value)  # 5 events, or 300 bytes: long
        assert await answers(api, paths) == on_loop
        assert await answers(api, others) == whole
        again = await api.create(events=events)  # its answer: folded and encoded there too
        assert again["nodes"][0]["node_id"] == "n"
        # The three paths' answers, then the native detail's and the create's
        # (each execution_now, which calls execution).
        assert threads == ["execstore-render_0"] * 7
