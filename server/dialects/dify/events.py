"""Dify's live events for one run: ``GET /v1/workflow/{workflow_run_id}/events``
under ``/compat/dify``.

Dify streams a run's events in the response of ``POST /workflows/run`` and,
to resume after a pause or a dropped connection, at this same path (its
"stream workflow events"). Each event is one SSE ``data: {json}`` message,
no ``event:`` line, with ``event``, ``task_id``, ``workflow_run_id`` and
``data`` inside the JSON; ``event: ping`` (no data) is sent every
``heartbeat`` seconds while nothing happens. The stream stands on the shared
plumbing (``http.sse``): a subscription registered for shutdown that
reads the file and then follows live, each event once and in order.

What is sent:

- for a run already finished when asked: one ``workflow_finished``, then the
  stream ends, as Dify documents;
- otherwise the run's events from its first one, mapped as below, then each
  new one as it is appended, until ``workflow_finished``, which ends it.

Mapping choices Dify leaves open:

- ``execution.started`` is ``workflow_started``; ``node.started`` is
  ``node_started``; ``node.completed`` and ``node.failed`` are
  ``node_finished`` (status ``succeeded`` or ``failed``); a terminal event is
  ``workflow_finished``, whose ``data`` are the run detail's fields but
  ``inputs``. ``execution.queued``, ``waiting``, ``resumed`` and
  ``cancel_requested`` send nothing (Dify's ``workflow_paused`` is not
  served), so the stream stays open across a wait.
- an attempt that fails and will be retried is a failed ``node_finished``,
  then a new ``node_started`` (Dify's ``node_retry`` is not served).
- ``task_id`` is the run's id: we have no tasks apart from runs (Dify does
  the same when it answers for a finished run).
- a node execution's ``id`` is a UUID made from the run's UUID and the
  version of the event that started the attempt: the same in its
  ``node_started`` and ``node_finished``, new for each attempt, and stable
  from one connection to the next.
- ``index`` numbers the run's node starts 1, 2, ... (``total_steps`` so far);
  ``title`` is the node's name, else its id; ``node_type`` is ours, else "";
  ``predecessor_node_id`` and ``process_data`` are null (not recorded).
- ``created_at`` and ``finished_at`` are the attempt's start and end in Unix
  seconds, ``elapsed_time`` its duration in seconds;
  ``execution_metadata`` is the attempt's ``total_tokens``, ``total_price``
  (its cost) and ``currency``, null when it reported neither tokens nor usage.
- query: ``user`` is accepted and ignored (we have no end users; the token's
  team decides what it sees); ``include_state_snapshot`` changes nothing, as
  past events are always replayed (Dify replays only with ``true``); and
  ``continue_on_pause`` changes nothing, as no pause ends the stream. Both
  are ``true`` or ``false`` in any case; anything else is ``invalid_param``.
"""

from __future__ import annotations

import uuid
from typing import Final

import msgspec
from aiohttp import web
from multidict import MultiMapping

from eventstore import (
    ExecutionStarted,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    RecordedEvent,
    SubscriptionFilter,
)
from eventstore.events import TERMINAL_TYPES, now_us
from eventstore.frozen import Frozen
from eventstore.lifecycle import TERMINAL
from projections import AttemptDetail, DetailFold, ExecutionDetail, NodeNow

from ...http import params
from ...http.access import caller, first_event
from ...http.auth import READ
from ...http.errors import ApiError
from ...http.keys import SETTINGS, STORE, VIEWS
from ...http.sse import (
    BATCH,
    BATCH_BYTES,
    ClientGone,
    EventStream,
    end_stream,
    open_stream,
    subscribed,
    with_heartbeats,
)
from .runs import find_run, inputs, seconds, seconds_between, workflow_run

PING: Final = b"event: ping\n\n"
_QUERY: Final = ("user", "include_state_snapshot", "continue_on_pause")
_FLAGS: Final = ("include_state_snapshot", "continue_on_pause")
# Node execution ids are name-based UUIDs in this namespace (any fixed one would do).
_NODE_RUNS: Final = uuid.UUID("0b9c6a1e-4f2d-5e8a-9c3b-7d1e2f4a6b8c")
_encoder: Final = msgspec.json.Encoder()


class WorkflowStarted(Frozen, kw_only=True):
    id: str
    workflow_id: str
    inputs: msgspec.Raw
    created_at: int


class NodeStartedData(Frozen, kw_only=True):
    id: str
    node_id: str
    node_type: str
    title: str
    index: int
    predecessor_node_id: str | None
    inputs: msgspec.Raw
    created_at: int


class ExecutionMetadata(Frozen, kw_only=True):
    total_tokens: int
    total_price: float | None
    currency: str | None


class NodeFinishedData(Frozen, kw_only=True):
    id: str
    node_id: str
    node_type: str
    title: str
    index: int
    predecessor_node_id: str | None
    inputs: msgspec.Raw
    process_data: msgspec.Raw | None
    outputs: msgspec.Raw | None
    status: str
    error: str | None
    elapsed_time: float
    execution_metadata: ExecutionMetadata | None
    created_at: int
    finished_at: int


class WorkflowFinished(Frozen, kw_only=True):
    id: str
    workflow_id: str
    status: str
    outputs: msgspec.Raw | None
    error: str | None
    elapsed_time: float | None
    total_tokens: int
    total_steps: int
    created_at: int
    finished_at: int | None


EventData = WorkflowStarted | NodeStartedData | NodeFinishedData | WorkflowFinished


class StreamEvent(Frozen, kw_only=True):
    event: str
    task_id: str
    workflow_run_id: str
    data: EventData


def message(event: StreamEvent) -> bytes:
    return b"data: " + _encoder.encode(event) + b"\n\n"


def _wrap(detail: ExecutionDetail, name: str, data: EventData) -> StreamEvent:
    return StreamEvent(event=name, task_id=detail.uuid, workflow_run_id=detail.uuid, data=data)


def workflow_finished(detail: ExecutionDetail, now: int) -> StreamEvent:
    run = workflow_run(detail, now)
    data = WorkflowFinished(
        id=run.id,
        workflow_id=run.workflow_id,
        status=run.status,
        outputs=run.outputs,
        error=run.error,
        elapsed_time=run.elapsed_time,
        total_tokens=run.total_tokens,
        total_steps=run.total_steps,
        created_at=run.created_at,
        finished_at=run.finished_at,
    )
    return _wrap(detail, "workflow_finished", data)


def _metadata(attempt: AttemptDetail) -> ExecutionMetadata | None:
    usage = attempt.usage
    if usage is None:
        if not attempt.tokens:
            return None
        return ExecutionMetadata(total_tokens=attempt.tokens, total_price=None, currency=None)
    return ExecutionMetadata(
        total_tokens=attempt.tokens, total_price=usage.cost, currency=usage.currency
    )


class _Run:
    """One run's events folded as they come, and the Dify events they make.
    Each event costs the same whatever the run's size (see ``DetailFold``)."""

    def __init__(self) -> None:
        self._fold: DetailFold | None = None
        self._indexes: dict[str, int] = {}  # node id -> ``index`` of its running attempt

    def messages(self, events: list[RecordedEvent]) -> tuple[bytes, bool]:
        """The messages ``events`` make, and whether the run has finished."""
        out: list[bytes] = []
        for event in events:
            made = self.step(event)
            if made is not None:
                out.append(message(made))
            if event.type in TERMINAL_TYPES:
                return b"".join(out), True
        return b"".join(out), False

    def step(self, event: RecordedEvent) -> StreamEvent | None:
        if self._fold is None:
            folding = self._fold = DetailFold.start(event)
        else:
            folding = self._fold
            folding.step(event)
        detail = folding.head()
        match event.payload():
            case ExecutionStarted():
                started = WorkflowStarted(
                    id=detail.uuid,
                    workflow_id=detail.workflow_id,
                    inputs=inputs(detail.input),
                    created_at=seconds(detail.created_at),
                )
                return _wrap(detail, "workflow_started", started)
            case NodeStarted(node_id=node_id):
                started_node = self._started(detail, folding.node(node_id))
                return _wrap(detail, "node_started", started_node)
            case NodeCompleted(node_id=node_id) | NodeFailed(node_id=node_id):
                finished = self._finished(detail, folding.node(node_id), event)
                return _wrap(detail, "node_finished", finished)
        if event.type in TERMINAL_TYPES:
            return workflow_finished(detail, now_us())
        return None

    def _started(self, detail: ExecutionDetail, node: NodeNow) -> NodeStartedData:
        attempt = node.attempt
        index = self._indexes[node.node_id] = detail.steps
        return NodeStartedData(
            id=_attempt_id(detail, attempt),
            node_id=node.node_id,
            node_type=node.node_type or "",
            title=node.node_name or node.node_id,
            index=index,
            predecessor_node_id=None,
            inputs=attempt.input,
            created_at=seconds(attempt.started_at),
        )

    def _finished(
        self, detail: ExecutionDetail, node: NodeNow, event: RecordedEvent
    ) -> NodeFinishedData:
        attempt = node.attempt
        failed = attempt.error
        return NodeFinishedData(
            id=_attempt_id(detail, attempt),
            node_id=node.node_id,
            node_type=node.node_type or "",
            title=node.node_name or node.node_id,
            index=self._indexes.pop(node.node_id),
            predecessor_node_id=None,
            inputs=attempt.input,
            process_data=None,
            outputs=attempt.output if failed is None else None,
            status="succeeded" if failed is None else "failed",
            error=None if failed is None else failed.message or failed.code,
            elapsed_time=seconds_between(attempt.started_at, event.occurred_at),
            execution_metadata=_metadata(attempt),
            created_at=seconds(attempt.started_at),
            finished_at=seconds(event.occurred_at),
        )


def _attempt_id(detail: ExecutionDetail, attempt: AttemptDetail) -> str:
    return str(uuid.uuid5(_NODE_RUNS, f"{detail.uuid}/{attempt.started_version}"))


def _check_query(query: MultiMapping[str]) -> None:
    params.refuse_unknown(query, _QUERY)
    params.one(query, "user")
    for name in _FLAGS:
        value = params.one(query, name)
        if value is not None and value.lower() not in ("true", "false"):
            raise ApiError(400, "invalid_param", "must be true or false", field=name)


async def run_events(request: web.Request) -> web.StreamResponse:
    who = await caller(request, READ)
    _check_query(request.query)
    target = await find_run(request, who)
    detail = await request.app[VIEWS].detail(target)
    stream = await open_stream(request)
    try:
        if detail.status in TERMINAL:
            await stream.send(message(workflow_finished(detail, now_us())))
        else:
            await _follow(request, stream, target)
    except ClientGone:
        return stream.response
    return await end_stream(stream)


async def _follow(request: web.Request, stream: EventStream, target: int) -> None:
    """The run's events from its first, then live, until it finishes."""
    first = await first_event(request.app[STORE], target)
    start = 0 if first is None else first.position - 1
    only_this = SubscriptionFilter(execution_ids=frozenset({target}))
    run, heartbeat = _Run(), request.app[SETTINGS].heartbeat
    async with subscribed(request, start, only_this) as subscription:
        async for event in with_heartbeats(subscription, heartbeat):
            if event is None:
                await stream.send(PING)
                continue
            # Behind (the replay, above all), it catches up in few writes, not one per event.
            chunk, finished = run.messages([event, *subscription.ready(BATCH, BATCH_BYTES)])
            if chunk:
                await stream.send(chunk)
            if finished:
                return
