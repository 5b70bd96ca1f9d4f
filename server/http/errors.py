"""The one boundary where failures become HTTP answers.

Every error the API returns has the same JSON shape,
``{"error": {"code", "message", "field"?}}``, plus ``rule`` for a broken
lifecycle rule and ``current_version`` for a stale ``expected_version``.
Handlers raise; this middleware answers. Anything unexpected is logged and
answered as a 500 in the same shape, so a bug never leaks a traceback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Final

import msgspec
from aiohttp import web

from eventstore import (
    ExecutionNotFound,
    IdempotencyConflict,
    InvalidEvent,
    LimitExceeded,
    RuleViolation,
    StorageFull,
    StorageUnavailable,
    StoreBusy,
    StoreClosed,
    VersionConflict,
)
from eventstore.frozen import Frozen
from projections import InvalidQuery

from .logs import Throttled

log: Final = logging.getLogger("execstore.server")


class ErrorObject(Frozen, omit_defaults=True, kw_only=True):
    code: str
    message: str
    field: str | None = None
    rule: str | None = None
    current_version: int | None = None


class ErrorBody(Frozen):
    error: ErrorObject


class ApiError(Exception):
    """A refusal the client can act on: the status, a stable code, and the
    field at fault where there is one."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        rule: str | None = None,
        current_version: int | None = None,
        headers: dict[str, str] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorObject(
            code=code, message=message, field=field, rule=rule, current_version=current_version
        )
        self.headers = headers
        # The connection's state is unknown (a body cut short): close it after the answer.
        self.close = close


_encoder: Final = msgspec.json.Encoder()
# The codes of the statuses aiohttp itself raises (unknown route, wrong method, oversize body).
_HTTP_CODES: Final = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def error_response(error: ApiError) -> web.Response:
    response = web.Response(
        status=error.status,
        body=_encoder.encode(ErrorBody(error.body)),
        content_type="application/json",
        headers=error.headers,
    )
    if error.close:
        response.force_close()
    return response


def from_store(exc: Exception) -> ApiError | None:
    """The API's answer to a refusal from the store or the views."""
    match exc:
        case InvalidQuery():
            return ApiError(400, "invalid_query", str(exc), field=exc.field, rule=exc.rule)
        case InvalidEvent():
            return ApiError(400, "invalid_event", str(exc), field=exc.field)
        case ExecutionNotFound():
            return ApiError(404, "not_found", str(exc), field="id")
        case VersionConflict():
            return ApiError(
                409,
                "version_conflict",
                str(exc),
                field="expected_version",
                current_version=exc.current,
            )
        case IdempotencyConflict():
            return ApiError(409, "idempotency_conflict", str(exc), field="event_id")
        case RuleViolation():
            field = f"events[{exc.index}]"
            return ApiError(422, "rule_violation", str(exc), field=field, rule=exc.rule)
        case LimitExceeded():
            status = _LIMIT_STATUS.get(exc.limit, 413)
            return ApiError(status, "limit_exceeded", str(exc), field=exc.field, rule=exc.limit)
        case StoreBusy():
            _storage.warning("a write waited too long for the file: %s", exc)
            return ApiError(503, "storage_busy", str(exc), headers=_RETRY_SOON)
        case StorageFull():
            _storage.warning("a write was refused: %s", exc)
            return ApiError(507, "storage_full", str(exc), headers=_RETRY)
        case StorageUnavailable():
            _storage.warning("a write was refused: %s", exc)
            return ApiError(503, "storage_unavailable", str(exc), headers=_RETRY)
        case StoreClosed():
            return ApiError(503, "shutting_down", "the server is shutting down")
    return None


# Nothing was written and nothing acknowledged is lost: the client may send it
# again once there is room. One log line a second however many are refused.
_RETRY: Final = {"Retry-After": "30"}
# Another process held the file: it is let go within seconds.
_RETRY_SOON: Final = {"Retry-After": "1"}
_storage: Final = Throttled(log)


# A request too large is a 413; JSON nested too deep, a malformed one (400); an
# execution that would outgrow its limits, a refused state change (422).
_LIMIT_STATUS: Final = {
    "json_depth": 400,
    "events_per_execution": 422,
    "execution_bytes": 422,
}


def as_api_error(exc: Exception) -> ApiError | None:
    """The answer owed to a refusal, whoever raised it; None for a bug."""
    match exc:
        case ApiError():
            return exc
        case web.HTTPException() if exc.status >= 400:
            code = _HTTP_CODES.get(exc.status, f"http_{exc.status}")
            headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
            return ApiError(exc.status, code, _http_message(exc), headers=headers)
    return from_store(exc)


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except Exception as exc:
        known = as_api_error(exc)
        if known is not None:
            return error_response(known)
        if isinstance(exc, web.HTTPException):
            raise  # a redirect or another non-error answer
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(ApiError(500, "internal", "an unexpected error; see the log"))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# A dialect's error shape: the refusal, and the request it answers.
Render = Callable[[ApiError, web.Request], web.StreamResponse]


def shaped(handler: Handler, render: Render) -> Handler:
    """``handler`` with its refusals answered in another error shape (a
    dialect's); bugs still reach the middleware, which logs them."""

    async def with_shape(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Exception as exc:
            known = as_api_error(exc)
            if known is None:
                raise
            return render(known, request)

    return with_shape


def _http_message(http: web.HTTPException) -> str:
    if http.status == 404:
        return "no such route"
    if http.status == 405:
        return f"method not allowed; allowed: {http.headers.get('Allow', '')}"
    return http.text or http.reason


_AT: Final = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
# msgspec points at the object; the field at fault is the key it names.
_NAMED: Final = re.compile(r"^Object (contains unknown|missing required) field `([^`]*)`")
# A \uXXXX escape of a high surrogate not followed by a low one, or a low one alone.
_LONE_SURROGATE: Final = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def from_decode(error: msgspec.DecodeError, prefix: str = "", body: bytes = b"") -> ApiError:
    """A body msgspec refused, naming the field from its ``- at `$.x[0].y` `` suffix.
    ``body`` (what was decoded) explains the refusals msgspec words vaguely."""
    message = str(error)
    if not isinstance(error, msgspec.ValidationError):
        return _malformed(message, prefix or "body", body)
    found = _AT.search(message)
    named = _NAMED.search(message)
    path = "" if found is None else found.group("path")
    if named is not None:
        path = f"{path}.{named.group(2)}" if path else named.group(2)
    field = f"{prefix}.{path}" if prefix and path else prefix or path or "body"
    if named is not None and named.group(1) == "missing required":
        return ApiError(400, "missing_field", "is required", field=field, rule="required")
    text = message if found is None else message[: found.start()]
    return ApiError(400, "invalid_field", text, field=field)


def _malformed(message: str, field: str, body: bytes) -> ApiError:
    if not body.strip():
        text = 'is empty: send a JSON object, such as {"workflow_id": "wf-1"}'
        return ApiError(400, "empty_body", text, field=field, rule="json_required")
    lone = _LONE_SURROGATE.search(body)
    if lone is not None:
        escape = lone.group().decode()
        text = (
            f"holds a lone UTF-16 surrogate ({escape} at byte {lone.start()}): JSON text"
            " must be Unicode, so a high surrogate (\\ud800-\\udbff) needs a low one"
            " (\\udc00-\\udfff) right after it"
        )
        return ApiError(400, "invalid_json", text, field=field, rule="surrogate_pairs")
    return ApiError(400, "invalid_json", message, field=field, rule="json")
