"""Who may call what: a scope matrix built from ``server.routes.ENDPOINTS`` (a new
route is covered as soon as it is declared), team isolation, the env token and
the first token, and ``execstore token create``."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path
from typing import Any, Final

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDictProxy

from eventstore import EventStore
from server.app import create_app
from server.cli import main as cli
from server.http.endpoints import Endpoint
from server.http.settings import Settings
from server.native import ENDPOINTS

from ..conftest import TOKENS, Api, error_of

SCOPED: Final = [e for e in ENDPOINTS if e.scope is not None]
OPEN: Final = [e for e in ENDPOINTS if e.scope is None]
# A body each route's handler accepts; a route missing here gets no body and is
# only checked for not answering 401/403 when allowed.
BODIES: Final[dict[tuple[str, str], Any]] = {
    ("POST", "/v1/executions"): {"workflow_id": "wf-1"},
    ("POST", "/v1/executions/{id}/events"): {"events": [{"type": "execution.started"}]},
    ("POST", "/v1/executions/{id}/cancel"): {"reason": "matrix"},
    ("POST", "/v1/workflows/{workflow_id}/webhook"): None,
    ("POST", "/v1/webhooks/{hash}"): {"q": "hi"},
}
Headers = CIMultiDictProxy[str]


def name(endpoint: Endpoint) -> str:
    return f"{endpoint.method} {endpoint.path}"


def key(endpoint: Endpoint) -> tuple[str, str]:
    return endpoint.method, endpoint.path


def pairs(tokens: Callable[[Endpoint], list[str]]) -> list[Any]:
    return [pytest.param(e, t, id=f"{name(e)} {t}") for e in SCOPED for t in tokens(e)]


def lacking(endpoint: Endpoint) -> list[str]:
    return [t for t, (scopes, _) in TOKENS.items() if not {endpoint.scope, "admin"} & scopes]


def holding(endpoint: Endpoint) -> list[str]:
    return [t for t, (scopes, _) in TOKENS.items() if {endpoint.scope, "admin"} & scopes]


async def send(
    api: Api, method: str, path: str, headers: dict[str, str], json: Any = None
) -> tuple[int, Any, Headers]:
    async with api.client.request(method, path, headers=headers, json=json) as response:
        if response.content_type == "application/json":
            return response.status, await response.json(), response.headers
        if response.content_type == "text/event-stream":
            return response.status, "", response.headers  # a live stream never ends
        return response.status, await response.text(), response.headers


async def concrete(api: Api, endpoint: Endpoint, token: str = "admin") -> str:
    """The endpoint's path with values its handler accepts, visible to ``token``."""
    values: dict[str, str] = {}
    for param in re.findall(r"\{(\w+)\}", endpoint.path):
        if param == "id":
            team = TOKENS[token][1]
            values[param] = str((await api.create(team_id=team))["id"])
        elif param == "workflow_id":
            values[param] = "wf-1"
        elif param == "hash":
            status, body = await api.call("POST", "/v1/workflows/wf-1/webhook")
            assert status == 201, body
            values[param] = body["hash"]
        else:
            raise AssertionError(f"no test value for {{{param}}} of {name(endpoint)}")
    return endpoint.path.format(**values)


def test_the_matrix_covers_every_served_route_and_every_scope() -> None:
    routes = create_app(":memory:").router.routes()
    served = {
        (r.method, r.resource.canonical)
        for r in routes
        # Dialects are scoped by their own tests (tests/server/test_dialect_*.py).
        if r.resource is not None and not r.resource.canonical.startswith("/compat/")
    }
    assert {(e.method, e.path) for e in ENDPOINTS} == served - {("HEAD", p) for _, p in served}
    assert {e.scope for e in SCOPED} == {"executions:read", "executions:write", "executions:cancel"}
    assert all(lacking(e) and holding(e) for e in SCOPED)


@pytest.mark.parametrize("header", [None, "Basic YWRtaW46YWRtaW4=", "Bearer ", "Bearer"])
@pytest.mark.parametrize("endpoint", SCOPED, ids=name)
async def test_no_token_is_401_with_www_authenticate(
    api: Api, endpoint: Endpoint, header: str | None
) -> None:
    path, head = await concrete(api, endpoint), api.store.head
    headers = {} if header is None else {"Authorization": header}
    status, body, got = await send(api, endpoint.method, path, headers, BODIES.get(key(endpoint)))
    assert status == 401, body
    error_of(body, "unauthenticated")
    assert got["WWW-Authenticate"].startswith("Bearer ")
    assert api.store.head == head


@pytest.mark.parametrize("endpoint", SCOPED, ids=name)
async def test_an_unknown_token_is_401(api: Api, endpoint: Endpoint) -> None:
    path, head = await concrete(api, endpoint), api.store.head
    headers = {"Authorization": "Bearer es_never_issued"}
    status, body, got = await send(api, endpoint.method, path, headers, BODIES.get(key(endpoint)))
    assert status == 401, body
    error_of(body, "invalid_token")
    assert 'error="invalid_token"' in got["WWW-Authenticate"]
    assert api.store.head == head


@pytest.mark.parametrize(("endpoint", "token"), pairs(lacking))
async def test_a_token_without_the_scope_is_403(api: Api, endpoint: Endpoint, token: str) -> None:
    path, head = await concrete(api, endpoint), api.store.head
    body_in = BODIES.get(key(endpoint))
    status, body = await api.call(endpoint.method, path, token=token, json=body_in)
    assert status == 403, body
    assert str(endpoint.scope) in error_of(body, "insufficient_scope")["message"]
    assert api.store.head == head


@pytest.mark.parametrize(("endpoint", "token"), pairs(holding))
async def test_a_token_with_the_scope_reaches_the_handler(
    api: Api, endpoint: Endpoint, token: str
) -> None:
    path = await concrete(api, endpoint, token)
    body_in = BODIES.get(key(endpoint))
    status, body = await api.call(endpoint.method, path, token=token, json=body_in)
    assert status not in (401, 403), body
    if endpoint.method == "GET" or key(endpoint) in BODIES:
        assert 200 <= status < 300, body


@pytest.mark.parametrize("token", [None, "bogus", "read"])
@pytest.mark.parametrize("endpoint", OPEN, ids=name)
async def test_open_routes_answer_whatever_the_token(
    api: Api, endpoint: Endpoint, token: str | None
) -> None:
    path = await concrete(api, endpoint)
    headers = {"Authorization": "Bearer es_never_issued"} if token == "bogus" else api.auth(token)
    status, body, _ = await send(api, endpoint.method, path, headers, BODIES.get(key(endpoint)))
    assert 200 <= status < 300, body


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


async def test_token_create_prints_a_token_that_works_with_its_scope_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, root = tmp_path / "cli.db", "env-root-0123456789"
    async with EventStore(path):
        pass
    argv = ["token", "create", "--db", str(path), "--scope", "executions:read", "--team", "t"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("es_")
    secret = out[0]

    async def act(client: TestClient[Any, Any]) -> None:
        for team in ("t", "u"):
            headers = {"Authorization": f"Bearer {root}"}
            json = {"workflow_id": "wf-1", "team_id": team}
            async with client.post("/v1/executions", headers=headers, json=json) as response:
                assert response.status == 201
        assert await status_of(client, secret, "POST", "/v1/executions") == 403
        assert await status_of(client, secret, "POST", "/v1/executions/1/cancel") == 403
        headers = {"Authorization": f"Bearer {secret}"}
        async with client.get("/v1/executions", headers=headers) as response:
            assert response.status == 200
            assert [row["team_id"] for row in (await response.json())["items"]] == ["t"]

    assert await run_app(path, Settings(env_token=root), act) == []
    assert secret.encode() not in file_bytes(path)


def test_token_create_on_a_missing_file_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "missing.db"
    assert cli.main(["token", "create", "--db", str(path), "--scope", "admin"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "missing.db" in captured.err
    assert not path.exists()


def test_token_create_refuses_an_unknown_scope(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["token", "create", "--db", str(tmp_path / "x.db"), "--scope", "root"])
    assert exited.value.code == 2
    assert "root" in capsys.readouterr().err
