"""What /metrics shows, in Prometheus text format (prometheus-client does the format).

Owns: the metric names, their labels and help texts, and one registry per process (tests build
their own, so nothing leaks between apps). Labels are bounded: operations come from botocore's
model (plus "Unknown"), statuses from HTTP; tenants appear only on the storage gauge, read from
the ledger when scraped. Does not own: counting requests (the meter and the s3app middleware
call `observe`), or the ledger read behind the storage gauge (given as a callback).

Counters here start at zero with the process, as Prometheus expects (`rate()` handles resets);
the ledger, not /metrics, is the record of what was used.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

#: (tenant name, stored bytes) for every tenant, read when /metrics is scraped.
StorageReader = Callable[[], Awaitable[Iterable[tuple[str, int]]]]

CONTENT_TYPE = CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self, storage: StorageReader | None = None) -> None:
        self.registry = CollectorRegistry()
        self._storage_reader = storage
        self._series: dict[tuple[str, int], tuple[Counter, Counter, Counter, Histogram]] = {}
        r = self.registry
        self.requests = Counter(
            "billflow_s3_requests", "S3 requests answered, by operation and HTTP status.",
            ["operation", "status"], registry=r,
        )  # fmt: skip
        self.bytes_received = Counter(
            "billflow_s3_received_bytes", "Decoded body bytes received from S3 clients.",
            ["operation"], registry=r,
        )  # fmt: skip
        self.bytes_sent = Counter(
            "billflow_s3_sent_bytes", "Body bytes sent to S3 clients.", ["operation"], registry=r
        )
        self.latency = Histogram(
            "billflow_s3_request_duration_seconds",
            "Time from a request's arrival to the end of its answer.",
            ["operation"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.upstream_errors = Counter(
            "billflow_upstream_errors",
            "Upstream answers with a 5xx status, and requests the upstream never answered.",
            ["kind"], registry=r,
        )  # fmt: skip
        self.flush_lag = Gauge(
            "billflow_meter_flush_lag_seconds",
            "Age of the oldest entry in the last meter flush when it committed.", registry=r,
        )  # fmt: skip
        self.flush_duration = Histogram(
            "billflow_meter_flush_duration_seconds", "How long meter flushes take.",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.flush_batch = Histogram(
            "billflow_meter_flush_batch_size", "Entries written by each meter flush.",
            buckets=(1, 10, 100, 1_000, 10_000, 100_000), registry=r,
        )  # fmt: skip
        self.flush_failures = Counter(
            "billflow_meter_flush_failures", "Meter flushes that failed (kept for a retry).",
            registry=r,
        )  # fmt: skip
        self.meter_pending = Gauge(
            "billflow_meter_pending_entries", "Entries metered but not yet in the ledger.",
            registry=r,
        )  # fmt: skip
        self.storage = Gauge(
            "billflow_tenant_stored_bytes",
            "Bytes each tenant stores (objects and in-progress multipart parts), per the ledger.",
            ["tenant"], registry=r,
        )  # fmt: skip

    def observe(
        self, operation: str, status: int, bytes_in: int, bytes_out: int, seconds: float
    ) -> None:
        # Label lookups cost more than the updates: each (operation, status) pair's series are
        # looked up once (both sets are small and bounded: botocore's operations, HTTP codes).
        series = self._series.get((operation, status))
        if series is None:
            series = self._series[operation, status] = (
                self.requests.labels(operation, str(status)),
                self.bytes_received.labels(operation),
                self.bytes_sent.labels(operation),
                self.latency.labels(operation),
            )
        requests, received, sent, latency = series
        requests.inc()
        if bytes_in:
            received.inc(bytes_in)
        if bytes_out:
            sent.inc(bytes_out)
        latency.observe(seconds)

    def flushed(self, size: int, lag_seconds: float, duration_seconds: float) -> None:
        self.flush_batch.observe(size)
        self.flush_lag.set(lag_seconds)
        self.flush_duration.observe(duration_seconds)

    async def render(self) -> bytes:
        """The exposition text, with the storage gauge refreshed from the ledger first."""
        if self._storage_reader is not None:
            self.storage.clear()
            for tenant, stored in await self._storage_reader():
                self.storage.labels(tenant).set(stored)
        return generate_latest(self.registry)
