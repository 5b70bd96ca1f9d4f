"""Who may call what, on every route the app serves: the native API and every
dialect; each route by every scope, and by a token restricted to a team.

The table is built from the routes as declared (``native.ENDPOINTS`` and each
``Dialect``'s ``Route.scope``) and checked against what the app serves, so a
route is covered the moment it is mounted. Dialects answer refusals in their
own shapes, so only statuses are compared here; the native shape is pinned
by tests/server/http/test_auth.py.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any, Final, get_args

import pytest
from aiohttp import ClientResponse

from server.app import create_app
from server.dialects import DIALECTS
from server.http.auth import READ, Scope
from server.native import ENDPOINTS

from ..conftest import TOKENS, Api


@dataclass(frozen=True)
class Served:
    method: str
    path: str  # as mounted: a dialect's prefix included
    scope: Scope | None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


SERVED: Final = (
    *(Served(e.method, e.path, e.scope) for e in ENDPOINTS),
    *(Served(r.method, d.prefix + r.path, r.scope) for d in DIALECTS.values() for r in d.routes),
)
SCOPED: Final = [s for s in SERVED if s.scope is not None]
OPEN: Final = [s for s in SERVED if s.scope is None]

# A body or query each route's handler accepts; the rest need none.
BODIES: Final[dict[str, Any]] = {
    "POST /v1/executions": {"workflow_id": "wf-1"},
    "POST /v1/executions/{id}/events": {"events": [{"type": "execution.started"}]},
    "POST /v1/executions/{id}/cancel": {"reason": "matrix"},
    "POST /v1/webhooks/{hash}": {"q": "hi"},
    "POST /compat/snake/api/v1/webhooks/{hash}": {"q": "hi"},
}
B_WORKFLOW: Final = "wf-team-b"
QUERIES: Final[dict[str, dict[str, str]]] = {
    "GET /compat/teams/api/executions": {"workflowId": B_WORKFLOW},
    "GET /v1/stream": {"from": "0"},
}
# Paths whose {id} is the execution's UUID; elsewhere it is the integer id.
BY_UUID: Final = ("/compat/teams/", "/compat/actions/")
STREAM_WAIT: Final = 0.3  # seconds a test listens to a live stream before leaving it


@dataclass
class World:
    """Two executions, one per team, each holding a secret in its input."""

    api: Api
    a: dict[str, Any]
    b: dict[str, Any]

    def leaks_b(self, text: str, path: str) -> list[str]:
        """What ``text`` tells of team b's execution that the caller did not say in ``path``."""
        marks = ("B-SECRET", self.b["uuid"], "ext-b", B_WORKFLOW)
        return [mark for mark in marks if mark in text and mark not in path]

    async def version_of_b(self) -> int:
        return len(await self.api.store.read_execution(self.b["id"]))


@pytest.fixture
async def world(api: Api) -> World:
    a = await api.create(team_id="team-a", external_id="ext-a", input={"secret": "A-SECRET"})
    b = await api.create(
        team_id="team-b", external_id="ext-b", workflow_id=B_WORKFLOW, input={"secret": "B-SECRET"}
    )
    return World(api, a, b)


async def path_for(world: World, route: Served, execution: dict[str, Any]) -> str:
    """``route``'s path naming ``execution`` (and its team), with values its handler accepts."""
    api = world.api
    values: dict[str, str] = {}
    for param in re.findall(r"\{(\w+)\}", route.path):
        if param == "id" and route.path.startswith("/v1/tokens/"):
            values[param] = next(t.id for t in await api.store.list_tokens() if t.label == "cancel")
        elif param == "id":
            by_uuid = route.path.startswith(BY_UUID)
            values[param] = execution["uuid"] if by_uuid else str(execution["id"])
        elif param == "workflow_run_id":
            values[param] = execution["uuid"]
        elif param == "teamId":
            values[param] = execution["team_id"]
        elif param == "workflow_id":
            values[param] = execution["workflow_id"]
        elif param == "hash":
            path = f"/v1/workflows/{execution['workflow_id']}/webhook"
            maker = "team_a" if execution["team_id"] == "team-a" else "admin"
            status, body = await api.call("POST", path, token=maker)
            assert status == 201, body
            values[param] = body["id"] if route.method == "DELETE" else body["hash"]
        else:
            raise AssertionError(f"no test value for {{{param}}} of {route}")
    return route.path.format(**values)


async def call(
    world: World, route: Served, path: str, token: str | None, *, listen: bool = False
) -> tuple[int, str]:
    """The status and the body's text; of a live stream, what it sent in
    ``STREAM_WAIT`` seconds if ``listen``, else nothing."""
    api = world.api
    async with api.client.request(
        route.method,
        path,
        headers=api.auth(token),
        json=BODIES.get(str(route)),
        params=QUERIES.get(str(route)),
    ) as response:
        if response.content_type != "text/event-stream":
            return response.status, await response.text()
        return response.status, await _heard(response) if listen else ""


async def _heard(response: ClientResponse) -> str:
    heard = bytearray()
    loop = asyncio.get_running_loop()
    until = loop.time() + STREAM_WAIT
    while (left := until - loop.time()) > 0:
        try:
            chunk = await asyncio.wait_for(response.content.readany(), left)
        except TimeoutError:
            break
        if not chunk:
            break
        heard += chunk
    return heard.decode()


def lacking(route: Served) -> list[str]:
    return [t for t, (scopes, _) in TOKENS.items() if not {route.scope, "admin"} & scopes]


def holding(route: Served) -> list[str]:
    return [t for t, (scopes, _) in TOKENS.items() if {route.scope, "admin"} & scopes]


def pairs(tokens: Any) -> list[Any]:
    return [pytest.param(r, t, id=f"{r} {t}") for r in SCOPED for t in tokens(r)]


def test_the_table_is_every_served_route_and_every_scope() -> None:
    served = {
        f"{r.method} {r.resource.canonical}"
        for r in create_app(":memory:").router.routes()
        if r.resource is not None and r.method != "HEAD"
    }
    assert {str(s) for s in SERVED} == served
    assert {s.scope for s in SCOPED} == set(get_args(Scope))
    assert all(lacking(s) and holding(s) for s in SCOPED)
    assert {str(s) for s in SERVED} >= set(BODIES) | set(QUERIES)


@pytest.mark.parametrize("route", SCOPED, ids=str)
async def test_no_token_or_an_unknown_one_is_401(world: World, route: Served) -> None:
    path, head = await path_for(world, route, world.a), world.api.store.head
    status, body = await call(world, route, path, None)
    assert status == 401, body
    world.api.secrets["unknown"] = "es_never_issued"
    status, body = await call(world, route, path, "unknown")
    assert status == 401, body
    assert world.api.store.head == head


@pytest.mark.parametrize(("route", "token"), pairs(lacking))
async def test_a_token_without_the_scope_is_403_and_changes_nothing(
    world: World, route: Served, token: str
) -> None:
    path, head = await path_for(world, route, world.a), world.api.store.head
    tokens = [t.id for t in await world.api.store.list_tokens()]
    status, body = await call(world, route, path, token)
    assert status == 403, body
    assert "A-SECRET" not in body
    assert world.api.store.head == head
    assert [t.id for t in await world.api.store.list_tokens()] == tokens


@pytest.mark.parametrize(("route", "token"), pairs(holding))
async def test_a_token_with_the_scope_is_served(world: World, route: Served, token: str) -> None:
    visible = world.a if TOKENS[token][1] == "team-a" else world.b
    path = await path_for(world, route, visible)
    status, body = await call(world, route, path, token)
    assert 200 <= status < 300, body


@pytest.mark.parametrize("token", [None, "read", "team_a"])
@pytest.mark.parametrize("route", OPEN, ids=str)
async def test_open_routes_answer_whatever_the_token(
    world: World, route: Served, token: str | None
) -> None:
    status, body = await call(world, route, await path_for(world, route, world.a), token)
    assert 200 <= status < 300, body


@pytest.mark.parametrize("route", SCOPED, ids=str)
async def test_a_team_token_reaches_nothing_of_another_team(world: World, route: Served) -> None:
    path = await path_for(world, route, world.b)
    version = await world.version_of_b()
    status, body = await call(world, route, path, "team_a", listen=True)
    assert status < 500, body
    assert world.leaks_b(body, path) == [], body
    names_one = re.search(r"\{(id|workflow_run_id|teamId)\}", route.path) and "tokens" not in path
    if route.scope == "admin":
        assert status == 403, body
    elif names_one:
        assert status in (403, 404), body  # another team's execution or team: not yours
    assert await world.version_of_b() == version
    if route.scope == READ:  # what a token of no team gets instead: the test can fail
        seen_status, seen = await call(world, route, path, "admin", listen=True)
        assert 200 <= seen_status < 300 if names_one else world.leaks_b(seen, path), seen


# A write answers the execution (its status, its data) only to a token that may
# also read it: these do then.
SHOWS_THE_EXECUTION: Final = {
    "POST /v1/executions",
    "POST /v1/executions/{id}/cancel",
    "DELETE /compat/n8n/api/v1/executions/{id}",
}


@pytest.mark.parametrize("route", [s for s in SCOPED if s.scope not in (READ, "admin")], ids=str)
async def test_without_read_no_answer_carries_execution_data(world: World, route: Served) -> None:
    scope = str(route.scope)
    api = world.api
    api.secrets["only"], api.secrets["also_read"] = "es_only_0123456789", "es_also_0123456789"
    await api.store.add_token(api.secrets["only"], frozenset({scope}), None, "only")
    await api.store.add_token(api.secrets["also_read"], frozenset({scope, READ}), None, "also")
    for token, shown in (("only", False), ("also_read", str(route) in SHOWS_THE_EXECUTION)):
        fresh = await api.create(external_id=f"ext-{token}", input={"secret": "S-SECRET"})
        status, body = await call(world, route, await path_for(world, route, fresh), token)
        assert 200 <= status < 300, body
        assert ('"status":' in body) is shown, (token, body)
        assert "S-SECRET" not in body or shown, (token, body)


async def test_a_create_that_finds_its_external_id_answers_only_ids_without_read(
    world: World,
) -> None:
    json = {"workflow_id": "wf-1", "external_id": "ext-a", "team_id": "team-a"}
    status, body = await world.api.call("POST", "/v1/executions", token="write", json=json)
    assert (status, body) == (
        200,
        {"id": world.a["id"], "uuid": world.a["uuid"], "external_id": "ext-a"},
    )
    status, body = await world.api.call("POST", "/v1/executions", token="admin", json=json)
    assert status == 200 and body["input"] == {"secret": "A-SECRET"}, body
