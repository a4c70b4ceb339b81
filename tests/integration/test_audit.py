"""One policy, one audit table (issue 24; docs/portal.md, "Roles").

- Every cell of the policy (captiva/authz.py: role x action x scope) is decided the same way
  by the database's captiva_authz_role, which every acting SQL function asks, through the
  login each actor must use (staff: the portal's; a command's os:<login>: the jobs').
- Every audited action writes one row of captiva_audit, of its kind, through
  captiva_audit_record; retention expires each kind and keeps 30 days.
- Migration 0210 moves the workstations' audit rows into captiva_audit, every row kept.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from ansible_collections.captiva.campus.plugins.module_utils.captiva_migrations import (
    apply_functions,
    load_functions,
    load_migrations,
    migrate,
)
from pg_fixtures import FUNCTIONS_DIR, MIGRATIONS_DIR

from captiva import authz
from captiva.portal.staff import Staff
from captiva.portal.workstations import data

STAFF = {  # username: (role, sites)
    "boss": ("admin", ()),
    "watcher": ("viewer", ()),
    "desk": ("operator", ()),
    "annex": ("operator", ("north",)),
    "two-sites": ("operator", ("north", "east")),
    "reader": ("viewer", ("north",)),
}
SITES = ("north", "south", None)


@pytest.fixture
def staffed(radius_db):
    with radius_db.connect() as conn:
        for username, (role, sites) in STAFF.items():
            conn.execute("INSERT INTO captiva_staff (username, role, sites) VALUES (%s, %s, %s)",
                         (username, role, list(sites)))
    return radius_db


def decided(conn, actor: str) -> dict[tuple[str, str | None], bool]:
    """{(action, site): may} of ``actor`` for every action of the policy, by the database."""
    rows = conn.execute(
        "SELECT a.action, s.site, captiva_authz_role(%s, a.action, s.site) IS NOT NULL"
        " FROM unnest(%s::text[]) AS a (action), unnest(%s::text[]) AS s (site)",
        (actor, [a.name for a in authz.ACTIONS], list(SITES))).fetchall()
    assert len(rows) == len(authz.ACTIONS) * len(SITES)
    return {(action, site): may for action, site, may in rows}


def test_the_database_decides_every_cell_of_the_policy_as_the_python_does(staffed):
    with staffed.connect("portal") as conn:
        for username, (role, sites) in STAFF.items():
            expected = {(a.name, site): authz.allows(role, a.name, sites=sites, site=site)
                        for a in authz.ACTIONS for site in SITES}
            assert decided(conn, username) == expected, username
        # The policy's table itself, cell by cell, and each action's kind.
        for role in (*authz.ROLES, "student"):
            for a in authz.ACTIONS:
                assert conn.execute("SELECT captiva_authz_scope(%s, %s), captiva_audit_kind(%s)",
                                    (role, a.name, a.name)).fetchone() == (
                    authz.BY_NAME[a.name].scopes.get(role), a.kind)
        # Not staff, or a command's actor claimed through the portal's login: nothing.
        for actor in ("alice", "os:root", "os:", ""):
            assert not any(decided(conn, actor).values()), actor
    with staffed.connect("jobs") as conn:
        expected = {(a.name, site): authz.allows("os", a.name, site=site)
                    for a in authz.ACTIONS for site in SITES}
        assert decided(conn, "os:root") == expected
        assert {action for (action, _), may in expected.items() if may} == {
            "voucher-revoke", "registration-import"}
        # The jobs' login cannot act as a staff member, nor name no login or a spaced one
        # (authz.os_actor refuses them too).
        for actor in ("boss", "os:", "os:a b", "os:root\n"):
            assert not any(decided(conn, actor).values()), actor
    # The controller's commands (import-registrations) act through the reconcile's login.
    with staffed.connect("reconcile") as conn:
        assert decided(conn, "os:root") == expected
        for actor in ("boss", "os:", "os:a b"):
            assert not any(decided(conn, actor).values()), actor


def test_the_workstation_pages_and_the_daily_report_ask_the_policy(staffed):
    """Which sites' workstation boards a staff member sees and who receives a site's daily
    report are the policy's (workstation-view, workstation-report): a viewer or an operator
    at their sites, an admin everywhere, nobody else."""
    with staffed.connect() as conn:
        for site in ("east", "north", "south"):
            conn.execute("INSERT INTO captiva_site VALUES (%s, 'UTC', 1, 1)", (site,))
        for username in STAFF:
            conn.execute("INSERT INTO captiva_user (username, email, language, profile, enabled,"
                         " status, activated_on) VALUES (%s, %s, 'en', 'captiva-default', true,"
                         " 'active', '2025-01-01')", (username, f"{username}@campus.test"))
    with staffed.connect("portal") as conn:
        seen = {username: data.sites_of(conn, Staff(username, role, sites))
                for username, (role, sites) in STAFF.items()}
    every = ["east", "north", "south"]
    assert seen == {"boss": every, "watcher": every, "desk": every, "annex": ["north"],
                    "two-sites": ["east", "north"], "reader": ["north"]}
    with staffed.connect("jobs") as conn:
        mailed = {site: [row[0] for row in conn.execute(
            "SELECT email FROM captiva_workstation_report_recipients(%s)", (site,))]
            for site in ("north", "south")}
    assert mailed == {
        "north": ["annex@campus.test", "boss@campus.test", "desk@campus.test",
                  "two-sites@campus.test"],
        "south": ["boss@campus.test", "desk@campus.test"]}


def test_each_audited_action_is_one_row_of_its_kind(staffed):
    """What the console, a command and the workstations write: one table, a kind per row."""
    with staffed.connect() as conn:
        conn.execute("INSERT INTO captiva_site VALUES ('north', 'UTC', 1, 1)"
                     " ON CONFLICT DO NOTHING")
    with staffed.connect("portal") as conn:
        conn.execute("SELECT captiva_audit_record('boss', 'grant', 'alice', 'exam', '{}')")
        guest = conn.execute(
            "SELECT guest_id, reason FROM captiva_workstation_register_guest('annex', 'north',"
            " 'Ada L.', 'passport', 'X1', current_date)").fetchone()
        assert guest[1] is None
        refused = conn.execute(
            "SELECT guest_id, reason FROM captiva_workstation_register_guest('watcher',"
            " 'north', 'Bob', 'passport', 'X2', current_date)").fetchone()
        assert refused == (None, "forbidden")
        # A kind's row only from its own function: the portal cannot write one directly.
        for action, username in (("issue", None), ("voucher-revoke", "b#1"),
                                 ("password-change", "alice"), ("time-up", None)):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT captiva_audit_record('boss', %s, %s, NULL, '{}', 'north')",
                             (action, username))
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown action"):
            conn.execute("SELECT captiva_audit_record('boss', 'drop', 'x', NULL, '{}')")
        rows = conn.execute("SELECT kind, actor, actor_role, action, username, site"
                            " FROM captiva_audit ORDER BY id").fetchall()
    assert rows == [("account", "boss", "admin", "grant", "alice", None),
                    ("workstation", "annex", "operator", "register-guest", None, "north"),
                    ("workstation", "watcher", "viewer", "refused", None, "north")]


def test_every_workstation_action_the_policy_refuses_is_refused_and_audited(staffed):
    """Each workstation function, called by a viewer and by an operator of another site:
    the answer is forbidden, nothing changes, and each refusal is a 'refused' row naming the
    action attempted (captiva_workstation_allowed, asked first by every one of them)."""
    with staffed.connect() as conn:
        conn.execute("INSERT INTO captiva_site VALUES ('south', 'UTC', 1, 1)")
        conn.execute("INSERT INTO captiva_workstation_rules VALUES ('south', 3600, 7200, 3,"
                     " NULL, '{300}', 30)")
        conn.execute("INSERT INTO captiva_workstation VALUES ('S-1', 'south',"
                     " '02:00:00:00:00:01', '10.5.60.1', '', false), ('S-2', 'south',"
                     " '02:00:00:00:00:02', '10.5.60.2', '', false)")
        guest = conn.execute(
            "INSERT INTO captiva_workstation_guest (site, full_name, id_type, id_number,"
            " consent_on, registered_by) VALUES ('south', 'Ada L.', 'passport', 'X1',"
            " current_date, 'boss') RETURNING id").fetchone()[0]
        session = conn.execute(
            "INSERT INTO captiva_workstation_session (code, workstation, site, guest_id, state,"
            " granted_seconds, issued_by) VALUES ('P00000001', 'S-1', 'south', %s, 'issued',"
            " 3600, 'boss') RETURNING id", (guest,)).fetchone()[0]
    calls = {
        "issue": ("SELECT reason FROM captiva_workstation_issue(%s, 'S-2', NULL, %s)",
                  (guest,)),
        "add-time": ("SELECT reason FROM captiva_workstation_add_time(%s, %s, 'add', 600)",
                     (session,)),
        "suspend": ("SELECT reason FROM captiva_workstation_change(%s, %s, 'suspend')",
                    (session,)),
        "resume": ("SELECT reason FROM captiva_workstation_change(%s, %s, 'resume')",
                   (session,)),
        "terminate": ("SELECT reason FROM captiva_workstation_change(%s, %s, 'terminate')",
                      (session,)),
        "maintenance-on": ("SELECT reason FROM captiva_workstation_set_maintenance(%s, 'S-2',"
                           " true)", ()),
        "maintenance-off": ("SELECT reason FROM captiva_workstation_set_maintenance(%s,"
                            " 'S-2', false)", ()),
        "register-guest": ("SELECT reason FROM captiva_workstation_register_guest(%s,"
                           " 'south', 'Bob', 'passport', 'X2', current_date)", ()),
        "revoke-consent": ("SELECT captiva_workstation_revoke_consent(%s, %s)", (guest,)),
    }
    assert set(calls) == {a.name for a in authz.ACTIONS
                          if a.kind == "workstation" and a.scopes}
    with staffed.connect("portal") as conn:
        for actor in ("watcher", "annex"):
            for sql, args in calls.values():
                assert conn.execute(sql, (actor, *args)).fetchone() == ("forbidden",)
        rows = conn.execute("SELECT actor, detail ->> 'attempt', detail ->> 'reason', site"
                            " FROM captiva_audit ORDER BY id").fetchall()
        assert rows == [(actor, action, "forbidden", "south")
                        for actor in ("watcher", "annex") for action in calls]
        # Nothing changed: the session is as issued, the guest and the workstations as set.
        assert conn.execute("SELECT state, granted_seconds FROM captiva_workstation_session"
                            ).fetchall() == [("issued", 3600)]
        assert conn.execute("SELECT full_name FROM captiva_workstation_guest").fetchall() == [
            ("Ada L.",)]
        assert conn.execute("SELECT count(*) FROM captiva_workstation_maintenance"
                            ).fetchone() == (0,)
        # Not an action of the function: a caller's mistake, not a refusal.
        for sql in ("SELECT * FROM captiva_workstation_change('boss', %s, 'issue')",
                    "SELECT * FROM captiva_workstation_add_time('boss', %s, 'double', 60)"):
            with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown"):
                conn.execute(sql, (session,))
            conn.rollback()


def test_a_voucher_revocation_asks_the_policy_before_the_code(staffed):
    """captiva_voucher_revoke, the one path: refused actors get an error before the code is
    looked at (an unknown code says nothing to them); allowed ones learn it is unknown."""
    revoke = "SELECT * FROM captiva_voucher_revoke(%s, 'K7HM3XPW9H', 'shared')"
    with staffed.connect("portal") as conn:
        for actor in ("watcher", "desk", "os:root", "nobody"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="may not revoke"):
                conn.execute(revoke, (actor,))
        assert conn.execute(revoke, ("boss",)).fetchall() == []
    with staffed.connect("jobs") as conn:
        assert conn.execute(revoke, ("os:root",)).fetchall() == []
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(revoke, ("boss",))


def test_retention_expires_each_kind_and_keeps_30_days(staffed):
    with staffed.connect() as conn:
        for days in (10, 40):
            for kind, site, username in (("account", None, "alice"),
                                         ("workstation", "north", None)):
                conn.execute("INSERT INTO captiva_audit (at, kind, actor, actor_role, action,"
                             " username, site) VALUES (now() - make_interval(days => %s), %s,"
                             " 'boss', 'admin', 'x', %s, %s)", (days, kind, username, site))
    with staffed.connect("jobs") as conn:
        assert conn.execute("SELECT captiva_audit_expire(now(), 'workstation')"
                            ).fetchone() == (1,)
        assert conn.execute("SELECT captiva_audit_expire(now() - interval '1 day')"
                            ).fetchone() == (1,)
        assert conn.execute("SELECT kind FROM captiva_audit ORDER BY kind").fetchall() == [
            ("account",), ("workstation",)]


def test_migration_0210_moves_every_workstation_row_into_the_one_table(empty_db):
    """A database before 0210 with rows in both audit tables: after it, one table holds
    them all, each workstation row with its time, actor, role, action, site, session, before,
    after and detail, and its former id; the console's rows get their kind."""
    migrations = load_migrations(MIGRATIONS_DIR)
    with empty_db.connect() as conn:
        migrate(conn, [m for m in migrations if m.version < 210])
        at = dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC)
        conn.execute(
            "INSERT INTO captiva_audit (at, actor, actor_role, action, username, reason, detail)"
            " VALUES (%s, 'boss', 'admin', 'grant', 'alice', 'exam', '{\"bytes\": 1}'),"
            " (%s, 'boss', 'admin', 'voucher-revoke', 'open-day#5', 'shared', '{}'),"
            " (%s, 'desk', 'operator', 'registration-approve', 'STU9', NULL, '{}')",
            (at, at, at))
        for n in range(3):
            conn.execute(
                "INSERT INTO captiva_workstation_audit (at, actor, actor_role, action, site,"
                " workstation, session_id, before, after, detail) VALUES"
                " (%s, %s, %s, %s, 'north', 'PC-1', %s, %s, %s, %s)",
                (at + dt.timedelta(minutes=n), "system" if n == 2 else "annex",
                 "system" if n == 2 else "operator", ("issue", "add-time", "time-up")[n],
                 40 + n, None if n == 0 else '{"remaining": 60}', '{"remaining": 600}',
                 f'{{"n": {n}}}'))
        old = conn.execute("SELECT id, at, actor, actor_role, action, site, workstation,"
                           " session_id, before, after, detail FROM captiva_workstation_audit"
                           " ORDER BY id").fetchall()
        migrate(conn, migrations)
        apply_functions(conn, load_functions(FUNCTIONS_DIR))
        assert conn.execute("SELECT to_regclass('captiva_workstation_audit')").fetchone() == (
            None,)
        moved = conn.execute(
            "SELECT (detail ->> 'workstation_audit_id')::bigint, at, actor, actor_role, action,"
            " site, workstation, session_id, before, after, detail - 'workstation_audit_id'"
            " FROM captiva_audit WHERE kind = 'workstation' ORDER BY id").fetchall()
        assert moved == old
        assert conn.execute("SELECT kind, action FROM captiva_audit WHERE kind <> 'workstation'"
                            " ORDER BY id").fetchall() == [
            ("account", "grant"), ("voucher", "voucher-revoke"),
            ("registration", "registration-approve")]
        # The portal's workstation audit page reads them where they are now.
        assert [r[3] for r in data.audit(conn, "north", "")] == ["time-up", "add-time", "issue"]
