"""Billing months and billing-clock hours: local calendar in the billing timezone, UTC out.

Owns: `Period` (a billing month, labelled "2026-10"), its UTC half-open bounds [start, end), which
month an instant falls in, the billing-clock hour and day an instant falls in, splitting an
interval into per-hour microseconds, and India's financial-year label ("26-27"). Does not own:
reading the clock (callers pass instants; nothing here calls `datetime.now()`), usage storage, or
which timezone bills are in (config).

Every datetime returned is aware UTC; naive datetimes passed in raise ValueError. Usage is
bucketed by billing-clock hour (`hour_start`) so that a billing month is a whole number of
buckets: for Asia/Kolkata (+05:30) hours start at xx:30 UTC and months at 18:30 UTC.

Hours are computed from UTC offsets (floor `at + offset` to the hour, subtract the offset), never
by wall-clock arithmetic, so DST needs no special case: the repeated autumn hour is two distinct
buckets and the skipped spring hour simply has no bucket. A bucket boundary is every instant
whose local time is on the hour, plus every offset change: where an offset changes mid-hour
(Australia/Lord_Howe's 30-minute DST) the hour around it is split there. At most one offset
change per hour is assumed, as holds throughout tzdata. A local midnight that does not exist
(a DST gap at 00:00) means the day starts when the clocks jump.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "Period",
    "day_start",
    "days_in",
    "financial_year",
    "hour_start",
    "hours_between",
    "parse_period",
    "period_bounds",
    "period_of",
    "split_by_hour",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_MICROSECOND = timedelta(microseconds=1)
_HOUR = timedelta(hours=1)
_LABEL = re.compile(r"([0-9]{4})-([0-9]{2})")


@dataclass(frozen=True, order=True, slots=True)
class Period:
    """A billing month; ordered chronologically."""

    year: int
    month: int

    def __post_init__(self) -> None:
        for name, value in (("year", self.year), ("month", self.month)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Period {name} must be an int, not {type(value).__name__}")
        if not MINYEAR <= self.year <= MAXYEAR:
            raise ValueError(f"Period year must be {MINYEAR}..{MAXYEAR}, got {self.year}")
        if not 1 <= self.month <= 12:
            raise ValueError(f"Period month must be 1..12, got {self.month}")

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def __str__(self) -> str:
        return self.label

    def next(self) -> Period:
        return Period(self.year + 1, 1) if self.month == 12 else Period(self.year, self.month + 1)

    def previous(self) -> Period:
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)


def parse_period(label: str) -> Period:
    """ "2026-10" -> Period(2026, 10); anything else is a ValueError naming the input."""
    match = _LABEL.fullmatch(label)
    if match is None:
        raise ValueError(f"billing period must be YYYY-MM, e.g. '2026-10'; got {label!r}")
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12:
        raise ValueError(f"billing period {label!r} has month {month:02d}; months run 01..12")
    if year < MINYEAR:
        raise ValueError(f"billing period {label!r} has year {year:04d}; years start at 0001")
    return Period(year, month)


def days_in(period: Period) -> int:
    return calendar.monthrange(period.year, period.month)[1]


def period_bounds(period: Period, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC [start, end): from local midnight on the 1st to local midnight on the next 1st."""
    following = period.next()
    return (
        _first_instant(datetime(period.year, period.month, 1), tz),
        _first_instant(datetime(following.year, following.month, 1), tz),
    )


def period_of(at: datetime, tz: ZoneInfo) -> Period:
    """The billing month `at` falls in: the month of its local date in `tz`.

    Agrees with `period_bounds` at every instant, gaps and repeated hours included, because
    both read the same local calendar (the tests check this around 24 month ends per zone).
    """
    local = _utc(at).astimezone(tz)
    return Period(local.year, local.month)


def day_start(at: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant the local day containing `at` began."""
    local = _utc(at).astimezone(tz)
    return _first_instant(datetime.combine(local.date(), time()), tz)


def hour_start(at: datetime, tz: ZoneInfo) -> datetime:
    """The UTC start of the billing-clock hour containing `at`."""
    at_utc = _utc(at)
    offset = _offset(at_utc, tz)
    start = (at_utc + offset).replace(minute=0, second=0, microsecond=0) - offset
    if _offset(start, tz) != offset:
        # The offset changed inside this local hour: the bucket starts at the change.
        start = _offset_change(start, at_utc, tz)
    return start


def hour_bounds(at: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The billing-clock hour containing `at` as UTC [start, end): usually an hour long,
    shorter where the offset changes inside it (Lord Howe's half-hour DST). For callers that
    keep the current hour to skip zoneinfo work while `at` stays inside it."""
    start = hour_start(at, tz)
    return start, _next_hour(start, tz)


def hours_between(start: datetime, end: datetime, tz: ZoneInfo) -> Iterator[datetime]:
    """Each billing-clock hour start h (UTC) with start <= h < end, in order."""
    start_utc, end_utc = _utc(start, "start"), _utc(end, "end")
    first = hour_start(start_utc, tz)
    if first < start_utc:
        first = _next_hour(first, tz)
    return _hours_from(first, end_utc, tz)


def split_by_hour(start: datetime, end: datetime, tz: ZoneInfo) -> list[tuple[datetime, int]]:
    """[start, end) cut at billing-clock hours: (hour start in UTC, microseconds inside it).

    Exact: the microseconds sum to `end - start`. An empty interval gives [].
    """
    start_utc, end_utc = _utc(start, "start"), _utc(end, "end")
    if end_utc < start_utc:
        raise ValueError(f"interval ends before it starts: {start.isoformat()} > {end.isoformat()}")
    parts: list[tuple[datetime, int]] = []
    if start_utc == end_utc:
        return parts
    bucket = hour_start(start_utc, tz)
    while bucket < end_utc:
        following = _next_hour(bucket, tz)
        inside = min(following, end_utc) - max(bucket, start_utc)
        parts.append((bucket, inside // _MICROSECOND))
        bucket = following
    return parts


def financial_year(when: date | datetime, tz: ZoneInfo) -> str:
    """India's financial year (April to March) as "26-27" for FY 2026-27.

    A datetime is placed on its local date in `tz`; a date is taken as it is.
    """
    if isinstance(when, datetime):
        when = _utc(when, "when").astimezone(tz).date()
    first = when.year if when.month >= 4 else when.year - 1
    return f"{first % 100:02d}-{(first + 1) % 100:02d}"


def _utc(at: datetime, name: str = "at") -> datetime:
    if not isinstance(at, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {at.isoformat()}")
    return at.astimezone(UTC)


def _offset(at_utc: datetime, tz: ZoneInfo) -> timedelta:
    offset = at_utc.astimezone(tz).utcoffset()
    if offset is None:  # pragma: no cover - a ZoneInfo always has an offset
        raise ValueError(f"{tz} has no UTC offset at {at_utc.isoformat()}")
    return offset


def _offset_change(before: datetime, after: datetime, tz: ZoneInfo) -> datetime:
    """The first instant in (before, after] with `after`'s offset (tzdata changes on seconds)."""
    target = _offset(after, tz)
    low, high = (before - _EPOCH) // _SECOND, (after - _EPOCH) // _SECOND
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(_EPOCH + middle * _SECOND, tz) == target:
            high = middle
        else:
            low = middle
    return _EPOCH + high * _SECOND


def _next_hour(at_utc: datetime, tz: ZoneInfo) -> datetime:
    """The first bucket boundary after `at_utc`."""
    offset = _offset(at_utc, tz)
    following = (at_utc + offset).replace(minute=0, second=0, microsecond=0) + _HOUR - offset
    if _offset(following, tz) != offset:
        following = _offset_change(at_utc, following, tz)
    return following


def _hours_from(first: datetime, end_utc: datetime, tz: ZoneInfo) -> Iterator[datetime]:
    hour = first
    while hour < end_utc:
        yield hour
        hour = _next_hour(hour, tz)


def _first_instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first UTC instant whose local time in `tz` is `wall` (naive), or just after it."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first  # exists; fold=0 is the earlier of two occurrences
    # `wall` is in a DST gap: fold=1 reads it with the later offset, landing before the jump.
    before = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return _offset_change(before, first, tz)
