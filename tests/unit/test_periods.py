"""period_oracle: daily/weekly/monthly bounds across DST, week starts and month ends."""

import datetime as dt
import zoneinfo

import pytest
from period_oracle import (
    PERIODS,
    Calendar,
    day_start,
    local_date,
    next_reset,
    period,
    period_days,
    periods,
)

UTC = dt.UTC
DOUALA = Calendar("Africa/Douala")
PARIS = Calendar("Europe/Paris")


def at(text: str, tz: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=zoneinfo.ZoneInfo(tz))


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_daily_in_douala_is_the_local_day():
    p = period("daily", utc("2026-11-21T23:30:00"), DOUALA)  # 00:30 on the 22nd in Douala
    assert p.first_day == dt.date(2026, 11, 22) and p.end_day == dt.date(2026, 11, 23)
    assert p.start == utc("2026-11-21T23:00:00")
    assert p.end == utc("2026-11-22T23:00:00")
    assert p.resets_at == p.end
    assert p.start.tzinfo == UTC  # wall-time arithmetic on one shared tzinfo ignores DST


@pytest.mark.parametrize("instant, day", [
    ("2026-11-22T00:00:00", "2026-11-22"),
    ("2026-11-21T23:59:59.999999", "2026-11-21"),
])
def test_midnight_belongs_to_the_new_day(instant, day):
    p = period("daily", at(instant, "Africa/Douala"), DOUALA)
    assert p.first_day == dt.date.fromisoformat(day)
    assert p.contains(at(instant, "Africa/Douala"))


def test_paris_spring_forward_day_lasts_23_hours():
    p = period("daily", at("2026-03-29T12:00:00", "Europe/Paris"), PARIS)
    assert p.start == utc("2026-03-28T23:00:00")
    assert p.end == utc("2026-03-29T22:00:00")
    assert p.end - p.start == dt.timedelta(hours=23)


def test_paris_fall_back_day_lasts_25_hours():
    p = period("daily", at("2026-10-25T02:30:00", "Europe/Paris"), PARIS)
    assert p.end - p.start == dt.timedelta(hours=25)
    assert p.start == utc("2026-10-24T22:00:00")


def test_paris_week_across_spring_forward_lasts_167_hours():
    p = period("weekly", at("2026-03-27T10:00:00", "Europe/Paris"), PARIS)
    assert p.first_day == dt.date(2026, 3, 23)  # Monday
    assert p.end - p.start == dt.timedelta(hours=7 * 24 - 1)


@pytest.mark.parametrize("week_start, instant, first", [
    (1, "2026-11-18T10:00:00", "2026-11-16"),  # Wednesday -> Monday 16
    (1, "2026-11-16T00:00:00", "2026-11-16"),  # Monday itself
    (1, "2026-11-15T23:59:00", "2026-11-09"),  # Sunday -> previous Monday
    (7, "2026-11-18T10:00:00", "2026-11-15"),  # Sunday start
    (7, "2026-11-15T00:00:00", "2026-11-15"),
    (7, "2026-11-14T23:59:00", "2026-11-08"),  # Saturday -> previous Sunday
    (6, "2026-11-18T10:00:00", "2026-11-14"),  # Saturday start
])
def test_week_start(week_start, instant, first):
    cal = Calendar("Africa/Douala", week_start=week_start)
    p = period("weekly", at(instant, "Africa/Douala"), cal)
    assert p.first_day == dt.date.fromisoformat(first)
    assert p.first_day.isoweekday() == week_start
    assert p.end_day - p.first_day == dt.timedelta(days=7)
    assert p.start <= at(instant, "Africa/Douala") < p.end


@pytest.mark.parametrize("start_day, instant, first, end", [
    (1, "2026-01-31T23:59:59", "2026-01-01", "2026-02-01"),
    (1, "2026-12-31T12:00:00", "2026-12-01", "2027-01-01"),  # year end
    (1, "2027-01-01T00:00:00", "2027-01-01", "2027-02-01"),
    (1, "2028-02-29T12:00:00", "2028-02-01", "2028-03-01"),  # leap day
    (15, "2026-11-14T23:00:00", "2026-10-15", "2026-11-15"),  # before the start day
    (15, "2026-11-15T00:00:00", "2026-11-15", "2026-12-15"),
    (15, "2027-01-10T08:00:00", "2026-12-15", "2027-01-15"),  # back across the year
    (28, "2026-02-28T00:00:00", "2026-02-28", "2026-03-28"),
    (28, "2026-03-27T00:00:00", "2026-02-28", "2026-03-28"),
    (28, "2026-03-31T00:00:00", "2026-03-28", "2026-04-28"),
])
def test_month_start_day_and_month_ends(start_day, instant, first, end):
    cal = Calendar("Africa/Douala", month_start_day=start_day)
    p = period("monthly", at(instant, "Africa/Douala"), cal)
    assert (p.first_day, p.end_day) == (dt.date.fromisoformat(first), dt.date.fromisoformat(end))
    assert p.start == at(first + "T00:00:00", "Africa/Douala")


def test_month_across_paris_dst_keeps_local_midnights():
    p = period("monthly", at("2026-03-15T12:00:00", "Europe/Paris"), PARIS)
    assert p.start == at("2026-03-01T00:00:00", "Europe/Paris")
    assert p.end == at("2026-04-01T00:00:00", "Europe/Paris")
    assert p.start.astimezone(PARIS.tz).utcoffset() == dt.timedelta(hours=1)
    assert p.end.astimezone(PARIS.tz).utcoffset() == dt.timedelta(hours=2)


def test_total_never_resets():
    p = period("total", utc("2026-11-21T10:00:00"), DOUALA)
    assert (p.start, p.end, p.first_day, p.end_day) == (None, None, None, None)
    assert p.contains(utc("1999-01-01T00:00:00"))
    assert next_reset("total", utc("2026-11-21T10:00:00"), DOUALA) is None


def test_next_reset_is_the_period_end():
    now = at("2026-11-18T10:00:00", "Africa/Douala")
    assert next_reset("daily", now, DOUALA) == at("2026-11-19T00:00:00", "Africa/Douala")
    assert next_reset("weekly", now, DOUALA) == at("2026-11-23T00:00:00", "Africa/Douala")
    assert next_reset("monthly", now, DOUALA) == at("2026-12-01T00:00:00", "Africa/Douala")


def test_havana_repeated_midnight_starts_at_the_first_one():
    # Cuba falls back at 01:00 to 00:00: midnight happens twice; the day starts at the first.
    cal = Calendar("America/Havana")
    start = day_start(dt.date(2025, 11, 2), cal)
    assert start == utc("2025-11-02T04:00:00")
    assert local_date(start - dt.timedelta(microseconds=1), cal) == dt.date(2025, 11, 1)
    p = period("daily", utc("2025-11-02T04:30:00"), cal)
    assert p.end - p.start == dt.timedelta(hours=25)


def test_santiago_skipped_midnight_starts_at_the_jump():
    # Chile springs forward at 24:00 to 01:00: the day starts at 01:00 local.
    cal = Calendar("America/Santiago")
    start = day_start(dt.date(2025, 9, 7), cal)
    assert start == utc("2025-09-07T04:00:00")
    local = start.astimezone(cal.tz)
    assert (local.hour, local.minute) == (1, 0)
    assert period("daily", start, cal).end - start == dt.timedelta(hours=23)


ZONES = ["Africa/Douala", "Europe/Paris", "America/Havana", "America/Santiago",
         "Australia/Lord_Howe", "Pacific/Kiritimati", "UTC"]


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("week_start, month_start_day", [(1, 1), (7, 28), (3, 15)])
def test_periods_tile_time_for_a_whole_year(tz, week_start, month_start_day):
    """Every instant of a year lies in exactly one period of each kind; periods are contiguous."""
    cal = Calendar(tz, week_start, month_start_day)
    instant = utc("2025-12-30T00:17:00")
    stop = utc("2027-01-02T00:00:00")
    while instant < stop:
        for name, p in periods(instant, cal).items():
            if name == "total":
                continue
            assert p.start <= instant < p.end, (name, instant)
            assert local_date(p.start, cal) == p.first_day
            assert local_date(p.end, cal) == p.end_day
            assert local_date(p.end - dt.timedelta(microseconds=1), cal) < p.end_day
            following = period(name, p.end, cal)
            assert following.start == p.end
            days = (p.end_day - p.first_day).days
            assert days == {"daily": 1, "weekly": 7}.get(name, days)
            assert 28 <= days <= 31 if name == "monthly" else True
        instant += dt.timedelta(hours=5, minutes=13)


def test_period_days_rejects_unknown_period():
    with pytest.raises(ValueError, match="unknown period 'hourly'"):
        period_days("hourly", dt.date(2026, 1, 1), DOUALA)
    assert PERIODS == ("daily", "weekly", "monthly", "total")


def test_naive_instant_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        period("daily", dt.datetime(2026, 1, 1), DOUALA)


@pytest.mark.parametrize("kwargs", [
    {"week_start": 0}, {"week_start": 8}, {"month_start_day": 29}, {"month_start_day": 0},
])
def test_calendar_validation(kwargs):
    with pytest.raises(ValueError):
        Calendar("Africa/Douala", **kwargs)


def test_unknown_timezone_is_refused():
    with pytest.raises(zoneinfo.ZoneInfoNotFoundError):
        Calendar("Mars/Olympus")
