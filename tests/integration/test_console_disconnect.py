""""Disconnect now" from the console reaches the router's session (real PostgreSQL, the
RouterOS simulator's Disconnect listener, the quota jobs' enforce).

The portal host is no RADIUS client of the routers (docs/threat-model.md): the console, as
``captiva_portal``, records the request; enforce, as ``captiva_jobs`` on the RADIUS host, sends
the Disconnect-Request (with Event-Timestamp, the simulator drops one without) and records the
ACK, which the console then shows.
"""

from __future__ import annotations

import datetime as dt

import quota_fixtures
from quota_fixtures import NAS_DOUALA, GiB, ts
from routeros_fixtures import start_sim, stop_sim
from test_quota_jobs import SECRET, config

from captiva.portal.console import actions, data
from captiva.portal.staff import Staff
from captiva.quota import jobs

db = quota_fixtures.db
radius = quota_fixtures.radius
su = quota_fixtures.su
ADMIN = Staff("helpdesk", "admin", ())


def test_disconnect_now_reaches_the_simulators_session_and_the_ack_is_shown(db, radius, su,
                                                                          tmp_path):
    (tmp_path / "nas").mkdir()
    nas = start_sim(tmp_path / "nas")
    try:
        nas.accept_disconnects(("127.0.0.1", SECRET))
        now = ts("2026-11-21T12:00:00", "Africa/Douala")
        # the audit function reads the actor's role from captiva_staff (migration 0140)
        su.execute("INSERT INTO captiva_staff (username, role) VALUES ('helpdesk', 'admin')")
        su.execute("UPDATE captiva_router SET coa_port = %s WHERE name = 'hs-douala'",
                   (nas.coa_port,))
        for i, user in enumerate(("benoit", "carol")):  # neither is over any quota
            radius.start(f"s-{user}", user, NAS_DOUALA, now - dt.timedelta(minutes=30),
                         ip=f"10.5.50.{20 + i}")
            radius.interim(f"s-{user}", user, NAS_DOUALA, now - dt.timedelta(minutes=1), GiB, 0,
                           ip=f"10.5.50.{20 + i}")
        nas.add_sessions([{"user": u, "address": f"10.5.50.{20 + i}", "session-id": f"s-{u}"}
                          for i, u in enumerate(("benoit", "carol"))])
        cfg = config(db, routers={"hs-douala": {"secret": SECRET, "address": "127.0.0.1"}},
                     enforce={"timeout": 2})
        with db.connect("jobs", autocommit=False) as conn:
            assert jobs.enforce(conn, cfg, now)["sessions"] == 0  # nothing to do yet

        session = su.execute("SELECT radacctid FROM radacct WHERE username = 'benoit'"
                             ).fetchone()[0]
        with db.connect("portal", autocommit=True) as conn:
            actions.request_disconnect(conn, ADMIN, "benoit", session, "stolen laptop")
            assert [d["result"] for d in data.disconnects(conn, "benoit")] == [None]
        with db.connect("jobs", autocommit=False) as conn:
            summary = jobs.enforce(conn, cfg, now + dt.timedelta(seconds=5))
        assert (summary["sessions"], summary["ack"]) == (1, 1)
        assert {row["user"] for row in nas.rows("/ip/hotspot/active")} == {"carol"}
        assert nas.coa()["dropped-timestamp"] == 0
        with db.connect("portal", autocommit=True) as conn:
            shown = data.disconnects(conn, "benoit")
            audit = conn.execute("SELECT actor, action, reason FROM captiva_audit").fetchall()
        assert [(d["requested_by"], d["result"]) for d in shown] == [("helpdesk", "ack")]
        assert audit == [("helpdesk", "disconnect", "stolen laptop")]
        assert su.execute("SELECT username, reason FROM captiva_disconnect").fetchall() == [
            ("benoit", "console")]
    finally:
        stop_sim(nas)


def test_retention_removes_the_consoles_old_rows_and_keeps_recent_ones(db, su):
    # The audit outlives the live sessions: radacct keeps closed sessions 30 days by default,
    # the console's rows stay retention.audit_days (365).
    now = ts("2026-11-21T12:00:00", "Africa/Douala")
    old, recent = now - dt.timedelta(days=400), now - dt.timedelta(days=100)
    for at in (old, recent):
        su.execute("INSERT INTO captiva_audit (at, kind, actor, actor_role, action, username)"
                   " VALUES (%s, 'account', 'helpdesk', 'admin', 'grant', 'alice')", (at,))
        su.execute("INSERT INTO captiva_quota_grant (username, period, kind, bytes, reason,"
                   " granted_by, starts_at, expires_at) VALUES ('alice', 'daily', 'extra', 1,"
                   " 'exam', 'helpdesk', %s, %s)", (at, at + dt.timedelta(days=1)))
        su.execute("INSERT INTO captiva_console_disconnect (radacctid, username, requested_by,"
                   " requested_at) VALUES (1, 'alice', 'helpdesk', %s)", (at,))
    with db.connect("jobs", autocommit=False) as conn:
        summary = jobs.retention(conn, config(db), now)
    assert summary["console"] == 3
    for table, column in (("captiva_audit", "at"), ("captiva_quota_grant", "starts_at"),
                          ("captiva_console_disconnect", "requested_at")):
        kept = su.execute(f"SELECT {column} FROM {table}").fetchall()  # noqa: S608
        assert kept == [(recent,)], table
