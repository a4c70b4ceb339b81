"""The login check reads only the periods with a quota (captiva_user_usage's p_quota_only).

captiva_quota_login asks captiva_user_usage for the periods that have a quota, each computed
and read alone (functions/30_usage.sql): a daily quota reads today's row, not the user's whole
history. These tests hold that reduced read to the full one the portal shows, and the login's
choice of the period it names to what it was.
"""

from __future__ import annotations

import datetime as dt

import quota_fixtures
from quota_fixtures import NAS_DOUALA, NAS_PARIS, GiB, add_user, ts

db = quota_fixtures.db
su = quota_fixtures.su

COLUMNS = ("period, quota, used, remaining, starts_at, resets_at, first_day, end_day, "
           "timezone, week_start, month_start_day")


def add_days(su, username, days):
    for day, used in days.items():
        su.execute("INSERT INTO captiva_usage_daily (username, day, bytes_in, bytes_out) "
                   "VALUES (%s, %s, %s, 7)", (username, day, used - 7))


def usage(su, username, at, nas, quota_only):
    return su.execute(f"SELECT {COLUMNS} FROM captiva_user_usage(%s, %s, %s, %s)",  # noqa: S608
                      (username, at, nas, quota_only)).fetchall()


def test_the_quota_periods_alone_are_what_the_full_usage_says_of_them(db, su):
    now = ts("2026-11-21T20:00:00", "Africa/Douala")  # a Saturday
    su.execute("""INSERT INTO captiva_profile (name, quota_daily, quota_weekly, quota_monthly,
                                               quota_total, alert_quota_percent,
                                               alert_expiry_days)
                  VALUES ('every', 3221225472, 8589934592, 21474836480, 42949672960,
                          '{80}', '{7}')""")
    add_user(su, "dora", "every")
    su.execute("""INSERT INTO captiva_quota_grant (username, period, kind, bytes, reason,
                                                   granted_by, starts_at, expires_at)
                  VALUES ('dora', 'weekly', 'extra', 1073741824, 'exams', 'helpdesk',
                          %(now)s - interval '1 day', %(now)s + interval '1 day'),
                         ('dora', 'total', 'extra', 5, 'exams', 'helpdesk',
                          %(now)s - interval '1 day', %(now)s + interval '1 day')""",
               {"now": now})
    # Before this month, this month before this week, this week before today, today.
    history = {dt.date(2025, 12, 30): 3 * GiB, dt.date(2026, 11, 2): 4 * GiB,
               dt.date(2026, 11, 16): 2 * GiB, dt.date(2026, 11, 21): GiB + 3}
    for username in ("dora", "alice", "guest1", "carol"):
        add_days(su, username, history)
    for username, periods in (("dora", ["daily", "weekly", "monthly", "total"]),
                              ("alice", ["daily", "monthly"]),  # student
                              ("guest1", ["total"]),
                              ("carol", []),  # staff: unlimited
                              ("manual", [])):  # no captiva_user row: no quota
        for nas in (NAS_DOUALA, NAS_PARIS, None):
            full = usage(su, username, now, nas, False)
            assert [row[0] for row in full] == ["daily", "weekly", "monthly", "total"]
            assert usage(su, username, now, nas, True) == [row for row in full
                                                           if row[0] in periods]
    # dora's figures: every day counts in total, the grants in their periods' quotas.
    dora = {row[0]: row[1:4] for row in usage(su, "dora", now, NAS_DOUALA, True)}
    assert dora == {"daily": (3 * GiB, GiB + 3, 2 * GiB - 3),
                    "weekly": (9 * GiB, 3 * GiB + 3, 6 * GiB - 3),
                    "monthly": (20 * GiB, 7 * GiB + 3, 13 * GiB - 3),
                    "total": (40 * GiB + 5, 10 * GiB + 3, 30 * GiB + 2)}
    login = su.execute("SELECT * FROM captiva_quota_login('dora', %s, %s)",
                       (NAS_DOUALA, now)).fetchone()
    assert login == (None, 2 * GiB - 3, None)


def test_of_two_periods_used_up_that_reset_together_the_login_names_the_shorter(db, su):
    now = ts("2026-11-22T20:00:00", "Africa/Douala")  # Sunday: the week ends at midnight too
    su.execute("UPDATE captiva_profile SET quota_weekly = quota_daily, quota_monthly = NULL "
               "WHERE name = 'student'")
    add_days(su, "alice", {dt.date(2026, 11, 22): 6 * GiB})
    assert su.execute("SELECT * FROM captiva_quota_login('alice', %s, %s)",
                      (NAS_DOUALA, now)).fetchone() == (
        "Daily data quota of 5 GiB reached; resets 2026-11-23 00:00 Africa/Douala", 0, None)
    # A day later the week goes on: the weekly quota is the one that frees alice last.
    later = now + dt.timedelta(days=1)
    add_days(su, "alice", {dt.date(2026, 11, 23): 6 * GiB})
    assert su.execute("SELECT reject_message FROM captiva_quota_login('alice', %s, %s)",
                      (NAS_DOUALA, later)).fetchone()[0] == \
        "Weekly data quota of 5 GiB reached; resets 2026-11-30 00:00 Africa/Douala"
