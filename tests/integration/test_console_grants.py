"""Console quota grants through real FreeRADIUS and PostgreSQL.

A grant is written by the console's own code (captiva.portal.console.actions.grant) as the
``captiva_portal`` role; the login is a real Access-Request to FreeRADIUS, whose quota check
(captiva_quota_login) reads the one usage definition. Expected figures are plain arithmetic.
"""

from __future__ import annotations

import datetime as dt
import time

import psycopg
import pytest
import radius_fixtures
from pyrad import packet
from quota_radius_fixtures import GIB, Nas, provision, wait_replayed
from test_quota_radius_login import _clear_of_midnight, login, roster_user

from captiva.portal.console import actions
from captiva.portal.staff import Staff
from captiva.quota.usage import usage_for

radius_server = radius_fixtures.radius_server
ADMIN = Staff("helpdesk", "admin", ())
VIEWER = Staff("observer", "viewer", ())
MONTHLY_USED = 10 * GIB + 300  # over the 10 GiB monthly quota
DAILY_USED = GIB + 700  # over the 1 GiB daily quota


@pytest.fixture(scope="module")
def server(radius_server):
    _clear_of_midnight()
    provision(radius_server, [roster_user("grace", "monthly-10g"),
                              roster_user("rita", "daily-1g"),
                              roster_user("tess", "daily-1g"),
                              roster_user("vera", "daily-1g")])
    # the audit function reads the actor's role from captiva_staff (migration 0140)
    with radius_server.db.connect() as conn:
        conn.execute("INSERT INTO captiva_staff (username, role) VALUES ('helpdesk', 'admin'),"
                     " ('observer', 'viewer') ON CONFLICT DO NOTHING")
    nas = Nas(radius_server)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for user, used in (("grace", MONTHLY_USED), ("rita", DAILY_USED), ("tess", DAILY_USED),
                       ("vera", DAILY_USED)):
        nas.session(user, f"{user}-1", start, [(start, used - used // 3, used // 3)])
    wait_replayed(radius_server)
    return radius_server


def portal_conn(server):
    return psycopg.connect(server.db.dsns["portal"], autocommit=True)


def total_limit(reply) -> int:
    return (reply["Mikrotik-Total-Limit-Gigawords"][0] * 2**32
            + reply["Mikrotik-Total-Limit"][0])


def test_a_grant_lets_an_over_quota_student_in_with_the_exact_remaining_bytes(server):
    assert login(server, "grace").code == packet.AccessReject
    now = dt.datetime.now(dt.UTC)
    with portal_conn(server) as conn:
        actions.grant(conn, ADMIN, "grace", period="monthly", kind="extra",
                      reason="thesis defence", extra_bytes=5 * GIB,
                      expires_at=now + dt.timedelta(days=7), now=now)
        # the console shows the same figure the login check uses
        monthly = usage_for(conn, "grace", dt.datetime.now(dt.UTC))["monthly"]
    reply = login(server, "grace")
    assert reply.code == packet.AccessAccept
    remaining = 15 * GIB - MONTHLY_USED  # above 4 GiB: Gigawords carries the high part
    assert remaining > 2**32
    assert total_limit(reply) == remaining
    assert reply["Mikrotik-Total-Limit-Gigawords"] == [remaining >> 32]
    assert monthly.limit == 15 * GIB and monthly.remaining == remaining


def test_a_reset_gives_the_period_back_in_full(server):
    assert login(server, "rita").code == packet.AccessReject
    now = dt.datetime.now(dt.UTC)
    with portal_conn(server) as conn:
        made = actions.grant(conn, ADMIN, "rita", period="daily", kind="reset",
                             reason="router fault counted twice", now=now)
        day = usage_for(conn, "rita", now)["daily"]
    assert made["bytes"] == DAILY_USED
    assert made["expires_at"] == day.period.resets_at  # a reset lasts until the period resets
    reply = login(server, "rita")
    assert reply.code == packet.AccessAccept
    assert total_limit(reply) == GIB


def test_a_grant_expires_on_time(server):
    now = dt.datetime.now(dt.UTC)
    expires = now + dt.timedelta(seconds=3)
    with portal_conn(server) as conn:
        actions.grant(conn, ADMIN, "tess", period="daily", kind="extra", reason="exam",
                      extra_bytes=GIB, expires_at=expires, now=now)
    reply = login(server, "tess")
    assert reply.code == packet.AccessAccept
    assert total_limit(reply) == 2 * GIB - DAILY_USED
    time.sleep(max(0.0, (expires - dt.datetime.now(dt.UTC)).total_seconds()) + 0.5)
    reply = login(server, "tess")
    assert reply.code == packet.AccessReject
    assert "Daily data quota of 1 GiB reached" in reply["Reply-Message"][0]


def test_a_viewer_cannot_grant_and_bad_grants_are_refused(server):
    now = dt.datetime.now(dt.UTC)
    with portal_conn(server) as conn:
        with pytest.raises(actions.ActionRefused, match="error.read_only"):
            actions.grant(conn, VIEWER, "vera", period="daily", kind="extra", reason="x",
                          extra_bytes=GIB, expires_at=now + dt.timedelta(days=1), now=now)
        with pytest.raises(actions.ActionRefused, match="console.reason_required"):
            actions.grant(conn, ADMIN, "vera", period="daily", kind="extra", reason=" ",
                          extra_bytes=GIB, expires_at=now + dt.timedelta(days=1), now=now)
        with pytest.raises(actions.ActionRefused, match="console.bad_expiry"):
            actions.grant(conn, ADMIN, "vera", period="daily", kind="extra", reason="x",
                          extra_bytes=GIB, expires_at=now - dt.timedelta(seconds=1), now=now)
        with pytest.raises(actions.ActionRefused, match="console.unlimited"):
            actions.grant(conn, ADMIN, "vera", period="weekly", kind="extra", reason="x",
                          extra_bytes=GIB, expires_at=now + dt.timedelta(days=1), now=now)
        assert conn.execute("SELECT count(*) FROM captiva_quota_grant WHERE username = 'vera'"
                            ).fetchone()[0] == 0
    assert login(server, "vera").code == packet.AccessReject


def test_every_grant_is_audited_and_the_audit_is_append_only_for_the_portal(server):
    with portal_conn(server) as conn:
        rows = conn.execute("SELECT actor, actor_role, action, username, reason"
                            " FROM captiva_audit ORDER BY id").fetchall()
        assert ("helpdesk", "admin", "grant", "grace", "thesis defence") in rows
        assert ("helpdesk", "admin", "reset", "rita", "router fault counted twice") in rows
        for statement in ("UPDATE captiva_audit SET reason = 'nothing happened'",
                          "DELETE FROM captiva_audit",
                          "UPDATE captiva_quota_grant SET bytes = 0",
                          "DELETE FROM captiva_quota_grant"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM captiva_audit").fetchone()[0] == len(rows)


def test_plan_and_drift_report_the_grants_in_force(server):
    from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import (
        reconcile,
    )
    from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
    from quota_radius_fixtures import roster_variables

    users = [roster_user(u, p) for u, p in (("grace", "monthly-10g"), ("rita", "daily-1g"),
                                            ("tess", "daily-1g"), ("vera", "daily-1g"))]
    roster, errors = validate(roster_variables(users))
    assert errors == []
    with server.db.connect("reconcile") as conn:
        result = reconcile(conn, roster, now=dt.datetime.now(dt.UTC), check_mode=True)
    # grace's extra bytes and rita's reset; tess's grant has expired
    assert result["active_grants"] == {"count": 2, "users": 2}


def test_each_role_is_offered_what_the_database_lets_it_do(server):
    """One rule for "who may act" (captiva/authz.py): what the portal offers each role
    (Staff, read by every page) is what the database's functions let that role do, for every
    kind of action the console has (the audit function, the voucher revocation, the devices',
    the sign-up review's, the workstations'). test_audit.py walks every cell of the policy."""
    staff = [Staff("helpdesk", "admin", ()), Staff("observer", "viewer", ()),
             Staff("desk", "operator", ()),
             Staff("annex", "operator", ("north",))]
    with server.db.connect() as conn:
        conn.execute("INSERT INTO captiva_staff (username, role, sites) VALUES"
                     " ('desk', 'operator', '{}'), ('annex', 'operator', '{north}')"
                     " ON CONFLICT DO NOTHING")
        request = conn.execute(
            "INSERT INTO captiva_registration (matricule, first_name, last_name, email,"
            " promotion, language, password_hash, status, client) VALUES ('STU-MATRIX', 'Mo',"
            " 'Trix', 'mo@example.org', 'L1', 'en', '$6$salt$hash', 'pending', '192.0.2.0')"
            " RETURNING id").fetchone()[0]
    calls = {
        "grant": ("SELECT captiva_audit_record(%s, 'grant', 'grace', 'x', '{}')", ()),
        "disconnect": ("SELECT captiva_audit_record(%s, 'disconnect', 'grace', 'x', '{}')", ()),
        "voucher-revoke": ("SELECT * FROM captiva_voucher_revoke(%s, 'K7HM3XPW9H', 'x')", ()),
        "device-block": ("SELECT * FROM captiva_device_act(%s, 'grace', 'AA:BB:CC:00:99:01',"
                         " 'device-block', '', 'x')", ()),
        "registration-approve": ("SELECT * FROM captiva_registration_decide(%s, %s, true, '')",
                                 (request,)),
        "registration-reject": ("SELECT * FROM captiva_registration_decide(%s, %s, false,"
                                " 'x')", (request,)),
    }
    offered = {"grant": Staff.can_act.fget, "disconnect": Staff.can_act.fget,
               "voucher-revoke": Staff.can_revoke.fget,
               "device-block": Staff.can_act.fget,
               "registration-approve": Staff.can_review.fget,
               "registration-reject": Staff.can_review.fget}

    def allowed(conn, sql, args) -> bool:
        try:
            with conn.transaction(force_rollback=True):
                conn.execute(sql, args)
        except psycopg.errors.InsufficientPrivilege:
            return False
        return True

    with portal_conn(server) as conn:
        for member in staff:
            for action, (sql, args) in calls.items():
                assert allowed(conn, sql, (member.username, *args)) == offered[action](member), \
                    (member, action)
            for site in ("north", "south"):
                role = conn.execute("SELECT captiva_authz_role(%s, 'issue', %s)",
                                    (member.username, site)).fetchone()[0]
                assert (role is not None) == member.can_act_at(site), (member, site)
        assert conn.execute("SELECT count(*) FROM captiva_audit WHERE username = 'STU-MATRIX'"
                            ).fetchone()[0] == 0  # every call above was rolled back
    assert {m.username for m in staff if m.can_review} == {"helpdesk", "desk", "annex"}
    assert {m.username for m in staff if m.can_act} == {"helpdesk"}
