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


def test_never_holds_more_than_its_bytes() -> None:
    cache: RecentlyUsed[int, bytes] = RecentlyUsed(1000, max_bytes=100, size=len)
    for key in range(200):
        cache.store(key, b"x" * (key % 30))
        assert cache.bytes <= 100
        assert cache.bytes == sum(len(cache.get(k) or b"") for k in range(key + 1))
    assert cache.get(199) == b"x" * 19


def test_a_value_heavier_than_the_bound_is_not_kept() -> None:
    cache: RecentlyUsed[int, bytes] = RecentlyUsed(10, max_bytes=100, size=len)
    cache.store(1, b"small")
    cache.store(2, b"x" * 101)
    assert (cache.get(1), cache.get(2), cache.bytes) == (b"small", None, 5)
    cache.store(1, b"y" * 200)  # a key stored again too heavy: forgotten, not kept stale
    assert (cache.get(1), cache.bytes) == (None, 0)
