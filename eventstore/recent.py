"""A bounded map of recently stored values, for the caches of per-execution
state, encoded frames and tokens: bounded in entries, and in bytes too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class RecentlyUsed(Generic[K, V]):
    """Keeps at most ``capacity`` entries and, given ``max_bytes``, at most
    that many bytes as ``size`` weighs each value, forgetting the least
    recently stored.

    A store moves its key to the newest end, so an execution still being
    written is never the one dropped. When a bound is passed, the oldest go
    until both are back under half: amortised O(1) per store, and a dropped
    entry only costs its owner a reload. A value heavier than the whole byte
    bound is not kept at all.
    """

    def __init__(
        self,
        capacity: int,
        max_bytes: int | None = None,
        size: Callable[[V], int] | None = None,
    ) -> None:
        self._capacity = capacity
        self._max_bytes = max_bytes
        self._size = size
        self._items: dict[K, tuple[V, int]] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        """The weight of what is kept, as ``size`` weighs it (0 without one)."""
        return self._bytes

    def get(self, key: K) -> V | None:
        found = self._items.get(key)
        return None if found is None else found[0]

    def discard(self, key: K) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old[1]

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0

    def store(self, key: K, value: V) -> None:
        items = self._items
        weight = 0 if self._size is None else self._size(value)
        old = items.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        if self._max_bytes is not None and weight > self._max_bytes:
            return
        items[key] = (value, weight)
        self._bytes += weight
        over_bytes = self._max_bytes is not None and self._bytes > self._max_bytes
        if len(items) > self._capacity or over_bytes:
            self._shrink()

    def _shrink(self) -> None:
        items = self._items
        byte_goal = None if self._max_bytes is None else self._max_bytes // 2
        keys = iter(list(items))
        while len(items) > self._capacity // 2 or (
            byte_goal is not None and self._bytes > byte_goal
        ):
            _, weight = items.pop(next(keys))
            self._bytes -= weight
