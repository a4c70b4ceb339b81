"""The quota jobs, by name: enforce, close-stale, alerts, retention, report.

Each job takes an open psycopg connection (role captiva_jobs), the Config and ``now``; with
``dry_run`` it only reads and prints what it would do. Each returns a summary dict; problems
are logged (stderr, the journal under systemd) and counted in ``summary["failed"]``.
enforce, alerts and retention have their own modules; close-stale and report are here.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from psycopg import sql

from captiva.quota import Printer, session_of
from captiva.quota.alerts import alerts
from captiva.quota.enforce import enforce
from captiva.quota.retention import retention
from captiva.quota.usage import default_calendar, format_bytes, local_time, usage_all
from captiva.runtime.jobs_config import Config

log = logging.getLogger("captiva.quota")


def close_stale(conn, config: Config, now: dt.datetime, dry_run: bool = False,
                out: Printer = print, deadline: float | None = None) -> dict[str, Any]:
    """Close sessions silent for more than ``stale_multiple`` interim intervals.

    The stop time is the last sign of life (last interim, else the start), the cause
    ``Stale-Session``; the row stays. FreeRADIUS's queries treat such a row as the session it
    is (captiva-queries.conf): a later interim still adds its bytes, and the real Stop, even
    after retention archived the row, brings its counters, stop time and cause (docs/quota.md,
    "Accounting"). ``interim_interval`` is the inventory's captiva_interim_interval.
    """
    cutoff = now - dt.timedelta(seconds=config.interim_interval * config.stale_multiple)
    where = sql.SQL(
        "acctstoptime IS NULL AND COALESCE(acctupdatetime, acctstarttime) < %(cutoff)s")
    if dry_run:
        rows = conn.execute(sql.SQL(
            "SELECT radacctid, username, acctsessionid, nasipaddress, "
            "COALESCE(acctupdatetime, acctstarttime) FROM radacct WHERE {} "
            "ORDER BY radacctid").format(where), {"cutoff": cutoff}).fetchall()
        for radacctid, username, session_id, nas, last in rows:
            out(f"would close {session_of(username, radacctid)} session {session_id} on {nas} "
                f"(last update {last.isoformat()})")
        conn.rollback()
        return {"closed": 0, "stale": len(rows), "failed": 0}
    rows = conn.execute(sql.SQL(
        """
        UPDATE radacct
        SET acctstoptime = COALESCE(acctupdatetime, acctstarttime),
            acctterminatecause = 'Stale-Session',
            acctsessiontime = GREATEST(COALESCE(acctsessiontime, 0), floor(extract(epoch FROM
                COALESCE(acctupdatetime, acctstarttime) - acctstarttime))::bigint)
        WHERE {}
        RETURNING radacctid, username, acctsessionid, nasipaddress
        """).format(where), {"cutoff": cutoff}).fetchall()
    conn.commit()
    for radacctid, username, session_id, nas in rows:
        log.info("closed stale session %s of %s on %s", session_id,
                 session_of(username, radacctid), nas)
    return {"closed": len(rows), "stale": len(rows), "failed": 0}



def report(conn, config: Config, now: dt.datetime, dry_run: bool = False,
           out: Printer = print, top: int = 20, deadline: float | None = None) -> dict[str, Any]:
    """Usage summary: totals per period, users at or over quota, the top users this month."""
    calendar = default_calendar(conn)
    users = usage_all(conn, now)
    open_sessions, stale = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE COALESCE(acctupdatetime, acctstarttime) < %s)"
        " FROM radacct WHERE acctstoptime IS NULL",
        (now - dt.timedelta(seconds=config.interim_interval * config.stale_multiple),),
    ).fetchone()
    conn.rollback()
    summary: dict[str, Any] = {"users": len(users), "open_sessions": open_sessions,
                               "stale_sessions": stale, "failed": 0}
    out(f"Usage at {local_time(now, calendar)} {calendar.timezone}: {len(users)} users, "
        f"{open_sessions} open sessions ({stale} stale)")
    for name in ("daily", "weekly", "monthly", "total"):
        used = sum(u.usage[name].used for u in users)
        over = [u.username for u in users if u.usage[name].exhausted]
        summary[name] = {"used": used, "over_quota": len(over)}
        period = users[0].usage[name].period if users else None
        since = f" since {period.first_day}" if period and period.first_day else ""
        out(f"  {name:8} {format_bytes(used):>12}{since}; {len(over)} users at quota")
    ranked = sorted(users, key=lambda u: u.usage["monthly"].used, reverse=True)[:top]
    if ranked:
        out(f"Top {len(ranked)} this month:")
        for u in ranked:
            m = u.usage["monthly"]
            limit = format_bytes(m.limit) if m.limit is not None else "unlimited"
            out(f"  {u.username:24} {format_bytes(m.used):>12} / {limit:<12} {u.profile or '-'}")
    return summary


JOBS = {
    "enforce": enforce,
    "close-stale": close_stale,
    "alerts": alerts,
    "retention": retention,
    "report": report,
}
