"""What the workstation pages read and write (docs/workstations.md): every rule (who may act,
opening hours, limits, remaining time) is in SQL (functions/70-78_workstation_*.sql); these
functions call it and return its refusal reasons, which text.py turns into messages.
"""

from __future__ import annotations

import datetime as dt
import re

ACTIONS = ("issue", "add-time", "suspend", "resume", "terminate", "maintenance-on",
           "maintenance-off", "register-guest", "revoke-consent")
# The board as staff see it: the session id, never its code (captiva_workstation_staff_board).
BOARD_COLUMNS = ("name", "room", "status", "online", "session_id", "member",
                 "remaining", "closing_at", "language", "needs_login")
_GUEST = re.compile(r"^(?:guest:|#)(\d+)$")


def sites_of(conn, staff) -> list[str]:
    """The sites whose workstations ``staff`` may see (the policy's ``workstation-view``)."""
    names = [r[0] for r in conn.execute("SELECT name FROM captiva_site ORDER BY name")]
    return [n for n in names if staff.may("workstation-view", n)]


def board(conn, site: str, now: dt.datetime) -> list[dict]:
    rows = conn.execute("SELECT * FROM captiva_workstation_staff_board(%s, %s)", (site, now))
    out = []
    for row in rows:
        item = dict(zip(BOARD_COLUMNS, row, strict=True))
        item["closing_at"] = item["closing_at"].isoformat() if item["closing_at"] else None
        out.append(item)
    return out


def kiosk_of(conn, ip: str, now: dt.datetime) -> dict | None:
    """The workstation at ``ip``, with its live session's code: the kiosk logs it in."""
    row = conn.execute("SELECT workstation, site, state, session_id, remaining, language,"
                       " end_reason, warnings, code, needs_login"
                       " FROM captiva_workstation_kiosk(%s, %s)", (ip, now)).fetchone()
    if row is None:
        return None
    return dict(zip(("workstation", "site", "state", "session_id", "remaining", "language",
                     "end_reason", "warnings", "code", "needs_login"), row, strict=True))


def hotspot_hosts(conn, site: str) -> set[str]:
    """The hosts a kiosk of ``site`` may send its code to: the site's routers' hotspot DNS
    names and addresses, as the inventory declares them (captiva_router, the reconcile's)."""
    rows = conn.execute("SELECT host(nasipaddress), hotspot_dns_name FROM captiva_router"
                        " WHERE site = %s", (site,)).fetchall()
    return {host.lower() for row in rows for host in row if host}


def audit(conn, site: str, text: str, limit: int = 200) -> list[tuple]:
    pattern = f"%{text.strip()}%" if text.strip() else "%"
    return conn.execute(
        "SELECT at, actor, actor_role, action, workstation, session_id, before, after, detail"
        " FROM captiva_audit WHERE kind = 'workstation' AND site = %s"
        " AND (actor ILIKE %s OR action ILIKE %s"
        " OR COALESCE(workstation, '') ILIKE %s OR COALESCE(session_id::text, '') = %s"
        " OR detail::text ILIKE %s) ORDER BY at DESC, id DESC LIMIT %s",
        (site, pattern, pattern, pattern, text.strip(), pattern, limit)).fetchall()


def act(conn, actor: str, site: str, action: str, form: dict[str, str],
        now: dt.datetime) -> tuple[str | None, dict]:
    """One console action through its SQL function: (refusal reason or None, detail)."""
    session = int(form["session"]) if form.get("session", "").isdigit() else None
    workstation = form.get("workstation") or None
    if action == "issue":
        member = (form.get("member") or "").strip()
        guest = _GUEST.match(member)
        minutes = form.get("minutes", "").strip()
        seconds = int(minutes) * 60 if minutes.isdigit() else None
        if not member:
            return "member-required", {}
        row = conn.execute(
            "SELECT reason, detail, code FROM captiva_workstation_issue(%s, %s, %s, %s, %s, %s)",
            (actor, workstation, None if guest else member,
             int(guest.group(1)) if guest else None, seconds, now)).fetchone()
        return row[0], {**(row[1] or {}), "code": row[2]}
    if action == "add-time":
        raw = (form.get("minutes") or "").strip()
        match = re.fullmatch(r"([+-=]?)(\d{1,4})", raw)
        if session is None or not match:
            return "bad-minutes", {}
        sign, number = match.groups()
        mode = "set" if sign == "=" else "add"
        seconds = int(number) * 60 * (-1 if sign == "-" else 1)
        row = conn.execute("SELECT reason, detail FROM captiva_workstation_add_time("
                           "%s, %s, %s, %s, %s)", (actor, session, mode, seconds, now)).fetchone()
        return row[0], row[1] or {}
    if action in ("suspend", "resume", "terminate"):
        if session is None:
            return "unknown-session", {}
        row = conn.execute("SELECT reason, detail FROM captiva_workstation_change(%s, %s, %s,"
                           " %s)", (actor, session, action, now)).fetchone()
        return row[0], row[1] or {}
    if action in ("maintenance-on", "maintenance-off"):
        row = conn.execute("SELECT reason, detail FROM captiva_workstation_set_maintenance("
                           "%s, %s, %s, %s)", (actor, workstation, action == "maintenance-on",
                                               now)).fetchone()
        return row[0], row[1] or {}
    if action == "register-guest":
        consent = form.get("consent_on") or ""
        try:
            consent_on = dt.date.fromisoformat(consent) if consent else None
        except ValueError:
            consent_on = None
        row = conn.execute("SELECT guest_id, reason FROM captiva_workstation_register_guest("
                           "%s, %s, %s, %s, %s, %s, %s, %s)",
                           (actor, site, form.get("full_name", ""), form.get("id_type", ""),
                            form.get("id_number", ""), consent_on, form.get("language", "fr"),
                            now)).fetchone()
        return row[1], {"guest": row[0]}
    if action == "revoke-consent":
        guest = form.get("guest", "")
        if not guest.isdigit():
            return "unknown-guest", {}
        reason = conn.execute("SELECT captiva_workstation_revoke_consent(%s, %s, %s)",
                              (actor, int(guest), now)).fetchone()[0]
        return reason, {"guest": int(guest)}
    return "unknown-action", {}


def beat(conn, names: list[str], now: dt.datetime) -> None:
    """The heartbeat of the workstations whose kiosk page is connected (live.py)."""
    conn.execute("SELECT captiva_workstation_beat(%s, %s)", (names, now))
