"""The quota jobs: enforce, close-stale, alerts, retention, report.

Each job takes an open psycopg connection (role captiva_jobs), the Config and ``now``; with
``dry_run`` it only reads and prints what it would do. Each returns a summary dict; problems
are logged (stderr, the journal under systemd) and counted in ``summary["failed"]``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import smtplib
import time
from collections.abc import Callable
from typing import Any

from psycopg import sql

from captiva.quota.alert_mail import TemplateError, render
from captiva.quota.usage import (
    Calendar,
    UserUsage,
    default_calendar,
    format_bytes,
    period_names,
    usage_all,
)
from captiva.runtime import coa
from captiva.runtime.jobs_config import Config
from captiva.runtime.mail import Mailer

log = logging.getLogger("captiva.quota")
Printer = Callable[[str], None]


# --------------------------------------------------------------------------------------------
# enforce


def enforce(conn, config: Config, now: dt.datetime, dry_run: bool = False,
            out: Printer = print, deadline: float | None = None) -> dict[str, Any]:
    """Disconnect open sessions of users over quota, disabled, removed or expired, and of
    vouchers revoked, expired or used up; give public workstations' sessions their added time
    by CoA-Request (:func:`extend_workstations`).

    Concurrent and isolated per router (coa.dispatch); ``deadline`` (``time.monotonic()``,
    default: the enforce budget from now) bounds the run. Each session is checked to be still
    open just before its request; a session ACKed less than ``grace`` seconds ago is left to
    its router's accounting Stop and not asked again.
    """
    started = time.monotonic()
    if deadline is None:
        deadline = started + config.budgets["enforce"]
    grace_start = now - dt.timedelta(seconds=config.disconnect_grace)
    lingering = conn.execute(
        """
        SELECT DISTINCT ON (d.radacctid) d.radacctid, d.username, d.nasipaddress, d.requested_at
        FROM captiva_disconnect AS d JOIN radacct AS a ON a.radacctid = d.radacctid
        WHERE d.result = 'ack' AND a.acctstoptime IS NULL AND d.requested_at < %s
          AND d.requested_at >= %s - interval '1 day'
        ORDER BY d.radacctid, d.requested_at DESC
        """,
        (grace_start, now),
    ).fetchall()
    for radacctid, username, nas, at in lingering:
        log.warning("session %s of %s on %s still open after a Disconnect-ACK at %s",
                    radacctid, username, nas, at.isoformat())
    recently_acked = {row[0] for row in conn.execute(
        "SELECT radacctid FROM captiva_disconnect WHERE result = 'ack' AND requested_at >= %s",
        (grace_start,)).fetchall()}
    routers = {str(ip): (name, port) for name, ip, port in conn.execute(
        "SELECT name, nasipaddress, coa_port FROM captiva_router").fetchall()}
    listed = conn.execute(
        "SELECT radacctid, acctuniqueid, acctsessionid, username, nasipaddress, "
        "framedipaddress, reason, detail FROM captiva_sessions_to_disconnect(%s)", (now,)
    ).fetchall()
    # Vouchers: the sessions captiva_voucher_judge says must end (docs/vouchers.md), in the
    # same columns; a session listed by both is asked once.
    seen = {row[0] for row in listed}
    listed += [row for row in conn.execute(
        "SELECT radacctid, acctuniqueid, acctsessionid, username, nasipaddress, "
        "framedipaddress, reason, detail FROM captiva_voucher_sessions_to_disconnect(%s)",
        (now,)).fetchall() if row[0] not in seen]
    # Public workstations (docs/workstations.md): automatic ends first (time up, closing),
    # then the sessions ended, suspended or cut short by the console.
    if not dry_run:
        conn.execute("SELECT captiva_workstation_sweep(%s)", (now,))
    seen = {row[0] for row in listed}
    listed += [row for row in conn.execute(
        "SELECT radacctid, acctuniqueid, acctsessionid, username, nasipaddress, "
        "framedipaddress, reason, detail FROM captiva_workstation_sessions_to_disconnect(%s)",
        (now,)).fetchall() if row[0] not in seen]
    conn.commit()
    sessions = [row for row in listed if row[0] not in recently_acked]
    summary: dict[str, Any] = {
        "sessions": len(sessions), "ack": 0, "nak": 0, "timeout": 0, "error": 0,
        "closed_meanwhile": 0, "skipped": 0, "deferred": 0,
        "awaiting_stop": len(listed) - len(sessions), "still_open": len(lingering),
        "failed": 0, "failed_routers": {}}
    rows: dict[int, tuple] = {}
    targets: dict[str, coa.Router] = {}
    work: list[coa.Work] = []
    for radacctid, uniqueid, session_id, username, nas, framed_ip, reason, detail in sessions:
        nas = str(nas)
        name, roster_port = routers.get(nas, (None, 3799))
        label = name or nas
        why = reason + (f" ({detail})" if detail else "")
        if dry_run:
            out(f"would disconnect {username} session {session_id} on {label}: {why}")
            continue
        rows[radacctid] = (radacctid, uniqueid, session_id, username, nas, framed_ip, why)
        if label not in targets:
            targets[label] = coa.router_for(config, name, nas, roster_port)
        work.append(coa.Work(radacctid, label, coa.Session(
            username, session_id, str(framed_ip) if framed_ip else None)))
    if dry_run:
        return summary

    pending: list[tuple] = []

    def flush() -> None:
        if pending:
            with conn.cursor() as cur:
                cur.executemany(
                    """
                    INSERT INTO captiva_disconnect (radacctid, acctuniqueid, acctsessionid,
                        username, nasipaddress, framedipaddress, reason, result, error_cause,
                        detail)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    """, pending)
            conn.commit()
            pending.clear()

    def record(item: coa.Work, outcome: coa.Outcome) -> None:
        pending.append((*rows[item.key], outcome.result, outcome.error_cause, outcome.detail))
        level = logging.DEBUG if outcome.result == "ack" else logging.ERROR
        _, _, session_id, username, _, _, why = rows[item.key]
        log.log(level, "disconnect %s session %s on %s (%s): %s%s", username, session_id,
                item.router, why, outcome.result,
                f" [{outcome.error_cause or ''} {outcome.detail or ''}]".replace("[ ", "[")
                if outcome.error_cause or outcome.detail else "")
        if len(pending) >= 200:
            flush()

    # A router without a secret in the configuration: every session is an error, nothing sent.
    missing = {label for label, target in targets.items() if target is None}
    for item in [w for w in work if w.router in missing]:
        record(item, coa.Outcome("error", detail=f"no secret for router {item.router} "
                                                 "in the configuration"))
        summary["error"] += 1
        summary["failed_routers"][item.router] = "no secret in the configuration"
    work = [w for w in work if w.router not in missing]
    limits = coa.Limits(config.coa_timeout, config.coa_retries, config.coa_concurrency,
                        config.coa_per_router, config.coa_unreachable_after)
    try:
        reports = asyncio.run(coa.dispatch(
            {k: v for k, v in targets.items() if v is not None}, work, limits=limits,
            deadline=deadline, still_open=_still_open(conn), record=record))
    finally:
        flush()
    for label, report in sorted(reports.items()):
        for key in ("ack", "nak", "timeout", "error", "skipped", "deferred"):
            summary[key] += getattr(report, key)
        summary["closed_meanwhile"] += report.closed
        if report.unreachable:
            summary["failed_routers"][label] = (
                f"unreachable: {report.timeout + report.error} requests without an answer, "
                f"{report.skipped} sessions skipped")
        elif report.failed:
            summary["failed_routers"][label] = (
                f"{report.nak} NAK, {report.timeout} timeouts, {report.error} errors")
    summary["failed"] = summary["nak"] + summary["timeout"] + summary["error"] + summary[
        "skipped"]
    summary["routers"] = {label: report.__dict__ for label, report in reports.items()}
    summary["coa"] = extend_workstations(conn, config, now, routers, limits, deadline)
    summary["guess_throttled"] = guess_throttled(conn, now)
    summary["seconds"] = round(time.monotonic() - started, 3)
    if summary["deferred"]:
        log.warning("enforce: time budget used up, %d sessions left for the next run",
                    summary["deferred"])
    for label, why in summary["failed_routers"].items():
        log.error("enforce: router %s failed: %s", label, why)
    return summary


def guess_throttled(conn, now: dt.datetime) -> dict[str, dict[str, int]]:
    """Sources FreeRADIUS throttled for guessing codes in the last 10 minutes, per scope
    ('station': one device of a NAS, 'nas': a whole NAS), and the requests their episodes had
    refused (docs/freeradius.md, "Guessing codes"); for the enforce job's metrics."""
    found = {scope: {"sources": 0, "requests": 0} for scope in ("station", "nas")}
    for scope, sources, requests in conn.execute(
            "SELECT scope, count(*), COALESCE(sum(throttled), 0)"
            " FROM captiva_guess_throttled_sources(%s) GROUP BY scope",
            (now - dt.timedelta(minutes=10),)).fetchall():
        found[scope] = {"sources": sources, "requests": int(requests)}
    conn.commit()
    return found


def _still_open(conn) -> Callable[[list[int]], set[int]]:
    """``still_open`` for coa.dispatch: which of these radacct sessions are still open."""
    def still_open(keys: list[int]) -> set[int]:
        found = {row[0] for row in conn.execute(
            "SELECT radacctid FROM radacct WHERE radacctid = ANY(%s) AND acctstoptime IS NULL",
            (keys,)).fetchall()}
        conn.commit()
        return found
    return still_open


def extend_workstations(conn, config: Config, now: dt.datetime, routers: dict[str, tuple],
                        limits: coa.Limits, deadline: float) -> dict[str, int]:
    """Public workstations given more time (docs/workstations.md, "Add time on the live
    session"): a CoA-Request with the new Session-Timeout to each live router session that
    would end too early (``captiva_workstation_sessions_to_extend``). On a CoA-ACK the router's
    new end is recorded, so the kiosk needs no new login; after a NAK or no answer the grant is
    recorded as failed and the kiosk logs the code in again (the fallback). Either way the
    answer is audited (``captiva_workstation_router_answer``)."""
    listed = conn.execute(
        "SELECT radacctid, acctsessionid, username, nasipaddress, framedipaddress, session_id,"
        " workstation, granted, session_timeout, router_until"
        " FROM captiva_workstation_sessions_to_extend(%s)", (now,)).fetchall()
    conn.commit()
    summary = {"sessions": len(listed), "ack": 0, "nak": 0, "timeout": 0, "error": 0}
    if not listed:
        return summary
    rows: dict[int, tuple] = {}
    targets: dict[str, coa.Router] = {}
    work: list[coa.Work] = []
    for (radacctid, session_id, code, nas, framed_ip, ws_session, workstation, granted,
         timeout, until) in listed:
        nas = str(nas)
        name, roster_port = routers.get(nas, (None, 3799))
        label = name or nas
        target = coa.router_for(config, name, nas, roster_port)
        rows[radacctid] = (ws_session, granted, until, code, workstation)
        if target is None:
            conn.execute("SELECT captiva_workstation_router_answer(%s, %s, NULL, %s, %s)",
                         (ws_session, granted, "error: no secret for the router", now))
            summary["error"] += 1
            continue
        targets.setdefault(label, target)
        work.append(coa.Work(radacctid, label, coa.Session(
            code, session_id, str(framed_ip) if framed_ip else None),
            (("Session-Timeout", timeout),)))
    conn.commit()

    def record(item: coa.Work, outcome: coa.Outcome) -> None:
        ws_session, granted, until, code, workstation = rows[item.key]
        result = outcome.result + (f" {outcome.error_cause}" if outcome.error_cause else "")
        conn.execute("SELECT captiva_workstation_router_answer(%s, %s, %s, %s, %s)",
                     (ws_session, granted, until if outcome.result == "ack" else None, result,
                      now))
        conn.commit()
        summary[outcome.result] += 1
        level = logging.INFO if outcome.result == "ack" else logging.WARNING
        log.log(level, "CoA Session-Timeout=%s for %s on %s (%s): %s%s", dict(item.change)[
            "Session-Timeout"], code, item.router, workstation, result,
            "" if outcome.result == "ack" else "; the kiosk logs in again")

    asyncio.run(coa.dispatch(targets, work, limits=limits, deadline=deadline,
                             still_open=_still_open(conn), record=record))
    return summary


# --------------------------------------------------------------------------------------------
# close-stale


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
            "SELECT username, acctsessionid, nasipaddress, "
            "COALESCE(acctupdatetime, acctstarttime) FROM radacct WHERE {} "
            "ORDER BY radacctid").format(where), {"cutoff": cutoff}).fetchall()
        for username, session_id, nas, last in rows:
            out(f"would close {username} session {session_id} on {nas} "
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
        RETURNING username, acctsessionid, nasipaddress
        """).format(where), {"cutoff": cutoff}).fetchall()
    conn.commit()
    for username, session_id, nas in rows:
        log.info("closed stale session %s of %s on %s", session_id, username, nas)
    return {"closed": len(rows), "stale": len(rows), "failed": 0}


# --------------------------------------------------------------------------------------------
# alerts


def _local(instant: dt.datetime, calendar: Calendar) -> str:
    return instant.astimezone(calendar.tz).strftime("%Y-%m-%d %H:%M")


def plan_alerts(users: list[UserUsage], now: dt.datetime, config: Config,
                already: set[tuple], names: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """Pure: the alerts due. Each has the keys to record and the one threshold to mail.

    Figures and dates are in each user's calendar; ``names``: :func:`usage.period_names`.

    Of several thresholds crossed at once, only the highest percentage (or the fewest days)
    is mailed; the others are recorded as covered so they are never mailed later.
    """
    alerts = []
    for user in users:
        if not user.email or user.status != "active":
            continue
        calendar = user.calendar
        thresholds = user.alert_quota_percent or config.default_quota_percent
        for name, use in user.usage.items():
            if use.limit is None:
                continue
            key = use.period.first_day.isoformat() if use.period.first_day else "total"
            crossed = [t for t in thresholds if use.used * 100 >= t * use.limit]
            new = sorted(t for t in crossed if (user.username, "quota", name, t, key)
                         not in already)
            if not new:
                continue
            mailed = max(new)
            alerts.append({
                "user": user, "kind": "quota", "period": name, "period_key": key,
                "thresholds": new, "mailed": mailed,
                "values": {
                    "percent": min(math.floor(use.percent), 999),
                    "threshold": mailed,
                    "period": name,
                    "period_fr": names["fr"][name],
                    "period_en": names["en"][name],
                    "used": format_bytes(use.used),
                    "limit": format_bytes(use.limit),
                    "remaining": format_bytes(use.remaining),
                    "resets_at": _local(use.resets_at, calendar) if use.resets_at else "-",
                },
            })
        if user.expires_at is not None and user.expires_at > now:
            days_thresholds = user.alert_expiry_days or config.default_expiry_days
            left = user.expires_at - now
            key = user.expires_at.isoformat()
            crossed = [d for d in days_thresholds if left <= dt.timedelta(days=d)]
            new = sorted(d for d in crossed
                         if (user.username, "expiry", "account", d, key) not in already)
            if new:
                alerts.append({
                    "user": user, "kind": "expiry", "period": "account", "period_key": key,
                    "thresholds": new, "mailed": min(new),
                    "values": {
                        "days": math.ceil(left / dt.timedelta(days=1)),
                        "threshold": min(new),
                        "expires_at": _local(user.expires_at, calendar),
                    },
                })
    return alerts


def alerts(conn, config: Config, now: dt.datetime, dry_run: bool = False,
           out: Printer = print, mailer_factory=Mailer,
           deadline: float | None = None) -> dict[str, Any]:
    """Mail quota and expiry alerts, once per user, threshold and period."""
    users = usage_all(conn, now, status="active")
    names = period_names(conn)
    already = {tuple(row) for row in conn.execute(
        "SELECT username, kind, period, threshold, period_key FROM captiva_alert_sent"
        " WHERE sent_at > %s - interval '400 days'", (now,)).fetchall()}
    conn.commit()
    due = plan_alerts(users, now, config, already, names)
    summary = {"due": len(due), "sent": 0, "failed": 0}
    with mailer_factory(config.smtp) as mailer:
        for number, alert in enumerate(due):
            if deadline is not None and time.monotonic() > deadline:
                summary["deferred"] = len(due) - number
                log.warning("alerts: time budget used up, %d alerts left for the next run",
                            summary["deferred"])
                break
            user: UserUsage = alert["user"]
            values = {"username": user.username, "first_name": user.first_name or user.username,
                      "last_name": user.last_name or "", "timezone": user.calendar.timezone,
                      **alert["values"]}
            try:
                mail = render(alert["kind"], user.language, user.email, values,
                              config.templates_dir, config.portal_url)
            except TemplateError as exc:
                log.error("%s", exc)
                summary["failed"] += 1
                continue
            if dry_run:
                out(f"would mail {user.email} ({user.username}, {user.language}): "
                    f"{mail.subject}")
                continue
            try:
                with conn.transaction():
                    inserted = conn.execute(
                        """
                        INSERT INTO captiva_alert_sent (username, kind, period, threshold,
                            period_key, email, mailed)
                        SELECT %s, %s, %s, t, %s, %s, t = %s FROM unnest(%s::integer[]) AS t
                        ON CONFLICT (username, kind, period, threshold, period_key) DO NOTHING
                        RETURNING threshold
                        """,
                        (user.username, alert["kind"], alert["period"], alert["period_key"],
                         user.email, alert["mailed"], alert["thresholds"]),
                    ).fetchall()
                    # Another run recorded it meanwhile: it mailed, so do not.
                    if alert["mailed"] in {row[0] for row in inserted}:
                        mailer.send(mail)
                conn.commit()
            except (smtplib.SMTPException, OSError) as exc:
                conn.rollback()
                summary["failed"] += 1
                log.error("mail to %s (%s) failed, will retry next run: %s", user.email,
                          user.username, exc)
                continue
            summary["sent"] += 1
            log.info("mailed %s alert %s %s to %s", alert["kind"], alert["period"],
                     alert["mailed"], user.username)
    return summary


# --------------------------------------------------------------------------------------------
# retention


def _columns(conn, table: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (table,)).fetchall()]


def _move_batches(conn, table: str, key: str, closed: sql.Composable, cutoff: dt.datetime,
                  config: Config, deadline: float | None = None) -> int:
    """Move (archive) or delete (purge) rows of ``table`` matching ``closed``, in batches."""
    history = f"{table}_history"
    columns = [c for c in _columns(conn, table) if c in set(_columns(conn, history))]
    column_list = sql.SQL(", ").join(map(sql.Identifier, columns))
    picked = sql.SQL("SELECT {key} FROM {table} WHERE {closed} ORDER BY {key} LIMIT %(n)s").format(
        key=sql.Identifier(key), table=sql.Identifier(table), closed=closed)
    if config.retention_mode == "archive":
        statement = sql.SQL(
            "WITH moved AS (DELETE FROM {table} WHERE {key} IN ({picked}) AND {closed} "
            "RETURNING {columns}) "
            "INSERT INTO {history} ({columns}) SELECT {columns} FROM moved").format(
            table=sql.Identifier(table), key=sql.Identifier(key), picked=picked, closed=closed,
            columns=column_list, history=sql.Identifier(history))
    else:
        statement = sql.SQL("DELETE FROM {table} WHERE {key} IN ({picked}) AND {closed}").format(
            table=sql.Identifier(table), key=sql.Identifier(key), picked=picked, closed=closed)
    total = 0
    while True:
        count = conn.execute(statement, {"cutoff": cutoff, "n": config.batch_size}).rowcount
        conn.commit()
        total += count
        if count < config.batch_size:
            return total
        if deadline is not None and time.monotonic() > deadline:
            log.warning("retention: time budget used up after %d rows of %s; the next run "
                        "goes on", total, table)
            return total


# The history tables partitioned by month (functions/54_history_partitions.sql), in the order
# of their live tables' cutoffs below: radacct's, then radpostauth's.
HISTORIES = ("radacct_history", "radpostauth_history")


def _history_function(history: str, verb: str) -> sql.Composed:
    """``SELECT * FROM captiva_<history>_<verb>(...)`` (functions/55_, 56_): prepare takes
    the live table's cutoff and now, expired and drop the history cutoff."""
    arguments = "%s, %s" if verb == "prepare" else "%s"
    return sql.SQL("SELECT * FROM {}({})").format(
        sql.Identifier(f"captiva_{history}_{verb}"), sql.SQL(arguments))


def retention(conn, config: Config, now: dt.datetime, dry_run: bool = False,
              out: Printer = print, deadline: float | None = None) -> dict[str, Any]:
    """Closed sessions and post-auth rows older than their retention leave the hot tables.

    ``archive`` moves them to ``*_history`` (same transaction per batch: a row is in exactly
    one table), ``purge`` deletes them. Open sessions are never touched. Usage totals live in
    captiva_usage_daily and are not affected.

    radacct_history is partitioned by month of the stop time (migration 0130),
    radpostauth_history by month of authdate (0180): before moving, the partitions the rows
    need are created (captiva_<history>_prepare); with ``history_days``, the months that
    ended before the history cutoff are dropped whole (captiva_<history>_drop), not deleted
    row by row.
    """
    acct_cutoff = now - dt.timedelta(days=config.radacct_days)
    auth_cutoff = now - dt.timedelta(days=config.radpostauth_days)
    acct_closed = sql.SQL("acctstoptime IS NOT NULL AND acctstoptime < %(cutoff)s")
    auth_closed = sql.SQL("authdate < %(cutoff)s")
    if dry_run:
        acct = conn.execute(sql.SQL("SELECT count(*) FROM radacct WHERE {}").format(acct_closed),
                            {"cutoff": acct_cutoff}).fetchone()[0]
        auth = conn.execute(sql.SQL("SELECT count(*) FROM radpostauth WHERE {}").format(
            auth_closed), {"cutoff": auth_cutoff}).fetchone()[0]
        expired = []
        if config.retention_mode == "archive" and config.history_days > 0:
            cutoff = now - dt.timedelta(days=config.history_days)
            for history in HISTORIES:
                expired += [r[0] for r in conn.execute(
                    _history_function(history, "expired"), (cutoff,))]
        conn.rollback()
        verb = "move to history" if config.retention_mode == "archive" else "delete"
        out(f"would {verb}: {acct} radacct rows closed before {acct_cutoff.isoformat()}, "
            f"{auth} radpostauth rows before {auth_cutoff.isoformat()}")
        if expired:
            out(f"would drop history partitions: {', '.join(expired)}")
        return {"radacct": 0, "radpostauth": 0, "would_radacct": acct, "would_radpostauth": auth,
                "would_drop": expired, "failed": 0}
    if config.retention_mode == "archive":
        created = []
        for history, cutoff in zip(HISTORIES, (acct_cutoff, auth_cutoff), strict=True):
            created += [r[0] for r in conn.execute(
                _history_function(history, "prepare"), (cutoff, now)).fetchall()]
            conn.commit()
        if created:
            log.info("retention: created partitions %s", ", ".join(created))
    summary = {
        "radacct": _move_batches(conn, "radacct", "radacctid", acct_closed, acct_cutoff, config,
                                 deadline),
        "radpostauth": _move_batches(conn, "radpostauth", "id", auth_closed, auth_cutoff,
                                     config, deadline),
        "failed": 0,
    }
    summary["console"] = _console_retention(conn, now - dt.timedelta(days=config.audit_days))
    if config.retention_mode == "archive" and config.history_days > 0:
        cutoff = now - dt.timedelta(days=config.history_days)
        dropped = []
        for history in HISTORIES:
            dropped += conn.execute(_history_function(history, "drop"), (cutoff,)).fetchall()
            conn.commit()
        summary["history_partitions_dropped"] = [
            name for name, _ in dropped if not name.endswith("_default")]
        # the rows of the default partitions, deleted one by one (normally none)
        summary["history_purged"] = sum(
            rows for name, rows in dropped if name.endswith("_default"))
    log.info("retention (%s): %s", config.retention_mode, summary)
    return summary


def _console_retention(conn, cutoff: dt.datetime) -> int:
    """The portal console's rows (migration 0110), kept ``retention.audit_days``: audit rows,
    grants expired and disconnect requests made before ``cutoff``. Audit rows go through
    ``captiva_audit_expire``, which keeps 30 days whatever the cutoff (migration 0140)."""
    deleted = conn.execute("SELECT captiva_audit_expire(%s)", (cutoff,)).fetchone()[0]
    for statement in ("DELETE FROM captiva_quota_grant WHERE expires_at < %s",
                      "DELETE FROM captiva_console_disconnect WHERE requested_at < %s"):
        deleted += conn.execute(statement, (cutoff,)).rowcount
    conn.commit()
    return deleted


# --------------------------------------------------------------------------------------------
# report


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
    out(f"Usage at {_local(now, calendar)} {calendar.timezone}: {len(users)} users, "
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
