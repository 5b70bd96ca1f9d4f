"""``/v1/health`` and ``/v1/openapi.json``: open to all, no token."""

from __future__ import annotations

from aiohttp import web

from .. import wire
from ..context import STORE
from .responses import json


async def health(request: web.Request) -> web.Response:
    return json(wire.Health(status="ok", head=request.app[STORE].head))


async def openapi(request: web.Request) -> web.Response:
    # Built once by the app factory from the same declarations as the router.
    return web.Response(body=request.app[OPENAPI], content_type="application/json")


OPENAPI: web.AppKey[bytes] = web.AppKey("openapi", bytes)
