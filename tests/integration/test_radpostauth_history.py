"""radpostauth_history partitioned by month of authdate (migration 0180; docs/postgres.md,
"Accounting history"): the upgrade loses no row, retention creates the months it moves rows
into and drops the months past the history retention whole, and a partition detached by hand
stops it with an error. The counterparts of radacct_history's tests (test_quota_jobs.py,
test_postgres_migrations.py), through the same retention job."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
import quota_fixtures
from ansible_collections.captiva.campus.plugins.module_utils.captiva_migrations import (
    MigrationError,
    load_migrations,
    migrate,
)
from pg_fixtures import MIGRATIONS_DIR
from quota_fixtures import ts

from captiva.quota import jobs
from captiva.runtime.jobs_config import parse

db = quota_fixtures.db
su = quota_fixtures.su

PARTITIONED = 180

# 2,000 archived post-auth rows, hourly from 2025-01-15 13:00 UTC (four months), one with a
# password an adopted database's stock post-auth query could have stored after 0054 erased the
# old ones, one without authdate (an adopted table without its NOT NULL).
HISTORY_SEED = """
INSERT INTO radpostauth_history (id, username, pass, reply, calledstationid, callingstationid,
                                 authdate, class, archived_at)
SELECT g, 'user' || (g % 7), CASE WHEN g = 9 THEN 'tried-password' END,
       CASE WHEN g % 10 = 0 THEN 'Access-Reject' ELSE 'Access-Accept' END, 'hotspot1',
       'AA:BB:CC:00:00:' || lpad(to_hex(g % 256), 2, '0'),
       timestamptz '2025-01-15 12:00+00' + (g || ' hours')::interval, NULL,
       timestamptz '2025-06-01 00:00+00'
FROM generate_series(1, 2000) AS g;
"""


def history_rows(conn):
    return conn.execute(
        "SELECT id, username, pass, reply, calledstationid, callingstationid, authdate, class, "
        "archived_at FROM radpostauth_history ORDER BY id").fetchall()


def test_the_post_auth_history_is_partitioned_by_month_without_losing_a_row(empty_db):
    """Before 0180, 2,000 archived post-auth rows over four months; after it, each once, in
    its month's partition, with the jobs' column grants of 0054 (every column but pass) and
    nobody's DELETE."""
    migrations = load_migrations(MIGRATIONS_DIR)
    with empty_db.connect() as conn:
        migrate(conn, [m for m in migrations if m.version < PARTITIONED])
        conn.execute("ALTER TABLE radpostauth_history ALTER COLUMN authdate DROP NOT NULL")
        conn.execute(HISTORY_SEED)
        conn.execute("UPDATE radpostauth_history SET authdate = NULL WHERE id = 5")
        before = history_rows(conn)
        assert [m.version for m in migrate(conn, migrations)] == [
            m.version for m in migrations if m.version >= PARTITIONED]

        assert conn.execute("SELECT relkind FROM pg_class WHERE relname = "
                            "'radpostauth_history'").fetchone()[0] == "p"
        # Row 5 gets the time it was archived; every other row is as it was.
        after = history_rows(conn)
        assert after[4][6] == before[4][8]
        assert after[:4] + after[5:] == before[:4] + before[5:]
        per_partition = dict(conn.execute(
            "SELECT tableoid::regclass::text, count(*) FROM radpostauth_history GROUP BY 1"
        ).fetchall())
        # Hourly from 2025-01-15 13:00 UTC: 395 hours left in January (row 5 among them, now
        # in June, when it was archived), then 672 (28 days), 744 (31 days), the last 189 in
        # April.
        assert per_partition == {"radpostauth_history_2025_01": 394,
                                 "radpostauth_history_2025_02": 672,
                                 "radpostauth_history_2025_03": 744,
                                 "radpostauth_history_2025_04": 189,
                                 "radpostauth_history_2025_06": 1}
        assert conn.execute("SELECT to_regclass('radpostauth_history_unpartitioned') IS NULL, "
                            "to_regclass('radpostauth_history_default') IS NOT NULL"
                            ).fetchone() == (True, True)
        # Owned by captiva_history, partitions included; no primary key (pg_restore --clean).
        assert set(conn.execute(
            "SELECT c.relowner::regrole::text FROM pg_class AS c WHERE c.relname = "
            "'radpostauth_history' OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE "
            "inhparent = 'radpostauth_history'::regclass)").fetchall()) == {("captiva_history",)}
        assert conn.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'p' "
                            "AND conrelid = 'radpostauth_history'::regclass").fetchone()[0] == 0
        with pytest.raises(psycopg.errors.NotNullViolation):
            conn.execute("INSERT INTO radpostauth_history (id, username, authdate) "
                         "VALUES (1, 'u', NULL)")
        assert conn.execute("SELECT grantee, privilege_type FROM "
                            "information_schema.role_table_grants WHERE table_name = "
                            "'radpostauth_history' AND grantee LIKE 'captiva_%' "
                            "AND grantee <> 'captiva_history'").fetchall() == []
        columns = conn.execute(
            "SELECT column_name, string_agg(privilege_type, ',' ORDER BY privilege_type) "
            "FROM information_schema.column_privileges WHERE table_name = "
            "'radpostauth_history' AND grantee = 'captiva_jobs' GROUP BY 1").fetchall()
        assert dict(columns) == dict.fromkeys(
            ("id", "username", "reply", "calledstationid", "callingstationid", "authdate",
             "class", "archived_at"), "INSERT,SELECT")


def test_a_failing_upgrade_leaves_the_post_auth_history_as_it_was(empty_db):
    """0180 fails half-way (a table named like one of the partitions it creates, as an adopted
    database could hold): nothing of it stays, the history keeps every row in its old table,
    and the migration is not recorded, so the next run tries again."""
    migrations = load_migrations(MIGRATIONS_DIR)
    with empty_db.connect() as conn:
        migrate(conn, [m for m in migrations if m.version < PARTITIONED])
        conn.execute(HISTORY_SEED)
        before = history_rows(conn)
        conn.execute("CREATE TABLE radpostauth_history_2025_03 (note text)")
        with pytest.raises(MigrationError, match="0180_radpostauth_history_partitions.sql"):
            migrate(conn, migrations)
        assert conn.execute("SELECT relkind FROM pg_class WHERE relname = "
                            "'radpostauth_history'").fetchone()[0] == "r"
        assert history_rows(conn) == before
        assert conn.execute("SELECT to_regclass('radpostauth_history_unpartitioned'), "
                            "to_regclass('radpostauth_history_2025_01')").fetchone() == (
            None, None)
        assert conn.execute("SELECT count(*) FROM captiva_schema_migrations WHERE version = "
                            "%s", (PARTITIONED,)).fetchone()[0] == 0


def config(db, **retention):
    return parse({"dsn": db.dsns["jobs"], "retention": retention})


def partitions(su):
    return sorted(r[0] for r in su.execute(
        "SELECT inhrelid::regclass::text FROM pg_inherits "
        "WHERE inhparent = 'radpostauth_history'::regclass").fetchall())


def post_auth(db, label, authdate):
    """A post-auth row as FreeRADIUS writes it (captiva_freeradius; never pass)."""
    with db.connect("freeradius") as conn:
        conn.execute("INSERT INTO radpostauth (username, reply, callingstationid, authdate) "
                     "VALUES ('alice', 'Access-Accept', %s, %s)", (label, ts(authdate)))


def test_retention_drops_whole_post_auth_months_and_touches_nothing_else(db, su):
    """Retention creates the partitions the post-auth rows it moves need, empties the DEFAULT
    partition into the months it creates, and drops the months that ended before
    history_days, row by row nothing."""
    now = ts("2026-11-21T12:00:00")
    for label, authdate in (("jul", "2026-07-10T10:00:00"), ("aug", "2026-08-10T10:00:00"),
                            ("sep", "2026-09-15T10:00:00"), ("recent", "2026-11-20T10:00:00")):
        post_auth(db, label, authdate)
    # Rows already in the history whose months have no partition: the DEFAULT partition.
    su.execute("""
        INSERT INTO radpostauth_history (id, username, reply, callingstationid, authdate)
        VALUES (900001, 'alice', 'Access-Reject', 'old-default', '2024-03-01 11:00+00'),
               (900002, 'alice', 'Access-Accept', 'sep-default', '2026-09-02 11:00+00')""")
    assert partitions(su) == ["radpostauth_history_default"]
    live_before = su.execute("SELECT id, username, reply, callingstationid, authdate "
                             "FROM radpostauth WHERE callingstationid = 'recent'").fetchall()
    su.execute("INSERT INTO radacct_history (radacctid, acctsessionid, acctuniqueid, "
               "nasipaddress, acctstoptime) VALUES (1, 's', 'u-s', '10.20.0.2', "
               "'2026-10-01 11:00+00')")
    cfg = config(db, radacct_days=30, radpostauth_days=30, history_days=90)
    with db.connect("jobs", autocommit=False) as conn:
        # The dry run creates nothing: no partition is due yet (2024-03 waits in the default).
        dry = jobs.retention(conn, cfg, now, dry_run=True, out=lambda s: None)
        assert (dry["would_radpostauth"], dry["would_drop"]) == (3, [])
        summary = jobs.retention(conn, cfg, now)
    # Moved: the rows before 2026-10-22; then the months that ended before 2026-08-23
    # dropped. August stays (it ended after the cutoff): a month at most longer.
    assert summary["radpostauth"] == 3
    assert summary["history_partitions_dropped"] == ["radpostauth_history_2024_03",
                                                     "radpostauth_history_2026_07"]
    assert summary["history_purged"] == 0
    assert partitions(su) == ["radpostauth_history_2026_08", "radpostauth_history_2026_09",
                              "radpostauth_history_2026_11", "radpostauth_history_2026_12",
                              "radpostauth_history_default"]
    assert su.execute("SELECT callingstationid, tableoid::regclass::text "
                      "FROM radpostauth_history ORDER BY authdate").fetchall() == [
        ("aug", "radpostauth_history_2026_08"), ("sep-default", "radpostauth_history_2026_09"),
        ("sep", "radpostauth_history_2026_09")]
    # Nothing else touched: the live row, the accounting history within its retention.
    assert su.execute("SELECT id, username, reply, callingstationid, authdate "
                      "FROM radpostauth").fetchall() == live_before
    assert su.execute("SELECT acctsessionid, tableoid::regclass::text FROM radacct_history"
                      ).fetchall() == [("s", "radacct_history_2026_10")]
    # Idempotent: a second run creates and drops nothing; ten days later August is due.
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.retention(conn, cfg, now + dt.timedelta(days=10), dry_run=True,
                              out=lambda s: None)["would_drop"] == [
            "radpostauth_history_2026_08"]
        again = jobs.retention(conn, cfg, now)
    assert (again["radpostauth"], again["history_partitions_dropped"],
            again["history_purged"]) == (0, [], 0)
    assert len(partitions(su)) == 5
    # A row that lands in the DEFAULT partition between two runs is deleted once older than
    # the history cutoff.
    su.execute("INSERT INTO radpostauth_history (id, username, authdate) "
               "VALUES (900003, 'x', '2020-01-05 00:00+00')")
    with db.connect("jobs") as conn:
        assert conn.execute("SELECT * FROM captiva_history_drop('radpostauth_history', %s)",
                            (now - dt.timedelta(days=90),)).fetchall() == [
            ("radpostauth_history_default", 1)]
    assert su.execute("SELECT count(*) FROM radpostauth_history").fetchone()[0] == 3


def test_retention_names_a_detached_post_auth_partition_instead_of_looping(db, su):
    """A month's partition detached by hand while rows of that month wait in the DEFAULT
    partition: retention stops with an error naming both, never spins or moves a row."""
    su.execute("SELECT captiva_history_partition('radpostauth_history', '2026-09-10')")
    su.execute("ALTER TABLE radpostauth_history DETACH PARTITION radpostauth_history_2026_09")
    su.execute("INSERT INTO radpostauth_history (id, username, authdate) "
               "VALUES (1, 'alice', '2026-09-15 00:00+00')")
    with db.connect("jobs", autocommit=False) as conn, pytest.raises(
            psycopg.errors.RaiseException,
            match="radpostauth_history_default holds rows of authdate in the month of .*"
                  "radpostauth_history_2026_09 exists and is not its partition"):
        jobs.retention(conn, config(db, radpostauth_days=30), ts("2026-11-21T12:00:00"))
    assert su.execute("SELECT tableoid::regclass::text FROM radpostauth_history").fetchall() == [
        ("radpostauth_history_default",)]
