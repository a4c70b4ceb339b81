"""What a student's page (``/me``) reads: parameterised queries as the read-only
``captiva_portal`` role.

Figures of the quota periods come from :func:`captiva.quota.usage.usage_for`, that is SQL's
``captiva_user_usage``, the definition the login check and the quota jobs use, in the user's
calendar: the portal never shows another number. Sessions are read from ``radacct`` and its
retention archive ``radacct_history``; ``radpostauth.pass`` is never selected. A student's
page reads a bounded number of rows whatever their history: the open sessions, one page of
the history (at most ``offset + page size`` rows of each table, in index order) and the
devices of the last ``DEVICE_DAYS`` days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from captiva.portal.rows import dicts, jsonable
from captiva.portal.staff import Staff, staff_member
from captiva.quota.usage import Calendar, PeriodUsage, local_date, usage_for

CHART_DAYS = 30
# The devices list: MAC addresses of the sessions started in the last DEVICE_DAYS days (and
# the open ones), at most DEVICE_LIMIT of them, most recently seen first.
DEVICE_DAYS = 30
DEVICE_LIMIT = 20
# The bar's warning level when the profile sets no alert threshold (the jobs' default too).
DEFAULT_WARN_PERCENT = 80


@dataclass(frozen=True)
class Dashboard:
    username: str
    user: dict[str, Any] | None  # roster facts and effective profile; None: not in the roster
    usage: dict[str, PeriodUsage]
    calendar: Calendar  # the user's (that of their quota periods)
    active_sessions: list[dict[str, Any]]
    history: list[dict[str, Any]]
    history_page: int
    history_has_more: bool
    devices: list[dict[str, Any]]
    chart: list[tuple[dt.date, int]]  # CHART_DAYS local days, oldest first
    now: dt.datetime

    @property
    def device_days(self) -> int:
        """The devices list covers the sessions of this many days (and the open ones)."""
        return DEVICE_DAYS

    @property
    def warn_percent(self) -> int:
        """The bar turns to warning where the first quota alert is mailed."""
        thresholds = (self.user or {}).get("alert_quota_percent") or ()
        return min(thresholds, default=DEFAULT_WARN_PERCENT)

    def as_dict(self) -> dict[str, Any]:
        user = jsonable(self.user) if self.user else None
        return {
            "username": self.username,
            "user": user,
            "days_left": days_left(self.user, self.now),
            "timezone": self.calendar.timezone,
            "warn_percent": self.warn_percent,
            "usage": {name: {**u.as_dict(), "percent": u.percent}
                      for name, u in self.usage.items()},
            "active_sessions": [jsonable(s) for s in self.active_sessions],
            "history": {"page": self.history_page, "has_more": self.history_has_more,
                        "sessions": [jsonable(s) for s in self.history]},
            "devices": [jsonable(d) for d in self.devices],
            "devices_days": self.device_days,
            "daily_usage": [{"day": day.isoformat(), "bytes": n} for day, n in self.chart],
            "generated_at": self.now.isoformat(),
        }


def days_left(user: dict[str, Any] | None, now: dt.datetime) -> int | None:
    if not user or user.get("expires_at") is None:
        return None
    seconds = (user["expires_at"] - now).total_seconds()
    return max(0, int(seconds // 86400))


_USER = """
    SELECT u.username, u.first_name, u.last_name, u.language, u.promotion, u.profile,
           u.status, u.enabled, u.expires_at, u.activated_on,
           p.rate_upload, p.rate_download, p.session_timeout, p.idle_timeout,
           p.simultaneous_use, p.validity_days,
           COALESCE(p.alert_quota_percent, '{}') AS alert_quota_percent,
           pr.wifi_enabled AS promotion_wifi_enabled
    FROM captiva_user AS u
    LEFT JOIN captiva_profile AS p ON p.name = u.profile
    LEFT JOIN captiva_promotion AS pr ON pr.name = u.promotion
    WHERE u.username = %s
"""

# A session as the pages show it, from radacct or radacct_history (as a), with its router.
_SESSION = """a.radacctid, a.acctstarttime AS started, a.acctstoptime AS stopped,
           a.acctupdatetime AS updated, host(a.framedipaddress) AS ip,
           a.callingstationid AS mac, a.acctinputoctets + a.acctoutputoctets AS bytes,
           a.acctsessiontime AS session_time, a.acctterminatecause AS cause,
           r.name AS router"""
_ROUTER = "LEFT JOIN captiva_router AS r ON r.nasipaddress = a.nasipaddress"

# Open sessions: in radacct only (retention archives closed sessions, never an open one).
_ACTIVE = f"""
    SELECT {_SESSION}
    FROM radacct AS a
    {_ROUTER}
    WHERE a.username = %(username)s AND a.acctstoptime IS NULL
    ORDER BY a.acctstarttime DESC
"""  # noqa: S608 (constants only)

# One page of the sessions, current and archived: each table gives at most its first
# offset + limit rows in the order of its (username, acctstarttime) index, so a page reads
# that many rows, not the user's whole history.
_LATEST = """(SELECT radacctid, acctstarttime, acctstoptime, acctupdatetime, framedipaddress,
                  callingstationid, acctinputoctets, acctoutputoctets, acctsessiontime,
                  acctterminatecause, nasipaddress
           FROM {table} WHERE username = %(username)s
           ORDER BY acctstarttime DESC, radacctid DESC LIMIT %(upto)s)"""
_HISTORY = f"""
    SELECT {_SESSION}
    FROM ({_LATEST.format(table="radacct")}
          UNION ALL
          {_LATEST.format(table="radacct_history")}) AS a
    {_ROUTER}
    ORDER BY a.acctstarttime DESC, a.radacctid DESC
    LIMIT %(limit)s OFFSET %(offset)s
"""  # noqa: S608 (constants only)

# MAC addresses in one form (captiva_mac_normal, functions/91_student_devices.sql), with the
# name and block the student (or an admin) gave each; a named or blocked device is listed
# even without a recent session.
_DEVICES = """
    WITH seen AS (
        SELECT COALESCE(captiva_mac_normal(callingstationid), callingstationid) AS mac,
               min(acctstarttime) AS first_seen,
               max(COALESCE(acctstoptime, acctupdatetime, acctstarttime)) AS last_seen,
               count(*) AS sessions,
               bool_or(acctstoptime IS NULL) AS online
        FROM (SELECT callingstationid, acctstarttime, acctstoptime, acctupdatetime
              FROM radacct WHERE username = %(username)s
                             AND (acctstarttime >= %(since)s OR acctstoptime IS NULL)
              UNION ALL
              SELECT callingstationid, acctstarttime, acctstoptime, acctupdatetime
              FROM radacct_history WHERE username = %(username)s AND acctstarttime >= %(since)s
             ) AS a
        WHERE callingstationid <> ''
        GROUP BY 1),
    kept AS (SELECT mac, name, blocked FROM captiva_device WHERE username = %(username)s)
    SELECT COALESCE(s.mac, k.mac) AS mac, k.name, COALESCE(k.blocked, false) AS blocked,
           s.first_seen, s.last_seen, COALESCE(s.sessions, 0) AS sessions,
           COALESCE(s.online, false) AS online
    FROM seen AS s FULL JOIN kept AS k ON k.mac = s.mac
    ORDER BY s.last_seen DESC NULLS LAST, 1
    LIMIT %(devices)s
"""


def dashboard(conn, username: str, now: dt.datetime, page: int = 1,
              page_size: int = 20) -> Dashboard:
    """Everything the student's page shows, in one transaction (one snapshot)."""
    page = max(1, page)
    offset = (page - 1) * page_size
    with conn.transaction():
        usage = usage_for(conn, username, now)
        calendar = usage["daily"].calendar
        users = dicts(conn.execute(_USER, (username,)))
        active = dicts(conn.execute(_ACTIVE, {"username": username}))
        history = dicts(conn.execute(_HISTORY, {
            "username": username, "limit": page_size + 1, "offset": offset,
            "upto": offset + page_size + 1}))
        devices = dicts(conn.execute(_DEVICES, {
            "username": username, "since": now - dt.timedelta(days=DEVICE_DAYS),
            "devices": DEVICE_LIMIT}))
        today = local_date(now, calendar)
        first = today - dt.timedelta(days=CHART_DAYS - 1)
        per_day = dict(conn.execute("""
            SELECT day, (bytes_in + bytes_out)::bigint FROM captiva_usage_daily
            WHERE username = %s AND day BETWEEN %s AND %s
            """, (username, first, today)).fetchall())
    for session in active:
        session["duration"] = int((now - session["started"]).total_seconds()) \
            if session["started"] else None
    for session in history:
        end = session["stopped"] or now
        session["duration"] = int((end - session["started"]).total_seconds()) \
            if session["started"] else None
    chart = [(first + dt.timedelta(days=i), per_day.get(first + dt.timedelta(days=i), 0))
             for i in range(CHART_DAYS)]
    return Dashboard(
        username=username, user=users[0] if users else None, usage=usage, calendar=calendar,
        active_sessions=active, history=history[:page_size], history_page=page,
        history_has_more=len(history) > page_size, devices=devices, chart=chart, now=now,
    )


@dataclass(frozen=True)
class Figures:
    """What a student's page shows, read together: the dashboard and the staff role (the
    menu's admin link only: the console checks the role itself, STAFF_CACHE_SECONDS). The
    shell caches them a few seconds per user (figure_cache.py)."""

    board: Dashboard
    staff: Staff | None


def figures(conn, username: str, now: dt.datetime, page: int, page_size: int) -> Figures:
    return Figures(dashboard(conn, username, now, page, page_size), staff_member(conn, username))
