"""The console's actions (admin role), each with its ``captiva_audit`` row in the same
transaction: a quota grant or reset (``captiva_quota_grant``) and a disconnect request
(``captiva_console_disconnect``, sent by the enforce job on the RADIUS host).

They write only runtime data, never the roster. The audit row is written by
``captiva_audit_record`` (functions/85_staff_labels.sql), which takes the actor's role from
``captiva_staff``, never from the portal.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from psycopg.types.json import Jsonb

from captiva.portal.staff import Staff
from captiva.quota.usage import usage_for

from .data import user_record

PERIODS = ("daily", "weekly", "monthly", "total")
# A grant larger than this is a typo, not a thesis defence. The database holds the same
# bounds as CHECK constraints (migration 0160_quota_grant_bounds); these refuse first, with
# a message (tests/integration/test_quota_grant_bounds.py keeps both equal).
MAX_GRANT_BYTES = 10 * 1024**4
MAX_GRANT_DAYS = 366


class ActionRefused(ValueError):
    """An action the console refuses; the message key says why (i18n)."""

    def __init__(self, key: str, **values):
        super().__init__(key)
        self.key = key
        self.values = values


def _audit(conn, staff: Staff, action: str, username: str, reason: str | None,
           detail: dict[str, Any]) -> None:
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
