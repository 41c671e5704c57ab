"""The meter: every request's outcome and every storage change, aggregated in memory and written
to the ledger in one transaction per interval, never on the request path.

Owns: the in-memory aggregate (request counters per tenant, key, bucket, operation, billing class,
status class and billing-clock hour; unauthenticated requests per error code; storage events in
order), the flush loop and its retry, and the bytes a tenant has written that the ledger does not
hold yet (for quota checks). Does not own: what an operation is (routing), SQL (ledger_usage),
or what is reported to Prometheus (metrics reads the flush results).

Durability: a batch leaves memory only when the ledger committed it; a failed flush puts it back
in front of what came since, so nothing is lost or doubled while the process lives. A graceful
stop (SIGTERM, Ctrl-C) flushes last. A SIGKILL loses what was metered since the last flush: at
most one interval (`[meter] flush_interval_seconds`) of counters and storage events;
reconciliation repairs the storage part.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from billing.periods import hour_bounds
from proxy import routing
from proxy.log import server_logger
from proxy.usage import (
    Batch,
    CallKey,
    Counts,
    ObjectPut,
    PartPut,
    StorageEvent,
    status_class,
)

Sink = Callable[[Batch], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class FlushResult:
    """What one flush wrote (for /metrics): entries, how old its oldest event was, how long."""

    size: int
    lag_seconds: float
    duration_seconds: float


class Meter:
    def __init__(self, tz: ZoneInfo, class_overrides: Mapping[str, str] | None = None) -> None:
        self._tz = tz
        self._overrides = dict(class_overrides or {})
        routing.check_overrides(self._overrides)
        self._batch = Batch()
        #: (hour, tenant, key, bucket, operation, HTTP status) -> the batch's counters for it.
        self._index: dict[tuple[datetime, int, str, str, str, int], Counts] = {}
        self._oldest: float | None = None  # monotonic time of the batch's first entry
        self._last_event_at = datetime.min.replace(tzinfo=UTC)
        #: tenant id -> bytes written but not yet in the ledger (pending and being flushed).
        self._growth: dict[int, int] = {}
        self._flushing_growth: dict[int, int] = {}
        self._hour: tuple[datetime, datetime] | None = None  # the last hour seen: [start, end)
        self._flushing = asyncio.Lock()  # the loop's flushes and on-demand ones take turns

    def _hour_of(self, at: datetime) -> datetime:
        # One zoneinfo lookup per hour, not per request.
        cached = self._hour
        if cached is None or not cached[0] <= at < cached[1]:
            cached = self._hour = hour_bounds(at, self._tz)
        return cached[0]

    def _touch(self) -> None:
        if self._oldest is None:
            self._oldest = time.monotonic()

    def call(
        self,
        *,
        at: datetime,
        tenant_id: int,
        access_key_id: str,
        bucket: str,
        operation: str,
        status: int,
        bytes_in: int,
        bytes_out: int,
    ) -> None:
        """An authenticated request ended (answered, refused, or cut off mid-body)."""
        hour = self._hour_of(at)
        # Most calls repeat a grain already in the batch: a plain tuple finds its counters
        # without building (and hashing) a CallKey per request.
        index = (hour, tenant_id, access_key_id, bucket, operation, status)
        counts = self._index.get(index)
        if counts is None:
            key = CallKey(
                hour, tenant_id, access_key_id, bucket, operation,
                routing.billing_class(operation, self._overrides), status_class(status),
            )  # fmt: skip
            counts = self._batch.calls.get(key)
            if counts is None:
                counts = self._batch.calls[key] = Counts()
            self._index[index] = counts
        counts.calls += 1
        counts.bytes_in += bytes_in
        counts.bytes_out += bytes_out
        self._touch()

    def anonymous(self, *, at: datetime, error_code: str, bytes_in: int, bytes_out: int) -> None:
        """A request that never authenticated: counted platform-wide, by why it was refused."""
        counts = self._batch.anonymous.setdefault((self._hour_of(at), error_code), Counts())
        counts.calls += 1
        counts.bytes_in += bytes_in
        counts.bytes_out += bytes_out
        self._touch()

    def storage(self, tenant_id: int, event: StorageEvent) -> None:
        # The ledger keeps the last event by time, not by flush (storagefold): this gateway's
        # events keep their order even if the wall clock steps back.
        if event.at < self._last_event_at:
            event = replace(event, at=self._last_event_at)
        else:
            self._last_event_at = event.at
        self._batch.storage.append(event)
        if isinstance(event, ObjectPut | PartPut):
            self._growth[tenant_id] = self._growth.get(tenant_id, 0) + event.size
        self._touch()

    def unflushed_bytes(self, tenant_id: int) -> int:
        """Bytes the tenant wrote that the ledger may not count yet (an upper bound: an
        overwrite counts in full), for quota checks."""
        return self._growth.get(tenant_id, 0) + self._flushing_growth.get(tenant_id, 0)

    def pending(self) -> int:
        return self._batch.size()

    async def flush(self, sink: Sink) -> FlushResult | None:
        """Hand everything metered so far to `sink` (the ledger's one transaction). On failure
        the batch goes back in front of what arrived meanwhile, and the error propagates."""
        async with self._flushing:
            return await self._flush(sink)

    async def _flush(self, sink: Sink) -> FlushResult | None:
        if not self._batch:
            return None
        batch, self._batch = self._batch, Batch()
        self._index = {}
        oldest, self._oldest = self._oldest, None
        growth, self._growth = self._growth, {}
        self._flushing_growth = growth
        started = time.monotonic()
        try:
            await sink(batch)
        except BaseException:
            batch.merge_before(self._batch)
            self._batch = batch
            self._index = {}  # it points into the batch just merged away
            self._oldest = oldest
            for tenant_id, grown in self._growth.items():
                growth[tenant_id] = growth.get(tenant_id, 0) + grown
            self._growth = growth
            raise
        finally:
            self._flushing_growth = {}
        done = time.monotonic()
        return FlushResult(batch.size(), done - (oldest or started), done - started)

    @contextlib.asynccontextmanager
    async def running(
        self,
        sink: Sink,
        interval: float,
        on_flush: Callable[[FlushResult], None] = lambda _: None,
    ) -> AsyncIterator[None]:
        """Flush every `interval` seconds while the block runs, and once more when it ends
        (the graceful-shutdown flush). A failed flush is logged and retried next interval.

        The loop is stopped by an event, never cancelled: a flush cancelled mid-commit could not
        tell whether its transaction landed, and putting the batch back would count it twice."""

        async def flush_logged() -> None:
            try:
                result = await self.flush(sink)
            except Exception:
                server_logger.exception(
                    "meter flush failed; %d entries kept for the next try", self.pending()
                )
                return
            if result is not None:
                on_flush(result)

        stop = asyncio.Event()

        async def loop() -> None:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)
                if not stop.is_set():
                    await flush_logged()
            # The shutdown flush: after the stop, so it also takes what arrived during the
            # last interval's flush (or before the loop ever ran).
            await flush_logged()

        task = asyncio.get_running_loop().create_task(loop())
        try:
            yield
        finally:
            stop.set()
            await task  # its last pass is the shutdown flush
