"""What metering records and reads back: the value types between the meter and the ledger.

Owns: the aggregation key of request counters, the storage events (each a change to one object,
one multipart part or one upload, in the order they happened), the batch the meter hands to the
ledger in one transaction, and the read-side records of usage and reconciliation. Does not own:
aggregating (meter), storing (ledger), or pricing (billing).

Quantities are ints with the unit in the name; times are aware UTC datetimes. An "hour" is an
hour of the billing clock (`billing.periods.hour_start`), so billing months are whole hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

#: Microseconds in a second: byte-seconds are integrated from microsecond intervals.
MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class CallKey:
    """The grain request counters are kept at (issue 4: tenant, key, bucket, operation,
    status class, hour). `bucket` is "" for service-level requests (ListBuckets)."""

    hour: datetime
    tenant_id: int
    access_key_id: str
    bucket: str
    operation: str
    billing_class: str
    status_class: str  # "2xx" ... "5xx"; 5xx is recorded but never billed


@dataclass(slots=True)
class Counts:
    calls: int = 0
    bytes_in: int = 0  # decoded payload bytes received from the client
    bytes_out: int = 0  # body bytes actually sent to the client

    def add(self, other: Counts) -> None:
        self.calls += other.calls
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out


def status_class(status: int) -> str:
    return f"{max(1, min(status // 100, 5))}xx"


# -- storage events: applied in order, each at its own time --------------------------------


@dataclass(frozen=True, slots=True)
class ObjectPut:
    """The object now has this size (new, or overwritten: the old size is replaced)."""

    at: datetime
    bucket: str
    key: str
    size: int


@dataclass(frozen=True, slots=True)
class ObjectDeleted:
    at: datetime
    bucket: str
    key: str


@dataclass(frozen=True, slots=True)
class PartPut:
    """A multipart part stored (re-uploading a part number replaces it)."""

    at: datetime
    bucket: str
    upload_id: str
    part_number: int
    size: int


@dataclass(frozen=True, slots=True)
class UploadEnded:
    """A multipart upload completed or aborted: its parts stop counting as stored."""

    at: datetime
    bucket: str
    upload_id: str


StorageEvent = ObjectPut | ObjectDeleted | PartPut | UploadEnded


@dataclass
class Batch:
    """Everything metered since the last flush; the ledger applies it in one transaction."""

    calls: dict[CallKey, Counts] = field(default_factory=dict)
    #: (hour, error code) -> counts of requests that never authenticated (platform-wide only).
    anonymous: dict[tuple[datetime, str], Counts] = field(default_factory=dict)
    storage: list[StorageEvent] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.calls or self.anonymous or self.storage)

    def size(self) -> int:
        return len(self.calls) + len(self.anonymous) + len(self.storage)

    def merge_before(self, later: Batch) -> None:
        """Fold `later` into this (earlier) batch: counters add, storage events stay in order."""
        for key, counts in later.calls.items():
            self.calls.setdefault(key, Counts()).add(counts)
        for akey, counts in later.anonymous.items():
            self.anonymous.setdefault(akey, Counts()).add(counts)
        self.storage.extend(later.storage)


# -- read side -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BucketStorage:
    """A bucket's storage now, as the ledger tracks it."""

    bucket: str
    tenant_id: int
    objects: int
    object_bytes: int
    parts: int
    part_bytes: int
    since: datetime  # storage byte-seconds are integrated up to here

    @property
    def bytes(self) -> int:
        return self.object_bytes + self.part_bytes


@dataclass(frozen=True, slots=True)
class ObservedBucket:
    """What the upstream holds for one bucket, listed by reconciliation."""

    objects: dict[str, int]  # key -> size
    parts: dict[tuple[str, int], int]  # (upload id, part number) -> size


@dataclass(frozen=True, slots=True)
class Correction:
    """One reconciliation that found the ledger wrong for a bucket, and what it set."""

    id: int
    at: datetime
    bucket: str
    tenant_id: int
    objects_before: int
    bytes_before: int
    objects_after: int
    bytes_after: int


@dataclass(frozen=True, slots=True)
class CallTotals:
    """Request counters summed over some grouping (operation, bucket, key or day)."""

    group: str
    billing_class: str
    status_class: str
    calls: int
    bytes_in: int
    bytes_out: int
