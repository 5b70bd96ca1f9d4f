"""The workload the append benchmarks record: support-ticket executions with LLM nodes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from eventstore import (
    EventData,
    ExecutionCompleted,
    ExecutionQueued,
    ExecutionStarted,
    NodeCompleted,
    NodeStarted,
    Usage,
    json_value,
)

NODES: Final = (
    ("Fetch ticket", "http"),
    ("Classify", "llm"),
    ("Draft reply", "llm"),
    ("Post reply", "http"),
)
Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Execution:
    queued: ExecutionQueued
    rest: tuple[EventData, ...]  # the events after queued, in lifecycle order


def count_events(executions: Sequence[Execution]) -> int:
    return sum(1 + len(e.rest) for e in executions)


def make_execution(n: int, nodes: int) -> Execution:
    ticket = 40_000 + n
    queued = ExecutionQueued(
        workflow_id=f"wf-{n % 50}",
        workflow_name="Answer support ticket",
        workflow_version=3,
        trigger="webhook",
        input=json_value({"ticket_id": ticket, "customer": "acme-corp", "priority": "high"}),
        team_id=f"team-{n % 7}",
    )
    rest: list[EventData] = [ExecutionStarted(worker=f"worker-{n % 4}")]
    for index in range(1, nodes + 1):
        name, kind = NODES[(index - 1) % len(NODES)]
        node_id = f"node-{index}"
        llm = kind == "llm"
        rest.append(
            NodeStarted(
                node_id=node_id,
                node_name=name,
                node_type=kind,
                input=json_value({"ticket_id": ticket, "text": "Refund not received yet."}),
            )
        )
        rest.append(
            NodeCompleted(
                node_id=node_id,
                output=json_value({"status": "ok", "label": "billing", "score": 0.93}),
                tokens=412 if llm else 0,
                usage=Usage(prompt_tokens=350, completion_tokens=62) if llm else None,
            )
        )
    rest.append(ExecutionCompleted(output=json_value({"reply_id": f"r-{ticket}", "sent": True})))
    return Execution(queued, tuple(rest))


def check(recorded: int | None, expected: int) -> None:
    # A fast number from a run that silently dropped or doubled events would be worthless.
    if recorded != expected:
        raise RuntimeError(f"expected {expected} events, got {recorded}")
