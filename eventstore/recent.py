"""A bounded map of recently stored values, for the caches of per-execution state."""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class RecentlyUsed(Generic[K, V]):
    """Keeps at most ``capacity`` entries, forgetting the least recently stored.

    A store moves its key to the newest end, so an execution still being
    written is never the one dropped. When full, the older half goes at once:
    amortised O(1) per store, and a dropped entry only costs its owner a reload.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def store(self, key: K, value: V) -> None:
        items = self._items
        items.pop(key, None)
        items[key] = value
        if len(items) > self._capacity:
            self._items = dict(list(items.items())[len(items) // 2 :])
