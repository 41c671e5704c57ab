"""A short-lived in-process cache in front of ledger lookups on the request path.

Owns: remembering recent answers (including "not found") for a few seconds, keyed by a string, with
bounded memory. Used for access-key lookups and bucket owners: the request path then does not wait
for SQLite on every request, and a flood of requests with made-up key ids or bucket names costs one
lookup per name and interval, not one per request.
Does not own: the data (the ledger) or what it means.

The price is staleness: a change made by another process is seen here within `ttl_seconds`
([s3] credential_cache_seconds). Changes made through this process call `forget()` or `put()` so
they take effect on the next request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

V = TypeVar("V")

_MAX_ENTRIES = 10_000


class TTLCache(Generic[V]):
    def __init__(
        self, ttl_seconds: float, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._entries: dict[str, tuple[float, V]] = {}

    async def get(self, key: str, load: Callable[[str], Awaitable[V]]) -> V:
        now = self._monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await load(key)
        self.put(key, value, now=now)
        return value

    def put(self, key: str, value: V, *, now: float | None = None) -> None:
        if self._ttl <= 0:
            return
        now = self._monotonic() if now is None else now
        if len(self._entries) >= _MAX_ENTRIES:
            # Drop expired entries first; if all are fresh, start over (bounded memory matters
            # more than a perfect hit rate under a flood of made-up names).
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.clear()
        self._entries[key] = (now + self._ttl, value)

    def forget(self, key: str | None = None) -> None:
        """Drop one key (or everything) so the next request reads the ledger."""
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)
