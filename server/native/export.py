"""``GET /v1/executions/export``: the filtered list with every execution's
nodes, streamed page by page so memory stays one page whatever the size.

CSV has one row per node attempt; JSON is an array of executions with their
node attempts nested. Values under the configured keys are masked.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from projections.queries import list_query

from ..http import params
from ..http.access import caller
from ..http.auth import READ, check_team
from ..http.download import download, export_body, export_format
from ..http.endpoints import Endpoint, Reply
from ..http.keys import MASKER
from ..http.params import FILTERS, Param
from ..render.export_rows import csv_header, csv_rows, json_execution

FORMAT: Final = Param(
    "format", "csv (default) or json", {"type": "string", "enum": ["csv", "json"]}
)


async def export(request: web.Request) -> web.StreamResponse:
    who = await caller(request, READ)
    query = request.query
    params.refuse_unknown(query, (*FILTERS, FORMAT))
    check_team(who, params.one(query, "team_id"), "team_id")
    format = export_format(request)
    filter = params.list_filter(query, who.team_id)
    list_query(filter)  # refuse a bad filter while a 400 can still be sent, without a read
    masker = request.app[MASKER]
    body = export_body(
        request,
        filter,
        format,
        (csv_header(), csv_rows),
        lambda detail: json_execution(detail, masker),
    )
    return await download(request, format, body)


EXPORT: Final = Endpoint(
    "GET",
    "/v1/executions/export",
    export,
    "Export executions with their node attempts, streamed (CSV or JSON)",
    READ,
    (
        Reply(200, "CSV: one row per node attempt", media="text/csv", schema={"type": "string"}),
        Reply(200, "JSON: executions with nested node attempts", schema={"type": "array"}),
    ),
    params=(*FILTERS, FORMAT),
    errors=(400, 403),
)
