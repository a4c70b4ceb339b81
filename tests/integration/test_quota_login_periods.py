"""The login check reads only the periods with a quota (captiva_user_usage's p_quota_only).

captiva_quota_login asks captiva_user_usage for the periods that have a quota, each computed
and read alone (functions/30_usage.sql): a daily quota reads today's row, not the user's whole
history. These tests hold that reduced read to the full one the portal shows, and the login's
choice of the period it names to what it was.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

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


def usage_reads(su, username):
    """The login check's answer for username on the Douala router, and how many times it
    called captiva_user_usage (this transaction's function statistics)."""
    count = ("SELECT COALESCE(sum(calls), 0)::integer FROM pg_stat_xact_user_functions "
             "WHERE funcname = 'captiva_user_usage'")
    # A difference within one transaction: the view also shows the counts of earlier ones
    # that the backend has not reported yet.
    with su.transaction():
        su.execute("SET LOCAL track_functions = 'all'")
        before = su.execute(count).fetchone()[0]
        answer = su.execute("SELECT captiva_login_check_xlat(%s, %s, '', '')",
                            (username, NAS_DOUALA)).fetchone()[0]
        calls = su.execute(count).fetchone()[0] - before
    return answer, calls


def test_a_profile_without_quota_is_let_in_without_reading_its_usage(db, su):
    # carol's staff profile has no quota: her usage and her grants change nothing, and the
    # login check does not read them; she gets Session-Timeout up to her expiry.
    today = dt.datetime.now(zoneinfo.ZoneInfo("Africa/Douala")).date()  # the router's day
    add_days(su, "carol", {today: 50 * GiB})
    su.execute("""INSERT INTO captiva_quota_grant (username, period, kind, bytes, reason,
                                                   granted_by, starts_at, expires_at)
                  VALUES ('carol', 'daily', 'extra', 1073741824, 'exams', 'helpdesk',
                          now() - interval '1 hour', now() + interval '1 day')""")
    su.execute("UPDATE captiva_user SET expires_at = now() + interval '2 days' "
               "WHERE username = 'carol'")
    answer, calls = usage_reads(su, "carol")
    assert answer.startswith("accept|||") and 2 * 86400 - 60 < int(answer.split("|")[3]) <= \
        2 * 86400
    assert calls == 0
    # Expired, she is refused as anyone is.
    su.execute("UPDATE captiva_user SET expires_at = %s WHERE username = 'carol'",
               (ts("2026-11-20T08:30:00", "Africa/Douala"),))
    assert usage_reads(su, "carol") == (
        "reject|Account expired on 2026-11-20 08:30 Africa/Douala", 0)
    # A user without a profile, or with one that does not exist, has no quota either.
    for profile in (None, "no-such-profile"):
        su.execute("UPDATE captiva_user SET profile = %s, expires_at = NULL "
                   "WHERE username = 'carol'", (profile,))
        assert usage_reads(su, "carol") == ("accept|||", 0)
    # Given a quota, her profile's usage counts again, grant included (1 GiB + 1 GiB).
    su.execute("UPDATE captiva_profile SET quota_daily = 1073741824 WHERE name = 'staff'")
    su.execute("UPDATE captiva_user SET profile = 'staff' WHERE username = 'carol'")
    answer, calls = usage_reads(su, "carol")
    assert answer == ("reject|Daily data quota of 2 GiB reached; resets "
                      f"{today + dt.timedelta(days=1)} 00:00 Africa/Douala")
    assert calls == 1
    # A student's login reads the usage of the periods with a quota.
    assert usage_reads(su, "alice") == ("accept|1|1073741824|", 1)  # 5 GiB: 1 * 2^32 + 2^30
