"""``GET /v1/executions/export``: the filtered list with every execution's
nodes, streamed page by page so memory stays one page whatever the size.

CSV has one row per node attempt; JSON is an array of executions with their
node attempts nested. Values under the configured keys are masked.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Final

from aiohttp import web

from projections import ExecutionDetail, ListFilter, ViewReader
from projections.queries import MAX_LIMIT, list_query

from .. import params
from ..auth import READ, check_team
from ..context import MASKER, VIEWS
from ..errors import ApiError
from ..export import csv_header, csv_rows, json_execution
from .responses import caller

FORMATS: Final = {"csv": "text/csv", "json": "application/json"}


async def export(request: web.Request) -> web.StreamResponse:
    who = await caller(request, READ)
    query = request.query
    params.refuse_unknown(query, [*params.FILTERS, "format"])
    check_team(who, params.one(query, "team_id"), "team_id")
    format = params.one(query, "format") or "csv"
    if format not in FORMATS:
        raise ApiError(400, "invalid_format", "must be csv or json", field="format")
    filter = params.list_filter(query, who.team_id)
    list_query(filter)  # refuse a bad filter while a 400 can still be sent, without a read
    views = request.app[VIEWS]
    masker = request.app[MASKER]
    body = document(views, filter, format, csv_rows, lambda d: json_execution(d, masker))
    return await download(request, format, body)


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
                await response.write(chunk)
    except ConnectionResetError:
        # The client went away mid-download: nothing to answer, nothing to log as a fault.
        return response
    await response.write_eof()
    return response


async def document(
    views: ViewReader,
    filter: ListFilter,
    format: str,
    csv_rows: Callable[[ExecutionDetail], str],
    json_item: Callable[[ExecutionDetail], bytes],
) -> AsyncGenerator[bytes]:
    """The listed executions as CSV (a header, then each one's rows) or as a
    JSON array of items, one execution at a time."""
    if format == "csv":
        yield csv_header().encode()
        async for detail in details(views, filter):
            yield csv_rows(detail).encode()
        return
    separator = b"["
    async for detail in details(views, filter):
        yield separator + json_item(detail)
        separator = b","
    yield b"[]" if separator == b"[" else b"]"


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
