"""captiva_migrations against a real PostgreSQL 15."""

import threading
from pathlib import Path

import psycopg
import pytest
from ansible.module_utils.captiva_migrations import (
    LOCK_KEY,
    MigrationError,
    load_migrations,
    migrate,
    plan,
)
from pg_fixtures import MIGRATIONS_DIR
from processes import missing

STOCK_SCHEMA = Path("/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql")


def write(directory, files):
    for name, text in files.items():
        (directory / name).write_text(text)
    return load_migrations(directory)


def recorded(conn):
    return conn.execute(
        "SELECT version, name, checksum FROM captiva_schema_migrations ORDER BY version"
    ).fetchall()


def table_exists(conn, name):
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]


def test_migrations_apply_in_order_and_are_recorded(empty_db, tmp_path):
    # 0002 depends on 0001: applied in any other order it fails.
    migrations = write(tmp_path, {
        "0002_add_column.sql": "ALTER TABLE t ADD COLUMN b int;",
        "0001_create.sql": "CREATE TABLE t (a int);",
    })
    with empty_db.connect() as conn:
        applied = migrate(conn, migrations)
        assert [m.filename for m in applied] == ["0001_create.sql", "0002_add_column.sql"]
        assert recorded(conn) == [(1, "create", migrations[0].checksum),
                                  (2, "add_column", migrations[1].checksum)]
        assert conn.execute("SELECT applied_at <= now() FROM captiva_schema_migrations "
                            "WHERE version = 1").fetchone()[0]


def test_a_second_run_applies_nothing(empty_db, tmp_path):
    migrations = write(tmp_path, {"0001_create.sql": "CREATE TABLE t (a int);"})
    with empty_db.connect() as conn:
        assert migrate(conn, migrations) == migrations
        # Re-running the SQL would fail (table exists): an empty result proves it was not run.
        assert migrate(conn, migrations) == []
        assert plan(conn, migrations) == []


def test_only_new_migrations_run_later(empty_db, tmp_path):
    with empty_db.connect() as conn:
        migrate(conn, write(tmp_path, {"0001_create.sql": "CREATE TABLE t (a int);"}))
        later = write(tmp_path, {"0002_more.sql": "CREATE TABLE u (a int);"})
        assert [m.filename for m in plan(conn, later)] == ["0002_more.sql"]
        assert [m.filename for m in migrate(conn, later)] == ["0002_more.sql"]


def test_plan_reads_only(empty_db, tmp_path):
    migrations = write(tmp_path, {"0001_create.sql": "CREATE TABLE t (a int);"})
    with empty_db.connect() as conn:
        conn.execute("SET default_transaction_read_only = on")
        assert plan(conn, migrations) == migrations
        assert not table_exists(conn, "captiva_schema_migrations")


def test_a_changed_applied_migration_is_refused_before_anything_runs(empty_db, tmp_path):
    with empty_db.connect() as conn:
        migrate(conn, write(tmp_path, {"0001_create.sql": "CREATE TABLE t (a int);"}))
        changed = write(tmp_path, {"0001_create.sql": "CREATE TABLE t (a bigint);",
                                   "0002_more.sql": "CREATE TABLE u (a int);"})
        with pytest.raises(MigrationError, match="0001_create.sql was applied but its file "
                                                 "changed"):
            migrate(conn, changed)
        with pytest.raises(MigrationError, match="its file changed"):
            plan(conn, changed)
        assert not table_exists(conn, "u")
        assert [r[0] for r in recorded(conn)] == [1]


def test_a_missing_applied_file_is_refused(empty_db, tmp_path):
    with empty_db.connect() as conn:
        migrate(conn, write(tmp_path, {"0001_create.sql": "CREATE TABLE t (a int);"}))
        (tmp_path / "0001_create.sql").unlink()
        others = write(tmp_path, {"0002_more.sql": "CREATE TABLE u (a int);"})
        with pytest.raises(MigrationError, match="0001_create.sql was applied but its file is "
                                                 "missing"):
            migrate(conn, others)
        assert not table_exists(conn, "u")


def test_a_failing_migration_is_rolled_back_with_its_record(empty_db, tmp_path):
    migrations = write(tmp_path, {
        "0001_ok.sql": "CREATE TABLE t (a int);",
        "0002_half.sql": "CREATE TABLE half (a int);\nSELECT * FROM no_such_table;",
        "0003_after.sql": "CREATE TABLE after (a int);",
    })
    with empty_db.connect() as conn:
        with pytest.raises(MigrationError, match="0002_half.sql failed and was rolled back"):
            migrate(conn, migrations)
        assert [r[0] for r in recorded(conn)] == [1]
        assert table_exists(conn, "t")
        assert not table_exists(conn, "half")
        assert not table_exists(conn, "after")
        # The advisory lock was released: another session can take it at once.
        with empty_db.connect() as other:
            assert other.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]


def test_a_non_autocommit_connection_is_refused(empty_db, tmp_path):
    migrations = write(tmp_path, {"0001_create.sql": "CREATE TABLE t (a int);"})
    with empty_db.connect(autocommit=False) as conn, pytest.raises(MigrationError,
                                                                   match="autocommit"):
        migrate(conn, migrations)


def test_concurrent_runners_serialise(empty_db, tmp_path):
    # The slow migration holds the lock long enough for the second runner to arrive and wait.
    migrations = write(tmp_path, {
        "0001_slow.sql": "SELECT pg_sleep(1);\nCREATE TABLE t (a int);",
        "0002_more.sql": "CREATE TABLE u (a int);",
    })
    barrier = threading.Barrier(2)
    results, errors = {}, []

    def runner(key):
        try:
            with empty_db.connect() as conn:
                barrier.wait()
                results[key] = [m.filename for m in migrate(conn, migrations)]
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(key,)) for key in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(results.values()) == [[], ["0001_slow.sql", "0002_more.sql"]]
    with empty_db.connect() as conn:
        assert [r[0] for r in recorded(conn)] == [1, 2]


def test_a_held_lock_times_out_with_a_clear_error(empty_db, tmp_path):
    migrations = write(tmp_path, {"0001_create.sql": "CREATE TABLE t (a int);"})
    with empty_db.connect() as holder, empty_db.connect() as conn:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        with pytest.raises(MigrationError, match="another migration runner holds the lock"):
            migrate(conn, migrations, lock_timeout=0.3)
        assert not table_exists(conn, "t")


def test_the_role_migrations_apply_and_are_idempotent(empty_db):
    migrations = load_migrations(MIGRATIONS_DIR)
    with empty_db.connect() as conn:
        assert migrate(conn, migrations) == migrations
        assert migrate(conn, migrations) == []
        for table in ("radacct", "radcheck", "radreply", "radgroupcheck", "radgroupreply",
                      "radusergroup", "radpostauth", "nas", "nasreload", "captiva_site",
                      "captiva_router", "captiva_profile", "captiva_promotion", "captiva_user"):
            assert table_exists(conn, table), table


def test_a_database_made_from_the_stock_freeradius_schema_is_adopted(empty_db):
    if not STOCK_SCHEMA.exists():
        missing(f"FreeRADIUS's schema.sql is not installed ({STOCK_SCHEMA}): "
                "apt-get install freeradius-postgresql")
    with empty_db.connect() as conn:
        conn.execute(STOCK_SCHEMA.read_text())
        conn.execute("INSERT INTO radcheck (username, attribute, op, value) "
                     "VALUES ('old', 'Cleartext-Password', ':=', 'x')")
        migrate(conn, load_migrations(MIGRATIONS_DIR))
        assert conn.execute("SELECT username, managed_by FROM radcheck").fetchall() == [
            ("old", None)]


def test_schema_constraints(radius_db):
    with radius_db.connect() as conn:
        conn.execute("INSERT INTO captiva_site VALUES ('main', 'Europe/Paris', 1, 1)")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO captiva_site VALUES ('bad', 'UTC', 8, 1)")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO captiva_site VALUES ('bad', 'UTC', 1, 29)")
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("INSERT INTO captiva_router (name, site, nasipaddress) "
                         "VALUES ('r', 'nowhere', '10.0.0.1')")
        conn.execute("INSERT INTO captiva_router (name, site, nasipaddress) "
                     "VALUES ('r1', 'main', '10.0.0.1')")
        assert conn.execute("SELECT coa_port FROM captiva_router").fetchone()[0] == 3799
        user = ("INSERT INTO captiva_user (username, enabled, status, activated_on) "
                "VALUES (%s, true, %s, current_date)")
        conn.execute(user, ("Alice", "active"))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(user, ("alice", "active"))
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(user, ("bob", "sleeping"))
        # No foreign key from user to promotion/profile: the reconcile writes them in any order.
        conn.execute("INSERT INTO captiva_user (username, enabled, status, activated_on, "
                     "promotion, profile) VALUES ('carol', true, 'active', current_date, "
                     "'not-yet', 'not-yet')")
        assert conn.execute("SELECT language FROM captiva_user WHERE username = 'carol'"
                            ).fetchone()[0] == "fr"


def test_one_captiva_membership_per_user_but_foreign_rows_are_free(radius_db):
    insert = ("INSERT INTO radusergroup (username, groupname, managed_by) "
              "VALUES ('alice', %s, %s)")
    with radius_db.connect() as conn:
        conn.execute(insert, ("basic", "captiva"))
        conn.execute(insert, ("manual", None))
        conn.execute(insert, ("other-tool", "other"))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(insert, ("premium", "captiva"))
