"""Requests in flight on the S3 listener, counted for a graceful stop.

Owns: the count and the draining flag the s3app middleware reads. Does not own: closing the
listener or the connections (`__main__`, aiohttp).
"""

from __future__ import annotations

import asyncio


class InFlight:
    """Requests being answered, for a graceful stop that loses none of them.

    aiohttp's own shutdown closes every connection first and from then on ignores bytes that
    arrive on it (web_protocol.data_received), so a request whose body is still arriving stalls
    until the shutdown timeout and is cut off. `drain()` runs before that: the listener is
    closed already, every answer from now on closes its connection, and it waits until no
    request is in flight."""

    def __init__(self) -> None:
        self.count = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def drain(self) -> None:
        """Return once no request is in flight; from now on answers close their connections.
        The caller bounds the wait (`asyncio.timeout`)."""
        self.draining = True
        await self._idle.wait()
