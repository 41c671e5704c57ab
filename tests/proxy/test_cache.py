"""The TTL cache: answers from memory within its TTL, asks again after it, bounded in size."""

from __future__ import annotations

import pytest

from proxy import cache as cache_module
from proxy.cache import TTLCache


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Source:
    """Counts loads; answers from a dict (None for absent), like a ledger lookup."""

    def __init__(self) -> None:
        self.data: dict[str, int | None] = {}
        self.loads = 0

    async def load(self, key: str) -> int | None:
        self.loads += 1
        return self.data.get(key)


async def test_cache_answer_reused_within_ttl_then_reloaded() -> None:
    clock, src = Clock(), Source()
    cache: TTLCache[int | None] = TTLCache(2.0, monotonic=clock)
    src.data["a"] = 1
    assert await cache.get("a", src.load) == 1
    src.data["a"] = 2
    clock.t += 1.9
    assert await cache.get("a", src.load) == 1
    clock.t += 0.2
    assert await cache.get("a", src.load) == 2
    assert src.loads == 2


async def test_cache_miss_is_cached_too() -> None:
    """A flood of made-up names costs one lookup per name and interval."""
    src = Source()
    cache: TTLCache[int | None] = TTLCache(2.0, monotonic=Clock())
    for _ in range(5):
        assert await cache.get("nope", src.load) is None
    assert src.loads == 1


async def test_cache_forget_and_put_take_effect_at_once() -> None:
    src = Source()
    cache: TTLCache[int | None] = TTLCache(60.0, monotonic=Clock())
    assert await cache.get("a", src.load) is None
    src.data["a"] = 5
    cache.forget("a")
    assert await cache.get("a", src.load) == 5
    cache.put("a", 6)
    assert await cache.get("a", src.load) == 6
    cache.forget()
    assert await cache.get("a", src.load) == 5


async def test_cache_zero_ttl_always_loads() -> None:
    src = Source()
    cache: TTLCache[int | None] = TTLCache(0.0, monotonic=Clock())
    await cache.get("a", src.load)
    await cache.get("a", src.load)
    assert src.loads == 2


async def test_cache_size_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "_MAX_ENTRIES", 3)
    src = Source()
    cache: TTLCache[int | None] = TTLCache(60.0, monotonic=Clock())
    for key in "abcde":
        await cache.get(key, src.load)
    assert len(cache._entries) <= 3
