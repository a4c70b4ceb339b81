"""The fixtures other integration tests build on do what they promise."""

import psycopg
import pytest
from ansible_collections.captiva.campus.plugins.module_utils.captiva_migrations import (
    load_migrations,
)
from pg_fixtures import MIGRATIONS_DIR, ROLE_PASSWORDS


def test_radius_db_has_every_migration_applied(radius_db):
    with radius_db.connect() as conn:
        versions = [v for (v,) in conn.execute(
            "SELECT version FROM captiva_schema_migrations ORDER BY version")]
    assert versions == [m.version for m in load_migrations(MIGRATIONS_DIR)]


@pytest.mark.parametrize("role", sorted(ROLE_PASSWORDS))
def test_each_role_logs_in_with_its_password(radius_db, role):
    with radius_db.connect(role) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == f"captiva_{role}"


def test_a_wrong_password_is_refused(radius_db):
    dsn = radius_db.dsns["portal"].replace(ROLE_PASSWORDS["portal"], "wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(dsn)


def test_empty_db_has_no_tables(empty_db):
    with empty_db.connect() as conn:
        assert conn.execute("SELECT to_regclass('radcheck')").fetchone()[0] is None


def test_radius_db_has_every_function_file_applied(radius_db):
    from ansible_collections.captiva.campus.plugins.module_utils.captiva_migrations import (
        load_functions,
        plan_functions,
    )
    from pg_fixtures import FUNCTIONS_DIR

    with radius_db.connect() as conn:
        assert plan_functions(conn, load_functions(FUNCTIONS_DIR)) == []
        assert conn.execute("SELECT count(*) FROM captiva_schema_functions").fetchone()[0] == \
            len(load_functions(FUNCTIONS_DIR))


def _schema_dump(db) -> str:
    """pg_dump --schema-only --create of ``db``, its name replaced by DBNAME."""
    from pg_fixtures import SUPERUSER

    dump = db.server.run("pg_dump", "--schema-only", "--create", "--no-comments", "-h",
                         str(db.server.socket_dir), "-p", str(db.server.port), "-U", SUPERUSER,
                         db.name).stdout
    # pg_dump 15.14+ writes a random \restrict key at both ends.
    lines = [line for line in dump.splitlines() if not line.startswith(("\\restrict",
                                                                         "\\unrestrict"))]
    return "\n".join(lines).replace(db.name, "DBNAME")


def test_radius_db_is_what_the_migrations_make_from_scratch(radius_db, empty_db):
    """radius_db is cloned from a template migrated once per server: the clone's tables,
    functions, privileges (those on the database itself included) and settings are those of a
    database migrated from scratch."""
    from pg_fixtures import migrate_radius_database

    migrate_radius_database(empty_db)
    fresh, clone = _schema_dump(empty_db), _schema_dump(radius_db)
    assert "GRANT CONNECT,TEMPORARY ON DATABASE DBNAME TO captiva_reconcile" in fresh
    assert clone == fresh
