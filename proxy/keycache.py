"""A short-lived in-process cache in front of the ledger's access-key lookup.

Owns: remembering recent `find_credentials` answers (known keys and unknown ones) for a few
seconds, so the request path does not wait for SQLite on every request, and so a flood of
requests with made-up key ids costs one lookup per id and interval, not one per request.
Does not own: the keys themselves (the ledger) or what a key may do.

The price is staleness: a key created or removed in another process is seen here within
`ttl_seconds` ([s3] credential_cache_seconds). Changes made through this process can call
`forget()` to take effect on the next request.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from proxy.ledger import Credentials, Ledger

_MAX_ENTRIES = 10_000


class KeyCache:
    def __init__(
        self,
        ledger: Ledger,
        ttl_seconds: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ledger = ledger
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._entries: dict[str, tuple[float, Credentials | None]] = {}

    async def find(self, access_key_id: str) -> Credentials | None:
        now = self._monotonic()
        hit = self._entries.get(access_key_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        creds = await self._ledger.find_credentials(access_key_id)
        if self._ttl > 0:
            if len(self._entries) >= _MAX_ENTRIES:
                # Drop expired entries first; if all are fresh, start over (bounded memory
                # matters more than a perfect hit rate under a key-id flood).
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= _MAX_ENTRIES:
                    self._entries.clear()
            self._entries[access_key_id] = (now + self._ttl, creds)
        return creds

    def forget(self, access_key_id: str | None = None) -> None:
        """Drop one key (or everything) so the next request reads the ledger."""
        if access_key_id is None:
            self._entries.clear()
        else:
            self._entries.pop(access_key_id, None)
