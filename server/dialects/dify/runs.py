"""A Dify workflow run: its shape, the views mapped onto it, the route that
answers it, and Dify's error shape. The mapping choices are listed in the
package's docstring."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import msgspec
from aiohttp import web

from eventstore.events import NULL, now_us
from eventstore.frozen import Frozen
from projections import ExecutionDetail, ExecutionStatus

from ...http import params
from ...http.access import caller, execution_by_uuid
from ...http.auth import READ, Principal
from ...http.errors import ApiError
from ...http.keys import VIEWS
from ...http.replies import json

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


class Error(Frozen, kw_only=True):
    status: int
    code: str
    message: str


class WorkflowRun(Frozen, kw_only=True):
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
        id=d.uuid,
        workflow_id=d.workflow_id,
        status=status_name(d),
        inputs=inputs(d.input),
        outputs=d.output,
        error=error_text(d),
        total_steps=d.steps,
        total_tokens=d.tokens,
        created_at=seconds(d.created_at),
        finished_at=None if d.finished_at is None else seconds(d.finished_at),
        elapsed_time=elapsed_time(d, now),
    )


def render(error: ApiError, request: web.Request) -> web.Response:
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
