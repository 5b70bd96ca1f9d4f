"""JSON answers: every handler's body goes out through ``json``, or through
``json_rendered`` when building it grows with a long execution."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Final

import msgspec
from aiohttp import web

from projections.reader import LARGE_EVENTS

from .keys import RENDERING

_encoder: Final = msgspec.json.Encoder()


def json(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=_encoder.encode(value), status=status, content_type="application/json", headers=headers
    )


async def json_rendered(
    request: web.Request,
    events: int,
    make: Callable[[], Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """``make()``'s value as JSON. Building and encoding the answer about an
    execution of ``events`` events grows with it: past ``LARGE_EVENTS`` both
    run on the app's rendering thread, where the event loop keeps its turns."""
    body = await rendered(request, events, lambda: msgspec.json.encode(make()))
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


async def rendered(request: web.Request, events: int, make: Callable[[], bytes]) -> bytes:
    """``make()``, here for a short execution, on the rendering thread for a long one."""
    if events <= LARGE_EVENTS:
        return make()
    return await asyncio.get_running_loop().run_in_executor(request.app[RENDERING], make)
