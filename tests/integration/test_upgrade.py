"""Upgrade from the previous release (issue 26): the database deployed by the previous
release's own code with its data (users, accounting, vouchers, workstation sessions, audit),
then upgraded by the current tree: nothing is lost or altered, every migration is recorded
once, and a second apply changes nothing.

The previous release is the git tag of tests/upgrade/PREVIOUS_RELEASE, or its commit there
(a CI clone may carry no tags). Its tree comes out of git (git archive): its migrations and
SQL functions are applied by its own captiva_migrations, its roster reconciled by its own
ansible-playbook and modules; then the current tree's migrations, functions and reconcile
(playbooks/reconcile.yml) run on the same database, as make apply does."""

import subprocess
import sys
import textwrap

import pytest
from ansible_collections.captiva.campus.plugins.module_utils.captiva_migrations import (
    apply_functions,
    load_functions,
    load_migrations,
    migrate,
)
from ansible_run import BIN, ROOT, ansible_playbook, recap
from pg_fixtures import FUNCTIONS_DIR, MIGRATIONS_DIR, ROLE_PASSWORDS, role_name
from psycopg import sql
from routeros_fixtures import start_sim, stop_sim
from test_roster_path import roster_inventory, write_roster

# Tables whose rows an apply writes on purpose: the migrations' and functions' records and
# the applied-change log.
BOOKKEEPING = {"captiva_schema_migrations", "captiva_schema_functions", "captiva_change_log"}
# Tables a migration merged into another (0210: one audit table): their rows are compared
# where they went, each with its former id, and the other table's own rows apart from them.
MOVED = {"captiva_workstation_audit": (
    "SELECT (detail ->> 'workstation_audit_id')::bigint AS id, at, actor, actor_role, action,"
    " site, workstation, session_id, before, after, detail - 'workstation_audit_id' AS detail"
    " FROM captiva_audit WHERE kind = 'workstation'")}
MOVED_INTO = {"captiva_audit": "kind <> 'workstation'"}


def previous_release(tmp_path):
    """The previous release's tree, extracted from git."""
    tag, commit = (ROOT / "tests" / "upgrade" / "PREVIOUS_RELEASE").read_text().split()
    tagged = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{tag}^{{commit}}"],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    revision = tagged.stdout.strip() if tagged.returncode == 0 else commit
    assert revision == commit, f"{tag} is {revision}, PREVIOUS_RELEASE says {commit}"
    tree = tmp_path / "previous"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", revision], cwd=ROOT,
                             capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def previous_migrate(tree, dsn):
    """The previous release's migrations and functions, by its own code."""
    code = textwrap.dedent(f"""\
        import ansible.module_utils, psycopg
        ansible.module_utils.__path__.append({str(tree / "plugins" / "module_utils")!r})
        from ansible.module_utils.captiva_migrations import (apply_functions, load_functions,
                                                             load_migrations, migrate)
        files = {str(tree / "roles" / "postgres" / "files")!r}
        with psycopg.connect({dsn!r}, autocommit=True) as conn:
            migrate(conn, load_migrations(files + "/migrations"))
            apply_functions(conn, load_functions(files + "/functions"))
        """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def previous_playbook(tree, inventory, playbook):
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(tree / "playbooks" / playbook)],
        cwd=tree, env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tree),
                       "ANSIBLE_CONFIG": str(tree / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                       "LANG": "C.UTF-8"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600, check=False)


def snapshot(conn, columns=None):
    """{table: (columns, row count, md5 of every row over those columns)} of public's tables,
    over ``columns`` when given (the previous release's columns: a migration may add some)."""
    if columns is None:
        columns = {}
        for table, column in conn.execute(
                "SELECT c.table_name, c.column_name FROM information_schema.columns c"
                " JOIN information_schema.tables t USING (table_schema, table_name)"
                " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
                " ORDER BY c.table_name, c.ordinal_position"):
            columns.setdefault(table, []).append(column)
    out = {}
    for table, names in columns.items():
        if table in BOOKKEEPING:
            continue
        source, where = sql.Identifier(table), sql.SQL("true")
        if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
            source = sql.SQL("({}) AS moved").format(sql.SQL(MOVED[table]))
        elif table in MOVED_INTO and conn.execute(
                "SELECT to_regclass('captiva_workstation_audit') IS NULL").fetchone()[0]:
            where = sql.SQL(MOVED_INTO[table])
        row = sql.SQL("ROW({})::text").format(sql.SQL(", ").join(map(sql.Identifier, names)))
        count, digest = conn.execute(sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(r, E'\\n' ORDER BY r), ''))"
            " FROM (SELECT {} AS r FROM {} WHERE {}) AS rows").format(row, source, where)
        ).fetchone()
        out[table] = (tuple(names), count, digest)
    return columns, out


def seed(conn):
    """What a campus's database holds after a few days: accounting, a workstation session
    ended and one running, staff's audit rows."""
    for i, user in enumerate(("alice01", "bob0002")):
        conn.execute(
            "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress,"
            " acctstarttime, acctupdatetime, acctstoptime, acctsessiontime, acctinputoctets,"
            " acctoutputoctets, callingstationid, framedipaddress)"
            " VALUES (%s, %s, %s, '127.0.0.1', now() - interval '2 hours',"
            " now() - interval '1 hour', now() - interval '1 hour', 3600, %s, %s,"
            " '02-00-5E-10-00-0' || %s, ('10.5.60.2' || %s)::inet)",
            (f"s{i}", f"u{i}", user, 10_000_000 * (i + 1), 50_000_000 * (i + 1), i, i))
    conn.execute(
        "INSERT INTO captiva_workstation_session (code, workstation, site, username, state,"
        " granted_seconds, used_seconds, issued_by, ended_at, end_reason)"
        " VALUES ('P12345678', 'BIB-PC-01', 'campus-a', 'alice01', 'ended', 3600, 3600,"
        " 'alice01', now(), 'time-up')")
    conn.execute(
        "INSERT INTO captiva_workstation_session (code, workstation, site, username, state,"
        " granted_seconds, running_since, issued_by)"
        " VALUES ('P87654321', 'BIB-PC-01', 'campus-a', 'bob0002', 'running', 3600,"
        " now() - interval '5 minutes', 'alice01')")
    conn.execute(
        "INSERT INTO captiva_audit (actor, actor_role, action, username, reason, detail)"
        " VALUES ('alice01', 'admin', 'grant', 'bob0002', 'exam week', '{\"bytes\": 1}')")
    conn.execute(
        "INSERT INTO captiva_workstation_audit (actor, actor_role, action, site, workstation,"
        " session_id, after, detail) SELECT 'alice01', 'admin', 'issue', 'campus-a',"
        " 'BIB-PC-01', id, '{\"remaining\": 3600}', '{\"granted_seconds\": 3600}'"
        " FROM captiva_workstation_session WHERE code = 'P87654321'")


@pytest.mark.slow
def test_upgrade_from_the_previous_release_keeps_every_row(tmp_path, pg_server, empty_db):
    tree = previous_release(tmp_path)
    db = empty_db
    previous_migrate(tree, pg_server.dsn(db.name))
    with db.connect() as conn:
        for short, password in ROLE_PASSWORDS.items():
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role_name(short)), sql.Literal(password)))
    sim = start_sim(tmp_path)
    try:
        campus = tmp_path / "campus-repo"
        campus.mkdir()
        # The group routers in hosts.yml, which the previous release reads (it has no
        # captiva_routers inventory plugin), and the current tree accepts.
        inventory = roster_inventory(campus, db, sim, ["alice01", "bob0002", "carol003"],
                                     routers_in_hosts=True)
        lists = {
            "captiva_staff": [{"username": "alice01", "role": "admin"}],
            "captiva_workstations": [{"name": "BIB-PC-01", "site": "campus-a",
                                      "mac": "02:00:5e:10:00:01", "ip": "10.5.60.11",
                                      "room": "Bibliotheque"}],
            "captiva_voucher_secret": "the-vaulted-voucher-secret-of-this-campus-0123456789",
            "captiva_voucher_batches": [{
                "name": "portes-ouvertes", "count": 20, "profile": "etudiant-standard",
                "time_credit": "2h", "valid_from": "2026-01-01", "valid_until": "2030-12-31"}],
        }
        write_roster(inventory, ["alice01", "bob0002", "carol003"], **lists)
        deployed = previous_playbook(tree, inventory, "reconcile.yml")
        assert deployed.returncode == 0, deployed.stdout
        with db.connect() as conn:
            assert conn.execute("SELECT count(*) FROM captiva_user").fetchone()[0] == 3
            assert conn.execute("SELECT count(*) FROM captiva_voucher").fetchone()[0] == 20
            seed(conn)
            columns, before = snapshot(conn)
            previous_versions = {v for (v,) in conn.execute(
                "SELECT version FROM captiva_schema_migrations")}

        # The upgrade: the current tree's migrations and functions, then its reconcile.
        with db.connect() as conn:
            applied = migrate(conn, load_migrations(MIGRATIONS_DIR))
            apply_functions(conn, load_functions(FUNCTIONS_DIR))
        assert applied, "the current tree brings no migration since the previous release"
        upgraded = ansible_playbook(inventory, "reconcile.yml")
        assert upgraded.returncode == 0, upgraded.stdout
        with db.connect() as conn:
            _, after = snapshot(conn, columns)
            versions = [v for (v,) in conn.execute(
                "SELECT version FROM captiva_schema_migrations")]
        lost = {table: (before[table][1:], after[table][1:]) for table in before
                if before[table] != after[table]}
        assert not lost, f"rows changed or lost by the upgrade: {lost}"
        assert len(versions) == len(set(versions)) == len(load_migrations(MIGRATIONS_DIR))
        assert previous_versions < set(versions)

        # Applied again: no migration runs twice, the reconcile changes nothing.
        with db.connect() as conn:
            assert migrate(conn, load_migrations(MIGRATIONS_DIR)) == []
            assert apply_functions(conn, load_functions(FUNCTIONS_DIR)) == []
        again = ansible_playbook(inventory, "reconcile.yml")
        assert again.returncode == 0, again.stdout
        assert recap(again.stdout)["changed"] == 0
        with db.connect() as conn:
            assert snapshot(conn, columns)[1] == after
    finally:
        stop_sim(sim)
