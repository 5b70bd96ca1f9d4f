"""The summary fold gives, after every prefix of a history, the row the detail
fold gives (``summary_row(fold(prefix))``), whether it is stepped in place
event by event or folded afresh. The detail fold is the oracle."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventstore import (
    ErrorInfo,
    EventData,
    ExecutionFailed,
    ExecutionQueued,
    ExecutionStarted,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    RecordedEvent,
    json_value,
)
from eventstore.events import encode_data
from projections import FoldError, fold
from projections.summary_fold import apply, columns, fold_summary, row, step
from projections.views import summary_row

from . import A1, Q, S, history
from .test_replay import PROPERTY_SETTINGS, draw_history


def with_random_queued(rng: random.Random, events: list[RecordedEvent]) -> list[RecordedEvent]:
    """``events`` with a queued event whose optional fields are drawn too."""
    queued = ExecutionQueued(
        workflow_id=rng.choice(["wf", "wf-2"]),
        workflow_name=rng.choice([None, "Flow"]),
        workflow_version=rng.choice([None, 3]),
        trigger=rng.choice(["api", "cron"]),
        display_name=rng.choice([None, "nightly"]),
        test_mode=rng.random() < 0.3,
        team_id=rng.choice([None, "team-1"]),
        retry_of=rng.choice([None, 5]),
        external_id=rng.choice([None, "ext-1"]),
        uuid=rng.choice(["u", "u-2"]),
        input=json_value([1]),
    )
    first = msgspec.structs.replace(events[0], data=msgspec.Raw(encode_data(queued)))
    return [first, *events[1:]]


@PROPERTY_SETTINGS
@given(rng=st.randoms(use_true_random=False))
def test_rows_equal_the_detail_folds_after_every_prefix(rng: random.Random) -> None:
    events = with_random_queued(rng, draw_history(rng))
    acc = None
    for k, event in enumerate(events, 1):
        acc = step(acc, event)  # stepped in place, as the hook's cache is
        expected = summary_row(fold(events[:k]))  # type: ignore[arg-type]
        assert row(acc) == expected
        assert row(fold_summary(events[:k])) == expected  # type: ignore[arg-type]
    assert fold_summary([]) is None


def failed(node_id: str, attempt: int = 1) -> NodeFailed:
    error = ErrorInfo(code=f"{node_id}{attempt}", message=f"{node_id} broke")
    return NodeFailed(node_id=node_id, attempt=attempt, error=error, will_retry=True)


A, B, C = (NodeStarted(node_id=n) for n in "abc")


# Random histories seldom end with several nodes failed at once, so the blame
# rule's ordering is pinned here: the failure with the highest version wins,
# whatever the order the nodes first started in.
@pytest.mark.parametrize(
    ("items", "blamed"),
    [
        ((A, B, failed("b"), failed("a")), ("a1", "a")),
        ((A, B, failed("a"), failed("b")), ("b1", "b")),
        ((A, B, C, failed("c"), failed("a"), failed("b")), ("b1", "b")),
        ((A, B, C, failed("b"), failed("c"), failed("a")), ("a1", "a")),
        # Retried since: no longer blamed, even while its retry runs.
        ((A, B, failed("a"), failed("b"), NodeStarted(node_id="b", attempt=2)), ("a1", "a")),
        ((A, failed("a"), NodeStarted(node_id="a", attempt=2)), None),
        ((A, failed("a"), NodeStarted(node_id="a", attempt=2), failed("a", 2)), ("a2", "a")),
        ((A, B, failed("a"), NodeCompleted(node_id="b")), ("a1", "a")),
        ((), None),
    ],
)
def test_a_failure_without_an_error_blames_the_last_failed_node(
    items: tuple[EventData, ...], blamed: tuple[str, str] | None
) -> None:
    events = history(Q, S, *items, ExecutionFailed())
    expected = summary_row(fold(events))  # type: ignore[arg-type]
    acc = fold_summary(events)
    assert acc is not None
    assert row(acc) == expected
    code, node_id = blamed if blamed else (None, None)
    message = f"{node_id} broke" if node_id else None
    error = (expected.error_code, expected.error_message, expected.error_node_id)
    assert error == (code, message, node_id)


def test_every_step_bumps_the_version() -> None:
    # The hook's rollback rule relies on it: a fold stepped by a write that
    # rolled back must look ahead of the log.
    events = history(Q, S, A1, NodeCompleted(node_id="a"))
    acc = fold_summary(events[:1])
    assert acc is not None
    for event in events[1:]:
        before = acc.version
        apply(acc, event)
        assert acc.version == before + 1 == event.version


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ((S,), "starts with execution.queued"),
        ((Q, Q), "queued twice"),
        ((Q, S, NodeCompleted(node_id="a")), "is not running"),
        ((Q, S, A1, NodeCompleted(node_id="a", attempt=2)), "is not running"),
    ],
)
def test_histories_the_detail_fold_refuses_are_refused(
    items: tuple[ExecutionQueued | ExecutionStarted, ...], message: str
) -> None:
    events = history(*items)
    with pytest.raises(FoldError, match=message):
        fold(events)
    with pytest.raises(FoldError, match=message):
        fold_summary(events)


def test_an_event_out_of_order_is_refused() -> None:
    events = history(Q, S, A1)
    acc = fold_summary(events[:1])
    assert acc is not None
    with pytest.raises(FoldError, match="does not follow"):
        apply(acc, events[2])
    assert acc.version == 1  # left as it was


def _written_after_every_event(pairs: int) -> Callable[[], None]:
    """The hook's work on an execution whose every event is its own write:
    one step and one read of the row's columns per event."""
    datas: list[EventData] = [ExecutionStarted()]
    for index in range(pairs):
        datas += [NodeStarted(node_id=f"n{index}"), NodeCompleted(node_id=f"n{index}")]
    events = history(ExecutionQueued(workflow_id="w"), *datas)

    def write_each() -> None:
        acc = step(None, events[0])
        for event in events[1:]:
            apply(acc, event)
            columns(acc)

    return write_each


def test_a_write_costs_the_same_however_many_nodes() -> None:
    # A complexity check, not a speed bound: eight times the events, each its
    # own write, may take about eight times as long, never the sixty-four
    # times of a row that recounts the nodes on every write. Best of five.
    def best(call: Callable[[], None]) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        return min(times)

    ratio = best(_written_after_every_event(4000)) / best(_written_after_every_event(500))
    assert ratio < 24, f"8x the events took {ratio:.1f}x as long"
