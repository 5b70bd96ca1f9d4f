"""Exports streamed as attachments: the listed executions' details, one page
of the list at a time, so memory stays one page whatever the size.

Every API's export stands on this; each brings its own CSV and JSON renderings.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from functools import partial
from typing import Final

from aiohttp import web

from projections import ExecutionDetail, ListFilter, ViewReader
from projections.queries import MAX_LIMIT

from .errors import ApiError
from .keys import VIEWS
from .params import one
from .replies import rendered, write_sliced

FORMATS: Final = {"csv": "text/csv", "json": "application/json"}


def export_format(request: web.Request) -> str:
    """The ``format`` parameter: ``csv`` (the default) or ``json``; else a 400."""
    format = one(request.query, "format")
    if format is None:
        return "csv"
    if format not in FORMATS:
        raise ApiError(400, "invalid_format", "must be csv or json", field="format")
    return format


async def download(
    request: web.Request, format: str, body: AsyncGenerator[bytes]
) -> web.StreamResponse:
    """``body`` streamed as an attachment in ``format`` (a key of ``FORMATS``)."""
    response = web.StreamResponse(
        headers={"Content-Disposition": f'attachment; filename="executions.{format}"'}
    )
    response.content_type = FORMATS[format]
    response.charset = "utf-8"
    await response.prepare(request)
    try:
        async with aclosing(body):
            async for chunk in body:
                await write_sliced(response, chunk)
    except ConnectionResetError:
        # The client went away mid-download: nothing to answer, nothing to log as a fault.
        return response
    await response.write_eof()
    return response


async def export_body(
    request: web.Request,
    filter: ListFilter,
    format: str,
    csv: tuple[str, Callable[[ExecutionDetail], str]],
    json_item: Callable[[ExecutionDetail], bytes],
) -> AsyncGenerator[bytes]:
    """The listed executions as CSV (``csv``'s header, then each one's rows by
    its function) or as a JSON array of items, one execution at a time; a long
    execution's rendered on the rendering thread (see ``replies.rendered``)."""
    views = request.app[VIEWS]
    if format == "csv":
        header, rows = csv
        yield header.encode()
        async for detail in details(views, filter):
            yield await rendered(request, detail, partial(_csv, rows, detail))
        return
    separator = b"["
    async for detail in details(views, filter):
        yield separator + await rendered(request, detail, partial(json_item, detail))
        separator = b","
    yield b"[]" if separator == b"[" else b"]"


def _csv(rows: Callable[[ExecutionDetail], str], detail: ExecutionDetail) -> bytes:
    return rows(detail).encode()


async def details(views: ViewReader, filter: ListFilter) -> AsyncIterator[ExecutionDetail]:
    """Every listed execution's detail, newest first, one page of the list at a time."""
    cursor: str | None = None
    while True:
        page = await views.list(filter, limit=MAX_LIMIT, cursor=cursor)
        for row in page.rows:
            yield await views.detail(row.id)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
