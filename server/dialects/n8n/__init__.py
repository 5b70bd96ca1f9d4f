"""n8n's public API v1 (executions), mounted under ``/compat/n8n``.

``GET /api/v1/executions`` (``includeData``, ``status``, ``workflowId``,
``limit``, ``cursor``), ``GET /api/v1/executions/{id}`` (``includeData``) and
``DELETE /api/v1/executions/{id}``, with n8n's string ids, camelCase fields,
ISO 8601 UTC times with milliseconds, ``nextCursor`` (base64 of the JSON
``{"lastId", "limit"}``) and its error shape ``{"message": "..."}``. The token
is taken from n8n's ``X-N8N-API-KEY`` header as well as from ``Authorization:
Bearer``. Shapes and the mapping of views onto them are in ``shapes``, the handlers
in ``routes``.

Mapping choices the document leaves open (where n8n's own code or docs say,
this follows them):

- status: queued is ``new``, completed ``success``, failed ``error``,
  cancelled ``canceled``; running, waiting and crashed keep their names. The
  ``status`` filter takes exactly those seven words (``unknown`` is never
  shown, so it is refused rather than always empty). Running executions are
  listed: n8n leaves out the ones its own process runs, but here ``running``
  is a recorded state that a history should show.
- ``finished`` is true only for ``success``, as n8n sets it. ``stoppedAt`` is
  when the execution finished (null while it waits); ``startedAt`` is null
  until it starts, as n8n's is for a ``new`` execution.
- ``mode`` is the trigger when it is one of n8n's modes (cli, error,
  integrated, internal, manual, retry, trigger, webhook); schedule, cron, poll
  and interval are ``trigger``; any other (``api``: started by a program) is
  ``integrated``.
- The list has the document's ten fields; the single execution adds
  ``createdAt`` and ``deletedAt``. ``includeData=true`` adds ``customData``
  (the execution's metadata: both are string maps), ``workflowData`` (id,
  name, else the id, ``active: false``, and empty ``nodes``/``connections``:
  the workflow's definition is not in our events) and ``data``. In ``data``,
  ``startData`` and ``executionData`` are empty; ``resultData.runData`` holds
  each node under its name (its id when it has none; a name two nodes share
  gets the later node's id appended), one run per attempt: ``startTime`` in
  epoch milliseconds, ``executionTime`` (so far, by the server's clock, while
  it runs), ``executionStatus`` (success, error, running), ``data.main`` (no
  outputs until the attempt succeeds; then one output whose items are the
  output array's elements, or the output itself, each as ``{"json": ...}``,
  a non-object wrapped as ``{"data": x}``) and ``error`` (``{name: code,
  message}``, else null). ``lastNodeExecuted`` is the node started last;
  ``resultData.error`` is added, as n8n does, when the execution failed or
  crashed.
- Order and paging: newest first, as the native list (created, then id).
  ``lastId`` is the last item's id: the next page starts below that
  execution's key. As in n8n, a cursor's ``limit`` overrides the query's.
  ``limit`` is 1 to 250 (default 100). ``nextCursor`` is null on the last page.
- Ids are the integer ids as strings; only digits name an execution (never an
  external id). Another team's execution is ``404 {"message": "Not Found"}``.
- ``DELETE`` needs the write scope: it appends ``execution.deleted`` to the
  log, as any other write does; cancel is narrower (stopping a run), admin
  wider than needed. As in n8n, a running execution is refused (400, "Cannot
  delete a running execution"); a ``new`` or ``waiting`` one, which n8n
  deletes (so it never runs or resumes), is cancelled and deleted in one
  append. The answer is the execution as it is after the delete, with
  ``deletedAt`` set; a key that may write but not read gets only ``{"id"}``,
  since the execution's data needs the read scope. A deleted execution is gone for n8n clients, as a
  deleted one is in n8n: lists leave it out, ``GET`` and a second ``DELETE``
  answer 404. The native API keeps showing its detail, history and replays.
- Errors are ``{"message"}``: n8n's texts for its own cases (missing or bad
  key, forbidden, not found, bad cursor), else the message naming the field
  as n8n's request validator does (``request/query/limit ...``).
"""

from __future__ import annotations

from typing import Final

from ...http.auth import READ, WRITE
from ...http.routing import Dialect, Route
from .routes import delete, detail, list_executions, render

DIALECT: Final = Dialect(
    name="n8n",
    prefix="/compat/n8n",
    routes=(
        Route("GET", "/api/v1/executions", list_executions, READ),
        Route("GET", "/api/v1/executions/{id}", detail, READ),
        Route("DELETE", "/api/v1/executions/{id}", delete, WRITE),
    ),
    render_error=render,
)
