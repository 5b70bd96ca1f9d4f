"""Dify's workflow-run API, mounted under ``/compat/dify``.

Dify's base URL ends in ``/v1``, so its paths sit below ``/compat/dify/v1``:

- ``GET /v1/workflows/run/{workflow_run_id}``: the run as the document shows
  it (``id``, ``workflow_id``, ``status``, ``inputs``, ``outputs``, ``error``,
  ``total_steps``, ``total_tokens``, ``created_at``, ``finished_at``,
  ``elapsed_time``); no query parameters.
- ``GET /v1/workflow/{workflow_run_id}/events``: the run's events as Dify
  streams them (see ``events``).

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

from typing import Final

from ...http.auth import READ
from ...http.routing import Dialect, Route
from .events import run_events
from .runs import render, run_detail

DIALECT: Final = Dialect(
    name="dify",
    prefix="/compat/dify",
    routes=(
        Route("GET", "/v1/workflows/run/{workflow_run_id}", run_detail, READ),
        Route("GET", "/v1/workflow/{workflow_run_id}/events", run_events, READ),
    ),
    render_error=render,
)
