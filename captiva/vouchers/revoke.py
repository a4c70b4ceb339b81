"""An urgent revocation: a code photographed and shared stops working now.

Run on the quota jobs' host, as the jobs' account (RouterOS accepts Disconnect-Requests only
from its RADIUS server's address), with the jobs' configuration (/etc/captiva/quota.toml):

1. record the revocation through ``captiva_voucher_revoke``, the console's path too: the
   policy (captiva/authz.py, role ``os``) decides whether the actor (``os:<login>``) may,
   and the revocation (``captiva_voucher_revocation``, source ``urgent``) and its audit row
   (``captiva_audit``, kind ``voucher``) are written in one transaction. The next login of
   the code is rejected by FreeRADIUS, and the reconcile keeps the row;
2. send a Disconnect-Request for each of the code's live sessions (the selection of
   ``captiva_voucher_sessions_to_disconnect``), recorded in ``captiva_disconnect`` as the
   enforce job records its own.

Until the roster lists the code in its batch's ``revoked``, ``make plan`` reports it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from captiva.runtime import coa
from captiva.runtime.jobs_config import Config


class Refused(PermissionError):
    """The policy does not let this actor revoke a code (the database said so)."""


def revoke(conn, config: Config, code: str, reason: str = "", *, actor: str,
           now: dt.datetime | None = None) -> dict[str, Any]:
    """``actor`` (``os:<login>``: captiva.authz.current_os_actor) revokes the compact
    ``code`` and disconnects its live sessions.

    Returns ``{"known": bool, "revoked": bool (new row), "card": "batch#index",
    "sessions": [...], "awaiting_stop": int}``; each session is ``{"router", "session_id",
    "result", "detail"}`` and ``awaiting_stop`` counts sessions ACKed within
    ``disconnect_grace`` (not asked again). Raises :class:`Refused` when the policy refuses
    the actor."""
    import psycopg

    now = now or dt.datetime.now(dt.UTC)
    # One path (the console's too): the function asks the policy, records the revocation
    # (append-only, migration 0141) and its audit row; the jobs' role never reads codes.
    try:
        card = conn.execute("SELECT batch, index, revoked FROM captiva_voucher_revoke(%s, %s, %s)",
                            (actor, code, reason)).fetchone()
    except psycopg.errors.InsufficientPrivilege as exc:
        conn.rollback()
        raise Refused(str(exc).splitlines()[0]) from None
    conn.commit()
    if card is None:
        return {"known": False, "revoked": False, "card": None, "sessions": [],
                "awaiting_stop": 0}
    revoked = card[2]
    routers = {str(ip): (name, port) for name, ip, port in conn.execute(
        "SELECT name, nasipaddress, coa_port FROM captiva_router").fetchall()}
    listed = conn.execute(
        "SELECT radacctid, acctuniqueid, acctsessionid, username, nasipaddress,"
        " framedipaddress, reason FROM captiva_voucher_sessions_to_disconnect(%s)"
        " WHERE username = %s", (now, code)).fetchall()
    # As the enforce job: a session ACKed less than disconnect_grace ago is left to its
    # router's accounting Stop, not asked again.
    recently_acked = {row[0] for row in conn.execute(
        "SELECT radacctid FROM captiva_disconnect WHERE result = 'ack' AND requested_at >= %s",
        (now - dt.timedelta(seconds=config.disconnect_grace),)).fetchall()}
    conn.commit()
    awaiting = [row for row in listed if row[0] in recently_acked]
    sessions = []
    for radacctid, uniqueid, session_id, username, nas, framed_ip, why in listed:
        if radacctid in recently_acked:
            continue
        nas = str(nas)
        name, port = routers.get(nas, (None, 3799))
        target = coa.router_for(config, name, nas, port)
        if target is None:
            outcome = coa.Outcome("error", detail=f"no secret for router {name or nas} in "
                                                  "the configuration")
        else:
            outcome = coa.disconnect(
                target.address, target.port, target.secret,
                username=username, session_id=session_id,
                framed_ip=str(framed_ip) if framed_ip else None, timeout=config.coa.timeout,
                retries=config.coa.retries, source=target.source)
        conn.execute(
            "INSERT INTO captiva_disconnect (radacctid, acctuniqueid, acctsessionid, username,"
            " nasipaddress, framedipaddress, reason, result, error_cause, detail)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (radacctid, uniqueid, session_id, username, nas, framed_ip, f"{why} (urgent)",
             outcome.result, outcome.error_cause, outcome.detail))
        conn.commit()
        sessions.append({"router": name or nas, "session_id": session_id,
                         "result": outcome.result, "detail": outcome.detail})
    return {"known": True, "revoked": revoked, "card": f"{card[0]}#{card[1]}",
            "sessions": sessions, "awaiting_stop": len(awaiting)}
