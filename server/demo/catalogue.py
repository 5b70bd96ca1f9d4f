"""The demo's workflows, as a table to read and edit, and what their nodes
do: what a node start carries, what it returns, how it fails. The recorded
history (``data``) and the live engine (``engine``) both draw on these."""

from __future__ import annotations

import math
import random
from typing import Any, Final, NamedTuple

from eventstore import ErrorInfo, NodeCompleted, NodeStarted, Usage, json_value


class Node(NamedTuple):
    id: str
    name: str
    type: str  # "llm", "http" or "code"
    target: str  # the model, URL or function it calls
    out: str  # what a successful run returns


class Workflow(NamedTuple):
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


def _parse(catalogue: str) -> tuple[Workflow, ...]:
    workflows = []
    for block in catalogue.strip().split("\n\n"):
        rows = [[field.strip() for field in line.split("|")] for line in block.splitlines()]
        (ident, name, version, team, triggers), (label, key, wait), *nodes = rows
        steps = tuple(Node(*node) for node in nodes)
        workflows.append(
            Workflow(
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


def error_info(rng: random.Random, node: Node) -> ErrorInfo:
    code, message = rng.choice(_ERRORS[node.type])
    return ErrorInfo(code=code, message=message)


def duration_ms(rng: random.Random, node: Node) -> float:
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
