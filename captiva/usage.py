"""Data usage per user and quota period, read from ``captiva_usage_daily`` (migration 0051).

Bytes are attributed to local days of the NAS's site by a trigger on radacct; a period's usage
is the sum over its local days (captiva.periods). Open sessions count with their last interim.

- :func:`usage_for`: one user (portal, CLI), one cheap query on the primary key;
- :func:`usage_all`: every user at once (quota jobs), one query;
- :func:`format_bytes`: the size text used in mails and in SQL's ``captiva_format_bytes``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from captiva.periods import PERIODS, Calendar, Period, periods

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


def default_calendar(conn) -> Calendar:
    """The campus calendar (captiva_quota_settings), for views without a NAS."""
    row = conn.execute(
        "SELECT timezone, week_start, month_start_day FROM captiva_quota_settings"
    ).fetchone()
    return Calendar(*row) if row else Calendar()


def site_calendar(conn, site: str) -> Calendar:
    row = conn.execute(
        "SELECT timezone, week_start, month_start_day FROM captiva_site WHERE name = %s", (site,)
    ).fetchone()
    if row is None:
        raise LookupError(f"unknown site {site!r}")
    return Calendar(*row)


def _day_bounds(bounds: dict[str, Period]) -> dict[str, Any]:
    return {f"{name}_{edge}": getattr(bounds[name], attr)
            for name in ("daily", "weekly", "monthly")
            for edge, attr in (("first", "first_day"), ("end", "end_day"))}


_SUMS = """
    COALESCE(sum(d.bytes_in + d.bytes_out) FILTER (
        WHERE d.day >= %(daily_first)s AND d.day < %(daily_end)s), 0)::bigint AS daily,
    COALESCE(sum(d.bytes_in + d.bytes_out) FILTER (
        WHERE d.day >= %(weekly_first)s AND d.day < %(weekly_end)s), 0)::bigint AS weekly,
    COALESCE(sum(d.bytes_in + d.bytes_out) FILTER (
        WHERE d.day >= %(monthly_first)s AND d.day < %(monthly_end)s), 0)::bigint AS monthly,
    COALESCE(sum(d.bytes_in + d.bytes_out), 0)::bigint AS total
"""


def usage_for(conn, username: str, now: dt.datetime,
              calendar: Calendar | None = None) -> dict[str, PeriodUsage]:
    """Used/limit/remaining/resets_at of each period (daily, weekly, monthly, total).

    ``calendar`` defaults to the campus calendar. Limits come from the user's effective
    profile; a user unknown to Captiva has no limits.
    """
    calendar = calendar or default_calendar(conn)
    bounds = periods(now, calendar)
    row = conn.execute(
        f"""
        SELECT {_SUMS},
               p.quota_daily, p.quota_weekly, p.quota_monthly, p.quota_total
        FROM (SELECT %(username)s AS username) AS who
        LEFT JOIN captiva_usage_daily AS d ON d.username = who.username
        LEFT JOIN captiva_user AS u ON u.username = who.username
        LEFT JOIN captiva_profile AS p ON p.name = u.profile
        GROUP BY p.quota_daily, p.quota_weekly, p.quota_monthly, p.quota_total
        """,  # noqa: S608 - _SUMS is a constant; every value is bound
        {"username": username, **_day_bounds(bounds)},
    ).fetchone()
    used, limits = row[:4], row[4:]
    return {name: PeriodUsage(bounds[name], used[i], limits[i]) for i, name in enumerate(PERIODS)}


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


def usage_all(conn, now: dt.datetime, calendar: Calendar | None = None,
              status: str | None = None, with_total: bool = False) -> list[UserUsage]:
    """Every Captiva user (optionally only one ``status``) with their usage, in one query.

    Only the days of the current week and month are read, plus every day of users with a
    total quota; ``usage["total"]`` is present for those users, or for all with ``with_total``.
    """
    calendar = calendar or default_calendar(conn)
    bounds = periods(now, calendar)
    params = {**_day_bounds(bounds), "status": status, "with_total": with_total}
    rows = conn.execute(
        f"""
        SELECT u.username, u.email, u.language, u.first_name, u.last_name, u.profile,
               u.status, u.expires_at,
               COALESCE(p.alert_quota_percent, '{{}}'), COALESCE(p.alert_expiry_days, '{{}}'),
               p.quota_daily, p.quota_weekly, p.quota_monthly, p.quota_total,
               used.daily, used.weekly, used.monthly, used.total
        FROM captiva_user AS u
        LEFT JOIN captiva_profile AS p ON p.name = u.profile
        CROSS JOIN LATERAL (
            SELECT {_SUMS}
            FROM captiva_usage_daily AS d
            WHERE d.username = u.username
              AND (p.quota_total IS NOT NULL OR %(with_total)s
                   OR d.day >= LEAST(%(weekly_first)s::date, %(monthly_first)s::date))
        ) AS used
        WHERE %(status)s::text IS NULL OR u.status = %(status)s::text
        ORDER BY u.username
        """,  # noqa: S608 - _SUMS is a constant; every value is bound
        params,
    ).fetchall()
    result = []
    for row in rows:
        limits, used = row[10:14], row[14:18]
        usage = {name: PeriodUsage(bounds[name], used[i], limits[i])
                 for i, name in enumerate(PERIODS)}
        if limits[3] is None and not with_total:
            del usage["total"]  # only recent days were read
        result.append(UserUsage(
            username=row[0], email=row[1], language=row[2], first_name=row[3],
            last_name=row[4], profile=row[5], status=row[6], expires_at=row[7],
            alert_quota_percent=tuple(row[8]), alert_expiry_days=tuple(row[9]), usage=usage,
        ))
    return result
