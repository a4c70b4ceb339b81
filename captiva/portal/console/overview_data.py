"""The console's overview (``/admin``, its CSV and JSON): who is online, recent sessions,
failures, code guessing, the top consumers, the promotions.

The staff's lists of everybody show a label, never a code (docs/portal.md, "Labels, never
codes"): ``account`` is the roster username, a voucher's ``batch#index`` or a workstation's
``name (session id)``, None for a username that is none of these (``account_kind``
``unknown``); ``username`` only for roster users. The labels come from SQL
(functions/85_staff_labels.sql): the portal's role reads no code-named row itself. The
monthly figures are ``captiva_usage_all``'s, each user's page's figure.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from captiva.portal.rows import dicts
from captiva.quota.usage import default_calendar

ADMIN_VIEWS = ("online", "recent", "failures", "guessing", "top", "promotions")


# The columns each session list shows (and its CSV and JSON give), in their order.
_SESSION_COLUMNS = {
    True: ("account", "account_kind", "promotion", "started", "updated", "ip", "mac", "bytes",
           "router", "nas"),
    False: ("account", "account_kind", "promotion", "started", "stopped", "ip", "mac", "bytes",
            "cause", "router"),
}


def sessions(conn, open_now: bool, limit: int) -> list[dict[str, Any]]:
    """Open sessions newest first (``open_now``), else the last closed ones by their end:
    the account's label and promotion, the router's name."""
    rows = dicts(conn.execute("""
        SELECT a.account, a.account_kind, u.promotion, a.started, a.updated, a.stopped, a.ip,
               a.mac, a.bytes, a.cause, r.name AS router, host(a.nasipaddress) AS nas
        FROM captiva_staff_sessions(%s, %s) AS a
        LEFT JOIN captiva_user AS u ON u.username = a.username
        LEFT JOIN captiva_router AS r ON r.nasipaddress = a.nasipaddress
        ORDER BY COALESCE(a.stopped, a.started) DESC
        """, (open_now, limit)))
    return [{column: row[column] for column in _SESSION_COLUMNS[open_now]} for row in rows]


def online(conn, limit: int = 500) -> list[dict[str, Any]]:
    return sessions(conn, True, limit)


def recent(conn, limit: int = 100) -> list[dict[str, Any]]:
    return sessions(conn, False, limit)


def failures(conn, limit: int = 100) -> list[dict[str, Any]]:
    # Never radpostauth.pass (FreeRADIUS's default query would store a password there).
    return dicts(conn.execute("""
        SELECT p.at, p.account, p.account_kind, p.reply, p.called, p.mac,
               u.status AS account_status
        FROM captiva_staff_failures(%s) AS p
        LEFT JOIN captiva_user AS u ON u.username = p.username
        ORDER BY p.at DESC
        """, (limit,)))


# Each user's current month, in their calendar: the figure their own page shows.
_MONTHLY = "SELECT username, used, quota FROM captiva_usage_all(%(now)s) WHERE period = 'monthly'"


# A month is at most 31 local days: the bytes since 40 days ago bound anyone's current month
# from above, in any calendar.
_TOP_WINDOW = dt.timedelta(days=40)


def top(conn, now: dt.datetime, limit: int = 20) -> list[dict[str, Any]]:
    """The users who used the most this month (each in their calendar: their page's figure).

    Exact without computing everyone's month: candidates come by their bytes over the last
    40 days (an upper bound of their month); once the ``limit``-th best month is at least the
    bound of the next candidate, no one further down can enter.
    """
    candidates = limit * 4
    while True:
        rows = dicts(conn.execute("""
            WITH bound AS (SELECT * FROM captiva_staff_top_bounds(%(since)s, %(candidates)s + 1))
            SELECT b.username, u.promotion, u.profile, m.used AS bytes,
                   m.quota AS monthly_limit, b.upper
            FROM bound AS b
            JOIN captiva_user AS u ON u.username = b.username
            CROSS JOIN LATERAL captiva_user_usage(b.username, %(now)s) AS m
            WHERE m.period = 'monthly'
            ORDER BY b.upper DESC, b.username
            """, {"since": (now - _TOP_WINDOW).date(), "now": now,
                  "candidates": candidates}))
        best = sorted((r for r in rows[:candidates] if r["bytes"] > 0),
                      key=lambda r: (-r["bytes"], r["username"]))[:limit]
        if len(rows) <= candidates or (len(best) == limit
                                       and best[-1]["bytes"] >= rows[candidates]["upper"]):
            return [{k: v for k, v in r.items() if k != "upper"} for r in best]
        candidates *= 4


def promotions(conn, now: dt.datetime) -> list[dict[str, Any]]:
    return dicts(conn.execute(f"""
        SELECT pr.name AS promotion, pr.profile, pr.wifi_enabled,
               count(u.username) AS users,
               count(u.username) FILTER (WHERE u.status = 'active') AS active_users,
               COALESCE(sum(o.sessions), 0)::bigint AS online_sessions,
               COALESCE(sum(m.bytes), 0)::bigint AS month_bytes
        FROM captiva_promotion AS pr
        LEFT JOIN captiva_user AS u ON u.promotion = pr.name
        LEFT JOIN LATERAL (
            SELECT count(*) AS sessions FROM radacct AS a
            WHERE a.username = u.username AND a.acctstoptime IS NULL) AS o ON true
        LEFT JOIN ({_MONTHLY}) AS m (username, bytes, quota) ON m.username = u.username
        GROUP BY pr.name, pr.profile, pr.wifi_enabled
        ORDER BY pr.name
        """, {"now": now}))  # noqa: S608 - _MONTHLY is a constant


def guessing(conn, now: dt.datetime) -> list[dict[str, Any]]:
    """Sources FreeRADIUS throttled for guessing codes in the last day, newest first: a
    device (MAC) of a NAS or a whole NAS (docs/freeradius.md, "Guessing codes"). No code."""
    return dicts(conn.execute("""
        SELECT router, host(nas) AS nas, scope, calling_station AS mac, since,
               last_at AS last, throttled
        FROM captiva_guess_throttled_sources(%s)
        """, (now - dt.timedelta(days=1),)))


def admin_view(conn, name: str, now: dt.datetime) -> list[dict[str, Any]]:
    if name == "online":
        return online(conn)
    if name == "recent":
        return recent(conn)
    if name == "failures":
        return failures(conn)
    if name == "guessing":
        return guessing(conn, now)
    if name == "top":
        return top(conn, now)
    if name == "promotions":
        return promotions(conn, now)
    raise KeyError(name)


def admin_overview(conn, now: dt.datetime) -> tuple[dict[str, list[dict[str, Any]]], str]:
    """Every admin view (one snapshot) and the campus timezone to show times in."""
    with conn.transaction():
        views = {name: admin_view(conn, name, now) for name in ADMIN_VIEWS}
        return views, default_calendar(conn).timezone
