"""RecentlyUsed: bounded, and what was stored last survives eviction."""

from __future__ import annotations

from eventstore.recent import RecentlyUsed


def test_never_holds_more_than_its_capacity() -> None:
    cache: RecentlyUsed[int, str] = RecentlyUsed(10)
    for key in range(1000):
        cache.store(key, str(key))
        assert len(cache) <= 10
    assert cache.get(999) == "999"
    assert cache.get(0) is None


def test_storing_again_spares_a_busy_key_from_eviction() -> None:
    cache: RecentlyUsed[int, int] = RecentlyUsed(4)
    cache.store(1, 1)
    for key in range(2, 20):
        cache.store(key, key)
        cache.store(1, key)  # key 1 is written as often as the newest
    assert cache.get(1) == 19
    assert cache.get(2) is None
