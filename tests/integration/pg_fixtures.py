"""Real PostgreSQL 15 for integration tests: an ephemeral server and fresh migrated databases.

Fixtures (registered by tests/integration/conftest.py; from elsewhere use
``pytest_plugins = ["pg_fixtures"]`` or ``from pg_fixtures import *``):

- ``pg_server`` (session): a throw-away cluster (initdb in a temp dir, 127.0.0.1 on a free port,
  unix socket in the temp dir, fsync off), stopped and removed at the end of the session.
- ``empty_db`` (function): a fresh empty database; returns a :class:`Database`.
- ``radius_db`` (function): a fresh database with every migration of
  ``roles/postgres/files/migrations`` then the functions of ``roles/postgres/files/functions``
  applied through captiva_migrations, and the four Captiva
  roles able to log in with :data:`ROLE_PASSWORDS` over TCP (scram-sha-256).
- ``radius_database(pg_server)``: the same as a context manager, for wider-scoped fixtures.

Migrations and functions run once per server: into a template database (the first
``radius_database`` of a server creates it), which every fresh database is then cloned from
(``CREATE DATABASE ... TEMPLATE``), with what a clone does not carry over (the database's own
privileges) copied from the template. test_postgres_fixtures.py checks that a
clone's schema dump equals that of a database migrated from scratch.

``Database.dsn`` is the superuser's (over the unix socket), ``Database.dsns[<role>]`` a role's,
where ``<role>`` is ``reconcile``, ``freeradius``, ``portal`` or ``jobs``.

Without PostgreSQL 15 binaries the fixtures skip, except in CI (``CI=true``) where they fail.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from ansible_collections.captiva.campus.plugins.module_utils.captiva_migrations import (
    apply_functions,
    load_functions,
    load_migrations,
    migrate,
)
from processes import free_port, missing
from psycopg import sql

__all__ = [
    "FUNCTIONS_DIR",
    "MIGRATIONS_DIR",
    "ROLE_PASSWORDS",
    "Database",
    "PgServer",
    "empty_db",
    "migrate_radius_database",
    "pg_server",
    "radius_database",
    "radius_db",
    "role_name",
]

ROOT = Path(__file__).resolve().parents[2]
# CAPTIVA_MIGRATIONS_DIR: test against another set (e.g. a subset while a migration is WIP).
MIGRATIONS_DIR = Path(
    os.environ.get("CAPTIVA_MIGRATIONS_DIR", ROOT / "roles" / "postgres" / "files" / "migrations")
)
FUNCTIONS_DIR = ROOT / "roles" / "postgres" / "files" / "functions"
PG_BIN = Path(os.environ.get("CAPTIVA_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "postgres"
# Short names, as in the inventory's captiva_db_passwords; the database roles are captiva_<name>.
ROLE_PASSWORDS = {
    "reconcile": "test-reconcile-password",
    "freeradius": "test-freeradius-password",
    "portal": "test-portal-password",
    "jobs": "test-jobs-password",
}
_SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "32MB",
    "password_encryption": "scram-sha-256",
}


def role_name(short: str) -> str:
    return f"captiva_{short}"


@dataclass
class PgServer:
    """A running ephemeral cluster; ``run`` executes a binary of PG_BIN as the cluster owner."""

    bin_dir: Path
    base_dir: Path
    port: int
    owner: str | None  # OS user the server runs as when the tests run as root
    # The migrated template database that radius_database clones (made on first use).
    radius_template: str | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host={self.socket_dir} port={self.port} user={SUPERUSER} dbname={dbname}"

    def tcp_dsn(self, dbname: str, user: str, password: str) -> str:
        return (
            f"host=127.0.0.1 port={self.port} user={user} password={password} dbname={dbname}"
            " sslmode=disable"
        )

    def run(self, binary: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        kwargs = {}
        if self.owner is not None:
            kwargs = {"user": self.owner, "group": self.owner, "extra_groups": []}
        return subprocess.run(
            [str(self.bin_dir / binary), *args],
            check=check,
            capture_output=True,
            text=True,
            cwd=self.base_dir,
            **kwargs,
        )

    def connect(self, dbname: str = "postgres", **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.dsn(dbname), autocommit=True, **kwargs)


@dataclass
class Database:
    """One database of the ephemeral server."""

    server: PgServer
    name: str
    dsns: dict[str, str] = field(default_factory=dict)

    @property
    def dsn(self) -> str:
        return self.server.dsn(self.name)

    def connect(self, role: str | None = None, **kwargs) -> psycopg.Connection:
        """Superuser connection (autocommit), or as ``role`` (reconcile/freeradius/...)."""
        kwargs.setdefault("autocommit", True)
        return psycopg.connect(self.dsns[role] if role else self.dsn, **kwargs)


@pytest.fixture(scope="session")
def pg_server():
    if not (PG_BIN / "initdb").exists():
        missing(f"PostgreSQL 15 binaries not found in {PG_BIN} (apt-get install postgresql-15)")
    owner = None
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as the postgres user
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            missing("running as root and no 'postgres' OS user to run the server as")
        owner = SUPERUSER
    base = Path(tempfile.mkdtemp(prefix="captiva-pg-"))
    if owner is not None:
        shutil.chown(base, owner, owner)
    server = PgServer(PG_BIN, base, free_port(), owner)
    started = False
    try:
        server.run(
            "initdb", "-D", str(server.data_dir), "-U", SUPERUSER, "-E", "UTF8",
            "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
        )
        settings = dict(_SERVER_SETTINGS, port=str(server.port),
                        unix_socket_directories=str(server.socket_dir))
        options = " ".join(f"-c {key}={value}" for key, value in settings.items())
        result = server.run(
            "pg_ctl", "-D", str(server.data_dir), "-l", str(base / "server.log"), "-o", options,
            "-w", "-t", "60", "start", check=False,
        )
        if result.returncode != 0:
            log = (base / "server.log").read_text(errors="replace")
            pytest.fail(f"PostgreSQL did not start: {result.stderr}\n{log}")
        started = True
        yield server
    finally:
        if started:
            server.run("pg_ctl", "-D", str(server.data_dir), "-m", "immediate", "stop",
                       check=False)
        shutil.rmtree(base, ignore_errors=True)


def _create_database(server: PgServer) -> str:
    name = f"test_{uuid.uuid4().hex[:12]}"
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def _drop_database(server: PgServer, name: str) -> None:
    with server.connect() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


@pytest.fixture
def empty_db(pg_server):
    name = _create_database(pg_server)
    try:
        yield Database(pg_server, name)
    finally:
        _drop_database(pg_server, name)


def migrate_radius_database(db: Database) -> None:
    """Every migration, then every function file, applied to ``db`` as roles/postgres does."""
    with db.connect() as conn:
        migrate(conn, load_migrations(MIGRATIONS_DIR))
        apply_functions(conn, load_functions(FUNCTIONS_DIR))


def _radius_template(server: PgServer) -> str:
    """The server's migrated template database, created and migrated on first use."""
    if server.radius_template is None:
        name = f"template_radius_{uuid.uuid4().hex[:8]}"
        with server.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            migrate_radius_database(Database(server, name))
        except BaseException:
            _drop_database(server, name)
            raise
        server.radius_template = name
    return server.radius_template


def _clone_database(server: PgServer, template: str, name: str | None = None) -> str:
    """A new database (named ``name``, else a unique name) cloned from ``template``, with the
    template's database-level privileges (GRANT ... ON DATABASE, which a clone does not
    inherit) given to it too."""
    name = name or f"test_{uuid.uuid4().hex[:12]}"
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)))
        acl = conn.execute(
            # In the template's order (the join may reorder rows), so the clone's ACL lists
            # its entries as the template's does (test_postgres_fixtures compares dumps).
            "SELECT coalesce(g.rolname, 'PUBLIC'), a.privilege_type, a.is_grantable"
            " FROM pg_database d, aclexplode(d.datacl) WITH ORDINALITY"
            " AS a(grantor, grantee, privilege_type, is_grantable, n)"
            " LEFT JOIN pg_roles g ON g.oid = a.grantee"
            " WHERE d.datname = %s AND d.datacl IS NOT NULL ORDER BY a.n",
            (template,)).fetchall()
        if acl:
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(
                sql.Identifier(name)))
        for grantee, privilege, grantable in acl:
            conn.execute(sql.SQL("GRANT {} ON DATABASE {} TO {}{}").format(
                sql.SQL(privilege), sql.Identifier(name),
                sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(grantee),
                sql.SQL(" WITH GRANT OPTION" if grantable else "")))
        # No migration sets a database's settings (ALTER DATABASE ... SET), which a clone
        # would not carry over: should one, the tests stop here rather than test without it.
        (settings,) = conn.execute(
            "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON"
            " d.oid = s.setdatabase WHERE d.datname = %s", (template,)).fetchone()
        if settings:
            raise RuntimeError(f"{template} has database settings a clone does not carry over:"
                               " copy them in pg_fixtures._clone_database")
    return name


@contextmanager
def radius_database(server: PgServer, name: str | None = None):
    """A fresh migrated database with the roles' test passwords, dropped on exit; ``name``:
    its name (none of that name may exist), else a unique one.

    For fixtures of a wider scope than ``radius_db`` (e.g. one seeded database per module).
    """
    name = _clone_database(server, _radius_template(server), name)
    try:
        db = Database(server, name)
        with db.connect() as conn:
            # What roles/postgres does with the vaulted passwords (the roles are cluster-wide).
            for short, password in ROLE_PASSWORDS.items():
                conn.execute(
                    sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(role_name(short)), sql.Literal(password)
                    )
                )
        db.dsns = {
            short: server.tcp_dsn(name, role_name(short), password)
            for short, password in ROLE_PASSWORDS.items()
        }
        yield db
    finally:
        _drop_database(server, name)


@pytest.fixture
def radius_db(pg_server):
    with radius_database(pg_server) as db:
        yield db
