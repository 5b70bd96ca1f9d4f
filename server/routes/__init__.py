"""Every route of the native API, declared once: the app factory mounts
them and ``server.openapi`` documents them from these same declarations.

Order matters where paths overlap: ``/v1/executions/export`` comes before
``/v1/executions/{id}``.
"""

from __future__ import annotations

from typing import Any, Final

from projections.queries import STATUSES

from .. import params, wire
from ..auth import CANCEL, READ, WRITE
from ..endpoints import Endpoint, Link, Param, Reply, path_id
from . import executions, export, meta, streams, webhooks

_STRING: Final[dict[str, Any]] = {"type": "string"}
_TIME: Final[dict[str, Any]] = {"type": "string", "format": "date-time"}
_ANY_JSON: Final[dict[str, Any]] = {}


def _filters() -> tuple[Param, ...]:
    found = []
    for name, description in params.FILTERS.items():
        if name in params.TIME_FILTERS:
            schema = _TIME
        elif name == "test_mode":
            schema = {"type": "string", "enum": ["true", "false"]}
        elif name == "status":
            # Repeated (?status=a&status=b); a comma-separated value is accepted too.
            schema = {"type": "array", "items": {"enum": sorted(STATUSES)}}
        else:
            schema = _STRING
        found.append(Param(name, "query", schema, description))
    return tuple(found)


# Where a listed execution's id leads: to the routes that take an {id}.
_TO_EXECUTION: Final = tuple(
    Link(handler.__name__, handler, (("id", "$response.body#/items/0/id"),))
    for handler in (executions.detail, executions.history, executions.append, executions.cancel)
)

_PAGING: Final = (
    Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 100}, "rows, 1..100"),
    Param("cursor", "query", _STRING, "the previous page's next_cursor"),
)

# EventSource cannot send headers: streams take the token in the query too.
_ACCESS_TOKEN: Final = Param(
    "access_token", "query", _STRING, "the bearer token, for clients that cannot send headers"
)

ENDPOINTS: Final = (
    Endpoint(
        "GET", "/v1/health", meta.health, "Liveness and the log's head position", None,
        (Reply(200, "the server is up", wire.Health),),
    ),
    Endpoint(
        "GET", "/v1/openapi.json", meta.openapi, "This document", None,
        (Reply(200, "OpenAPI 3.1", schema={"type": "object"}),),
    ),
    Endpoint(
        "POST", "/v1/executions", executions.create,
        "Create an execution (its execution.queued event, and optionally the first events)",
        WRITE,
        (Reply(201, "created", wire.Execution),
         Reply(200, "the external_id was known: the existing execution", wire.Execution)),
        body=wire.CreateBody, errors=(400, 404, 409, 413, 422),
    ),
    Endpoint(
        "GET", "/v1/executions", executions.list_executions,
        "List executions, newest first, filtered, paged by cursor", READ,
        (Reply(200, "one page", wire.ExecutionList, links=_TO_EXECUTION),),
        params=(*_filters(), *_PAGING), errors=(400, 403),
    ),
    Endpoint(
        "GET", "/v1/executions/export", export.export,
        "Export executions with their node attempts, streamed (CSV or JSON)", READ,
        (Reply(200, "CSV: one row per node attempt", media="text/csv",
               schema={"type": "string"}),
         Reply(200, "JSON: executions with nested node attempts", schema={"type": "array"})),
        params=(*_filters(), Param("format", "query", {"type": "string", "enum": ["csv", "json"]},
                                   "csv (default) or json")),
        errors=(400, 403),
    ),
    Endpoint(
        "GET", "/v1/executions/{id}", executions.detail,
        "One execution's detail; with as_of_version or as_of, as it was then", READ,
        (Reply(200, "the detail", wire.Execution),),
        params=(path_id(),
                Param("as_of_version", "query", {"type": "integer", "minimum": 1},
                      "replay up to and including this version"),
                Param("as_of", "query", _TIME,
                      "replay as the store knew it then (through the end of that millisecond)")),
        errors=(400, 404),
    ),
    Endpoint(
        "GET", "/v1/executions/{id}/history", executions.history,
        "The execution's raw events, for audit", READ,
        (Reply(200, "every event in version order", wire.History),),
        params=(path_id(),), errors=(400, 404),
    ),
    Endpoint(
        "POST", "/v1/executions/{id}/events", executions.append,
        "Append events atomically (lifecycle rules, expected_version, idempotent event_id)",
        WRITE,
        (Reply(201, "appended", wire.Appended),
         Reply(200, "every event_id was already recorded with this content", wire.Appended)),
        params=(path_id(),), body=wire.AppendBody, errors=(400, 404, 409, 413, 422),
    ),
    Endpoint(
        "POST", "/v1/executions/{id}/cancel", executions.cancel,
        "Cancel: at once when queued, by request when running or waiting", CANCEL,
        (Reply(200, "cancelled", wire.Execution),
         Reply(202, "cancel requested; the engine confirms it", wire.Execution)),
        params=(path_id(),), body=wire.CancelBody, body_required=False,
        errors=(400, 404, 409, 413),
    ),
    Endpoint(
        "GET", "/v1/executions/{id}/stream", streams.execution_stream,
        "Live: the detail as event `snapshot`, then each event with the list row after it,"
        " until a terminal event (server-sent events)", READ,
        (Reply(200, "text/event-stream; id is the global position", media="text/event-stream",
               schema={"type": "string"}),),
        params=(path_id(),
                Param("from_version", "query", {"type": "integer", "minimum": 1},
                      "replay from this version instead of the snapshot"),
                _ACCESS_TOKEN),
        errors=(400, 404),
    ),
    Endpoint(
        "GET", "/v1/stream", streams.store_stream,
        "Live: every event after a position, then new ones (server-sent events)", READ,
        (Reply(200, "text/event-stream; id is the global position", media="text/event-stream",
               schema={"type": "string"}),),
        params=(
            Param("from", "query", {"type": "integer", "minimum": 0},
                  "start after this position (default 0); Last-Event-ID wins"),
            Param("workflow_id", "query", {"type": "array", "items": _STRING},
                  "only these workflows"),
            Param("execution_id", "query", {"type": "array", "items": {"type": "integer",
                  "minimum": 1}}, "only these executions"),
            Param("type", "query", {"type": "array", "items": {"type": "string",
                  "enum": sorted(wire.EVENT_TYPE_NAMES)}}, "only these event types"),
            Param("team_id", "query", {"type": "array", "items": _STRING}, "only these teams"),
            _ACCESS_TOKEN,
        ),
        errors=(400,),
    ),
    Endpoint(
        "POST", "/v1/workflows/{workflow_id}/webhook", webhooks.create_webhook,
        "Create a webhook trigger for a workflow: a new random hash", WRITE,
        (Reply(201, "the hash, shown once", wire.WebhookCreated,
               links=(Link("trigger", webhooks.trigger, (("hash", "$response.body#/hash"),)),)),),
        params=(Param("workflow_id", "path", {"type": "string", "minLength": 1,
                                                  "maxLength": wire.MAX_WORKFLOW_ID},
                      "the workflow the webhook triggers", required=True),),
        errors=(400,),
    ),
    Endpoint(
        "POST", "/v1/webhooks/{hash}", webhooks.trigger,
        "Trigger: queue an execution with the JSON body as its input (the hash authenticates)",
        None,
        (Reply(202, "queued", wire.WebhookAccepted),),
        params=(Param("hash", "path", {"type": "string", "minLength": 1},
                      "the webhook's hash", required=True),),
        body_schema=_ANY_JSON, body_required=False, errors=(400, 404, 413),
    ),
)  # fmt: skip
