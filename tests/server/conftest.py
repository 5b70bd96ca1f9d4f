"""An app on a fresh file, reached through aiohttp's test client on loopback,
with a token per scope (and one restricted to a team)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from eventstore import EventStore
from server.app import create_app
from server.http.keys import STORE
from server.http.settings import Settings

# name -> (scopes, team)
TOKENS: dict[str, tuple[frozenset[str], str | None]] = {
    "admin": (frozenset({"admin"}), None),
    "read": (frozenset({"executions:read"}), None),
    "write": (frozenset({"executions:write"}), None),
    "cancel": (frozenset({"executions:cancel"}), None),
    "team_a": (
        frozenset({"executions:read", "executions:write", "executions:cancel"}),
        "team-a",
    ),
}
MAX_BODY = 64 * 1024


@dataclass
class Api:
    client: TestClient[Any, Any]
    store: EventStore
    secrets: dict[str, str]
    first_tokens: list[str] = field(default_factory=list)

    def auth(self, token: str | None) -> dict[str, str]:
        return {} if token is None else {"Authorization": f"Bearer {self.secrets[token]}"}

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = "admin",
        json: Any = None,
        data: bytes | None = None,
        params: Any = None,
    ) -> tuple[int, Any]:
        """The status and the decoded JSON body (the text if it is not JSON;
        nothing for an event stream)."""
        async with self.client.request(
            method, path, headers=self.auth(token), json=json, data=data, params=params
        ) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            if response.content_type == "text/event-stream":
                return response.status, ""  # a live stream never ends: leave it
            return response.status, await response.text()

    async def create(self, token: str = "admin", **fields: Any) -> dict[str, Any]:
        status, body = await self.call(
            "POST", "/v1/executions", token=token, json={"workflow_id": "wf-1", **fields}
        )
        assert status == 201, body
        assert isinstance(body, dict)
        return body

    async def append(
        self, execution_id: int | str, *events: dict[str, Any], token: str = "admin"
    ) -> tuple[int, Any]:
        return await self.call(
            "POST",
            f"/v1/executions/{execution_id}/events",
            token=token,
            json={"events": list(events)},
        )


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with open_api(tmp_path / "executions.db") as opened:
        yield opened


@asynccontextmanager
async def open_api(db: Path, settings: Settings | None = None) -> AsyncIterator[Api]:
    """The app on ``db`` with these settings (a body limit of ``MAX_BODY``
    unless they say otherwise) and the tokens of ``TOKENS``."""
    first: list[str] = []
    app = create_app(db, settings or Settings(max_body=MAX_BODY), on_first_token=first.append)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        store = app[STORE]
        secrets = {}
        for name, (scopes, team) in TOKENS.items():
            secrets[name] = f"es_test_{name}_0123456789abcdef"
            await store.add_token(secrets[name], scopes, team, name)
        yield Api(client, store, secrets, first)


def event(type: str, **data: Any) -> dict[str, Any]:
    return {"type": type, "data": data}


def at(type: str, time: str, **data: Any) -> dict[str, Any]:
    """An event that happened at ``time`` (ISO 8601), as a producer reports it."""
    return {**event(type, **data), "occurred_at": time}


ERROR_KEYS: Final = frozenset({"code", "message", "field", "rule", "current_version"})


def error_of(body: Any, code: str | None = None) -> dict[str, Any]:
    """The error object, having checked the one shape every 4xx shares (and its
    ``code``, if given)."""
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) <= ERROR_KEYS, error
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    for key in ("field", "rule"):
        assert key not in error or (isinstance(error[key], str) and error[key]), error
    if "current_version" in error:
        assert type(error["current_version"]) is int, error
    assert code is None or error["code"] == code, error
    return error


async def run_app(
    path: Path,
    settings: Settings,
    action: Callable[[TestClient[Any, Any]], Awaitable[None]] | None = None,
) -> list[str]:
    """Start an app on ``path``, run ``action`` against it, stop it: the first tokens handed out."""
    first: list[str] = []
    app: web.Application = create_app(path, settings, on_first_token=first.append)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        if action is not None:
            await action(client)
    return first


async def status_of(client: TestClient[Any, Any], secret: str, method: str, path: str) -> int:
    headers = {"Authorization": f"Bearer {secret}"}
    json = {"workflow_id": "wf-1"} if path == "/v1/executions" and method == "POST" else None
    async with client.request(method, path, headers=headers, json=json) as response:
        return response.status


def file_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))
