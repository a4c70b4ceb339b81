"""What the voucher pages read and write (docs/vouchers.md, "Portal"): what a voucher holder
has left, the admins' view of every batch, an urgent revocation.

A code is a password: the portal's role never reads ``captiva_voucher.code``. Everything
here comes from SECURITY DEFINER functions (roles/postgres/files/functions/83_voucher_pages.sql)
built on ``captiva_voucher_judgements``, the rule FreeRADIUS applies at login (for one code
there, for every code at once on the batch page), so the portal shows exactly what a login
would get.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from psycopg.rows import dict_row

from captiva.vouchers import compact, is_code

STATES = ("unused", "in-use", "exhausted", "expired", "revoked")
RECENT_PER_BATCH = 10


@dataclass(frozen=True)
class VoucherStatus:
    batch: str
    index: int
    language: str
    reason: str | None  # None: a login would be accepted now
    message: str | None  # why not, 'French / English'
    seconds_left: int
    remaining_bytes: int | None  # None: no data cap
    time_credit: int | None
    data_cap: int | None
    window_after_first_use: int | None
    first_used_at: dt.datetime | None
    valid_from: dt.datetime
    valid_until: dt.datetime
    timezone: str

    @property
    def usable(self) -> bool:
        return self.reason is None or self.reason == "not-yet-valid"


def timezone(conn) -> str:
    row = conn.execute("SELECT timezone FROM captiva_quota_settings LIMIT 1").fetchone()
    return row[0] if row and row[0] else "UTC"


def status(conn, code: str, now: dt.datetime) -> VoucherStatus | None:
    """The holder's view of the compact ``code``; None when it is not a voucher."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM captiva_voucher_status(%s, %s)",
                          (code, now)).fetchone()
    if row is None:
        return None
    return VoucherStatus(**row, timezone=timezone(conn))


def batches(conn, now: dt.datetime) -> dict[str, Any]:
    """Each batch with its limits and its codes counted by state; recent logins per batch."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """
            SELECT b.name, b.profile, b.count, b.time_credit, b.window_after_first_use,
                   b.data_cap, b.starts_at, b.ends_at, b.sites, b.language,
                   COALESCE(s.counts, '{}'::jsonb) AS counts, COALESCE(s.online, 0) AS online
            FROM captiva_voucher_batch AS b
            LEFT JOIN (
                SELECT c.batch, jsonb_object_agg(c.state, c.n) AS counts,
                       sum(c.online)::integer AS online
                FROM (SELECT batch, state, count(*) AS n, sum(online) AS online
                      FROM captiva_voucher_states(%s) GROUP BY batch, state) AS c
                GROUP BY c.batch
            ) AS s ON s.batch = b.name
            ORDER BY b.starts_at DESC, b.name
            """, (now,)).fetchall()
        recent = cur.execute(
            """
            SELECT l.batch, l.index, COALESCE(r.name, host(l.nasipaddress)) AS router,
                   l.started_at, l.stopped_at, l.seconds, l.bytes
            FROM captiva_voucher_recent_logins(%s) AS l
            LEFT JOIN captiva_router AS r ON r.nasipaddress = l.nasipaddress
            ORDER BY l.started_at DESC
            """, (RECENT_PER_BATCH,)).fetchall()
    for row in rows:
        row["counts"] = {state: int(row["counts"].get(state, 0)) for state in STATES}
        row["recent"] = [r for r in recent if r["batch"] == row["name"]]
    return {"batches": rows, "timezone": timezone(conn)}


def codes(conn, now: dt.datetime) -> list[dict[str, Any]]:
    """One row per code (batch, index, state...), never the code itself: the CSV export."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT batch, index, state, reason, first_used_at, online, last_login_at,"
            " used_seconds, used_bytes FROM captiva_voucher_states(%s) ORDER BY batch, index",
            (now,)).fetchall()


class RevokeRefused(ValueError):
    """An urgent revocation the portal refuses; the message key says why (i18n)."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def revoke(conn, staff, typed: str, reason: str, now: dt.datetime) -> dict[str, Any]:
    """An admin's urgent revocation of the code ``typed`` (as printed or compact), with its
    captiva_audit row, in one transaction: through captiva_voucher_revoke, the one path
    (``captiva-vouchers revoke`` takes it too), which asks the policy (captiva/authz.py). The
    next login is rejected at once; the enforce job (``captiva-quota enforce``, every minute)
    disconnects the code's live sessions, since only the RADIUS host may send Disconnects.
    The audit names the card, never the code."""
    code = compact(typed)
    if not staff.can_revoke:
        raise RevokeRefused("error.read_only")
    if not is_code(code):
        raise RevokeRefused("voucher.failed")
    if not reason.strip():
        raise RevokeRefused("vouchers.reason_required")
    with conn.transaction():
        # Append-only: the function records it (the portal can neither read revoked codes
        # nor lift a revocation, migration 0141).
        found = conn.execute("SELECT batch, index, revoked FROM captiva_voucher_revoke(%s, %s, %s)",
                             (staff.username, code, reason.strip())).fetchone()
    if found is None:
        raise RevokeRefused("voucher.failed")
    batch, index, inserted = found
    return {"batch": batch, "index": index, "revoked": inserted}
