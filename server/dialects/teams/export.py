"""``/compat/teams``'s export: a team's executions of the last ``days`` days,
as the document's CSV (one row per node execution) or JSON (node executions
nested), streamed page by page as the native export is.

Mapping choices the document leaves open:

- ``days`` (default 30, 1 to 3650) counts back from now over the creation
  time; ``format`` is ``csv`` (default) or ``json``, in lower case.
- the fields are the lists' and the detail's (see the package's docstring): ``startedAt``
  of an execution is its creation, ``durationMs`` the time it ran; a node execution
  spans all its attempts; ``error``/``node_error`` is the last attempt's
  failure. An execution without nodes keeps one CSV row with empty node
  columns, so that an audit never loses it.
- masking: the documented shape carries no inputs or outputs, so what could
  hold a credential is the free text of node errors. Wherever one of the
  masked keys (the ``masked_keys`` setting: password, token, secret, api_key,
  authorization) is followed by ``:`` or ``=``, its value becomes ``***``,
  quoted if it was (so a JSON error text stays JSON), a ``Bearer``/``Basic``
  credential with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Final

import msgspec
from aiohttp import web

from eventstore.events import now_us
from projections import ExecutionDetail, ListFilter, NodeDetail

from ...http import params
from ...http.access import caller
from ...http.auth import READ, check_team
from ...http.download import download, export_body, export_format
from ...http.keys import MASKER
from ...http.routing import NoSettings, Setup
from ...render.export_rows import csv_header, csv_text
from ...render.masking import MASK
from ...render.times import iso_ms, iso_ms_or_none
from ...render.wire import Camel
from .shapes import NODE_STATUS_NAMES, STATUS_NAMES, error_text, node_span

PATH: Final = "/api/executions/team/{teamId}/export"
DEFAULT_DAYS: Final = 30
MAX_DAYS: Final = 3650
_DAY_US: Final = timedelta(days=1) // timedelta(microseconds=1)
_SECRETS: Final = web.AppKey[re.Pattern[str]]("teams_secrets")


class ExportNode(Camel, kw_only=True):
    node_id: str
    node_type: str | None
    node_name: str | None
    status: str
    started_at: str
    completed_at: str | None
    duration_ms: int | None
    error: str | None


class ExportExecution(Camel, kw_only=True):
    execution_id: str
    workflow_id: str
    workflow_name: str | None
    status: str
    trigger: str
    started_at: str
    completed_at: str | None
    duration_ms: int | None
    node_executions: list[ExportNode]


_encoder: Final = msgspec.json.Encoder()


def secrets_pattern(keys: Iterable[str]) -> re.Pattern[str]:
    """What ``mask_text`` replaces: a key, ``:`` or ``=``, and the value after it."""
    names = "|".join(re.escape(key) for key in sorted(keys, key=len, reverse=True))
    if not names:
        return re.compile(r"(?!)")  # no keys: nothing matches
    return re.compile(
        rf"""(?ix)
        (?<![\w-]) (?P<key>["']?(?:{names})["']?\s*[:=]\s*)
        (?P<value> "(?:[^"\\]|\\.)*(?:"|$) | '(?:[^'\\]|\\.)*(?:'|$)  # quoted, even unclosed
          | (?:bearer|basic)\s+[^\s,;&"'}}\]]+            # a scheme and its credential
          | [^\s,;&"'}}\]]+ )                             # a bare value
        """
    )


def mask_text(text: str | None, secrets: re.Pattern[str]) -> str | None:
    if text is None:
        return None

    def masked(found: re.Match[str]) -> str:
        quote = found.group("value")[0] if found.group("value")[0] in "\"'" else ""
        return found.group("key") + quote + MASK + quote

    return secrets.sub(masked, text)


def _node_error(node: NodeDetail, secrets: re.Pattern[str]) -> str | None:
    last = node.attempts[-1]
    return mask_text(error_text(last.error), secrets) if last.status == "failed" else None


def json_execution(d: ExecutionDetail, secrets: re.Pattern[str]) -> bytes:
    nodes = []
    for node in d.nodes:
        start, end, duration = node_span(node)
        nodes.append(
            ExportNode(
                node_id=node.node_id,
                node_type=node.node_type,
                node_name=node.node_name,
                status=NODE_STATUS_NAMES[node.status],
                started_at=iso_ms(start),
                completed_at=iso_ms_or_none(end),
                duration_ms=duration,
                error=_node_error(node, secrets),
            )
        )
    return _encoder.encode(
        ExportExecution(
            execution_id=d.uuid,
            workflow_id=d.workflow_id,
            workflow_name=d.workflow_name,
            status=STATUS_NAMES[d.status],
            trigger=d.trigger.upper(),
            started_at=iso_ms(d.created_at),
            completed_at=iso_ms_or_none(d.finished_at),
            duration_ms=d.duration_ms,
            node_executions=nodes,
        )
    )


def csv_rows(d: ExecutionDetail, secrets: re.Pattern[str]) -> str:
    execution: list[str | int | None] = [
        d.uuid,
        d.workflow_id,
        d.workflow_name,
        STATUS_NAMES[d.status],
        d.trigger.upper(),
        iso_ms(d.created_at),
        iso_ms_or_none(d.finished_at),
        d.duration_ms,
    ]
    rows: list[list[str | int | None]] = []
    for node in d.nodes:
        start, end, duration = node_span(node)
        rows.append(
            [
                *execution,
                node.node_id,
                node.node_type,
                node.node_name,
                NODE_STATUS_NAMES[node.status],
                iso_ms(start),
                iso_ms_or_none(end),
                duration,
                _node_error(node, secrets),
            ]
        )
    # The native export's writer: the same quoting and the same guard against formulas.
    return csv_text(rows or [[*execution, *[None] * 8]])


async def export(request: web.Request) -> web.StreamResponse:
    who = await caller(request, READ)
    team = request.match_info["teamId"]
    check_team(who, team, "teamId")
    query = request.query
    params.refuse_unknown(query, ("format", "days"))
    format = export_format(request)
    days = params.integer(query, "days", 1, MAX_DAYS)
    since = now_us() - (DEFAULT_DAYS if days is None else days) * _DAY_US
    filter = ListFilter(team_id=team, created_after=since)
    secrets = request.app[_SECRETS]
    body = export_body(
        request,
        filter,
        format,
        # The native export's header: the document's columns are the same sixteen.
        (csv_header(), lambda d: csv_rows(d, secrets)),
        lambda d: json_execution(d, secrets),
    )
    return await download(request, format, body)


def _build(app: web.Application, settings: NoSettings) -> None:
    """The error-text masking, built once from the app's masked keys."""
    app[_SECRETS] = secrets_pattern(app[MASKER].keys)


SETUP: Final = Setup(NoSettings, _build)
