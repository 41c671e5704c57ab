"""Tables for billing/periods.py: billing months and billing-clock hours, checked across DST."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from billing.periods import (
    Period,
    day_start,
    days_in,
    financial_year,
    hour_bounds,
    hour_start,
    hours_between,
    parse_period,
    period_bounds,
    period_of,
    split_by_hour,
)

KOLKATA = ZoneInfo("Asia/Kolkata")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KATHMANDU = ZoneInfo("Asia/Kathmandu")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # DST is +30 minutes: offsets change mid-hour
ASUNCION = ZoneInfo("America/Asuncion")  # 2023-10-01 00:00 did not exist: clocks went to 01:00
UTC_ZONE = ZoneInfo("UTC")
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# --- Period ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "period, label, following, preceding",
    [
        pytest.param(Period(2026, 10), "2026-10", Period(2026, 11), Period(2026, 9), id="mid"),
        pytest.param(Period(2026, 12), "2026-12", Period(2027, 1), Period(2026, 11), id="dec"),
        pytest.param(Period(2027, 1), "2027-01", Period(2027, 2), Period(2026, 12), id="jan"),
        pytest.param(Period(999, 3), "0999-03", Period(999, 4), Period(999, 2), id="short-year"),
    ],
)
def test_period_label_and_neighbours_follow_the_calendar(
    period: Period, label: str, following: Period, preceding: Period
) -> None:
    assert period.label == label == str(period)
    assert period.next() == following
    assert period.previous() == preceding
    assert preceding < period < following


@pytest.mark.parametrize(
    "year, month, error",
    [
        pytest.param(2026, 0, ValueError, id="month-0"),
        pytest.param(2026, 13, ValueError, id="month-13"),
        pytest.param(0, 1, ValueError, id="year-0"),
        pytest.param(10000, 1, ValueError, id="year-10000"),
        pytest.param(2026, True, TypeError, id="bool-month"),
        pytest.param("2026", 1, TypeError, id="str-year"),
    ],
)
def test_period_out_of_range_raises(year: object, month: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        Period(year, month)  # type: ignore[arg-type]


def test_period_is_frozen_and_hashable() -> None:
    period = Period(2026, 10)
    with pytest.raises(AttributeError):
        period.year = 2027  # type: ignore[misc]
    assert {period, Period(2026, 10)} == {period}


@pytest.mark.parametrize(
    "label, period",
    [
        ("2026-10", Period(2026, 10)),
        ("2026-01", Period(2026, 1)),
        ("0001-12", Period(1, 12)),
        ("9999-12", Period(9999, 12)),
    ],
)
def test_parse_period_label_round_trips(label: str, period: Period) -> None:
    assert parse_period(label) == period
    assert parse_period(label).label == label


@pytest.mark.parametrize(
    "label, message",
    [
        pytest.param("2026-1", "YYYY-MM", id="one-digit-month"),
        pytest.param("26-10", "YYYY-MM", id="two-digit-year"),
        pytest.param("2026/10", "YYYY-MM", id="slash"),
        pytest.param("2026-10-01", "YYYY-MM", id="date"),
        pytest.param(" 2026-10", "YYYY-MM", id="leading-space"),
        pytest.param("2026-10\n", "YYYY-MM", id="trailing-newline"),
        pytest.param("", "YYYY-MM", id="empty"),
        pytest.param("\uff12\uff10\uff12\uff16-10", "YYYY-MM", id="fullwidth-digits"),
        pytest.param("2026-13", "months run 01..12", id="month-13"),
        pytest.param("2026-00", "months run 01..12", id="month-00"),
        pytest.param("0000-05", "years start at 0001", id="year-0"),
    ],
)
def test_parse_period_bad_label_raises_naming_it(label: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_period(label)
    assert repr(label) in str(caught.value)


@pytest.mark.parametrize(
    "period, days",
    [
        (Period(2026, 1), 31),
        (Period(2026, 2), 28),
        (Period(2028, 2), 29),
        (Period(1900, 2), 28),
        (Period(2000, 2), 29),
        (Period(2026, 4), 30),
        (Period(2026, 12), 31),
    ],
)
def test_days_in_period_counts_calendar_days(period: Period, days: int) -> None:
    assert days_in(period) == days


# --- months in the billing timezone ------------------------------------------------------


@pytest.mark.parametrize(
    "period, tz, start, end",
    [
        pytest.param(
            Period(2026, 10), KOLKATA, utc(2026, 9, 30, 18, 30), utc(2026, 10, 31, 18, 30),
            id="kolkata",
        ),
        pytest.param(
            Period(2026, 12), KOLKATA, utc(2026, 11, 30, 18, 30), utc(2026, 12, 31, 18, 30),
            id="kolkata-year-end",
        ),
        pytest.param(
            Period(2026, 10), UTC_ZONE, utc(2026, 10, 1), utc(2026, 11, 1), id="utc",
        ),
        pytest.param(
            Period(2026, 3), BERLIN, utc(2026, 2, 28, 23), utc(2026, 3, 31, 22),
            id="berlin-spring-forward-inside",
        ),
        pytest.param(
            Period(2026, 11), NEW_YORK, utc(2026, 11, 1, 4), utc(2026, 12, 1, 5),
            id="new-york-fall-back-on-first-day",
        ),
        pytest.param(
            Period(2023, 10), ASUNCION, utc(2023, 10, 1, 4), utc(2023, 11, 1, 3),
            id="asuncion-midnight-skipped-starts-at-the-jump",
        ),
    ],
)  # fmt: skip
def test_period_bounds_zone_starts_at_local_midnight_in_utc(
    period: Period, tz: ZoneInfo, start: datetime, end: datetime
) -> None:
    assert period_bounds(period, tz) == (start, end)
    assert start.tzinfo is UTC and end.tzinfo is UTC


def test_period_bounds_consecutive_months_tile_without_gaps() -> None:
    period = Period(2025, 1)
    for _ in range(36):
        assert period_bounds(period, BERLIN)[1] == period_bounds(period.next(), BERLIN)[0]
        period = period.next()


@pytest.mark.parametrize(
    "at, tz, period",
    [
        pytest.param(utc(2026, 9, 30, 18, 30), KOLKATA, Period(2026, 10), id="kolkata-at-start"),
        pytest.param(
            utc(2026, 9, 30, 18, 29, 59, 999999), KOLKATA, Period(2026, 9), id="kolkata-1us-before"
        ),
        pytest.param(utc(2026, 10, 31, 18, 30), KOLKATA, Period(2026, 11), id="kolkata-at-end"),
        pytest.param(utc(2026, 10, 15), KOLKATA, Period(2026, 10), id="kolkata-mid"),
        pytest.param(utc(2026, 12, 31, 19), KOLKATA, Period(2027, 1), id="kolkata-new-year"),
        pytest.param(
            datetime(2026, 10, 1, 0, 0, tzinfo=KOLKATA), UTC_ZONE, Period(2026, 9),
            id="aware-in-other-zone",
        ),
        pytest.param(utc(2023, 10, 1, 3, 59), ASUNCION, Period(2023, 9), id="asuncion-before-jump"),
        pytest.param(utc(2023, 10, 1, 4), ASUNCION, Period(2023, 10), id="asuncion-at-jump"),
    ],
)  # fmt: skip
def test_period_of_instant_finds_its_billing_month(
    at: datetime, tz: ZoneInfo, period: Period
) -> None:
    assert period_of(at, tz) == period


@pytest.mark.parametrize("tz", [KOLKATA, BERLIN, NEW_YORK, ASUNCION, LORD_HOWE], ids=str)
def test_period_of_around_bounds_agrees_with_period_bounds(tz: ZoneInfo) -> None:
    period = Period(2023, 1)
    for _ in range(24):
        start, end = period_bounds(period, tz)
        for at in (start, start + timedelta(microseconds=1), end - timedelta(microseconds=1)):
            assert period_of(at, tz) == period
        assert period_of(start - timedelta(microseconds=1), tz) == period.previous()
        period = period.next()


# --- billing-clock hours -----------------------------------------------------------------


@pytest.mark.parametrize(
    "at, tz, start",
    [
        pytest.param(utc(2026, 10, 5, 10, 45), KOLKATA, utc(2026, 10, 5, 10, 30), id="kolkata"),
        pytest.param(utc(2026, 10, 5, 10, 30), KOLKATA, utc(2026, 10, 5, 10, 30), id="on-boundary"),
        pytest.param(
            utc(2026, 10, 5, 10, 29, 59, 999999), KOLKATA, utc(2026, 10, 5, 9, 30), id="1us-before"
        ),
        pytest.param(
            utc(2026, 10, 5, 0, 10), KOLKATA, utc(2026, 10, 4, 23, 30), id="across-utc-day"
        ),
        pytest.param(utc(2026, 10, 5, 10, 10), KATHMANDU, utc(2026, 10, 5, 9, 15), id="kathmandu"),
        pytest.param(utc(2026, 10, 5, 10, 59), UTC_ZONE, utc(2026, 10, 5, 10), id="utc"),
        # Berlin falls back 2026-10-25 01:00 UTC: local 02:00-03:00 happens twice.
        pytest.param(utc(2026, 10, 25, 0, 30), BERLIN, utc(2026, 10, 25, 0), id="berlin-first-02"),
        pytest.param(utc(2026, 10, 25, 1, 30), BERLIN, utc(2026, 10, 25, 1), id="berlin-second-02"),
        # Berlin springs forward 2026-03-29 01:00 UTC: local 02:00-03:00 never happens.
        pytest.param(utc(2026, 3, 29, 0, 59), BERLIN, utc(2026, 3, 29, 0), id="berlin-before-gap"),
        pytest.param(utc(2026, 3, 29, 1, 0), BERLIN, utc(2026, 3, 29, 1), id="berlin-after-gap"),
        # New York: spring 2026-03-08 07:00 UTC, fall 2026-11-01 06:00 UTC.
        pytest.param(utc(2026, 3, 8, 7, 20), NEW_YORK, utc(2026, 3, 8, 7), id="ny-spring"),
        pytest.param(utc(2026, 11, 1, 5, 20), NEW_YORK, utc(2026, 11, 1, 5), id="ny-first-01"),
        pytest.param(utc(2026, 11, 1, 6, 20), NEW_YORK, utc(2026, 11, 1, 6), id="ny-second-01"),
        # Lord Howe falls back 2026-04-04 15:00 UTC from +11 to +10:30, mid local hour.
        pytest.param(
            utc(2026, 4, 4, 15, 10), LORD_HOWE, utc(2026, 4, 4, 15), id="lord-howe-split-hour"
        ),
        pytest.param(
            utc(2026, 4, 4, 15, 40), LORD_HOWE, utc(2026, 4, 4, 15, 30), id="lord-howe-next"
        ),
    ],
)  # fmt: skip
def test_hour_start_instant_floors_to_billing_clock_hour(
    at: datetime, tz: ZoneInfo, start: datetime
) -> None:
    result = hour_start(at, tz)
    assert result == start
    assert result.tzinfo is UTC


def _reference_buckets(tz: ZoneInfo, begin: datetime, end: datetime) -> list[datetime]:
    """Bucket starts found by brute force: every minute whose local time is on the hour or
    whose offset differs from the minute before (all these zones change offset on minutes)."""
    starts = []
    at = begin
    while at < end:
        local = at.astimezone(tz)
        changed = local.utcoffset() != (at - MINUTE).astimezone(tz).utcoffset()
        if (local.minute == 0 and local.second == 0) or changed:
            starts.append(at)
        at += MINUTE
    return starts


TRANSITION_DAYS = [
    pytest.param(BERLIN, utc(2026, 3, 28, 12), id="berlin-spring"),
    pytest.param(BERLIN, utc(2026, 10, 24, 12), id="berlin-fall"),
    pytest.param(NEW_YORK, utc(2026, 3, 7, 18), id="new-york-spring"),
    pytest.param(NEW_YORK, utc(2026, 10, 31, 18), id="new-york-fall"),
    pytest.param(LORD_HOWE, utc(2026, 4, 4), id="lord-howe-fall"),
    pytest.param(LORD_HOWE, utc(2026, 10, 3), id="lord-howe-spring"),
    pytest.param(ASUNCION, utc(2023, 9, 30, 16), id="asuncion-midnight-gap"),
    pytest.param(KOLKATA, utc(2026, 9, 30, 6), id="kolkata-month-edge"),
    pytest.param(KATHMANDU, utc(2026, 1, 1), id="kathmandu"),
]


@pytest.mark.parametrize("tz, begin", TRANSITION_DAYS)
def test_hour_start_every_minute_matches_brute_force(tz: ZoneInfo, begin: datetime) -> None:
    end = begin + timedelta(hours=26)
    buckets = _reference_buckets(tz, begin - 2 * HOUR, end)
    at = begin
    while at < end:
        expected = max(b for b in buckets if b <= at)
        assert hour_start(at, tz) == expected, at
        assert hour_start(at + timedelta(seconds=59, microseconds=999999), tz) == expected
        at += MINUTE


@pytest.mark.parametrize("tz, begin", TRANSITION_DAYS)
def test_hour_bounds_every_minute_matches_brute_force(tz: ZoneInfo, begin: datetime) -> None:
    """[start, end) is the bucket holding `at` and ends where the next bucket starts."""
    end = begin + timedelta(hours=26)
    buckets = _reference_buckets(tz, begin - 2 * HOUR, end + 2 * HOUR)
    at = begin
    while at < end:
        first = max(b for b in buckets if b <= at)
        assert hour_bounds(at, tz) == (first, min(b for b in buckets if b > at)), at
        at += MINUTE


@pytest.mark.parametrize("tz, begin", TRANSITION_DAYS)
def test_hours_between_transition_day_yields_every_bucket_once(
    tz: ZoneInfo, begin: datetime
) -> None:
    end = begin + timedelta(hours=26)
    assert list(hours_between(begin, end, tz)) == _reference_buckets(tz, begin, end)


@pytest.mark.parametrize(
    "tz, period, hours",
    [
        pytest.param(KOLKATA, Period(2026, 10), 31 * 24, id="kolkata"),
        pytest.param(BERLIN, Period(2026, 3), 31 * 24 - 1, id="berlin-march-short"),
        pytest.param(BERLIN, Period(2026, 10), 31 * 24 + 1, id="berlin-october-long"),
        pytest.param(NEW_YORK, Period(2026, 11), 30 * 24 + 1, id="new-york-november"),
        pytest.param(ASUNCION, Period(2023, 10), 31 * 24 - 1, id="asuncion-october"),
    ],
)
def test_hours_between_month_bounds_counts_whole_buckets(
    tz: ZoneInfo, period: Period, hours: int
) -> None:
    start, end = period_bounds(period, tz)
    starts = list(hours_between(start, end, tz))
    assert len(starts) == hours
    assert starts[0] == start
    assert hour_start(end, tz) == end  # months are made of whole buckets
    assert all(s.tzinfo is UTC for s in starts)


def test_hours_between_start_inside_hour_skips_that_hour() -> None:
    starts = hours_between(utc(2026, 10, 5, 10, 45), utc(2026, 10, 5, 13, 30), KOLKATA)
    assert list(starts) == [utc(2026, 10, 5, 11, 30), utc(2026, 10, 5, 12, 30)]


@pytest.mark.parametrize(
    "start, end, tz, parts",
    [
        pytest.param(
            utc(2026, 10, 5, 10, 40), utc(2026, 10, 5, 10, 50), KOLKATA,
            [(utc(2026, 10, 5, 10, 30), 600_000_000)], id="inside-one-hour",
        ),
        pytest.param(
            utc(2026, 10, 5, 10, 0), utc(2026, 10, 5, 11, 45), KOLKATA,
            [
                (utc(2026, 10, 5, 9, 30), 1_800_000_000),
                (utc(2026, 10, 5, 10, 30), 3_600_000_000),
                (utc(2026, 10, 5, 11, 30), 900_000_000),
            ],
            id="across-two-boundaries",
        ),
        pytest.param(
            utc(2026, 10, 5, 10, 30), utc(2026, 10, 5, 11, 30), KOLKATA,
            [(utc(2026, 10, 5, 10, 30), 3_600_000_000)], id="exactly-one-bucket",
        ),
        pytest.param(
            utc(2026, 10, 5, 10, 29, 59, 999999), utc(2026, 10, 5, 10, 30, 0, 1), KOLKATA,
            [(utc(2026, 10, 5, 9, 30), 1), (utc(2026, 10, 5, 10, 30), 1)], id="microseconds",
        ),
        pytest.param(
            utc(2026, 10, 25, 0), utc(2026, 10, 25, 2), BERLIN,
            [(utc(2026, 10, 25, 0), 3_600_000_000), (utc(2026, 10, 25, 1), 3_600_000_000)],
            id="berlin-repeated-hour-is-two-buckets",
        ),
        pytest.param(
            utc(2026, 4, 4, 14, 30), utc(2026, 4, 4, 16), LORD_HOWE,
            [
                (utc(2026, 4, 4, 14), 1_800_000_000),
                (utc(2026, 4, 4, 15), 1_800_000_000),
                (utc(2026, 4, 4, 15, 30), 1_800_000_000),
            ],
            id="lord-howe-half-hour-bucket",
        ),
        pytest.param(
            utc(2026, 10, 5, 10), utc(2026, 10, 5, 10), KOLKATA, [], id="empty",
        ),
        pytest.param(
            utc(2026, 10, 5, 10, 30), utc(2026, 10, 5, 10, 30), KOLKATA, [],
            id="empty-on-boundary",
        ),
    ],
)  # fmt: skip
def test_split_by_hour_interval_cuts_at_billing_hours(
    start: datetime, end: datetime, tz: ZoneInfo, parts: list[tuple[datetime, int]]
) -> None:
    assert split_by_hour(start, end, tz) == parts


@pytest.mark.parametrize("tz, begin", TRANSITION_DAYS)
def test_split_by_hour_odd_interval_sums_to_the_whole(tz: ZoneInfo, begin: datetime) -> None:
    start = begin + timedelta(minutes=7, seconds=3, microseconds=17)
    end = begin + timedelta(hours=25, minutes=51, microseconds=5)
    parts = split_by_hour(start, end, tz)
    assert sum(us for _, us in parts) == (end - start) // timedelta(microseconds=1)
    assert [hour for hour, _ in parts] == [hour_start(start, tz), *hours_between(start, end, tz)]
    assert all(us > 0 for _, us in parts)


def test_split_by_hour_end_before_start_raises() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        split_by_hour(utc(2026, 10, 5, 11), utc(2026, 10, 5, 10), KOLKATA)


def test_split_by_hour_aware_non_utc_inputs_are_converted() -> None:
    start = datetime(2026, 10, 5, 16, 0, tzinfo=KOLKATA)  # 10:30 UTC
    end = datetime(2026, 10, 5, 12, 30, tzinfo=BERLIN)  # 10:30 UTC
    assert split_by_hour(start, end + HOUR, KOLKATA) == [(utc(2026, 10, 5, 10, 30), 3_600_000_000)]


# --- days ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "at, tz, start",
    [
        pytest.param(utc(2026, 10, 5, 10), KOLKATA, utc(2026, 10, 4, 18, 30), id="kolkata"),
        pytest.param(utc(2026, 10, 4, 18, 30), KOLKATA, utc(2026, 10, 4, 18, 30), id="at-midnight"),
        pytest.param(utc(2026, 10, 4, 18, 29), KOLKATA, utc(2026, 10, 3, 18, 30), id="before"),
        pytest.param(
            utc(2026, 10, 25, 23, 30), BERLIN, utc(2026, 10, 25, 23), id="after-fall-back"
        ),
        pytest.param(utc(2026, 10, 25, 22, 59), BERLIN, utc(2026, 10, 24, 22), id="25-hour-day"),
        pytest.param(utc(2023, 10, 1, 12), ASUNCION, utc(2023, 10, 1, 4), id="midnight-skipped"),
    ],
)  # fmt: skip
def test_day_start_instant_finds_local_midnight_in_utc(
    at: datetime, tz: ZoneInfo, start: datetime
) -> None:
    assert day_start(at, tz) == start


# --- financial year ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "when, label",
    [
        pytest.param(date(2026, 4, 1), "26-27", id="first-day"),
        pytest.param(date(2027, 3, 31), "26-27", id="last-day"),
        pytest.param(date(2026, 3, 31), "25-26", id="day-before"),
        pytest.param(date(2026, 12, 31), "26-27", id="december"),
        pytest.param(date(1999, 4, 1), "99-00", id="century"),
        pytest.param(date(2000, 1, 1), "99-00", id="century-january"),
        pytest.param(utc(2026, 3, 31, 18, 30), "26-27", id="utc-evening-is-april-in-kolkata"),
        pytest.param(utc(2026, 3, 31, 18, 29), "25-26", id="utc-just-before"),
    ],
)
def test_financial_year_date_gives_april_to_march_label(when: date, label: str) -> None:
    assert financial_year(when, KOLKATA) == label


# --- naive datetimes -----------------------------------------------------------------------

NAIVE = datetime(2026, 10, 5, 10)
AWARE = utc(2026, 10, 5, 10)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: period_of(NAIVE, KOLKATA), id="period_of"),
        pytest.param(lambda: hour_start(NAIVE, KOLKATA), id="hour_start"),
        pytest.param(lambda: day_start(NAIVE, KOLKATA), id="day_start"),
        pytest.param(lambda: hours_between(NAIVE, AWARE, KOLKATA), id="hours_between-start"),
        pytest.param(lambda: hours_between(AWARE, NAIVE, KOLKATA), id="hours_between-end"),
        pytest.param(lambda: split_by_hour(NAIVE, AWARE, KOLKATA), id="split_by_hour-start"),
        pytest.param(lambda: split_by_hour(AWARE, NAIVE, KOLKATA), id="split_by_hour-end"),
        pytest.param(lambda: financial_year(NAIVE, KOLKATA), id="financial_year"),
    ],
)
def test_naive_datetime_any_function_raises(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="aware"):
        call()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: hour_start(date(2026, 10, 5), KOLKATA), id="hour_start-date"),  # type: ignore[arg-type]
        pytest.param(lambda: period_of("2026-10-05T10:00Z", KOLKATA), id="period_of-str"),  # type: ignore[arg-type]
    ],
)
def test_non_datetime_instant_any_function_raises(call: Callable[[], object]) -> None:
    with pytest.raises(TypeError, match="must be a datetime"):
        call()
