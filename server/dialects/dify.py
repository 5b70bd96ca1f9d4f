"""Dify's workflow-run API, mounted under ``/compat/dify``.

Dify's base URL ends in ``/v1``, so its paths sit below ``/compat/dify/v1``:

- ``GET /v1/workflows/run/{workflow_run_id}``: the run as the document shows
  it (``id``, ``workflow_id``, ``status``, ``inputs``, ``outputs``, ``error``,
  ``total_steps``, ``total_tokens``, ``created_at``, ``finished_at``,
  ``elapsed_time``); no query parameters.
- ``GET /v1/workflow/{workflow_run_id}/events``: the run's events as Dify
  streams them (see ``dify_events``).

Both take the token as ``Authorization: Bearer``; every refusal is Dify's
``{status, code, message}``: ``not_found`` for a run that does not exist, is
another team's or is no UUID (never a 5xx), ``invalid_param`` for bad input
(the message names the parameter), ``unauthorized`` and ``forbidden``.

Mapping choices the document leaves open:

- ``workflow_run_id`` and ``id`` are the execution's UUID; ``workflow_id`` is
  ours as text (Dify's are UUIDs; ours are free strings).
- statuses: ``queued`` is ``running`` (Dify has no queue: a run exists once it
  runs); ``waiting`` is ``paused``; ``completed`` is ``succeeded``, or
  ``partial-succeeded`` when a node ended failed (its last attempt failed)
  yet the run completed; a node that failed and then succeeded on a retry
  is no failure, as in Dify, where a retried node that succeeds is no
  exception; ``failed`` and ``crashed`` are ``failed``; ``cancelled`` is
  ``stopped``.
- ``error``: the failure's message (its code when it has none), the crash
  reason (else "the execution crashed"), the cancel reason for a stopped
  run; null otherwise.
- ``created_at`` is when the run was queued, ``finished_at`` when it ended,
  both Unix seconds (truncated); ``elapsed_time`` runs from the start to the
  end in seconds, to the microsecond, by the server's clock while the run is
  under way, and is null until it starts.
- ``total_steps`` counts node executions, every retry included (Dify counts
  each node run); ``total_tokens`` adds up every attempt's tokens.
- ``inputs`` is the execution's input; a missing (null) one is ``{}``, as
  Dify's ``inputs`` is an object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import msgspec
from aiohttp import web

from eventstore.events import NULL, now_us
from projections import ExecutionDetail, ExecutionStatus

from .. import params
from ..auth import READ, Principal
from ..context import VIEWS
from ..errors import ApiError, Handler, shaped
from ..routes.responses import caller, execution_by_uuid, json

PREFIX: Final = "/compat/dify"

STATUS_NAMES: Final[Mapping[ExecutionStatus, str]] = {
    "queued": "running",
    "running": "running",
    "waiting": "paused",
    "completed": "succeeded",
    "failed": "failed",
    "cancelled": "stopped",
    "crashed": "failed",
}
# Dify's codes for the statuses it names; other refusals keep the native code.
_CODES: Final[Mapping[int, str]] = {
    400: "invalid_param",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
}
_EMPTY_OBJECT: Final = msgspec.Raw(b"{}")


class Error(msgspec.Struct, frozen=True, kw_only=True):
    status: int
    code: str
    message: str


class WorkflowRun(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    workflow_id: str
    status: str
    inputs: msgspec.Raw
    outputs: msgspec.Raw | None
    error: str | None
    total_steps: int
    total_tokens: int
    created_at: int
    finished_at: int | None
    elapsed_time: float | None


def status_name(detail: ExecutionDetail) -> str:
    if detail.status == "completed" and detail.node_counts.get("failed"):
        return "partial-succeeded"
    return STATUS_NAMES[detail.status]


def error_text(detail: ExecutionDetail) -> str | None:
    if detail.status == "failed" and detail.error is not None:
        return detail.error.message or detail.error.code
    if detail.status == "crashed":
        return detail.crash_reason or "the execution crashed"
    if detail.status == "cancelled":
        return detail.cancel_reason
    return None


def seconds(us: int) -> int:
    return us // 1_000_000


def seconds_between(start_us: int, end_us: int) -> float:
    # Producer clocks can step backwards; a negative duration helps no one.
    return max(0, end_us - start_us) / 1_000_000


def elapsed_time(detail: ExecutionDetail, now: int) -> float | None:
    if detail.started_at is None:
        return None
    end = detail.finished_at if detail.finished_at is not None else now
    return seconds_between(detail.started_at, end)


def inputs(value: msgspec.Raw) -> msgspec.Raw:
    return _EMPTY_OBJECT if value == NULL else value


def workflow_run(detail: ExecutionDetail, now: int) -> WorkflowRun:
    d = detail
    return WorkflowRun(
        id=d.uuid, workflow_id=d.workflow_id, status=status_name(d), inputs=inputs(d.input),
        outputs=d.output, error=error_text(d), total_steps=d.steps, total_tokens=d.tokens,
        created_at=seconds(d.created_at),
        finished_at=None if d.finished_at is None else seconds(d.finished_at),
        elapsed_time=elapsed_time(d, now),
    )  # fmt: skip


def render(error: ApiError) -> web.Response:
    """A refusal in Dify's shape; the parameter at fault leads the message."""
    body = error.body
    message = body.message if body.field is None else f"{body.field}: {body.message}"
    shaped_error = Error(
        status=error.status, code=_CODES.get(error.status, body.code), message=message
    )
    return json(shaped_error, error.status, error.headers)


async def find_run(request: web.Request, who: Principal) -> int:
    """The execution ``{workflow_run_id}`` names, if the caller may see it."""
    text = request.match_info["workflow_run_id"]
    try:
        return await execution_by_uuid(request, who, text)
    except ApiError:  # its only refusal is a 404: said in Dify's words
        raise ApiError(404, "not_found", "Workflow run not found.") from None


async def run_detail(request: web.Request) -> web.Response:
    who = await caller(request, READ)
    params.refuse_unknown(request.query, ())
    target = await find_run(request, who)
    detail = await request.app[VIEWS].detail(target)
    return json(workflow_run(detail, now_us()))


def routes() -> tuple[tuple[str, str, Handler], ...]:
    # Imported here: the events module builds on this one's mapping.
    from . import dify_events

    return (
        ("GET", "/v1/workflows/run/{workflow_run_id}", run_detail),
        ("GET", "/v1/workflow/{workflow_run_id}/events", dify_events.run_events),
    )


def mount(app: web.Application, prefix: str = PREFIX) -> None:
    """Add the routes under ``prefix``, each answering refusals in Dify's shape."""
    for method, path, handler in routes():
        app.router.add_route(method, prefix + path, shaped(handler, render))
