"""JSON answers: every handler's body goes out through ``json``, or through
``json_rendered`` when building it grows with a long execution."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, Final, TypeVar

import msgspec
from aiohttp import web

from projections import ExecutionDetail
from projections.reader import is_large

from ..render.splice import pieces
from .keys import RENDERING

_encoder: Final = msgspec.json.Encoder()
T = TypeVar("T")
# Bytes of an answer sent in one write; a longer one goes in slices this long.
SLICE: Final = 256 * 1024


def json(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=_encoder.encode(value), status=status, content_type="application/json", headers=headers
    )


async def json_rendered(
    request: web.Request,
    detail: ExecutionDetail,
    make: Callable[[], Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    *,
    large_part: Sequence[str] = (),
) -> web.StreamResponse:
    """``make()``'s value as JSON. Building and encoding an answer about
    ``detail`` grows with its events and their bytes: past ``is_large`` both
    run on the app's rendering thread, where the event loop keeps its turns,
    and ``large_part`` (the path to its nodes) is encoded and sent in pieces."""
    return await json_pieces(request, is_large(detail), make, large_part, status, headers)


async def json_pieces(
    request: web.Request,
    long: bool,
    make: Callable[[], Any],
    large_part: Sequence[str],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """``make()``'s value as JSON: here if short; if ``long``, built on the
    rendering thread and encoded there a piece at a time (see ``render.splice``),
    each piece sent before the next is encoded."""
    if not long:
        return await json_body(request, msgspec.json.encode(make()), status, headers)
    if not large_part:
        body = await rendered_if(request, True, lambda: msgspec.json.encode(make()))
        return await json_body(request, body, status, headers)

    def encoded() -> Generator[bytes]:
        yield from pieces(make(), large_part)

    loop, rendering = asyncio.get_running_loop(), request.app[RENDERING]
    chunks = encoded()
    # The first piece before the answer starts: a refusal can still be answered.
    chunk = await loop.run_in_executor(rendering, next, chunks, None)
    response = web.StreamResponse(status=status, headers=headers)
    response.content_type = "application/json"
    await response.prepare(request)
    try:
        while chunk is not None:
            await write_sliced(response, chunk)
            chunk = await loop.run_in_executor(rendering, next, chunks, None)
    except ConnectionResetError:
        return response  # the client left: nobody to answer, no fault to log
    finally:
        chunks.close()
    await response.write_eof()
    return response


async def json_body(
    request: web.Request,
    body: bytes,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """An encoded JSON answer: whole if short, else sent in slices."""
    if len(body) <= SLICE:
        return web.Response(
            body=body, status=status, content_type="application/json", headers=headers
        )
    response = web.StreamResponse(status=status, headers=headers)
    response.content_type = "application/json"
    response.content_length = len(body)
    await response.prepare(request)
    try:
        await write_sliced(response, body)
    except ConnectionResetError:
        return response  # the client left: nobody to answer, no fault to log
    await response.write_eof()
    return response


async def write_sliced(response: web.StreamResponse, body: bytes) -> None:
    """``body`` written a slice at a time, each sent before the next is queued.
    One write of many MiB would wait in the transport's buffer, and before
    Python 3.12 the event loop moves the rest of that buffer down each time the
    socket takes a piece: tens of milliseconds for 32 MiB, on the loop."""
    view = memoryview(body)
    for start in range(0, len(view), SLICE):
        await response.write(view[start : start + SLICE])


async def rendered(request: web.Request, detail: ExecutionDetail, make: Callable[[], T]) -> T:
    """``make()``, here for a small execution, on the rendering thread for a large one."""
    return await rendered_if(request, is_large(detail), make)


async def rendered_if(request: web.Request, long: bool, make: Callable[[], T]) -> T:
    """``make()``, on the rendering thread if ``long``."""
    if not long:
        return make()
    return await asyncio.get_running_loop().run_in_executor(request.app[RENDERING], make)
