"""The detail fold: the seed document's example execution through a real store,
one table row per event handler, and the rules for errors, usage and time."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec
import pytest

from eventstore import (
    ErrorInfo,
    EventData,
    EventStore,
    ExecutionCancelled,
    ExecutionCompleted,
    ExecutionFailed,
    ExecutionQueued,
    ExecutionStarted,
    NewEvent,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    RecordedEvent,
    Usage,
    json_value,
)
from projections import (
    MIXED_CURRENCY,
    ExecutionDetail,
    ExecutionError,
    FoldError,
    NodeDetail,
    NodeError,
    NodeTotals,
    UsageDetail,
    elapsed_ms,
    fold,
)

from . import A1, A1_FAILED, IN, SECOND, T0, WAIT, Q, S, history, t

# The example of seed 000 (GET /executions/{id}): started 10:00:00+09:00,
# 42.381 s to completion, 124 tokens of which ai_gen_1 consumed 51.
SEED_INPUT = json_value({"inquiry": "返品したい", "ticket": 4821})
SEED_OUTPUT = json_value({"answer": "承知しました"})
AI_GEN_OUTPUT = json_value({"text": "下書き"})
RATE_LIMITED = ErrorInfo(code="rate_limited", message="429 from the model API")


SEED_PREFIX: list[tuple[float, EventData]] = [
    (0, ExecutionStarted(worker="w1")),
    (0.1, NodeStarted(node_id="webhook_1", node_type="webhook", input=SEED_INPUT)),
    (1.3, NodeCompleted(node_id="webhook_1", output=SEED_INPUT)),
    (5, NodeStarted(node_id="ai_gen_1", node_name="AI 生成", node_type="llm")),
    (8.25, NodeFailed(node_id="ai_gen_1", error=RATE_LIMITED, will_retry=True)),
    (9.5, NodeStarted(node_id="ai_gen_1", attempt=2)),
    (
        20,
        NodeCompleted(
            node_id="ai_gen_1",
            attempt=2,
            output=AI_GEN_OUTPUT,
            tokens=51,
            usage=Usage(prompt_tokens=30, completion_tokens=21),
        ),
    ),
    (21, NodeStarted(node_id="ai_classify_1", node_type="llm")),
]


def at(seconds: float) -> int:
    """10:00:00+09:00 plus ``seconds``, in microseconds."""
    return T0 + round(seconds * SECOND)


async def record_seed_example(
    store: EventStore, ending: list[tuple[float, EventData]]
) -> list[RecordedEvent]:
    """The example's execution up to its last node's start, then ``ending``."""
    queued = ExecutionQueued(
        workflow_id="45", display_name="問い合わせ #4821", trigger="webhook", input=SEED_INPUT
    )
    created = await store.create_execution(queued, occurred_at=at(-1.5))
    timeline = SEED_PREFIX + ending
    # In several requests, as an engine reporting as it goes would append them.
    for part in (timeline[:3], timeline[3:6], timeline[6:]):
        await store.append(
            created.execution_id, [NewEvent(data=d, occurred_at=at(s)) for s, d in part]
        )
    return await store.read_execution(created.execution_id)


def node(detail: ExecutionDetail, node_id: str) -> NodeDetail:
    (found,) = [n for n in detail.nodes if n.node_id == node_id]
    return found


async def test_seed_example_duration_tokens_and_node_timings(store: EventStore) -> None:
    classified = NodeCompleted(
        node_id="ai_classify_1",
        tokens=73,
        usage=Usage(prompt_tokens=50, completion_tokens=23, cost=0.002, currency="USD"),
    )
    completed = ExecutionCompleted(output=SEED_OUTPUT)
    detail = fold(await record_seed_example(store, [(42, classified), (42.381, completed)]))

    assert detail is not None
    assert detail.status == "completed"
    assert detail.duration_ms == 42381
    assert detail.tokens == 124
    assert detail.started_at == at(0)
    assert detail.finished_at == at(42.381)
    assert detail.created_at == at(-1.5)
    assert elapsed_ms(detail, now_us=at(3600)) == 42381
    assert detail.error is None
    assert (detail.display_name, detail.trigger, detail.worker) == (
        "問い合わせ #4821",
        "webhook",
        "w1",
    )
    assert bytes(detail.input) == bytes(SEED_INPUT)
    assert detail.output is not None and bytes(detail.output) == bytes(SEED_OUTPUT)
    assert [n.node_id for n in detail.nodes] == ["webhook_1", "ai_gen_1", "ai_classify_1"]
    assert detail.node_counts == {"completed": 3}
    assert detail.steps == 4
    assert detail.usage == UsageDetail(
        prompt_tokens=80, completion_tokens=44, cost=0.002, currency="USD"
    )
    assert detail.version == 11

    ai_gen = node(detail, "ai_gen_1")
    assert ai_gen.totals.tokens == 51
    assert ai_gen.totals.duration_ms == 3250 + 10500
    assert (ai_gen.node_name, ai_gen.node_type, ai_gen.status) == ("AI 生成", "llm", "completed")
    first, second = ai_gen.attempts
    assert (first.attempt, first.status, first.will_retry) == (1, "failed", True)
    assert (first.started_at, first.finished_at, first.duration_ms) == (at(5), at(8.25), 3250)
    assert first.error == NodeError(code="rate_limited", message="429 from the model API")
    assert (second.attempt, second.status, second.tokens) == (2, "completed", 51)
    assert (second.started_at, second.finished_at, second.duration_ms) == (at(9.5), at(20), 10500)
    assert second.output is not None and bytes(second.output) == bytes(AI_GEN_OUTPUT)
    assert node(detail, "ai_classify_1").totals.duration_ms == 21000


TIMEOUT = ErrorInfo(code="llm_timeout", message="no answer in 9 s")


@pytest.mark.parametrize(
    ("failed", "expected"),
    [
        pytest.param(
            ExecutionFailed(),
            ExecutionError(code="llm_timeout", message="no answer in 9 s", node_id="ai_classify_1"),
            id="from-the-failing-node",
        ),
        pytest.param(
            ExecutionFailed(error=ErrorInfo(code="E_BUDGET", message="budget exceeded")),
            ExecutionError(code="E_BUDGET", message="budget exceeded", node_id=None),
            id="as-reported",
        ),
        pytest.param(
            ExecutionFailed(error=ErrorInfo(code="E_NODE", message="m", node_id="webhook_1")),
            ExecutionError(code="E_NODE", message="m", node_id="webhook_1"),
            id="as-reported-with-its-node",
        ),
    ],
)
async def test_seed_example_failing(
    store: EventStore, failed: ExecutionFailed, expected: ExecutionError
) -> None:
    node_failed = NodeFailed(node_id="ai_classify_1", error=TIMEOUT)
    detail = fold(await record_seed_example(store, [(30, node_failed), (30.5, failed)]))

    assert detail is not None
    assert detail.status == "failed"
    assert detail.error == expected
    assert detail.duration_ms == 30500
    assert detail.tokens == 51
    assert detail.node_counts == {"completed": 2, "failed": 1}
    assert node(detail, "ai_classify_1").attempts[-1].error == NodeError(
        code="llm_timeout", message="no answer in 9 s"
    )


def test_queued_opens_the_detail() -> None:
    queued = ExecutionQueued(
        workflow_id="wf-9",
        workflow_name="Support",
        workflow_version=3,
        trigger="webhook",
        input=IN,
        display_name="問い合わせ",
        test_mode=True,
        team_id="t-1",
        retry_of=7,
        external_id="ext-1",
        metadata={"k": "v"},
        uuid="u-9",
    )
    (event,) = history(queued)
    detail = fold([event])

    assert detail is not None
    copied = set(ExecutionQueued.__struct_fields__) & set(ExecutionDetail.__struct_fields__)
    assert len(copied) == 12
    assert {f: getattr(detail, f) for f in copied} == {f: getattr(queued, f) for f in copied}
    assert (detail.id, detail.created_at, detail.status) == (1, t(1), "queued")
    assert (detail.version, detail.position, detail.last_recorded_at) == (1, 1, event.recorded_at)
    assert (detail.started_at, detail.duration_ms, detail.output, detail.error) == (None,) * 4
    assert (detail.nodes, detail.node_counts, detail.retry_success_id) == ([], {}, None)


def test_no_events_fold_to_none() -> None:
    assert fold([]) is None


B1 = NodeStarted(node_id="b")
A2_COMPLETED: list[EventData] = [
    NodeStarted(node_id="a", attempt=2),
    NodeCompleted(node_id="a", attempt=2),
]
B_FAILED = NodeFailed(node_id="b", error=ErrorInfo(code="B", message="b broke"))
A_FAILED = NodeFailed(node_id="a", error=ErrorInfo(code="A", message="a broke"))


@pytest.mark.parametrize(
    ("nodes", "blamed"),
    [
        pytest.param([A1, B1, B_FAILED, A_FAILED], ("A", "a broke", "a"), id="last-of-two"),
        pytest.param(
            [A1, A1_FAILED, B1, B_FAILED, *A2_COMPLETED],
            ("B", "b broke", "b"),
            id="not-a-node-retried-since",
        ),
        pytest.param(
            [A1, A1_FAILED, B1, NodeCompleted(node_id="b")],
            ("N", "bad", "a"),
            id="a-retry-that-never-came",
        ),
    ],
)
def test_failed_without_error_blames_the_last_failed_node(
    nodes: list[EventData], blamed: tuple[str, str, str]
) -> None:
    detail = fold(history(Q, S, *nodes, ExecutionFailed()))

    assert detail is not None
    code, message, node_id = blamed
    assert detail.error == ExecutionError(code=code, message=message, node_id=node_id)


def test_failed_without_error_after_retried_nodes_has_none() -> None:
    detail = fold(history(Q, S, A1, A1_FAILED, *A2_COMPLETED, ExecutionFailed()))

    assert detail is not None
    assert (detail.status, detail.error) == ("failed", None)


def completed_with(usage: Usage | None, node_id: str) -> list[EventData]:
    return [NodeStarted(node_id=node_id), NodeCompleted(node_id=node_id, tokens=1, usage=usage)]


@pytest.mark.parametrize(
    ("usages", "total"),
    [
        pytest.param([None, None], None, id="none-given"),
        pytest.param([Usage(), None], None, id="empty-usage-is-none"),
        pytest.param(
            [Usage(prompt_tokens=2), Usage(completion_tokens=5)],
            UsageDetail(prompt_tokens=2, completion_tokens=5),
            id="each-field-where-given",
        ),
        pytest.param(
            [Usage(cost=0.25), Usage(cost=0.5, currency="EUR")],
            UsageDetail(cost=0.75, currency="EUR"),
            id="a-cost-without-currency-joins-the-other",
        ),
        pytest.param(
            [Usage(cost=0.25, currency="USD"), Usage(cost=0.5, currency="EUR"), Usage(cost=1.0)],
            UsageDetail(cost=None, currency=MIXED_CURRENCY),
            id="mixed-currencies-have-no-cost",
        ),
    ],
)
def test_usage_is_summed_where_given(usages: list[Usage | None], total: UsageDetail | None) -> None:
    nodes = [e for i, u in enumerate(usages) for e in completed_with(u, f"n{i}")]
    detail = fold(history(Q, S, *nodes))

    assert detail is not None
    assert detail.usage == total
    assert detail.tokens == len(usages)


def test_usage_of_a_node_sums_its_attempts() -> None:
    events = history(
        Q,
        S,
        NodeStarted(node_id="a"),
        NodeCompleted(node_id="a", tokens=4, usage=Usage(prompt_tokens=4, cost=0.5)),
        NodeStarted(node_id="a", attempt=3),
        NodeCompleted(node_id="a", attempt=3, tokens=6, usage=Usage(prompt_tokens=6, cost=0.25)),
    )
    detail = fold(events)

    assert detail is not None
    (node,) = detail.nodes
    assert node.totals == NodeTotals(
        tokens=10, duration_ms=2000, usage=UsageDetail(prompt_tokens=10, cost=0.75)
    )
    assert [a.attempt for a in node.attempts] == [1, 3]


@pytest.mark.parametrize(
    ("prefix", "now", "elapsed"),
    [
        pytest.param([Q], t(9), None, id="queued"),
        pytest.param([Q, S], t(2) + 1500 * 1000 + 999, 1500, id="running"),
        pytest.param([Q, S, WAIT], t(2) + 60 * SECOND, 60_000, id="waiting"),
        pytest.param([Q, S], t(1), 0, id="a-clock-behind-the-start"),
        pytest.param([Q, S, ExecutionCompleted()], t(99), 1000, id="finished-is-final"),
        pytest.param([Q, ExecutionCancelled()], t(99), None, id="cancelled-before-start"),
    ],
)
def test_elapsed_ms_takes_the_clock_it_is_given(
    prefix: list[EventData], now: int, elapsed: int | None
) -> None:
    detail = fold(history(*prefix))

    assert detail is not None
    assert elapsed_ms(detail, now) == elapsed


def test_a_producer_clock_stepping_back_gives_zero_not_negative_durations() -> None:
    events = history(
        Q, (S, t(5)), (A1, t(6)), (NodeCompleted(node_id="a"), t(4)), (ExecutionCompleted(), t(3))
    )
    detail = fold(events)

    assert detail is not None
    assert (detail.duration_ms, detail.nodes[0].attempts[0].duration_ms) == (0, 0)


@pytest.mark.parametrize(
    ("events", "message"),
    [
        pytest.param(history(S), "starts with execution.queued", id="no-queued-first"),
        pytest.param(
            [msgspec.structs.replace(e, version=2) for e in history(Q)],
            "at version 1",
            id="not-version-1",
        ),
        pytest.param(history(Q, Q), "queued twice", id="queued-twice"),
        pytest.param(
            [*history(Q), msgspec.structs.replace(history(Q, S)[1], version=3)],
            "does not follow",
            id="a-gap",
        ),
        pytest.param(
            [*history(Q), msgspec.structs.replace(history(Q, S)[1], execution_id=2)],
            "does not follow",
            id="another-execution",
        ),
        pytest.param(
            history(Q, S, NodeCompleted(node_id="a")), "is not running", id="node-never-started"
        ),
        pytest.param(
            history(Q, S, A1, NodeCompleted(node_id="a", attempt=2)),
            "is not running",
            id="another-attempt",
        ),
        pytest.param(history(Q, S, A1, A1_FAILED, A1_FAILED), "is not running", id="ended-twice"),
    ],
)
def test_what_is_not_one_history_is_refused(events: list[RecordedEvent], message: str) -> None:
    with pytest.raises(FoldError, match=message):
        fold(events)


def _node_pairs(pairs: int) -> list[RecordedEvent]:
    datas: list[EventData] = [ExecutionQueued(workflow_id="w"), ExecutionStarted()]
    for index in range(pairs):
        datas += [NodeStarted(node_id=f"n{index}"), NodeCompleted(node_id=f"n{index}")]
    return history(*datas)


def _best_of(repeats: int, call: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def test_the_fold_is_linear_in_the_events() -> None:
    # A complexity check, not a speed bound: eight times the events may take
    # about eight times as long, never the sixty-four times a fold that
    # copies its node list on every node event takes. Best of five runs, so
    # a pause of the machine does not count.
    small, large = _node_pairs(500), _node_pairs(4000)
    ratio = _best_of(5, lambda: fold(large)) / _best_of(5, lambda: fold(small))
    assert ratio < 24, f"folding 8x the events took {ratio:.1f}x as long"
