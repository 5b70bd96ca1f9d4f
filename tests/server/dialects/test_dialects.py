"""What every dialect shares: its prefix, the root setting, its own error shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.dialects import DIALECTS
from server.http.errors import ApiError, error_middleware, shaped
from server.http.settings import Settings

from ..conftest import open_api


async def test_the_root_setting_serves_one_dialect_at_the_root_instead(tmp_path: Path) -> None:
    settings = Settings(root_dialect="snake")
    async with open_api(tmp_path / "x.db", settings) as api:
        created = await api.create()
        status, body = await api.call("GET", f"/api/v1/executions/{created['id']}", token="read")
        assert status == 200, body
        assert body["id"] == created["id"]
        status, body = await api.call("GET", "/compat/snake/api/v1/executions", token="read")
        assert status == 404, body
        # The native API stays where it is.
        status, body = await api.call("GET", f"/v1/executions/{created['id']}", token="read")
        assert status == 200, body


@pytest.mark.parametrize("name", sorted(DIALECTS))
async def test_without_the_setting_each_dialect_is_under_its_prefix(
    tmp_path: Path, name: str
) -> None:
    prefix = DIALECTS[name].prefix
    assert prefix == f"/compat/{name}"
    app = create_app(tmp_path / "x.db", Settings(env_token="t" * 32))
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert any(path.startswith(prefix + "/") for path in paths)


def test_an_unknown_root_dialect_is_refused_when_the_app_is_built(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown dialect 'soap'"):
        create_app(tmp_path / "x.db", Settings(root_dialect="soap"))


def _render(error: ApiError, request: web.Request) -> web.Response:
    body = {"status": error.status, "code": error.body.code, "message": error.body.message}
    return web.json_response(body, status=error.status)


async def _client(handler: Any) -> TestClient[Any, Any]:
    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/x", shaped(handler, _render))
    return TestClient(TestServer(app, host="127.0.0.1"))


async def test_a_shaped_handler_answers_refusals_in_its_own_shape() -> None:
    async def refuses(request: web.Request) -> web.Response:
        raise ApiError(409, "conflict", "not now", field="id")

    async with await _client(refuses) as client, client.get("/x") as response:
        assert response.status == 409
        assert await response.json() == {"status": 409, "code": "conflict", "message": "not now"}


async def test_a_shaped_handler_leaves_bugs_to_the_one_boundary() -> None:
    async def breaks(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    async with await _client(breaks) as client, client.get("/x") as response:
        assert response.status == 500
        body = msgspec.json.decode(await response.read())
        assert body["error"]["code"] == "internal"
