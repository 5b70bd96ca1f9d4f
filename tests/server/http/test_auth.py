"""Tokens in the native API: team isolation, the env token and the first
token, and ``execstore token``. Every route by every scope is in test_scopes.py."""

from __future__ import annotations

import csv
import io
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.http.settings import Settings

from ..conftest import Api, error_of, file_bytes, run_app, status_of

# Teams


async def export_ids(api: Api, token: str, format: str) -> set[int]:
    status, body = await api.call(
        "GET", "/v1/executions/export", token=token, params={"format": format}
    )
    assert status == 200, body
    if format == "json":
        return {row["executionId"] for row in body}
    return {int(row["execution_id"]) for row in csv.DictReader(io.StringIO(body))}


async def test_another_teams_execution_is_invisible(api: Api) -> None:
    other = (await api.create(team_id="team-b", external_id="ext-b"))["id"]
    mine = (await api.create("team_a"))["id"]
    head = api.store.head
    for ref in (other, "ext-b"):
        for method, suffix, json in [
            ("GET", "", None),
            ("GET", "?as_of_version=1", None),
            ("GET", "/history", None),
            ("POST", "/events", {"events": [{"type": "execution.started"}]}),
            ("POST", "/cancel", None),
        ]:
            path = f"/v1/executions/{ref}{suffix}"
            status, body = await api.call(method, path, token="team_a", json=json)
            assert status == 404, (path, body)
            assert error_of(body, "not_found")["field"] == "id"
    assert api.store.head == head
    status, body = await api.call("GET", "/v1/executions", token="team_a")
    assert [row["id"] for row in body["items"]] == [mine]
    status, body = await api.call("GET", "/v1/executions", token="admin")
    assert {row["id"] for row in body["items"]} == {mine, other}
    for format in ("csv", "json"):
        assert await export_ids(api, "team_a", format) == {mine}
        assert await export_ids(api, "admin", format) == {mine, other}


@pytest.mark.parametrize("path", ["/v1/executions", "/v1/executions/export"])
async def test_asking_for_another_team_is_403(api: Api, path: str) -> None:
    status, body = await api.call("GET", path, token="team_a", params={"team_id": "team-b"})
    assert status == 403, body
    assert error_of(body, "forbidden_team")["field"] == "team_id"
    status, body = await api.call("GET", path, token="team_a", params={"team_id": "team-a"})
    assert status == 200, body


async def test_a_team_token_creates_in_its_team_only(api: Api) -> None:
    assert (await api.create("team_a"))["team_id"] == "team-a"
    assert (await api.create("team_a", team_id="team-a"))["team_id"] == "team-a"
    other = (await api.create(team_id="team-b"))["id"]
    head = api.store.head
    for fields, status_code, code, field in [
        ({"team_id": "team-b"}, 403, "forbidden_team", "team_id"),
        ({"retry_of": other}, 404, "not_found", "retry_of"),
    ]:
        json = {"workflow_id": "wf-1", **fields}
        status, body = await api.call("POST", "/v1/executions", token="team_a", json=json)
        assert status == status_code, body
        assert error_of(body, code)["field"] == field
    assert api.store.head == head


async def test_a_team_webhook_queues_executions_in_its_team(api: Api) -> None:
    status, body = await api.call("POST", "/v1/workflows/wf-7/webhook", token="team_a")
    assert status == 201, body
    status, body = await api.call("POST", body["url"], token=None, json={"q": "hi"})
    assert status == 202, body
    queued = body["execution_id"]
    status, body = await api.call("GET", f"/v1/executions/{queued}", token="team_a")
    assert status == 200, body
    assert (body["team_id"], body["workflow_id"], body["trigger"]) == ("team-a", "wf-7", "webhook")


# The env token, the first token, the CLI


def token_rows(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        count: int = conn.execute("SELECT count(*) FROM api_tokens").fetchone()[0]
    return count


async def test_the_env_token_is_admin_and_no_first_token_is_made(tmp_path: Path) -> None:
    path, secret = tmp_path / "env.db", "env-secret-0123456789"

    async def act(client: TestClient[Any, Any]) -> None:
        assert await status_of(client, secret, "POST", "/v1/executions") == 201
        assert await status_of(client, secret, "GET", "/v1/executions") == 200
        assert await status_of(client, secret, "POST", "/v1/executions/1/cancel") == 200
        assert await status_of(client, secret + "x", "GET", "/v1/executions") == 401

    assert await run_app(path, Settings(env_token=secret), act) == []
    assert token_rows(path) == 0
    assert secret.encode() not in file_bytes(path)


async def test_the_first_token_is_made_once_and_is_admin(tmp_path: Path) -> None:
    path = tmp_path / "first.db"
    first = await run_app(path, Settings())
    assert len(first) == 1 and first[0].startswith("es_")

    async def act(client: TestClient[Any, Any]) -> None:
        assert await status_of(client, first[0], "POST", "/v1/executions") == 201
        assert await status_of(client, first[0], "POST", "/v1/executions/1/cancel") == 200
        assert await status_of(client, first[0], "GET", "/v1/executions/export") == 200

    assert await run_app(path, Settings(), act) == []  # restarted: no second token
    assert token_rows(path) == 1
    assert first[0].encode() not in file_bytes(path)
