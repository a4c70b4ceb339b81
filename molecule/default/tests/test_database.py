"""The database host: PostgreSQL runs, listens only where intended, is migrated, and its
roles have exactly the privileges docs/architecture.md lists (tried for real, in psql)."""

from __future__ import annotations

import re

import pytest
from conftest import PROJECT_DIR

testinfra_hosts = ["podman://captiva-mol-db"]

DB_ADDRESS = "10.89.1.10"
MIGRATIONS = sorted(
    int(path.name[:4])
    for path in (PROJECT_DIR / "roles/postgres/files/migrations").glob("[0-9][0-9][0-9][0-9]_*.sql")
)


def psql(host, sql: str):
    """Run SQL as the postgres superuser in database radius; the command result."""
    return host.run("runuser -u postgres -- psql -X -At -v ON_ERROR_STOP=1 -d radius -c %s", sql)


def test_postgresql_is_running_and_enabled(host):
    service = host.service("postgresql@15-main")
    assert service.is_running
    assert service.is_enabled


def test_listens_only_on_its_address_and_localhost(host):
    sockets = [s for s in host.socket.get_listening_sockets() if re.search(r":5432$", s)]
    assert sorted(sockets) == sorted([f"tcp://{DB_ADDRESS}:5432", "tcp://127.0.0.1:5432"])


def test_every_migration_is_applied(host):
    result = psql(host, "SELECT version FROM captiva_schema_migrations ORDER BY version")
    assert result.rc == 0, result.stderr
    assert [int(v) for v in result.stdout.split()] == MIGRATIONS
    assert MIGRATIONS


# (role, statement, allowed): each statement runs as the role (SET ROLE) in a transaction
# that is rolled back; "WHERE false" changes nothing but is still checked for privileges.
PRIVILEGES = [
    ("captiva_freeradius", "SELECT count(*) FROM radcheck", True),
    ("captiva_freeradius", "UPDATE radcheck SET value = value WHERE false", False),
    ("captiva_freeradius", "DELETE FROM radusergroup WHERE false", False),
    ("captiva_freeradius", "UPDATE radacct SET acctupdatetime = now() WHERE false", True),
    ("captiva_portal", "SELECT count(*) FROM radcheck", False),
    ("captiva_portal", "SELECT count(*) FROM radacct", True),
    ("captiva_portal", "SELECT count(*) FROM captiva_user", True),
    ("captiva_portal", "UPDATE captiva_user SET email = email WHERE false", False),
    ("captiva_reconcile", "UPDATE radcheck SET value = value WHERE false", True),
    ("captiva_jobs", "SELECT count(*) FROM radcheck", False),
]


@pytest.mark.parametrize(("role", "statement", "allowed"), PRIVILEGES,
                         ids=[f"{r}: {s.split(' WHERE')[0]}" for r, s, _ in PRIVILEGES])
def test_role_privileges(host, role, statement, allowed):
    result = psql(host, f"BEGIN; SET ROLE {role}; {statement}; ROLLBACK;")
    if allowed:
        assert result.rc == 0, result.stderr
    else:
        assert result.rc != 0, f"{role} may: {statement}"
        assert "permission denied" in result.stderr


def test_every_remote_pg_hba_line_requires_tls(host):
    lines = [line.split() for line in host.file("/etc/postgresql/15/main/pg_hba.conf")
             .content_string.splitlines() if line.strip() and not line.startswith("#")]
    remote = [fields for fields in lines
              if fields[0].startswith("host") and not fields[3].startswith(("127.", "::1"))]
    assert remote, "no remote client line"
    assert [fields for fields in remote if fields[0] != "hostssl"] == []


def test_remote_clients_are_connected_over_tls(host, run, inventory_args):
    # A login makes FreeRADIUS open its pool (start = 0); the portal keeps its pool open.
    login = run("lab/radtest", *inventory_args, "-r", "lab-gw1", "-c",
                "captiva-mol-router-campus-lab", "-s", "10.89.1.11", "lab-student1",
                "lab-password-1", check=False)
    assert login.returncode == 0, login.stdout + login.stderr
    result = psql(host, "SELECT a.usename, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s"
                        " USING (pid) WHERE a.client_addr IS NOT NULL"
                        " AND NOT a.client_addr <<= '127.0.0.0/8'")
    assert result.rc == 0, result.stderr
    rows = [line.split("|") for line in result.stdout.split()]
    assert {user for user, _ in rows} >= {"captiva_freeradius", "captiva_portal"}
    assert [user for user, ssl in rows if ssl != "t"] == []
