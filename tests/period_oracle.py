"""The tests' oracle of the quota periods: pure calendar maths, no I/O.

SQL owns the period bounds (roles/postgres/files/functions/10_calendar.sql, ``captiva_periods``);
this second, independent implementation lives only in the tests, which compare the two.

A site's calendar is an IANA timezone, the ISO weekday its weeks start on (1 = Monday ...
7 = Sunday) and the day of the month (1..28) its months start on. For an instant:

- ``daily``: the local day holding the instant, ``[00:00, next day 00:00)``;
- ``weekly``: the 7 local days from the last ``week_start`` day;
- ``monthly``: from the last ``month_start_day`` (this month's or the previous month's) to the
  same day of the next month;
- ``total``: never resets (no bounds).

Every bound is the first instant of a local day, so a period is exactly a range of local
dates ``[first_day, end_day)``: usage is attributed to local dates (``captiva_usage_daily``) and
summed over that range. Days are counted in dates, not in 24-hour steps, so a spring-forward
day lasts 23 hours and a fall-back day 25. Where a DST change happens at midnight the day
starts at its first instant: the moment of a spring-forward jump, the earlier of two repeated
midnights.
"""

from __future__ import annotations

import datetime as dt

from captiva.quota.usage import PERIODS, Calendar, Period, local_date

__all__ = ["PERIODS", "Calendar", "Period", "day_start", "local_date", "next_reset", "period",
           "period_days", "periods"]


def day_start(day: dt.date, calendar: Calendar) -> dt.datetime:
    """The first instant of local ``day``, as an aware datetime in UTC.

    ``fold=0`` resolves a repeated midnight to the earlier instant and a skipped midnight to
    the moment of the jump. Bounds are UTC because Python compares and subtracts two datetimes
    sharing one tzinfo by wall time, which is wrong across a DST change; show them with
    ``.astimezone(calendar.tz)``.
    """
    midnight = dt.datetime.combine(day, dt.time(0), tzinfo=calendar.tz)
    return midnight.astimezone(dt.UTC)


def week_first_day(day: dt.date, week_start: int) -> dt.date:
    return day - dt.timedelta(days=(day.isoweekday() - week_start) % 7)


def _add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def month_first_day(day: dt.date, month_start_day: int) -> dt.date:
    if day.day >= month_start_day:
        return day.replace(day=month_start_day)
    year, month = _add_months(day.year, day.month, -1)
    return dt.date(year, month, month_start_day)


def period_days(name: str, day: dt.date, calendar: Calendar) -> tuple[dt.date, dt.date] | None:
    """``(first_day, end_day)`` of period ``name`` holding local ``day``; None for total."""
    if name == "daily":
        return day, day + dt.timedelta(days=1)
    if name == "weekly":
        first = week_first_day(day, calendar.week_start)
        return first, first + dt.timedelta(days=7)
    if name == "monthly":
        first = month_first_day(day, calendar.month_start_day)
        year, month = _add_months(first.year, first.month, 1)
        return first, dt.date(year, month, calendar.month_start_day)
    if name == "total":
        return None
    raise ValueError(f"unknown period {name!r}: expected one of {', '.join(PERIODS)}")


def period(name: str, instant: dt.datetime, calendar: Calendar) -> Period:
    """The period ``name`` holding ``instant`` at a site with ``calendar``."""
    days = period_days(name, local_date(instant, calendar), calendar)
    if days is None:
        return Period(name, None, None, None, None)
    first, end = days
    return Period(name, day_start(first, calendar), day_start(end, calendar), first, end)


def periods(instant: dt.datetime, calendar: Calendar) -> dict[str, Period]:
    """Every period (daily, weekly, monthly, total) holding ``instant``."""
    return {name: period(name, instant, calendar) for name in PERIODS}


def next_reset(name: str, instant: dt.datetime, calendar: Calendar) -> dt.datetime | None:
    """When period ``name`` next resets after ``instant``; None for total (never)."""
    return period(name, instant, calendar).end
