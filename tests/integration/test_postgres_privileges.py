"""Each database role can do what it must and nothing more (migrations 0004 and 0054, the
SECURITY DEFINER functions of roles/postgres/files/functions)."""

import psycopg
import pytest
from pg_fixtures import radius_database

ROLES = ("reconcile", "freeradius", "portal", "jobs")


def only(*roles: str) -> dict[str, bool]:
    """{role: allowed} for every login role: ``roles`` may, the others may not."""
    assert set(roles) <= set(ROLES), roles
    return {role: role in roles for role in ROLES}


NOBODY = only()

# (statement, the roles that may run it) over tables seeded by the `seeded` fixture.
CASES = [
    # Policy tables: the reconcile writes them, FreeRADIUS reads them, nobody else sees them.
    ("SELECT * FROM radcheck", only("reconcile", "freeradius")),
    ("INSERT INTO radcheck (username, attribute, op, value, managed_by) "
     "VALUES ('bob', 'Cleartext-Password', ':=', 'pw', 'captiva')",
     only("reconcile")),
    ("UPDATE radcheck SET value = 'changed' WHERE username = 'alice'", only("reconcile")),
    ("DELETE FROM radcheck WHERE username = 'alice'", only("reconcile")),
    ("SELECT * FROM radreply", only("reconcile", "freeradius")),
    ("INSERT INTO radgroupreply (groupname, attribute, op, value) "
     "VALUES ('basic', 'Session-Timeout', '=', '3600')",
     only("reconcile")),
    ("SELECT * FROM radgroupcheck", only("reconcile", "freeradius")),
    ("INSERT INTO radusergroup (username, groupname, managed_by) VALUES ('bob', 'g', 'captiva')",
     only("reconcile")),
    ("SELECT * FROM radusergroup", only("reconcile", "freeradius")),
    # nas holds the RADIUS secrets.
    ("SELECT * FROM nas", only("reconcile", "freeradius")),
    ("INSERT INTO nas (nasname, shortname, secret) VALUES ('10.0.0.2', 'r2', 's')",
     only("reconcile")),
    # Accounting: FreeRADIUS writes, portal and jobs read, jobs close and purge; reconcile none.
    ("INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime) "
     "VALUES ('s2', 'u2', 'alice', '10.0.0.1', now())",
     only("freeradius")),
    ("SELECT sum(acctinputoctets + acctoutputoctets) FROM radacct WHERE username = 'alice'",
     only("freeradius", "portal", "jobs")),
    ("UPDATE radacct SET acctstoptime = now(), acctterminatecause = 'Stale-Session' "
     "WHERE acctstoptime IS NULL AND username = 'alice'",
     only("freeradius", "jobs")),
    ("DELETE FROM radacct WHERE acctstoptime < now() - interval '1 year'", only("jobs")),
    ("INSERT INTO radpostauth (username, reply, callingstationid) "
     "VALUES ('alice', 'Access-Accept', 'AA:BB')",
     only("freeradius")),
    ("SELECT username, authdate FROM radpostauth", only("freeradius", "portal", "jobs")),
    # radpostauth.pass: FreeRADIUS's stock query writes passwords there; no role reads or
    # writes it (column-level grants, 0054).
    ("INSERT INTO radpostauth (username, pass, reply) VALUES ('alice', 'pw', 'Access-Accept')",
     NOBODY),
    ("SELECT pass FROM radpostauth", NOBODY),
    ("SELECT * FROM radpostauth", NOBODY),
    ("UPDATE radpostauth SET pass = 'pw'", NOBODY),
    ("SELECT pass FROM radpostauth_history", NOBODY),
    # Temporary tables could shadow what a SECURITY DEFINER function reads: only the
    # reconcile (it stages rows in one) may create them.
    ("CREATE TEMPORARY TABLE captiva_user (username text)", only("reconcile")),
    # The accounting history (migration 0130): the jobs archive into it, FreeRADIUS reads the
    # late-Stop columns, the portal reads it; nobody deletes rows or drops a partition but
    # through captiva_history_drop, which only the jobs may run (54_history_partitions.sql).
    ("INSERT INTO radacct_history (radacctid, acctsessionid, acctuniqueid, username, "
     "nasipaddress, acctstarttime, acctstoptime) "
     "VALUES (99, 's9', 'u9', 'alice', '10.0.0.1', now() - interval '2 days', now())",
     only("jobs")),
    ("SELECT username, acctstarttime, acctinputoctets FROM radacct_history",
     only("portal", "jobs")),
    ("SELECT acctuniqueid, acctstoptime, acctinputoctets FROM radacct_history",
     only("freeradius", "portal", "jobs")),
    ("DELETE FROM radacct_history", NOBODY),
    ("SELECT count(*) FROM radacct_history_default", NOBODY),
    ("DROP TABLE radacct_history_default", NOBODY),
    ("CREATE TABLE radacct_history_2001_01 PARTITION OF radacct_history "
     "FOR VALUES FROM ('2001-01-01 00:00+00') TO ('2001-02-01 00:00+00')",
     NOBODY),
    ("SELECT * FROM captiva_history_prepare('radacct_history', now() - interval '1 year')",
     only("jobs")),
    ("SELECT * FROM captiva_history_drop('radacct_history', now() - interval '1 year')",
     only("jobs")),
    ("SELECT * FROM captiva_history_expired('radacct_history', now())", only("jobs")),
    ("SELECT captiva_history_partition('radacct_history', now())", NOBODY),
    # The post-auth history (migration 0180), likewise: the jobs archive into it and read it
    # (never pass), nobody deletes rows or drops a partition but through
    # captiva_history_drop.
    ("INSERT INTO radpostauth_history (id, username, reply, authdate) "
     "VALUES (99, 'alice', 'Access-Accept', now() - interval '100 days')",
     only("jobs")),
    ("SELECT username, reply, authdate FROM radpostauth_history", only("jobs")),
    ("DELETE FROM radpostauth_history", NOBODY),
    ("SELECT count(*) FROM radpostauth_history_default", NOBODY),
    ("DROP TABLE radpostauth_history_default", NOBODY),
    ("CREATE TABLE radpostauth_history_2001_01 PARTITION OF radpostauth_history "
     "FOR VALUES FROM ('2001-01-01 00:00+00') TO ('2001-02-01 00:00+00')",
     NOBODY),
    ("SELECT * FROM captiva_history_prepare('radpostauth_history', now() - interval '1 year')",
     only("jobs")),
    ("SELECT * FROM captiva_history_drop('radpostauth_history', now() - interval '1 year')",
     only("jobs")),
    ("SELECT * FROM captiva_history_expired('radpostauth_history', now())", only("jobs")),
    ("SELECT captiva_history_partition('radpostauth_history', now())", NOBODY),
    # The helpers that take a table's name: nobody runs them directly.
    ("SELECT captiva_history_key('radacct_history')", NOBODY),
    ("SELECT captiva_history_partition_name('radacct_history', now())", NOBODY),
    ("DELETE FROM radpostauth WHERE authdate < now() - interval '1 year'", only("jobs")),
    ("INSERT INTO nasreload (nasipaddress, reloadtime) VALUES ('10.0.0.1', now())",
     only("freeradius")),
    # Roster: the reconcile writes it; portal and jobs read it; FreeRADIUS does not need it.
    ("INSERT INTO captiva_profile (name) VALUES ('premium')", only("reconcile")),
    ("UPDATE captiva_user SET status = 'disabled' WHERE username = 'alice'", only("reconcile")),
    ("DELETE FROM captiva_promotion", only("reconcile")),
    ("SELECT u.username, p.quota_daily, s.timezone FROM captiva_user u "
     "JOIN captiva_profile p ON p.name = u.profile, captiva_site s "
     "JOIN captiva_router r ON r.site = s.name",
     only("reconcile", "portal", "jobs")),
    ("SELECT * FROM captiva_promotion", only("reconcile", "portal", "jobs")),
    # Nobody but the migrations touches the migration record or the schema.
    ("SELECT * FROM captiva_schema_migrations", NOBODY),
    ("CREATE TABLE intruder (a int)", NOBODY),
    ("DROP TABLE radcheck", NOBODY),
    ("TRUNCATE radacct", NOBODY),
    # Codes (migrations 0140, 0141): a voucher's or a workstation session's username is its
    # password. Only the reconcile reads them; the portal gets labels through functions.
    ("SELECT code FROM captiva_voucher_first_use", only("reconcile")),
    ("SELECT code FROM captiva_voucher_revocation", only("reconcile")),
    ("SELECT revoked_at, source, reason FROM captiva_voucher_revocation",
     only("reconcile", "portal", "jobs")),
    ("SELECT code FROM captiva_workstation_session", only("jobs")),
    ("SELECT id, workstation, state FROM captiva_workstation_session", only("portal", "jobs")),
    ("SELECT username FROM captiva_disconnect", only("jobs")),
    ("SELECT users FROM captiva_change_log", only("reconcile")),
    ("SELECT * FROM captiva_change_log_of('alice')", only("portal")),
    ("SELECT * FROM captiva_workstation_board('main')", NOBODY),
    ("SELECT * FROM captiva_workstation_staff_board('main')", only("portal")),
    ("SELECT * FROM captiva_staff_sessions(true, 10)", only("portal")),
    ("SELECT * FROM captiva_staff_failures(10)", only("portal")),
    ("SELECT * FROM captiva_account_label('alice', now())", NOBODY),
    # Revocations: append-only, through the function, for the portal and the jobs.
    ("INSERT INTO captiva_voucher_revocation (code, source) VALUES ('K7HM3XPW9H', 'urgent')",
     only("reconcile")),
    ("UPDATE captiva_voucher_revocation SET source = 'roster'", only("reconcile")),
    ("DELETE FROM captiva_voucher_revocation", only("reconcile")),
    # ... by an actor the policy lets revoke (captiva/authz.py): an admin through the portal's
    # login, a command's os:<login> through the jobs' login only.
    ("SELECT * FROM captiva_voucher_revoke('boss', 'K7HM3XPW9H', 'shared')", only("portal")),
    ("SELECT * FROM captiva_voucher_revoke('os:root', 'K7HM3XPW9H', 'shared')", only("jobs")),
    ("SELECT * FROM captiva_voucher_revoke('alice', 'K7HM3XPW9H', 'shared')", NOBODY),
    # Audit rows: written and expired only by SECURITY DEFINER functions.
    ("INSERT INTO captiva_audit (actor, actor_role, action, username) "
     "VALUES ('x', 'admin', 'grant', 'alice')",
     NOBODY),
    ("UPDATE captiva_audit SET reason = 'x'", NOBODY),
    ("DELETE FROM captiva_audit", NOBODY),
    ("SELECT captiva_audit_record('boss', 'issue', NULL, NULL, '{}', 'main')", NOBODY),
    ("SELECT captiva_audit_record('boss', 'voucher-revoke', 'b#1', NULL, '{}')", NOBODY),
    ("SELECT captiva_audit_record('os:root', 'grant', 'alice', NULL, '{}')", NOBODY),
    ("SELECT captiva_audit_record('boss', 'grant', 'alice', 'x', '{}')", only("portal")),
    # The policy (15_authz.sql): the portal, the jobs and the controller's commands may ask it.
    ("SELECT captiva_authz_role('boss', 'grant', NULL)", only("portal", "jobs", "reconcile")),
    # import-registrations' audit rows: the controller's command alone, as the reconcile.
    ("SELECT captiva_registration_imported('os:root', '{}', 'users.yml')", only("reconcile")),
    ("SELECT captiva_audit_expire(now()), captiva_audit_expire(now(), 'workstation')",
     only("jobs")),
    # The login's functions: FreeRADIUS alone reads a student-set credential (through its
    # radcheck query) and asks the post-auth checks.
    ("SELECT * FROM captiva_radcheck('alice')", only("freeradius")),
    ("SELECT * FROM captiva_student_credential_current('alice')", only("freeradius")),
    # A login's two reads (41_authorize.sql), and the group list for the users not folded.
    ("SELECT * FROM captiva_authorize_check('alice', '10.0.0.1', '')", only("freeradius")),
    ("SELECT * FROM captiva_authorize_reply('alice')", only("freeradius")),
    ("SELECT * FROM captiva_authorize_reply('alice', 'fold:' || encode('basic', 'hex'))",
     only("freeradius")),
    ("SELECT * FROM captiva_authorize_groups('alice')", only("freeradius")),
    ("SELECT captiva_login_check_xlat('alice', '10.0.0.1', 'AA:BB:CC:DD:EE:FF', '1')",
     only("freeradius")),
    # The login buffer's replay: FreeRADIUS alone writes a login's record and a first use.
    ("SELECT captiva_login_replay(repeat('a', 32), 'alice', 'Access-Accept', '', '',"
     " '1700000000.5', '', '')", only("freeradius")),
    ("INSERT INTO radpostauth (username, reply, loginid) VALUES ('x', 'Access-Accept', 'b')",
     NOBODY),
]

SEED = """
INSERT INTO radcheck (username, attribute, op, value, managed_by)
    VALUES ('alice', 'Cleartext-Password', ':=', 'secret', 'captiva');
INSERT INTO radreply (username, attribute, op, value) VALUES ('alice', 'Idle-Timeout', '=', '60');
INSERT INTO radgroupcheck (groupname, attribute, op, value)
    VALUES ('basic', 'Simultaneous-Use', ':=', '1');
INSERT INTO radusergroup (username, groupname, managed_by) VALUES ('alice', 'basic', 'captiva');
INSERT INTO nas (nasname, shortname, secret) VALUES ('10.0.0.1', 'r1', 'radius-secret');
INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime,
                     acctinputoctets, acctoutputoctets)
    VALUES ('s1', 'u1', 'alice', '10.0.0.1', now(), 10, 20);
INSERT INTO radpostauth (username, pass, reply) VALUES ('alice', '', 'Access-Accept');
INSERT INTO captiva_site VALUES ('main', 'Europe/Paris', 1, 1);
INSERT INTO captiva_router (name, site, nasipaddress) VALUES ('r1', 'main', '10.0.0.1');
INSERT INTO captiva_profile (name, quota_daily) VALUES ('basic', 1000000000);
INSERT INTO captiva_promotion VALUES ('l1', 'basic', true);
INSERT INTO captiva_user (username, promotion, profile, enabled, status, activated_on)
    VALUES ('alice', 'l1', 'basic', true, 'active', current_date);
INSERT INTO captiva_staff (username, role) VALUES ('boss', 'admin');
"""


@pytest.fixture(scope="module")
def seeded(pg_server):
    """One migrated, seeded database for the whole table (each case runs in a rolled-back
    transaction, so cases do not see each other's writes)."""
    with radius_database(pg_server) as db:
        with db.connect() as conn:
            conn.execute(SEED)
        yield db


def attempt(db, role, statement):
    """True if ``role`` may run ``statement``; False on a privilege error. Never commits."""
    with db.connect(role, autocommit=False) as conn:
        try:
            conn.execute(statement)
            return True
        except psycopg.errors.InsufficientPrivilege:
            return False
        finally:
            conn.rollback()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("statement", "expected"), CASES, ids=[c[0][:60] for c in CASES])
def test_role_privileges(seeded, role, statement, expected):
    assert attempt(seeded, role, statement) is expected[role]


def test_the_portal_reads_only_the_rosters_accounting_rows(radius_db):
    """Row policies (migration 0140): a username that is no roster user (a voucher's or a
    workstation session's code is one) is invisible to the portal, in every table where a
    code is a username; the other roles, and the functions' owner, see every row."""
    with radius_db.connect() as conn:
        conn.execute(SEED)
        for username in ("alice", "K7HM3XPW9H"):
            conn.execute("INSERT INTO radacct (acctsessionid, acctuniqueid, username,"
                         " nasipaddress, acctstarttime) VALUES (%s, %s, %s, '10.0.0.1', now())",
                         (f"s-{username}", f"u-{username}", username))
            conn.execute("INSERT INTO radpostauth (username, reply) VALUES (%s,"
                         " 'Access-Reject')", (username,))
            conn.execute("INSERT INTO captiva_usage_daily (username, day, bytes_in, bytes_out)"
                         " VALUES (%s, current_date, 1, 1) ON CONFLICT DO NOTHING",
                         (username,))
    query = ("SELECT (SELECT array_agg(DISTINCT username ORDER BY username) FROM radacct),"
             " (SELECT array_agg(DISTINCT username ORDER BY username) FROM radpostauth),"
             " (SELECT array_agg(DISTINCT username ORDER BY username) FROM captiva_usage_daily)")
    with radius_db.connect("portal") as conn:
        assert conn.execute(query).fetchone() == (["alice"], ["alice"], ["alice"])
    with radius_db.connect("jobs") as conn:
        assert conn.execute(query).fetchone() == (["K7HM3XPW9H", "alice"],) * 3


def test_freeradius_cannot_update_radcheck(radius_db):
    denied = pytest.raises(psycopg.errors.InsufficientPrivilege,
                           match="permission denied for table radcheck")
    with radius_db.connect("freeradius") as conn, denied:
        conn.execute("UPDATE radcheck SET value = 'x'")


@pytest.mark.parametrize("role", ["portal", "jobs"])
def test_portal_and_jobs_cannot_read_passwords(radius_db, role):
    with radius_db.connect(role) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT value FROM radcheck")


def test_sequences_let_writers_insert(radius_db):
    with radius_db.connect("freeradius") as conn:
        conn.execute("INSERT INTO radpostauth (username, reply) VALUES ('a', 'x')")
    with radius_db.connect("reconcile") as conn:
        conn.execute("INSERT INTO radgroupreply (groupname, attribute, op, value, managed_by) "
                     "VALUES ('basic', 'Idle-Timeout', '=', '600', 'captiva')")
    with radius_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM radgroupreply").fetchone()[0] == 1


def test_public_has_no_access(radius_db):
    with radius_db.connect() as conn:
        conn.execute("DROP ROLE IF EXISTS captiva_test_stranger")
        conn.execute("CREATE ROLE captiva_test_stranger LOGIN PASSWORD 'stranger'")
    try:
        dsn = radius_db.server.tcp_dsn(radius_db.name, "captiva_test_stranger", "stranger")
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(dsn)
    finally:
        with radius_db.connect() as conn:
            conn.execute("DROP ROLE captiva_test_stranger")


@pytest.mark.parametrize("table", ["radacct", "radcheck", "captiva_user",
                                   "radacct_history_default"])
def test_the_partition_functions_take_no_other_table_than_the_two_histories(radius_db, table):
    """They run as the histories' owner and create and drop tables: the jobs may name
    radacct_history or radpostauth_history, nothing else (migration 0230)."""
    with radius_db.connect("jobs") as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("SELECT * FROM captiva_history_drop(%s, now())", (table,))
    with radius_db.connect() as conn:  # still there
        assert conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None


def test_security_definer_functions_are_owned_by_captiva_definer_with_pg_temp_last(radius_db):
    with radius_db.connect() as conn:
        rows = conn.execute("""
            SELECT p.proname, r.rolname, r.rolsuper, r.rolcanlogin, p.proconfig
            FROM pg_proc AS p JOIN pg_roles AS r ON r.oid = p.proowner
            WHERE p.prosecdef AND p.pronamespace = 'public'::regnamespace
            ORDER BY p.proname""").fetchall()
    assert {"captiva_quota_login", "captiva_quota_login_xlat",
            "captiva_sessions_to_disconnect"} <= {row[0] for row in rows}
    for name, owner, superuser, can_login, config in rows:
        # The partitions of radacct_history and radpostauth_history (54_history_partitions.sql)
        # are created and dropped by their owner, a role of its own: captiva_definer owns no
        # table.
        expected = ("captiva_history" if name.startswith("captiva_history_")
                    else "captiva_definer")
        assert (owner, superuser, can_login) == (expected, False, False), name
        assert config == ["search_path=pg_catalog, public, pg_temp"], name


def test_the_login_reads_run_with_their_callers_rights(radius_db):
    """captiva_authorize_reply reads the group its marker argument names: with FreeRADIUS's
    own rights (it reads every rad* table anyway), never a definer's; one signature, the
    one-argument function of before the marker dropped (41_authorize.sql)."""
    with radius_db.connect() as conn:
        rows = conn.execute("""
            SELECT p.oid::regprocedure::text, p.prosecdef FROM pg_proc AS p
            WHERE p.proname LIKE 'captiva\\_authorize\\_%'
              AND p.pronamespace = 'public'::regnamespace""").fetchall()
    assert {"captiva_authorize_reply(text,text)", "captiva_authorize_check(text,text,text)",
            "captiva_authorize_fold(text)"} <= {name for name, _ in rows}
    assert "captiva_authorize_reply(text)" not in {name for name, _ in rows}
    assert [name for name, definer in rows if definer] == []


OVER_QUOTA = """
INSERT INTO captiva_profile (name, quota_daily) VALUES ('tiny', 100);
INSERT INTO captiva_user (username, language, profile, enabled, status, activated_on)
    VALUES ('mallory', 'en', 'tiny', true, 'active', current_date);
INSERT INTO captiva_usage_daily (username, day, bytes_in, bytes_out)
    VALUES ('mallory', (now() AT TIME ZONE 'UTC')::date, 500, 0);
"""


def test_a_callers_temporary_table_cannot_shadow_a_real_one(radius_db):
    """A caller with TEMPORARY (here a role given it on purpose: 0054 takes it from
    FreeRADIUS) hides captiva_user and captiva_usage_daily behind empty temporary tables.
    With pg_temp first (PostgreSQL's default when a search_path omits it) the login check
    would then accept an over-quota user as unknown; pg_temp last keeps the real tables."""
    with radius_db.connect() as conn:
        conn.execute(OVER_QUOTA)
        conn.execute("DROP ROLE IF EXISTS captiva_test_shadow")
        conn.execute("CREATE ROLE captiva_test_shadow LOGIN PASSWORD 'shadow' "
                     "IN ROLE captiva_freeradius")
        conn.execute(f'GRANT TEMPORARY ON DATABASE "{radius_db.name}" TO captiva_test_shadow')
    try:
        dsn = radius_db.server.tcp_dsn(radius_db.name, "captiva_test_shadow", "shadow")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TEMPORARY TABLE captiva_user (username text, language text, "
                         "expires_at timestamptz, profile text)")
            conn.execute("CREATE TEMPORARY TABLE captiva_usage_daily (username text, day date, "
                         "bytes_in bigint, bytes_out bigint)")
            # The shadow works for the caller's own queries...
            assert conn.execute("SELECT count(*) FROM captiva_user").fetchone()[0] == 0
            # ...but not inside the SECURITY DEFINER function.
            decision = conn.execute("SELECT captiva_quota_login_xlat('mallory', '')"
                                    ).fetchone()[0]
        assert decision.startswith("reject|Daily data quota of 100 B reached")
    finally:
        with radius_db.connect() as conn:
            conn.execute(f'REVOKE ALL ON DATABASE "{radius_db.name}" FROM captiva_test_shadow')
            conn.execute("DROP OWNED BY captiva_test_shadow")
            conn.execute("DROP ROLE captiva_test_shadow")


def test_freeradius_cannot_create_a_temporary_table(radius_db):
    with radius_db.connect("freeradius") as conn, pytest.raises(
            psycopg.errors.InsufficientPrivilege, match="permission denied to create temporary"):
        conn.execute("CREATE TEMPORARY TABLE captiva_user (username text)")
