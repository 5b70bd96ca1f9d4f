"""Demo executions for an empty store, so that a newcomer's first list is full.

Every draw comes from one ``random.Random(seed)`` and all of them happen before
the first write, so the histories depend only on the seed and ``now_us``; only
the store's ids and uuids vary between runs.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from msgspec.structs import replace

from eventstore import (
    CreatedExecution,
    ErrorInfo,
    EventData,
    EventStore,
    ExecutionCancelled,
    ExecutionCancelRequested,
    ExecutionCompleted,
    ExecutionCrashed,
    ExecutionFailed,
    ExecutionQueued,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionWaiting,
    NewEvent,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    Usage,
    json_value,
)
from eventstore.frozen import Frozen


class Node(NamedTuple):
    id: str
    name: str
    type: str  # "llm", "http" or "code"
    target: str  # the model, URL or function it calls
    out: str  # what a successful run returns


class _Workflow(NamedTuple):
    id: str
    name: str
    version: int
    team: str
    triggers: tuple[str, ...]  # repeated entries weight the draw
    label: str  # display name; formatted with n and day
    key: str  # name of the input field that carries n
    wait: str  # why its executions wait
    nodes: tuple[Node, ...]


# A table, since it is data to read and edit. Per workflow, a block of:
#   id | name | version | team | triggers
#   display name | input key | why it waits
#   then one line per node, in run order: id | name | type | calls | returns
_CATALOGUE: Final = """
wf-support-triage | Support triage | 7 | team-ops | webhook webhook webhook api
Ticket #{n} | ticket_id | Waiting for agent review
fetch_ticket | Fetch ticket | http | https://acme.zendesk.com/api/v2/tickets | ticket loaded
classify | Classify intent | llm | gpt-4o-mini | billing_question
draft_reply | Draft reply | llm | gpt-4o | Hi Sam, I have refunded the duplicate charge.
post_reply | Post reply | http | https://acme.zendesk.com/api/v2/comments | comment created

wf-invoice-ocr | Invoice OCR | 3 | team-finance | webhook api
Invoice INV-{n} | invoice_no | Awaiting approval: amount over 10,000 EUR
download_pdf | Download PDF | http | https://files.acme.io/invoices | 3 pages
ocr | OCR pages | http | https://vision.googleapis.com/v1/files:annotate | 1,942 words
extract_fields | Extract fields | llm | claude-3-5-haiku | {"total": 1240.5, "vat": 0.2}
validate | Validate totals | code | check_totals | totals match
push_erp | Push to ERP | http | https://erp.acme.io/api/bills | bill created

wf-lead-enrichment | Lead enrichment | 12 | team-sales | webhook webhook api
Lead #{n} | lead_id | Rate limited by the CRM
lookup_company | Look up company | http | https://company.clearbit.com/v2/find | Acme, 120 staff
score_lead | Score lead | llm | gpt-4o-mini | score 72: good fit
update_crm | Update HubSpot | http | https://api.hubapi.com/crm/v3/objects/contacts | updated

wf-nightly-report | Nightly report | 5 | team-ops | schedule schedule schedule schedule manual
Nightly report {day} | day | Waiting for the warehouse export
query_warehouse | Query warehouse | code | run_sql | 48 rows
summarize | Summarize metrics | llm | gpt-4o | Revenue up 4% week over week
render_pdf | Render PDF | code | render_report | report.pdf, 212 KB
send_email | Email stakeholders | http | https://api.sendgrid.com/v3/mail/send | accepted

wf-research-agent | Research agent | 2 | team-sales | manual api api
Research request #{n} | request_id | Waiting for the user to pick sources
plan | Plan research | llm | gpt-4o | 3 sub-questions
web_search | Web search | http | https://api.search.example/v1/search | 10 results
fetch_sources | Fetch sources | http | https://r.jina.ai/ | 6 pages fetched
synthesize | Synthesize answer | llm | claude-3-5-sonnet | An answer citing 6 sources
check_citations | Check citations | llm | gpt-4o-mini | all citations resolve

wf-meeting-notes | Meeting notes | 4 | team-sales | webhook
Call #{n} | meeting_id | Waiting for the transcript
fetch_transcript | Fetch transcript | http | https://api.zoom.us/v2/meetings/recordings | 38 min
summarize_call | Summarize call | llm | gpt-4o-mini | Customer wants SSO by Q3
extract_actions | Extract action items | llm | gpt-4o-mini | 3 action items
post_slack | Post to Slack | http | https://slack.com/api/chat.postMessage | ok
"""


def _parse(catalogue: str) -> tuple[_Workflow, ...]:
    workflows = []
    for block in catalogue.strip().split("\n\n"):
        rows = [[field.strip() for field in line.split("|")] for line in block.splitlines()]
        (ident, name, version, team, triggers), (label, key, wait), *nodes = rows
        steps = tuple(Node(*node) for node in nodes)
        workflows.append(
            _Workflow(
                ident, name, int(version), team, tuple(triggers.split()), label, key, wait, steps
            )
        )
    return tuple(workflows)


WORKFLOWS: Final = _parse(_CATALOGUE)

# USD per million prompt and completion tokens.
_PRICES: Final = {
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4o": (2.5, 10.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-3-5-sonnet": (3.0, 15.0),
}
_DURATION_MS: Final = {"llm": (400.0, 25_000.0), "http": (40.0, 3_000.0), "code": (2.0, 400.0)}
_ERRORS: Final = {
    "llm": (("LLM_RATE_LIMIT", "Rate limit reached"), ("INVALID_JSON", "Output is not JSON")),
    "http": (("HTTP_502", "Upstream returned 502 Bad Gateway"), ("TIMEOUT", "No reply in 30 s")),
    "code": (("CODE_ERROR", "TypeError: 'NoneType' object is not subscriptable"),),
}
_USERS: Final = ("maria@acme.io", "jonas@acme.io", "priya@acme.io")
# How an execution ends, and how often. "retried" is a failure that a later,
# successful execution retries; "cancelled" never left the queue.
_OUTCOMES: Final = {
    "completed": 60,
    "failed": 9,
    "retried": 5,
    "waiting": 4,
    "resumed": 4,
    "cancelled": 2,
    "cancel_running": 3,
    "running": 4,
    "queued": 3,
    "crashed": 2,
}
_SECOND: Final = 1_000_000
_HOUR: Final = 3600 * _SECOND
_WEEK: Final = 7 * 24 * _HOUR
# Creates in flight at once: enough for the writer to group many per commit.
_CHUNK: Final = 50


class _Timeline:
    """Events at times relative to the execution's creation; placed on the
    clock once the whole history, and so its length, is known."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.t = 0
        self.events: list[tuple[int, EventData]] = []

    def add(self, data: EventData, after_ms: float) -> None:
        self.t += max(1, int(after_ms * 1000))  # strictly later than the last event
        self.events.append((self.t, data))


class _Plan(Frozen):
    queued: ExecutionQueued
    created_at: int
    ends_at: int
    events: list[NewEvent]
    retry_of_index: int | None = None  # the plan this one retries


async def record_demo(
    store: EventStore, *, executions: int = 300, seed: int = 7, now_us: int | None = None
) -> int:
    """Record `executions` realistic demo executions into an open EventStore; return how many
    were recorded.

    They spread over the 7 days before ``now_us`` (default: now). External ids
    derive from the seed, so calling it again with the same seed records none
    of those already there.
    """
    if executions < 0:
        raise ValueError("executions must not be negative")
    now = time.time_ns() // 1000 if now_us is None else now_us
    plans = _plan_all(random.Random(seed), executions, now, seed)
    ids: dict[int, int] = {}
    # A retry names the failed execution's id, so it is created after it.
    first = [(i, plan) for i, plan in enumerate(plans) if plan.retry_of_index is None]
    retries = [(i, plan) for i, plan in enumerate(plans) if plan.retry_of_index is not None]
    return await _create_all(store, first, ids) + await _create_all(store, retries, ids)


async def _create_all(
    store: EventStore, plans: list[tuple[int, _Plan]], ids: dict[int, int]
) -> int:
    recorded = 0
    for start in range(0, len(plans), _CHUNK):
        chunk = plans[start : start + _CHUNK]
        results = await asyncio.gather(*(_create(store, plan, ids) for _, plan in chunk))
        for (index, _), result in zip(chunk, results, strict=True):
            ids[index] = result.execution_id
            recorded += result.created
    return recorded


async def _create(store: EventStore, plan: _Plan, ids: dict[int, int]) -> CreatedExecution:
    queued = plan.queued
    if plan.retry_of_index is not None:
        queued = replace(queued, retry_of=ids[plan.retry_of_index])
    return await store.create_execution(queued, plan.events, occurred_at=plan.created_at)


def _plan_all(rng: random.Random, count: int, now: int, seed: int) -> list[_Plan]:
    plans: list[_Plan] = []
    while len(plans) < count:
        workflow = rng.choice(WORKFLOWS)
        outcome = rng.choices(list(_OUTCOMES), list(_OUTCOMES.values()))[0]
        if outcome == "retried" and len(plans) + 2 > count:
            outcome = "failed"
        failed = _plan(rng, workflow, outcome, now, f"demo-{seed}-{len(plans)}")
        plans.append(failed)
        if outcome == "retried":
            # Someone notices within the hour and presses retry: same input, new run.
            at = failed.ends_at + rng.randint(30 * _SECOND, _HOUR)
            retry = _plan(rng, workflow, "completed", now, f"demo-{seed}-{len(plans)}", at)
            queued = replace(failed.queued, trigger="manual", external_id=retry.queued.external_id)
            plans.append(replace(retry, queued=queued, retry_of_index=len(plans) - 1))
    return plans


def _plan(
    rng: random.Random,
    workflow: _Workflow,
    outcome: str,
    now: int,
    external_id: str,
    created_at: int | None = None,
) -> _Plan:
    gap = _gap_us(rng, outcome)  # from the last event to now
    timeline = _timeline(rng, workflow, outcome, gap)
    base = now - gap - timeline.t if created_at is None else created_at
    events = []
    for at, data in timeline.events:
        if isinstance(data, ExecutionWaiting) and data.wait_till is not None:
            data = replace(data, wait_till=base + data.wait_till)
        events.append(NewEvent(data=data, occurred_at=base + at))
    queued = _queued(rng, workflow, base, now, external_id)
    return _Plan(queued, base, base + timeline.t, events)


def _gap_us(rng: random.Random, outcome: str) -> int:
    if outcome == "running":  # its current node started moments ago
        return rng.randint(_SECOND // 5, 8 * _SECOND)
    if outcome == "queued":
        return rng.randint(_SECOND, 90 * _SECOND)
    if outcome == "waiting":
        return rng.randint(60 * _SECOND, 24 * _HOUR)
    if outcome == "retried":  # leaves room for the retry before now
        return rng.randint(3 * _HOUR, _WEEK)
    return rng.randint(0, _WEEK)


def _queued(
    rng: random.Random, workflow: _Workflow, created_at: int, now: int, external_id: str
) -> ExecutionQueued:
    n = rng.randint(1000, 9999)
    trigger = rng.choice(workflow.triggers)
    day = datetime.fromtimestamp(created_at / _SECOND, UTC).strftime("%Y-%m-%d")
    # Half the runs older than the last deploy, two days ago, ran the previous version.
    old = created_at < now - 48 * _HOUR and rng.random() < 0.5
    return ExecutionQueued(
        workflow_id=workflow.id,
        workflow_name=workflow.name,
        workflow_version=workflow.version - 1 if old else workflow.version,
        trigger=trigger,
        input=json_value({workflow.key: day if workflow.key == "day" else n, "via": trigger}),
        display_name=workflow.label.format(n=n, day=day),
        test_mode=trigger == "manual" and rng.random() < 0.5,
        team_id=workflow.team,
        external_id=external_id,
        metadata={"source": "demo"},
    )


def _timeline(rng: random.Random, workflow: _Workflow, outcome: str, gap: int) -> _Timeline:
    timeline = _Timeline(rng)
    if outcome == "queued":
        return timeline
    if outcome == "cancelled":
        cancelled = ExecutionCancelled(by=rng.choice(_USERS), reason="Duplicate trigger")
        timeline.add(cancelled, rng.uniform(2e3, 1e5))
        return timeline
    timeline.add(ExecutionStarted(worker=f"worker-{rng.randint(1, 4)}"), rng.uniform(20, 2500))
    nodes = workflow.nodes
    stop = rng.randrange(1, len(nodes))  # where a run that does not complete stops
    flaky = outcome in ("completed", "resumed")
    _run_nodes(timeline, nodes[:stop], flaky)
    if outcome in ("failed", "retried"):
        _fail(timeline, nodes[stop])
    elif outcome == "waiting":  # since `gap` ago, until some time after now
        pause = rng.uniform(1, 5)
        till = timeline.t + int(pause * 1000) + gap + rng.randint(_HOUR // 6, 30 * _HOUR)
        timeline.add(ExecutionWaiting(reason=workflow.wait, wait_till=till), pause)
    elif outcome in ("running", "crashed", "cancel_running"):
        _interrupt(timeline, nodes[stop], outcome)
    else:
        if outcome == "resumed":
            _wait_and_resume(timeline, workflow.wait)
        _run_nodes(timeline, nodes[stop:], flaky)
        output = json_value({"ok": True, "result": nodes[-1].out})
        timeline.add(ExecutionCompleted(output=output), rng.uniform(1, 30))
    return timeline


def _wait_and_resume(timeline: _Timeline, reason: str) -> None:
    rng = timeline.rng
    wait_ms = rng.uniform(30e3, 3 * 3600e3)
    till = timeline.t + int(wait_ms * 1000)
    timeline.add(ExecutionWaiting(reason=reason, wait_till=till), rng.uniform(1, 5))
    timeline.add(ExecutionResumed(), wait_ms + rng.uniform(50, 2000))


def _interrupt(timeline: _Timeline, node: Node, outcome: str) -> None:
    """Start ``node`` and leave it running, lose its worker, or cancel around it."""
    rng = timeline.rng
    timeline.add(node_started(rng, node, 1), rng.uniform(1, 40))
    if outcome == "crashed":  # noticed when the worker's heartbeat times out
        timeline.add(ExecutionCrashed(reason="worker heartbeat lost"), rng.uniform(30e3, 300e3))
    elif outcome == "cancel_running":  # the worker lets the node finish, then stops
        by, reason = rng.choice(_USERS), "Started by mistake"
        timeline.add(ExecutionCancelRequested(by=by, reason=reason), rng.uniform(100, 5000))
        timeline.add(node_completed(rng, node, 1), _duration_ms(rng, node))
        timeline.add(ExecutionCancelled(), rng.uniform(5, 200))


def _run_nodes(timeline: _Timeline, nodes: tuple[Node, ...], flaky: bool) -> None:
    for node in nodes:
        attempt = 1
        if flaky and timeline.rng.random() < 0.03:  # a transient failure the engine retries
            _attempt(timeline, node, 1, error_info(timeline.rng, node), will_retry=True)
            attempt = 2
        _attempt(timeline, node, attempt)


def _fail(timeline: _Timeline, node: Node) -> None:
    rng = timeline.rng
    error = error_info(rng, node)
    attempts = 2 if rng.random() < 0.4 else 1
    for attempt in range(1, attempts + 1):
        _attempt(timeline, node, attempt, error, will_retry=attempt < attempts)
    failed = ErrorInfo(code=error.code, message=error.message, node_id=node.id)
    timeline.add(ExecutionFailed(error=failed), rng.uniform(2, 50))


def _attempt(
    timeline: _Timeline,
    node: Node,
    attempt: int,
    error: ErrorInfo | None = None,
    *,
    will_retry: bool = False,
) -> None:
    rng = timeline.rng
    # A second attempt waits out the engine's back-off first.
    pause = rng.uniform(1, 40) if attempt == 1 else rng.uniform(1e3, 1e4)
    timeline.add(node_started(rng, node, attempt), pause)
    ended: EventData
    if error is None:
        ended = node_completed(rng, node, attempt)
    else:
        ended = NodeFailed(node_id=node.id, attempt=attempt, error=error, will_retry=will_retry)
    timeline.add(ended, _duration_ms(rng, node))


def error_info(rng: random.Random, node: Node) -> ErrorInfo:
    code, message = rng.choice(_ERRORS[node.type])
    return ErrorInfo(code=code, message=message)


def _duration_ms(rng: random.Random, node: Node) -> float:
    # Log-uniform: most runs are quick and a few slow, as real latencies are.
    low, high = _DURATION_MS[node.type]
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def node_started(rng: random.Random, node: Node, attempt: int) -> NodeStarted:
    value: dict[str, Any]
    if node.type == "llm":
        value = {"model": node.target, "temperature": 0.2, "prompt_chars": rng.randint(300, 9000)}
        if rng.random() < 0.3:  # a bring-your-own-key call: exports must mask it
            value["api_key"] = f"sk-demo-{rng.getrandbits(64):016x}"
    elif node.type == "http":
        auth = f"Bearer demo-{rng.getrandbits(64):016x}"
        value = {"method": "POST", "url": node.target, "headers": {"authorization": auth}}
    else:
        value = {"function": node.target, "items": rng.randint(1, 60)}
    return NodeStarted(
        node_id=node.id,
        node_name=node.name,
        node_type=node.type,
        attempt=attempt,
        input=json_value(value),
    )


def node_completed(rng: random.Random, node: Node, attempt: int) -> NodeCompleted:
    if node.type != "llm":
        result = (
            {"status": 200, "result": node.out} if node.type == "http" else {"result": node.out}
        )
        return NodeCompleted(node_id=node.id, attempt=attempt, output=json_value(result))
    prompt, completion = rng.randint(150, 3200), rng.randint(20, 900)
    prompt_price, completion_price = _PRICES[node.target]
    cost = round((prompt * prompt_price + completion * completion_price) / 1e6, 6)
    return NodeCompleted(
        node_id=node.id,
        attempt=attempt,
        output=json_value({"text": node.out, "finish_reason": "stop"}),
        tokens=prompt + completion,
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion, cost=cost, currency="USD"),
    )
