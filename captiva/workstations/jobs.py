"""The workstations' daily report per site (CSV, mailed) and their retention.

The figures come from ``captiva_workstation_report`` (functions/78_workstation_report.sql); the mail
goes through the jobs' SMTP settings and mailer (captiva/runtime/mail.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import smtplib
from typing import Any

from captiva.runtime.jobs_config import Config
from captiva.runtime.mail import Mail, Mailer

log = logging.getLogger("captiva.workstations")
COLUMNS = ("hour", "sessions", "minutes", "occupancy_percent", "refusals")
SUBJECT = {"fr": "Postes publics {site} : rapport du {day}",
           "en": "Public workstations {site}: report for {day}"}
BODY = {"fr": "Rapport du {day} pour {site} en pièce jointe : {sessions} sessions, {minutes} "
              "minutes, {refusals} refus.\n",
        "en": "Report for {day} for {site} attached: {sessions} sessions, {minutes} minutes, "
              "{refusals} refusals.\n"}


def report_csv(conn, site: str, day: dt.date) -> tuple[str, dict[str, Any]]:
    """The site's day as CSV (one line per hour, then the day's total) and its totals."""
    rows = conn.execute("SELECT hour, sessions, minutes, occupancy_percent, refusals"
                        " FROM captiva_workstation_report(%s, %s)", (site, day)).fetchall()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("site", "day", *COLUMNS))
    for row in rows:
        writer.writerow((site, day.isoformat(), f"{row[0]:02d}:00", *row[1:]))
    totals = {"sessions": sum(r[1] for r in rows), "minutes": sum(r[2] for r in rows),
              "refusals": sum(r[4] for r in rows),
              "occupancy_percent": round(sum(float(r[3]) for r in rows) / 24, 1)}
    writer.writerow((site, day.isoformat(), "total", totals["sessions"], totals["minutes"],
                     totals["occupancy_percent"], totals["refusals"]))
    return out.getvalue(), totals


def report(conn, config: Config, day: dt.date, dry_run: bool = False,
           mailer: Mailer | None = None) -> dict[str, Any]:
    """Mail each site's report of ``day`` to its operators and the admins; ``failed`` counts
    the mails the server did not take."""
    sites = [r[0] for r in conn.execute(
        "SELECT DISTINCT site FROM captiva_workstation ORDER BY site")]
    summary: dict[str, Any] = {"sites": len(sites), "mailed": 0, "no_recipient": []}
    mails = []
    for site in sites:
        text, totals = report_csv(conn, site, day)
        recipients = conn.execute("SELECT email, language FROM"
                                  " captiva_workstation_report_recipients(%s)",
                                  (site,)).fetchall()
        if not recipients:
            summary["no_recipient"].append(site)
            continue
        for email, language in recipients:
            lang = language if language in ("fr", "en") else "fr"
            values = {"site": site, "day": day.isoformat(), **totals}
            mails.append(Mail(to=email, subject=SUBJECT[lang].format(**values),
                              body=BODY[lang].format(**values),
                              attachments=((f"workstations-{site}-{day}.csv",
                                            text.encode(), "text/csv"),)))
    conn.commit()
    if dry_run:
        summary["would_mail"] = len(mails)
        return summary
    summary["failed"] = 0
    with (mailer or Mailer(config.smtp)) as sender:
        for mail in mails:
            # One refused recipient or a mail server down is logged and counted (exit 1);
            # the other recipients still get their report.
            try:
                sender.send(mail)
            except (smtplib.SMTPException, OSError) as exc:
                summary["failed"] += 1
                log.error("report mail to %s failed: %s", mail.to, exc)
                continue
            summary["mailed"] += 1
    return summary


def retention(conn, config: Config, now: dt.datetime) -> dict[str, int]:
    """Guests unused for their site's retention lose their personal data; ended sessions and
    audit rows older than the audit's retention (``retention.audit_days``) are deleted."""
    erased = conn.execute("SELECT captiva_workstation_erase_guests(%s)", (now,)).fetchone()[0]
    before = now - dt.timedelta(days=config.audit_days)
    sessions = conn.execute("DELETE FROM captiva_workstation_session WHERE state = 'ended'"
                            " AND ended_at < %s", (before,)).rowcount
    # Through the function: no login role deletes audit rows, and it keeps 30 days at least.
    audit = conn.execute("SELECT captiva_audit_expire(%s, 'workstation')",
                         (before,)).fetchone()[0]
    conn.commit()
    return {"guests_erased": erased, "sessions": sessions, "audit": audit}
