"""The helpdesk's console: staff roles, search, the user page, grants, disconnects, history.

What it reads and writes, as the ``captiva_portal`` role (migration 0110):

- **Staff** (``captiva_staff``, reconciled from the roster's ``captiva_staff``): ``admin``
  acts, ``operator`` and ``viewer`` read. One notion of role for the whole portal.
- **Figures** come from SQL: usage from ``captiva_user_usage`` (through
  :func:`captiva.usage.usage_for`), the login decision from ``captiva_quota_login``, the very
  function FreeRADIUS calls; nothing here computes a quota or a rejection itself.
- **Actions** write only runtime data, never the roster: a quota grant
  (``captiva_quota_grant``), a disconnect request (``captiva_console_disconnect``, sent by the
  enforce job on the RADIUS host), each with its ``captiva_audit`` row in the same
  transaction, written by ``captiva_audit_record`` (functions/85_staff_labels.sql), which
  takes the actor's role from ``captiva_staff``, never from the portal.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from captiva.portal.data import _dicts
from captiva.usage import usage_for

STAFF_CACHE_SECONDS = 5.0
PAGE_SIZE = 50
CSV_LIMIT = 100_000
PERIODS = ("daily", "weekly", "monthly", "total")
LIST_STATUSES = ("online", "offline", "never")
ACCOUNT_STATUSES = ("active", "disabled", "wifi-off", "expired")
# A grant larger than this is a typo, not a thesis defence. The database holds the same
# bounds as CHECK constraints (migration 0160_quota_grant_bounds); these refuse first, with
# a message (tests/integration/test_quota_grant_bounds.py keeps both equal).
MAX_GRANT_BYTES = 10 * 1024**4
MAX_GRANT_DAYS = 366

# What a redirect after an action may announce (message keys).
NOTICES = ("console.granted", "console.disconnect_requested", "devices.renamed",
           "devices.blocked_done", "devices.unblocked_done", "devices.nothing_to_disconnect")
REFUSALS = ("error.read_only", "console.bad_period", "console.bad_kind",
            "console.reason_required", "console.unknown_user", "console.unlimited",
            "console.bad_amount", "console.bad_expiry", "console.session_closed",
            "devices.bad_mac", "devices.name_too_long")

_MAC = re.compile(r"^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{0,2})+$|^[0-9A-Fa-f]{12}$")


@dataclass(frozen=True)
class Staff:
    """A staff member and what their role may do: every page asks here which forms to offer
    and refuses first; the database decides again (captiva_audit_record,
    captiva_workstation_may_act), with the same rules."""

    username: str
    role: str  # admin | operator | viewer
    sites: tuple[str, ...]

    @property
    def can_act(self) -> bool:
        """Grants, resets, disconnects, revocations, a student's devices: admins."""
        return self.role == "admin"

    @property
    def can_review(self) -> bool:
        """Sign-up requests (approve, reject): admins and operators."""
        return self.role in ("admin", "operator")

    def can_act_at(self, site: str) -> bool:
        """A site's workstations: admins, and operators of that site (or of every site)."""
        return self.role == "admin" or (self.role == "operator"
                                        and (not self.sites or site in self.sites))


class ActionRefused(ValueError):
    """An action the console refuses; the message key says why (i18n)."""

    def __init__(self, key: str, **values):
        super().__init__(key)
        self.key = key
        self.values = values


def staff_member(conn, username: str) -> Staff | None:
    row = conn.execute("SELECT username, role, sites FROM captiva_staff WHERE username = %s",
                       (username,)).fetchone()
    return Staff(row[0], row[1], tuple(row[2])) if row else None


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
                     " FROM captiva_staff_users_by_mac(%(mac)s)))")
    elif kind == "ip":
        params["net"] = str(ipaddress.ip_network(query.text, strict=False))
        where.append("u.username = ANY (ARRAY(SELECT username"
                     " FROM captiva_staff_users_by_address(%(net)s::inet)))")
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
    rows = _dicts(conn.execute(_LIST.format(where=" AND ".join(where), order=order), params))
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
    rows = _dicts(conn.execute("""
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
    return _dicts(conn.execute(
        "SELECT id, period, kind, bytes, reason, granted_by, starts_at, expires_at,"
        " expires_at > %(now)s AND starts_at <= %(now)s AS active"
        " FROM captiva_quota_grant WHERE username = %(username)s"
        " AND (NOT %(active_only)s OR expires_at > %(now)s)"
        " ORDER BY starts_at DESC, id DESC LIMIT 50",
        {"username": username, "now": now, "active_only": active_only}))


def failures(conn, username: str, limit: int = 10) -> list[dict[str, Any]]:
    # Never radpostauth.pass.
    return _dicts(conn.execute(
        "SELECT authdate AS at, reply, callingstationid AS mac, calledstationid AS called"
        " FROM radpostauth WHERE username = %s AND reply IS DISTINCT FROM 'Access-Accept'"
        " ORDER BY authdate DESC LIMIT %s", (username, limit)))


def disconnects(conn, username: str, limit: int = 10) -> list[dict[str, Any]]:
    """The console's requests and, once the enforce job sent it, the NAS's answer."""
    return _dicts(conn.execute("""
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
        from captiva.portal import data  # the student's own page's queries, reused

        board = data.dashboard(conn, username, now, 1, 20)
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
# Actions (admin role), each with its audit row in the same transaction


def _audit(conn, staff: Staff, action: str, username: str, reason: str | None,
           detail: dict[str, Any]) -> None:
    from psycopg.types.json import Jsonb

    # Through the SECURITY DEFINER function, which reads the actor's role from captiva_staff
    # itself: the portal's role may not insert audit rows (migration 0140).
    conn.execute("SELECT captiva_audit_record(%s, %s, %s, %s, %s)",
                 (staff.username, action, username, reason, Jsonb(detail)))


def grant(conn, staff: Staff, username: str, *, period: str, kind: str, reason: str,
          now: dt.datetime, extra_bytes: int | None = None,
          expires_at: dt.datetime | None = None) -> dict[str, Any]:
    """Grant ``extra_bytes`` on ``period`` until ``expires_at``, or reset the period's counter
    (until the period resets; a total counter until ``expires_at``). Returns the grant."""
    if not staff.can_act:
        raise ActionRefused("error.read_only")
    reason = (reason or "").strip()
    if period not in PERIODS:
        raise ActionRefused("console.bad_period")
    if kind not in ("extra", "reset"):
        raise ActionRefused("console.bad_kind")
    if not reason:
        raise ActionRefused("console.reason_required")
    with conn.transaction():
        usage = usage_for(conn, username, now)
        if user_record(conn, username) is None:
            raise ActionRefused("console.unknown_user")
        period_usage = usage[period]
        if period_usage.limit is None:
            raise ActionRefused("console.unlimited")
        if kind == "reset":
            amount = period_usage.used
            if period != "total":
                expires_at = period_usage.period.resets_at
            if amount > MAX_GRANT_BYTES:  # the database's bound too (0160_quota_grant_bounds)
                raise ActionRefused("console.bad_amount")
        else:
            amount = extra_bytes
            if amount is None or not 0 < amount <= MAX_GRANT_BYTES:
                raise ActionRefused("console.bad_amount")
        if expires_at is None or expires_at <= now \
                or expires_at > now + dt.timedelta(days=MAX_GRANT_DAYS):
            raise ActionRefused("console.bad_expiry")
        row = conn.execute(
            "INSERT INTO captiva_quota_grant (username, period, kind, bytes, reason, granted_by,"
            " starts_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (username, period, kind, amount, reason, staff.username, now, expires_at)).fetchone()
        detail = {"grant": row[0], "period": period, "bytes": amount,
                  "expires_at": expires_at.isoformat()}
        _audit(conn, staff, "reset" if kind == "reset" else "grant", username, reason, detail)
    return {"id": row[0], "period": period, "kind": kind, "bytes": amount,
            "expires_at": expires_at}


def parse_grant_form(form: dict[str, str], timezone: str
                     ) -> tuple[int | None, dt.datetime | None]:
    """The grant form's amount (GiB, decimals allowed) and expiry (``YYYY-MM-DDTHH:MM`` or
    ``YYYY-MM-DD``, a wall-clock time of the campus ``timezone`` unless it names an
    offset). No expiry: a reset lasts until its period resets, extra bytes are refused."""
    import zoneinfo
    from decimal import Decimal, InvalidOperation

    extra = None
    if form.get("kind") == "extra":
        try:
            gib = Decimal(form.get("amount", "").replace(",", "."))
        except InvalidOperation:
            raise ActionRefused("console.bad_amount") from None
        if not gib.is_finite() or gib <= 0:
            raise ActionRefused("console.bad_amount")
        extra = int(gib * 1024**3)
    expires = None
    text = form.get("expires", "").strip()
    if text:
        try:
            expires = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ActionRefused("console.bad_expiry") from None
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    return extra, expires


def request_disconnect(conn, staff: Staff, username: str, radacctid: int,
                       reason: str = "") -> int:
    """Record "disconnect now" for one open session of ``username``; the enforce job on the
    RADIUS host sends the Disconnect-Request (captiva_sessions_to_disconnect)."""
    if not staff.can_act:
        raise ActionRefused("error.read_only")
    with conn.transaction():
        found = conn.execute(
            "SELECT acctsessionid, host(nasipaddress) FROM radacct WHERE radacctid = %s"
            " AND username = %s AND acctstoptime IS NULL", (radacctid, username)).fetchone()
        if found is None:
            raise ActionRefused("console.session_closed")
        row = conn.execute(
            "INSERT INTO captiva_console_disconnect (radacctid, username, requested_by)"
            " VALUES (%s, %s, %s) RETURNING id", (radacctid, username, staff.username)).fetchone()
        _audit(conn, staff, "disconnect", username, reason.strip() or None,
               {"request": row[0], "radacctid": radacctid, "session": found[0],
                "nas": found[1]})
    return row[0]


# ---------------------------------------------------------------------------------------------
# History: one timeline


def history(conn, username: str, limit: int = 200) -> list[dict[str, Any]]:
    """Roster changes (captiva_change_log: the applies that added, changed or removed the
    user, with their commit), console actions (captiva_audit) and failed logins
    (radpostauth), newest first. The change log is read through captiva_change_log_of: its
    lists name every RADIUS user an apply touched, codes included (migration 0140)."""
    rows = _dicts(conn.execute("""
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
