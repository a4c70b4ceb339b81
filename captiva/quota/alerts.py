"""``captiva-quota alerts``: quota and expiry mails, once per user, threshold and period
(docs/quota.md, "Alerts")."""

from __future__ import annotations

import datetime as dt
import logging
import math
import smtplib
import time
from typing import Any

from captiva.quota import Printer
from captiva.quota.alert_mail import TemplateError, render
from captiva.quota.usage import (
    UserUsage,
    format_bytes,
    local_time,
    period_names,
    usage_all,
)
from captiva.runtime.jobs_config import Config
from captiva.runtime.mail import Mailer

log = logging.getLogger("captiva.quota")


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
                    "resets_at": local_time(use.resets_at, calendar) if use.resets_at else "-",
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
                        "expires_at": local_time(user.expires_at, calendar),
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
