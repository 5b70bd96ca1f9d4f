"""Token usage arithmetic: summing what engines report, where they report it."""

from __future__ import annotations

from typing import TypeVar

from eventstore import (
    Usage,
)

from .views import MIXED_CURRENCY, UsageDetail


def usage_detail(usage: Usage | None) -> UsageDetail | None:
    if usage is None or usage == Usage():
        return None
    return UsageDetail(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost=usage.cost,
        currency=usage.currency,
    )


def merge_usage(a: UsageDetail | None, b: UsageDetail | None) -> UsageDetail | None:
    """The sum of two usages, field by field where given.

    A cost without a currency is taken to be in the other part's currency.
    Costs in different currencies cannot be summed: the total then has
    currency ``MIXED_CURRENCY`` and no cost, and stays so whatever is added.
    """
    if a is None:
        return b
    if b is None:
        return a
    cost: float | None
    currency: str | None
    if MIXED_CURRENCY in (a.currency, b.currency) or (
        a.currency is not None and b.currency is not None and a.currency != b.currency
    ):
        cost, currency = None, MIXED_CURRENCY
    else:
        cost = _add(a.cost, b.cost)
        currency = a.currency if a.currency is not None else b.currency
    return UsageDetail(
        prompt_tokens=_add(a.prompt_tokens, b.prompt_tokens),
        completion_tokens=_add(a.completion_tokens, b.completion_tokens),
        cost=cost,
        currency=currency,
    )


_N = TypeVar("_N", int, float)


def _add(a: _N | None, b: _N | None) -> _N | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b
