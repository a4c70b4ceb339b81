"""Data usage per user and quota period, as SQL defines it (roles/postgres/files/functions).

The one definition of usage lives in SQL, ``30_usage.sql``: bytes of ``captiva_usage_daily``
summed over a period's local days, in the user's one calendar (``captiva_user_calendar``:
the site of the NAS of a login, else of the user's latest session, else the campus default).
The login check and enforcement use the same functions, so the portal, the mails and the
reports show the figure that blocks a user. This module only reads them:

- :func:`usage_for`: one user (portal, CLI): ``captiva_user_usage``;
- :func:`usage_all`: every user at once (quota jobs): ``captiva_usage_all``;
- :func:`format_bytes`: the size text of mails and pages; SQL's ``captiva_format_bytes``
  (the login message) must print the same, a test compares them.

A period's bounds come from SQL too (``captiva_periods``, functions/10_calendar.sql): a
:class:`Calendar` here is only what a site's calendar is, a :class:`Period` only the bounds
SQL gave. tests/period_oracle.py computes the same bounds independently, for the tests.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

PERIODS = ("daily", "weekly", "monthly", "total")


@dataclass(frozen=True)
class Calendar:
    """How a site counts days, weeks and months."""

    timezone: str = "UTC"
    week_start: int = 1
    month_start_day: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.week_start <= 7:
            raise ValueError(f"week_start must be an ISO weekday 1..7, not {self.week_start!r}")
        if not 1 <= self.month_start_day <= 28:
            raise ValueError(f"month_start_day must be 1..28, not {self.month_start_day!r}")
        zoneinfo.ZoneInfo(self.timezone)  # raises ZoneInfoNotFoundError for unknown names

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Period:
    """One period: aware UTC bounds ``[start, end)`` and the same range as local dates.

    For ``total`` every bound is None. ``end`` is also when the period resets.
    """

    name: str
    start: dt.datetime | None
    end: dt.datetime | None
    first_day: dt.date | None
    end_day: dt.date | None

    @property
    def resets_at(self) -> dt.datetime | None:
        return self.end

    def contains(self, instant: dt.datetime) -> bool:
        _aware(instant)
        if self.start is None or self.end is None:
            return True
        return self.start <= instant < self.end


def _aware(instant: dt.datetime) -> dt.datetime:
    if not isinstance(instant, dt.datetime) or instant.tzinfo is None:
        raise ValueError("instant must be a timezone-aware datetime")
    return instant


def local_date(instant: dt.datetime, calendar: Calendar) -> dt.date:
    """The site's local date at ``instant``."""
    return _aware(instant).astimezone(calendar.tz).date()


def local_time(instant: dt.datetime, calendar: Calendar) -> str:
    """``2026-11-21 14:05`` in the calendar's timezone (mails, reports)."""
    return instant.astimezone(calendar.tz).strftime("%Y-%m-%d %H:%M")


_UNITS = (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024))


def format_bytes(n_bytes: int) -> str:
    """``5 GiB``, ``1.5 GiB``, ``512 MiB``, ``12 B`` (same text as SQL captiva_format_bytes)."""
    for unit, factor in _UNITS:
        if n_bytes >= factor:
            if n_bytes % factor == 0:
                return f"{n_bytes // factor} {unit}"
            value = (Decimal(n_bytes) / factor).quantize(Decimal("0.1"), ROUND_HALF_UP)
            return f"{value} {unit}"
    return f"{n_bytes} B"


@dataclass(frozen=True)
class PeriodUsage:
    """Usage of one period; ``limit`` and ``remaining`` are None when unlimited."""

    period: Period
    used: int
    limit: int | None
    calendar: Calendar = Calendar()

    @property
    def name(self) -> str:
        return self.period.name

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.used, 0)

    @property
    def percent(self) -> float | None:
        if self.limit is None:
            return None
        return 100.0 if self.limit == 0 else 100.0 * self.used / self.limit

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.used >= self.limit

    @property
    def resets_at(self) -> dt.datetime | None:
        return self.period.end

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.name,
            "used": self.used,
            "limit": self.limit,
            "remaining": self.remaining,
            "starts_at": self.period.start.isoformat() if self.period.start else None,
            "resets_at": self.resets_at.isoformat() if self.resets_at else None,
        }


# Columns of captiva_user_usage / captiva_usage_all after the username.
_PERIOD_COLUMNS = ("period, quota, used, starts_at, resets_at, first_day, end_day, "
                   "timezone, week_start, month_start_day")


@functools.lru_cache(maxsize=64)
def _calendar(timezone: str, week_start: int, month_start_day: int) -> Calendar:
    return Calendar(timezone, week_start, month_start_day)


def _period_usage(row) -> PeriodUsage:
    name, quota, used, start, end, first_day, end_day, timezone, week_start, month_start = row
    return PeriodUsage(Period(name, start, end, first_day, end_day), used, quota,
                       _calendar(timezone, week_start, month_start))


def default_calendar(conn) -> Calendar:
    """The campus calendar (captiva_quota_settings): admin views that are no one user's."""
    row = conn.execute(
        "SELECT timezone, week_start, month_start_day FROM captiva_quota_settings"
    ).fetchone()
    return Calendar(*row) if row else Calendar()


def usage_for(conn, username: str, now: dt.datetime,
              nas: str | None = None) -> dict[str, PeriodUsage]:
    """Used/limit/remaining/resets_at of each period (daily, weekly, monthly, total).

    The user's calendar; ``nas``: as seen by a login on that NAS. Limits come from the user's
    effective profile; a user unknown to Captiva has no limits.
    """
    rows = conn.execute(
        f"SELECT {_PERIOD_COLUMNS} FROM captiva_user_usage(%s, %s, %s)",  # noqa: S608 - constant
        (username, now, nas),
    ).fetchall()
    return {row[0]: _period_usage(row) for row in rows}


@dataclass(frozen=True)
class UserUsage:
    """One user's roster facts and usage, as the jobs need them."""

    username: str
    email: str | None
    language: str
    first_name: str | None
    last_name: str | None
    profile: str | None
    status: str
    expires_at: dt.datetime | None
    alert_quota_percent: tuple[int, ...]
    alert_expiry_days: tuple[int, ...]
    usage: dict[str, PeriodUsage]

    @property
    def calendar(self) -> Calendar:
        """The user's calendar (that of their periods)."""
        return self.usage["daily"].calendar if self.usage else Calendar()


def usage_all(conn, now: dt.datetime, status: str | None = None) -> list[UserUsage]:
    """Every Captiva user (optionally only one ``status``) with their usage.

    Three reads: the users, ``captiva_usage_all`` (a row per user and period) and the bounds
    of each calendar in use (``captiva_periods``), so that what repeats for thousands of
    users is read and converted once.
    """
    users = conn.execute(
        """
        SELECT u.username, u.email, u.language, u.first_name, u.last_name, u.profile,
               u.status, u.expires_at,
               COALESCE(p.alert_quota_percent, '{}'), COALESCE(p.alert_expiry_days, '{}')
        FROM captiva_user AS u
        LEFT JOIN captiva_profile AS p ON p.name = u.profile
        WHERE %(status)s::text IS NULL OR u.status = %(status)s::text
        ORDER BY u.username
        """, {"status": status}).fetchall()
    usage: dict[str, dict[str, PeriodUsage]] = {}
    bounds: dict[tuple, dict[str, Period]] = {}
    for username, name, quota, used, *calendar in conn.execute(
            "SELECT username, period, quota, used, timezone, week_start, month_start_day "
            "FROM captiva_usage_all(%s)", (now,)):
        key = tuple(calendar)
        if key not in bounds:
            bounds[key] = {row[0]: Period(*row) for row in conn.execute(
                "SELECT period, starts_at, ends_at, first_day, end_day "
                "FROM captiva_periods(%s, %s, %s, %s)", (now, *key)).fetchall()}
        usage.setdefault(username, {})[name] = PeriodUsage(
            bounds[key][name], used, quota, _calendar(*key))
    return [UserUsage(
        username=row[0], email=row[1], language=row[2], first_name=row[3], last_name=row[4],
        profile=row[5], status=row[6], expires_at=row[7], alert_quota_percent=tuple(row[8]),
        alert_expiry_days=tuple(row[9]), usage=usage[row[0]],
    ) for row in users if row[0] in usage]


def period_names(conn) -> dict[str, dict[str, str]]:
    """``{language: {period: name}}`` for sentences (SQL ``captiva_period_name``)."""
    rows = conn.execute(
        "SELECT p, captiva_period_name(p, 'fr'), captiva_period_name(p, 'en') "
        "FROM unnest(%s::text[]) AS p", (list(PERIODS),)).fetchall()
    return {"fr": {p: fr for p, fr, _ in rows}, "en": {p: en for p, _, en in rows}}
