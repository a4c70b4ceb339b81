"""captiva_migrations against a real PostgreSQL 15."""

import threading
from pathlib import Path

import psycopg
import pytest
from ansible_collections.captiva.campus.plugins.module_utils.captiva_migrations import (
    LOCK_KEY,
    MigrationError,
    apply_functions,
    load_functions,
    load_migrations,
    migrate,
    parse_functions,
    plan,
    plan_functions,
)
from pg_fixtures import FUNCTIONS_DIR, MIGRATIONS_DIR
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
        # FreeRADIUS's stock post-auth query stores the password tried.
        conn.execute("INSERT INTO radpostauth (username, pass, reply) "
                     "VALUES ('old', 'tried-password', 'Access-Reject')")
        migrate(conn, load_migrations(MIGRATIONS_DIR))
        assert conn.execute("SELECT username, managed_by FROM radcheck").fetchall() == [
            ("old", None)]
        # Adopted: the old passwords are erased, the rest of the row stays.
        assert conn.execute("SELECT username, pass, reply FROM radpostauth").fetchall() == [
            ("old", None, "Access-Reject")]


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


# ---------------------------------------------------------------------------------------------
# Repeatable SQL functions

OLD_SET = 53  # the newest migration of databases made before the functions left migrations

UPGRADE_SEED = """
INSERT INTO captiva_site VALUES ('main', 'Europe/Paris', 7, 15);
INSERT INTO captiva_router (name, site, nasipaddress) VALUES ('r1', 'main', '10.0.0.1');
INSERT INTO captiva_profile (name, quota_daily) VALUES ('tiny', 100);
INSERT INTO captiva_user (username, language, profile, enabled, status, activated_on)
    VALUES ('alice', 'en', 'tiny', true, 'active', current_date);
INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime,
                     acctupdatetime, acctinputoctets, acctoutputoctets)
    VALUES ('s1', 'u1', 'alice', '10.0.0.1', now() - interval '1 minute', now(), 400, 0);
"""


def login(conn):
    return conn.execute("SELECT captiva_quota_login_xlat('alice', '10.0.0.1')").fetchone()[0]


def definer_settings(conn, name):
    return conn.execute("SELECT r.rolname, p.proconfig FROM pg_proc AS p "
                        "JOIN pg_roles AS r ON r.oid = p.proowner WHERE p.proname = %s",
                        (name,)).fetchone()


def test_a_database_holding_the_old_functions_is_upgraded(empty_db):
    """Made before the functions left the migrations: 0050-0053 created them, owned by the
    superuser, with pg_temp searched first. Those files are applied unchanged (their
    checksums are verified), then the function files replace the functions in place."""
    migrations = load_migrations(MIGRATIONS_DIR)
    with empty_db.connect() as conn:
        migrate(conn, [m for m in migrations if m.version <= OLD_SET])
        conn.execute(UPGRADE_SEED)
        before = login(conn)
        assert before.startswith("reject|Daily data quota of 100 B reached")
        assert definer_settings(conn, "captiva_quota_login") == (
            "postgres", ["search_path=pg_catalog, public"])
        assert conn.execute("SELECT to_regproc('captiva_quota_usage')").fetchone()[0]

        assert [m.version for m in migrate(conn, migrations)] == [
            m.version for m in migrations if m.version > OLD_SET]
        files = load_functions(FUNCTIONS_DIR)
        assert apply_functions(conn, files) == [f.filename for f in files]

        assert login(conn) == before  # the same decision, now from the new definitions
        assert definer_settings(conn, "captiva_quota_login") == (
            "captiva_definer", ["search_path=pg_catalog, public, pg_temp"])
        assert conn.execute("SELECT to_regproc('captiva_quota_usage')").fetchone()[0] is None
        assert conn.execute("SELECT used FROM captiva_user_usage('alice') "
                            "WHERE period = 'daily'").fetchone()[0] == 400
        # The accounting triggers now call the replaced functions.
        conn.execute("UPDATE radacct SET acctinputoctets = 500, acctupdatetime = now()")
        assert conn.execute("SELECT sum(bytes_in) FROM captiva_usage_daily").fetchone()[0] == 500
        assert apply_functions(conn, files) == []
        assert plan_functions(conn, files) == []


def test_function_files_apply_only_when_one_changed_and_all_together(radius_db):
    files = load_functions(FUNCTIONS_DIR)
    by_name = {f.filename: f.sql for f in files}
    with radius_db.connect() as conn:
        assert plan_functions(conn, files) == []
        changed = parse_functions({
            **{f.filename: f.sql for f in files},
            "30_usage.sql": by_name["30_usage.sql"] + "\n-- a fix\n",
        })
        assert plan_functions(conn, changed) == ["30_usage.sql"]
        # Every file runs (a later one may depend on the changed one), once.
        conn.execute("DROP FUNCTION captiva_quota_login_xlat(text, text)")
        assert apply_functions(conn, changed) == ["30_usage.sql"]
        assert conn.execute("SELECT to_regproc('captiva_quota_login_xlat')").fetchone()[0]
        assert apply_functions(conn, changed) == []
        # A file removed from the set is a change too.
        fewer = [f for f in changed if f.filename != "50_quota_jobs.sql"]
        assert plan_functions(conn, fewer) == ["50_quota_jobs.sql"]


def test_a_failing_function_file_changes_no_function(radius_db):
    files = load_functions(FUNCTIONS_DIR)
    by_name = {f.filename: f.sql for f in files}
    broken = parse_functions({
        **{f.filename: f.sql for f in files},
        # A marker function before the file's own: a changed 30_usage.sql, whatever it holds.
        "30_usage.sql": "CREATE OR REPLACE FUNCTION captiva_test_marker() RETURNS int "
                        "LANGUAGE sql AS $$ SELECT 1 $$;\n" + by_name["30_usage.sql"],
        "90_broken.sql": "CREATE OR REPLACE FUNCTION captiva_broken() RETURNS int "
                         "LANGUAGE sql AS $$ SELECT * FROM no_such_table $$;",
    })
    with radius_db.connect() as conn:
        recorded = conn.execute("SELECT filename, checksum FROM captiva_schema_functions "
                                "ORDER BY filename").fetchall()
        with pytest.raises(MigrationError, match="90_broken.sql failed; no function was "
                                                 "changed: .*no_such_table"):
            apply_functions(conn, broken)
        assert conn.execute("SELECT to_regproc('captiva_test_marker')").fetchone()[0] is None
        assert conn.execute("SELECT filename, checksum FROM captiva_schema_functions "
                            "ORDER BY filename").fetchall() == recorded
        assert plan_functions(conn, broken) == ["30_usage.sql", "90_broken.sql"]


# ---------------------------------------------------------------------------------------------
# 0130: radacct_history partitioned by month of the stop time

PARTITIONED = 130

HISTORY_SEED = """
INSERT INTO radacct_history (radacctid, acctsessionid, acctuniqueid, username, nasipaddress,
                             acctstarttime, acctupdatetime, acctstoptime, acctinputoctets,
                             acctoutputoctets, acctterminatecause, archived_at)
SELECT g, 's' || g, 'u' || g, 'user' || (g % 7), '10.0.0.1',
       timestamptz '2025-01-15 12:00+00' + (g || ' hours')::interval,
       timestamptz '2025-01-15 13:00+00' + (g || ' hours')::interval,
       CASE WHEN g = 5 THEN NULL
            ELSE timestamptz '2025-01-15 14:00+00' + (g || ' hours')::interval END,
       g * 10, g, 'User-Request', now()
FROM generate_series(1, 2000) AS g;
"""


def history_rows(conn):
    return conn.execute(
        "SELECT radacctid, acctuniqueid, username, acctstarttime, acctinputoctets, "
        "acctoutputoctets, acctterminatecause, archived_at FROM radacct_history "
        "ORDER BY radacctid").fetchall()


def test_the_history_is_partitioned_by_month_without_losing_a_row(empty_db):
    """2,000 archived sessions over four months (one without a stop time, which an adopted
    database could hold) before 0130: after it, each once, in its month's partition, with the
    grants of 0053 and 0060 (but DELETE) on the partitioned table."""
    migrations = load_migrations(MIGRATIONS_DIR)
    with empty_db.connect() as conn:
        migrate(conn, [m for m in migrations if m.version < PARTITIONED])
        conn.execute(HISTORY_SEED)
        before = history_rows(conn)
        stop_of_5 = conn.execute("SELECT acctupdatetime FROM radacct_history "
                                 "WHERE radacctid = 5").fetchone()[0]
        assert [m.version for m in migrate(conn, migrations)] == [
            m.version for m in migrations if m.version >= PARTITIONED]

        assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'radacct_history'"
                            ).fetchone()[0] == "p"
        assert history_rows(conn) == before
        assert conn.execute("SELECT count(DISTINCT radacctid) FROM radacct_history"
                            ).fetchone()[0] == 2000
        per_partition = dict(conn.execute(
            "SELECT tableoid::regclass::text, count(*) FROM radacct_history GROUP BY 1"
        ).fetchall())
        # Stops hourly from 2025-01-15 15:00 UTC: 393 hours left in January, then 672
        # (28 days), 744 (31 days), and the last 191 in April.
        assert per_partition == {"radacct_history_2025_01": 393,
                                 "radacct_history_2025_02": 672,
                                 "radacct_history_2025_03": 744,
                                 "radacct_history_2025_04": 191}
        assert conn.execute("SELECT acctstoptime FROM radacct_history WHERE radacctid = 5"
                            ).fetchone()[0] == stop_of_5
        assert not table_exists(conn, "radacct_history_unpartitioned")
        # 0131: no primary key (pg_restore --clean could not drop it on a partition), and
        # every row keeps a stop time.
        assert conn.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'p' "
                            "AND conrelid = 'radacct_history'::regclass").fetchone()[0] == 0
        with pytest.raises(psycopg.errors.NotNullViolation):
            conn.execute("INSERT INTO radacct_history (radacctid, acctsessionid, acctuniqueid, "
                         "nasipaddress) VALUES (1, 's', 'u', '10.0.0.1')")
        grants = set(conn.execute(
            "SELECT grantee, privilege_type FROM information_schema.role_table_grants "
            "WHERE table_name = 'radacct_history' AND grantee LIKE 'captiva_%' "
            "AND grantee <> 'captiva_history'").fetchall())  # the owner
        assert grants == {("captiva_jobs", "SELECT"), ("captiva_jobs", "INSERT"),
                          ("captiva_portal", "SELECT")}
        assert conn.execute(
            "SELECT has_column_privilege('captiva_freeradius', 'radacct_history', "
            "'acctinputoctets', 'SELECT'), has_column_privilege('captiva_freeradius', "
            "'radacct_history', 'username', 'SELECT')").fetchone() == (True, False)
        # The live table: room for HOT interims, no index on a column an interim changes.
        assert conn.execute("SELECT reloptions FROM pg_class WHERE relname = 'radacct'"
                            ).fetchone()[0] == ["fillfactor=75"]
        assert not table_exists(conn, "radacct_open_update_idx")
