"""Answers about a long execution are built and encoded on the app's
rendering thread, and are the same bytes as when built on the loop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from server.dialects import snake
from server.http import replies
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


async def test_a_long_execution_is_rendered_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_api(tmp_path / "x.db") as api:
        events = [event("execution.started"), event("node.started", node_id="n")]
        created = await api.create(events=events, occurred_at="2026-01-01T00:00:00Z")
        paths = [
            f"/v1/executions/{created['id']}?as_of_version=3",
            f"/compat/snake/api/v1/executions/{created['id']}",
            "/v1/executions/export?format=json",
        ]
        on_loop = await answers(api, paths)
        threads: list[str] = []
        monkeypatch.setattr(wire, "execution", spy(threads, wire.execution))
        monkeypatch.setattr(snake, "execution", spy(threads, snake.execution))
        monkeypatch.setattr(export, "json_execution", spy(threads, export_rows.json_execution))
        assert await answers(api, paths) == on_loop
        assert threads == ["MainThread"] * 3  # 3 events: short
        threads.clear()
        monkeypatch.setattr(replies, "LARGE_EVENTS", 2)
        assert await answers(api, paths) == on_loop
        assert threads == ["execstore-render_0"] * 3
