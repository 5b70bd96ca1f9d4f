"""The "teams" system's executions API, mounted under ``/compat/teams``.

A thin mapping: the document's paths under ``/api/executions``, UUID ids,
upper-case status names, camelCase fields, ISO 8601 UTC times with
milliseconds and Spring-style page numbers (``page`` from 0, ``size``, and a
body of ``content``, ``totalElements``, ``totalPages``, ``number``, ``size``).
The handlers are in ``routes``, the shapes in ``shapes``, the export in
``export``.

Mapping choices the document leaves open:

- statuses: ``queued`` is PENDING; ``running`` and ``waiting`` are RUNNING
  (still in progress, and cancellable as such); ``completed`` is SUCCESS;
  ``failed`` and ``crashed`` (the worker died) are FAILED; ``cancelled`` is
  CANCELLED. A ``status`` filter takes any of the five names (PENDING too,
  which the document lists as a status) and means that set of ours.
- refusals come in Spring Boot's default error body
  ``{timestamp, status, error, message, path}``: the document shows none, and
  its page body is Spring Data's, so that is what its clients meet. The
  message names the parameter at fault.
- ids are the executions' UUIDs only. Another team's execution, or a
  ``{teamId}`` other than a team token's, is a 403 ("no access to this
  team"), as the document's error table says; an unknown id is a 404.
- in the lists (and the export) ``startedAt`` is when the execution was
  created, as the document's example shows; the detail has ``createdAt`` and
  ``startedAt`` (the engine picked it up). ``durationMs`` has one definition
  everywhere, the native ``duration_ms``: the time the execution ran, from
  its start to its end (2300 in the example). The document's list example
  counts from the creation instead (2350); two numbers for one execution
  would leave a client to guess which to trust, so lists say 2300 too.
  Durations are null until finished.
- ``from`` and ``to`` bound the creation time (the lists' ``startedAt``),
  both inclusive. ``size`` is 1 to 100, ``page`` 0 or more; out of range is
  a 400, not clamped.
- a node execution is one node with all its attempts: times from its first
  attempt's start to its last attempt's end, ``retryCount`` the attempts
  after the first, input, output and ``errorMessage`` the last attempt's.
  Its ``id`` is a UUID derived from the execution's UUID and the node id.
  Node statuses are SUCCESS, FAILED and RUNNING.
- ``triggerType``/``trigger`` is our trigger in upper case (``WEBHOOK``);
  ``nodeType`` is shown as the engine reported it.
- ``errorMessage`` is the failure's message (its code when it has none); a
  crash shows its reason in the detail and "the execution crashed" in lists.
- cancel answers 200 with an empty body, as documented: a PENDING execution
  is cancelled at once; a RUNNING one gets a cancel request, confirmed later
  by its engine, and stays RUNNING until then; anything else is a 409.
"""

from __future__ import annotations

from typing import Final

from ...http.auth import CANCEL, READ
from ...http.routing import Dialect, Route
from . import export, routes

DIALECT: Final = Dialect(
    name="teams",
    prefix="/compat/teams",
    routes=(
        Route("GET", "/api/executions/team/{teamId}", routes.team_executions, READ),
        Route("GET", "/api/executions", routes.workflow_executions, READ),
        Route("GET", "/api/executions/{id}", routes.detail, READ),
        Route("POST", "/api/executions/{id}/cancel", routes.cancel, CANCEL),
        Route("GET", "/api/executions/team/{teamId}/export", export.export, READ),
    ),
    render_error=routes.spring_error,
    setup=export.SETUP,
)
