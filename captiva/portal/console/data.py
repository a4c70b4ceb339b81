"""What the helpdesk's console reads, as the ``captiva_portal`` role (migration 0110): the
search and the list of users, a user's page, their history.

Figures come from SQL: usage from ``captiva_user_usage`` (through the student's dashboard,
:func:`captiva.portal.student.data.dashboard`), the login decision from
``captiva_quota_login``, the very function FreeRADIUS calls; nothing here computes a quota or
a rejection itself. Who is staff: staff.py; the actions: actions.py; the overview's lists:
overview_data.py.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from captiva.portal.rows import dicts
from captiva.portal.student.data import dashboard

PAGE_SIZE = 50
CSV_LIMIT = 100_000
LIST_STATUSES = ("online", "offline", "never")
ACCOUNT_STATUSES = ("active", "disabled", "wifi-off", "expired")
_MAC = re.compile(r"^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{0,2})+$|^[0-9A-Fa-f]{12}$")


# ---------------------------------------------------------------------------------------------
# Search and the list of users


@dataclass(frozen=True)
class Query:
    """What the search box and the filters ask for."""

    text: str = ""
    promotion: str = ""
    profile: str = ""
    status: str = ""  # LIST_STATUSES or ACCOUNT_STATUSES
    page: int = 1

    @classmethod
    def from_params(cls, params) -> Query:
        def get(name):
            return (params.get(name) or "").strip()[:100]
        try:
            page = max(1, min(int(params.get("page") or 1), 10_000))
        except ValueError:
            page = 1
        status = get("status")
        if status not in LIST_STATUSES + ACCOUNT_STATUSES:
            status = ""
        return cls(get("q"), get("promotion"), get("profile"), status, page)

    def kind(self) -> str:
        """How the text is matched: ``ip``, ``mac``, ``text`` or ``all``."""
        text = self.text
        if not text:
            return "all"
        try:
            ipaddress.ip_network(text, strict=False)
            if any(c in text for c in ".:") and not _MAC.match(text):
                return "ip"
        except ValueError:
            pass
        if _MAC.match(text):
            return "mac"
        return "text"


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def mac_prefix(text: str) -> str:
    """``aa-bb-c`` -> ``AA:BB:C``; a bare 12-digit MAC gets its colons."""
    text = text.upper().replace("-", ":")
    if ":" not in text:
        text = ":".join(text[i:i + 2] for i in range(0, 12, 2))
    return text


# The page of users is chosen first, then only its rows get their sessions looked up.
_LIST = """
    SELECT u.username, u.first_name, u.last_name, u.email, u.promotion, u.profile, u.status,
           u.expires_at, o.online, o.ip AS online_ip, l.last_login, l.last_ip,
           l.last_login IS NULL AS never
    FROM (SELECT u.* FROM captiva_user AS u WHERE {where} ORDER BY {order}
          LIMIT %(limit)s OFFSET %(offset)s) AS u
    LEFT JOIN LATERAL (
        SELECT true AS online, host(a.framedipaddress) AS ip FROM radacct AS a
        WHERE a.username = u.username AND a.acctstoptime IS NULL
        ORDER BY a.acctstarttime DESC LIMIT 1) AS o ON true
    LEFT JOIN LATERAL (
        SELECT s.acctstarttime AS last_login, host(s.framedipaddress) AS last_ip FROM (
            (SELECT acctstarttime, framedipaddress FROM radacct
             WHERE username = u.username AND acctstarttime IS NOT NULL
             ORDER BY acctstarttime DESC LIMIT 1)
            UNION ALL
            (SELECT acctstarttime, framedipaddress FROM radacct_history
             WHERE username = u.username AND acctstarttime IS NOT NULL
             ORDER BY acctstarttime DESC LIMIT 1)) AS s
        ORDER BY s.acctstarttime DESC LIMIT 1) AS l ON true
    ORDER BY {order}
"""

_ONLINE = ("EXISTS (SELECT 1 FROM radacct AS a WHERE a.username = u.username"
           " AND a.acctstoptime IS NULL)")
_EVER = ("(EXISTS (SELECT 1 FROM radacct AS a WHERE a.username = u.username)"
         " OR EXISTS (SELECT 1 FROM radacct_history AS h WHERE h.username = u.username))")


def search(conn, query: Query, page_size: int = PAGE_SIZE,
           limit: int | None = None) -> tuple[list[dict[str, Any]], bool]:
    """One page of users matching ``query``, best matches first; and whether more follow.

    ``limit`` (CSV export) replaces the page. Every clause is a constant; values are bound.
    """
    where = ["true"]
    params: dict[str, Any] = {}
    order = "lower(u.username), u.username"
    kind = query.kind()
    if kind == "text":
        text = query.text.lower()
        params["exact"] = text
        if len(text) >= 3:  # trigram indexes (migration 0110)
            params["pattern"] = f"%{_like(text)}%"
            where.append("(lower(u.username) LIKE %(pattern)s"
                         " OR lower(COALESCE(u.first_name, '') || ' ' || COALESCE(u.last_name, ''))"
                         " LIKE %(pattern)s OR lower(COALESCE(u.email, '')) LIKE %(pattern)s)")
        else:  # a prefix of the username (text_pattern_ops index)
            params["pattern"] = f"{_like(text)}%"
            where.append("lower(u.username) LIKE %(pattern)s")
        order = "(lower(u.username) = %(exact)s) DESC, " \
                "(lower(u.username) LIKE %(exact)s || '%%') DESC, lower(u.username), u.username"
    elif kind == "mac":
        params["mac"] = _like(mac_prefix(query.text)) + "%"
        # ARRAY(...): the sessions are looked up once (an InitPlan), never per user in
        # username order, which a LIMIT tempts the planner into (2 s at 1M sessions); through
        # the SECURITY DEFINER function, which keeps the prefix index under the row policy
        where.append("u.username = ANY (ARRAY(SELECT username"
                     " FROM captiva_staff_users_by_device(%(mac)s, NULL)))")
    elif kind == "ip":
        params["net"] = str(ipaddress.ip_network(query.text, strict=False))
        where.append("u.username = ANY (ARRAY(SELECT username"
                     " FROM captiva_staff_users_by_device(NULL, %(net)s::inet)))")
    if query.promotion:
        params["promotion"] = query.promotion
        where.append("u.promotion = %(promotion)s")
    if query.profile:
        params["profile"] = query.profile
        where.append("u.profile = %(profile)s")
    if query.status in ACCOUNT_STATUSES:
        params["status"] = query.status
        where.append("u.status = %(status)s")
    elif query.status == "online":
        where.append(_ONLINE)
    elif query.status == "offline":
        where.append(f"NOT {_ONLINE} AND {_EVER}")
    elif query.status == "never":
        where.append(f"NOT {_EVER}")
    if limit is None:
        params["limit"] = page_size + 1
        params["offset"] = (query.page - 1) * page_size
    else:
        params["limit"], params["offset"] = limit, 0
    rows = dicts(conn.execute(_LIST.format(where=" AND ".join(where), order=order), params))
    for row in rows:
        row["presence"] = "online" if row["online"] else "never" if row["never"] else "offline"
    if limit is None:
        return rows[:page_size], len(rows) > page_size
    return rows, False


def filter_choices(conn) -> dict[str, list[str]]:
    return {
        "promotions": [r[0] for r in conn.execute(
            "SELECT name FROM captiva_promotion ORDER BY name").fetchall()],
        "profiles": [r[0] for r in conn.execute(
            "SELECT name FROM captiva_profile ORDER BY name").fetchall()],
    }


# ---------------------------------------------------------------------------------------------
# The user's page


@dataclass(frozen=True)
class Verdict:
    """The first rule that would reject a login now, in FreeRADIUS's order; None: none."""

    rule: str | None  # not-in-roster | disabled | wifi-off | expired | quota | simultaneous-use
    message: str | None  # what the student is told (the Reply-Message), when there is one


def why(conn, username: str, now: dt.datetime, nas: str | None = None) -> Verdict:
    """Why this user cannot connect right now, by the rules FreeRADIUS runs, in its order:
    the account's group (captiva_user.status, the group the reconcile put them in, and that
    group's Reply-Message), then ``captiva_quota_login`` (the function FreeRADIUS calls:
    expiry, quotas with grants), then Simultaneous-Use against the open sessions."""
    user = conn.execute(
        "SELECT u.status, p.simultaneous_use FROM captiva_user AS u"
        " LEFT JOIN captiva_profile AS p ON p.name = u.profile WHERE u.username = %s",
        (username,)).fetchone()
    if user is None:
        return Verdict("not-in-roster", None)
    status, simultaneous = user
    if status != "active":
        message = conn.execute(
            "SELECT value FROM radgroupreply WHERE groupname = %s"
            " AND attribute = 'Reply-Message' ORDER BY id LIMIT 1",
            (f"captiva-{status}",)).fetchone()
        return Verdict(status, message[0] if message else None)
    reject = conn.execute(
        "SELECT reject_message FROM captiva_quota_login(%s, %s::inet, %s)",
        (username, nas, now)).fetchone()[0]
    if reject is not None:
        expired = conn.execute("SELECT expires_at <= %s FROM captiva_user WHERE username = %s",
                               (now, username)).fetchone()[0]
        return Verdict("expired" if expired else "quota", reject)
    if simultaneous:
        open_sessions = conn.execute(
            "SELECT count(*) FROM radacct WHERE username = %s AND acctstoptime IS NULL",
            (username,)).fetchone()[0]
        if open_sessions >= simultaneous:
            return Verdict("simultaneous-use", None)
    return Verdict(None, None)


def user_record(conn, username: str) -> dict[str, Any] | None:
    rows = dicts(conn.execute("""
        SELECT u.username, u.first_name, u.last_name, u.email, u.language, u.promotion,
               u.own_profile, u.profile, u.enabled, u.status, u.expires_at, u.activated_on,
               u.updated_at, pr.profile AS promotion_profile, pr.wifi_enabled
        FROM captiva_user AS u LEFT JOIN captiva_promotion AS pr ON pr.name = u.promotion
        WHERE u.username = %s""", (username,)))
    if not rows:
        return None
    user = rows[0]
    user["profile_source"] = ("own" if user["own_profile"] else
                              "promotion" if user["promotion_profile"] else "default")
    return user


def grants(conn, username: str, now: dt.datetime, active_only: bool = True):
    return dicts(conn.execute(
        "SELECT id, period, kind, bytes, reason, granted_by, starts_at, expires_at,"
        " expires_at > %(now)s AND starts_at <= %(now)s AS active"
        " FROM captiva_quota_grant WHERE username = %(username)s"
        " AND (NOT %(active_only)s OR expires_at > %(now)s)"
        " ORDER BY starts_at DESC, id DESC LIMIT 50",
        {"username": username, "now": now, "active_only": active_only}))


def failures(conn, username: str, limit: int = 10) -> list[dict[str, Any]]:
    # Never radpostauth.pass.
    return dicts(conn.execute(
        "SELECT authdate AS at, reply, callingstationid AS mac, calledstationid AS called"
        " FROM radpostauth WHERE username = %s AND reply IS DISTINCT FROM 'Access-Accept'"
        " ORDER BY authdate DESC LIMIT %s", (username, limit)))


def disconnects(conn, username: str, limit: int = 10) -> list[dict[str, Any]]:
    """The console's requests and, once the enforce job sent it, the NAS's answer."""
    return dicts(conn.execute("""
        SELECT c.id, c.radacctid, c.requested_by, c.requested_at, d.result, d.error_cause,
               d.detail, d.requested_at AS sent_at
        FROM captiva_console_disconnect AS c
        LEFT JOIN LATERAL (
            SELECT result, error_cause, detail, requested_at FROM captiva_disconnect
            WHERE radacctid = c.radacctid AND requested_at >= c.requested_at
            ORDER BY requested_at LIMIT 1) AS d ON true
        WHERE c.username = %s
        ORDER BY c.requested_at DESC LIMIT %s""", (username, limit)))


def inventory_line(username: str, locator=None) -> str | None:
    """Where the roster declares the user (``file:line``), when a locator is available."""
    return locator(username) if locator else None


def user_page(conn, username: str, now: dt.datetime) -> dict[str, Any] | None:
    """Everything the user's page shows, in one snapshot."""
    with conn.transaction():
        user = user_record(conn, username)
        if user is None:
            return None
        board = dashboard(conn, username, now, 1, 20)  # the student's own page's figures
        return {
            "user": user,
            "usage": board.usage,
            "verdict": why(conn, username, now),
            "grants": grants(conn, username, now),
            "failures": failures(conn, username),
            "disconnects": disconnects(conn, username),
            "board": board,
        }


# ---------------------------------------------------------------------------------------------
# History: one timeline


def history(conn, username: str, limit: int = 200) -> list[dict[str, Any]]:
    """Roster changes (captiva_change_log: the applies that added, changed or removed the
    user, with their commit), console actions (captiva_audit) and failed logins
    (radpostauth), newest first. The change log is read through captiva_change_log_of: its
    lists name every RADIUS user an apply touched, codes included (migration 0140)."""
    rows = dicts(conn.execute("""
        SELECT * FROM (
            SELECT c.applied_at AS at, 'roster' AS source, c.event, c.applied_by AS actor,
                   concat_ws(' ', c.summary, 'commit ' || left(c.git_commit, 12)) AS detail
            FROM captiva_change_log_of(%(username)s, %(limit)s) AS c
            UNION ALL
            SELECT a.at, 'console', a.action, a.actor,
                   concat_ws(' · ', a.reason, a.detail::text)
            FROM captiva_audit AS a WHERE a.username = %(username)s
            UNION ALL
            SELECT p.authdate, 'radius', 'failure', NULL, p.reply
            FROM radpostauth AS p
            WHERE p.username = %(username)s AND p.reply IS DISTINCT FROM 'Access-Accept'
        ) AS t ORDER BY t.at DESC LIMIT %(limit)s
        """, {"username": username, "limit": limit}))
    return rows
