"""``captiva-quota enforce``: Disconnect-Requests for the sessions that must end (over quota,
disabled, removed, expired, a voucher used up or revoked, a workstation's time up), and
CoA-Requests for the workstation sessions given more time (docs/quota.md, "Enforcement").
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from captiva.quota import Printer, session_of
from captiva.runtime import coa
from captiva.runtime.jobs_config import Config

log = logging.getLogger("captiva.quota")


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
            out(f"would disconnect {session_of(username, radacctid)} session {session_id} "
                f"on {label}: {why}")
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
        log.log(level, "disconnect %s session %s on %s (%s): %s%s",
                session_of(username, item.key), session_id, item.router, why, outcome.result,
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
    limits = config.coa
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
        # The session as staff see it (captiva_account_label), never its code.
        log.log(level, "CoA Session-Timeout=%s for %s (session %s) on %s: %s%s",
                dict(item.change)["Session-Timeout"], workstation, ws_session, item.router,
                result, "" if outcome.result == "ack" else "; the kiosk logs in again")

    asyncio.run(coa.dispatch(targets, work, limits=limits, deadline=deadline,
                             still_open=_still_open(conn), record=record))
    return summary
