"""A quota grant's bounds (10 TiB, 366 days) hold in the database, for the role that writes
grants (captiva_portal) inserting rows directly: a compromised portal cannot grant more. The
console refuses first with its own message (test_console_grants.py); its constants and the
constraints are one rule, checked equal here."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from captiva.portal.console import actions

START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
LONGEST = dt.timedelta(days=actions.MAX_GRANT_DAYS)


def insert(db, bytes_: int, expires_at: dt.datetime, kind: str = "extra") -> None:
    with db.connect("portal") as conn:
        conn.execute(
            "INSERT INTO captiva_quota_grant (username, period, kind, bytes, reason, granted_by,"
            " starts_at, expires_at) VALUES ('stu1', 'monthly', %s, %s, 'test', 'admin', %s, %s)",
            (kind, bytes_, START, expires_at))


def test_grants_within_the_bounds_are_accepted(radius_db):
    insert(radius_db, actions.MAX_GRANT_BYTES, START + LONGEST)
    insert(radius_db, 1, START + dt.timedelta(hours=1))
    with radius_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM captiva_quota_grant").fetchone() == (2,)


@pytest.mark.parametrize("kind", ["extra", "reset"])
def test_more_than_10_tib_is_refused_by_the_database(radius_db, kind):
    with pytest.raises(psycopg.errors.CheckViolation, match="captiva_quota_grant_bytes_bound"):
        insert(radius_db, actions.MAX_GRANT_BYTES + 1, START + dt.timedelta(days=1), kind)


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Paris", "America/New_York"])
def test_longer_than_366_days_is_refused_by_the_database_in_any_time_zone(radius_db, timezone):
    # The span crosses two DST changes in Paris and New York: an absolute 366 x 24 hours.
    with radius_db.connect("portal") as conn:
        conn.execute(f"SET TIME ZONE '{timezone}'")
        with pytest.raises(psycopg.errors.CheckViolation,
                           match="captiva_quota_grant_duration_bound"):
            conn.execute(
                "INSERT INTO captiva_quota_grant (username, period, kind, bytes, reason,"
                " granted_by, starts_at, expires_at) VALUES ('stu1', 'total', 'extra', 1,"
                " 'test', 'admin', %s, %s)", (START, START + LONGEST + dt.timedelta(seconds=1)))
        conn.execute(
            "INSERT INTO captiva_quota_grant (username, period, kind, bytes, reason, granted_by,"
            " starts_at, expires_at) VALUES ('stu1', 'total', 'extra', 1, 'test', 'admin', %s,"
            " %s)", (START, START + LONGEST))


def test_the_console_and_the_constraints_are_one_rule(radius_db):
    with radius_db.connect() as conn:
        definitions = dict(conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'captiva_quota_grant'::regclass AND conname LIKE '%_bound'"
        ).fetchall())
    hours = actions.MAX_GRANT_DAYS * 24
    assert definitions == {
        "captiva_quota_grant_bytes_bound":
            f"CHECK ((bytes <= '{actions.MAX_GRANT_BYTES}'::bigint))",
        "captiva_quota_grant_duration_bound":
            f"CHECK ((expires_at <= (starts_at + '{hours}:00:00'::interval)))",
    }
