"""``/v1/health`` and ``/v1/openapi.json``: open to all, no token."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from ..http.endpoints import Endpoint, Reply
from ..http.keys import OPENAPI, STORE
from ..http.replies import json
from ..render import wire


async def health(request: web.Request) -> web.Response:
    return json(wire.Health(status="ok", head=request.app[STORE].head))


async def openapi(request: web.Request) -> web.Response:
    # Built once by the app factory from the same declarations as the router.
    return web.Response(body=request.app[OPENAPI], content_type="application/json")


HEALTH: Final = Endpoint(
    "GET",
    "/v1/health",
    health,
    "Liveness and the log's head position",
    None,
    (Reply(200, "the server is up", wire.Health),),
)
OPENAPI_DOCUMENT: Final = Endpoint(
    "GET",
    "/v1/openapi.json",
    openapi,
    "This document",
    None,
    (Reply(200, "OpenAPI 3.1", schema={"type": "object"}),),
)
