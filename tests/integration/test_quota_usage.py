"""Usage attribution (migration 0051), SQL periods vs period_oracle, login check (0052).

radacct is written as the captiva_freeradius role with FreeRADIUS 3.2's own PostgreSQL
queries (queries.conf: start, interim-update, stop with their fallbacks, accounting-on),
values bound instead of xlat-expanded.
"""

from __future__ import annotations

import datetime as dt

import pytest
import quota_fixtures
from period_oracle import Calendar, period, periods
from quota_fixtures import NAS_DOUALA, NAS_PARIS, UTC, GiB, add_user, daily, ts
from starlette.requests import Request

from captiva.portal.config import parse
from captiva.portal.console import overview_data
from captiva.portal.shell import Portal
from captiva.portal.student import data
from captiva.portal.student.views import chart_bars
from captiva.quota.usage import format_bytes, usage_all, usage_for

# The quota campus (quota_fixtures.py).
db = quota_fixtures.db
radius = quota_fixtures.radius
su = quota_fixtures.su


# --------------------------------------------------------------------------------------------
# Attribution


def test_gigawords_are_counted(radius, su):
    t0 = ts("2026-11-21T08:00:00", "Africa/Douala")
    radius.start("s1", "alice", NAS_DOUALA, t0)
    big_in, big_out = 5 * 2**32 + 100, 2**32 + 7
    assert radius.interim("s1", "alice", NAS_DOUALA, t0 + dt.timedelta(minutes=5),
                          big_in, big_out) == "update"
    assert daily(su, "alice") == {dt.date(2026, 11, 21): (big_in, big_out)}
    row = su.execute("SELECT acctinputoctets FROM radacct WHERE acctsessionid = 's1'").fetchone()
    assert row[0] == big_in


def test_session_across_midnight_in_douala_counts_in_both_days(radius, su):
    start = ts("2026-11-21T23:30:00", "Africa/Douala")
    radius.start("s1", "alice", NAS_DOUALA, start)
    radius.interim("s1", "alice", NAS_DOUALA, ts("2026-11-21T23:50:00", "Africa/Douala"),
                   100, 1000)
    # 23:50 -> 00:10: 10 minutes on each side of midnight, split evenly
    radius.interim("s1", "alice", NAS_DOUALA, ts("2026-11-22T00:10:00", "Africa/Douala"),
                   300, 3000)
    radius.stop("s1", "alice", NAS_DOUALA, ts("2026-11-22T00:30:00", "Africa/Douala"),
                400, 5000, session_time=3600)
    assert daily(su, "alice") == {
        dt.date(2026, 11, 21): (100 + 100, 1000 + 1000),
        dt.date(2026, 11, 22): (100 + 100, 1000 + 2000),
    }
    # 23:30 in Douala is 22:30 UTC: a UTC day would have put everything on the 21st.


def test_days_are_the_nas_site_days(radius, su):
    # 23:30 UTC is 00:30 in Paris (winter) but 00:30 in Douala as well; pick 22:30 UTC:
    # 23:30 in both zones in winter -> take summer: 22:30 UTC = 00:30 Paris, 23:30 Douala.
    when = ts("2026-07-01T22:30:00")
    radius.start("p1", "alice", NAS_PARIS, when - dt.timedelta(minutes=10))
    radius.interim("p1", "alice", NAS_PARIS, when, 10, 20)
    radius.start("d1", "benoit", NAS_DOUALA, when - dt.timedelta(minutes=10))
    radius.interim("d1", "benoit", NAS_DOUALA, when, 10, 20)
    assert daily(su, "alice") == {dt.date(2026, 7, 2): (10, 20)}
    assert daily(su, "benoit") == {dt.date(2026, 7, 1): (10, 20)}


def test_unknown_nas_uses_the_default_timezone(radius, su):
    when = ts("2026-11-21T23:30:00")  # 00:30 on the 22nd in Douala (the default here)
    radius.start("x1", "alice", "192.0.2.99", when - dt.timedelta(minutes=5))
    radius.interim("x1", "alice", "192.0.2.99", when, 1, 2)
    assert daily(su, "alice") == {dt.date(2026, 11, 22): (1, 2)}


def test_paris_dst_day_is_one_local_day(radius, su):
    # Spring forward 2026-03-29: the day is 23 h; 00:30 and 23:30 local are the same day.
    radius.start("p1", "alice", NAS_PARIS, ts("2026-03-29T00:20:00", "Europe/Paris"))
    radius.interim("p1", "alice", NAS_PARIS, ts("2026-03-29T00:30:00", "Europe/Paris"), 5, 5)
    radius.interim("p1", "alice", NAS_PARIS, ts("2026-03-29T23:30:00", "Europe/Paris"), 10, 10)
    radius.interim("p1", "alice", NAS_PARIS, ts("2026-03-30T00:30:00", "Europe/Paris"), 12, 12)
    got = daily(su, "alice")
    assert got[dt.date(2026, 3, 29)] == (5 + 5 + 1, 5 + 5 + 1)  # 23:30->00:30: half each
    assert got[dt.date(2026, 3, 30)] == (1, 1)
    assert sum(v[0] for v in got.values()) == 12


def test_duplicate_late_and_post_stop_interims_do_not_corrupt(radius, su):
    t0 = ts("2026-11-21T08:00:00", "Africa/Douala")
    radius.start("s1", "alice", NAS_DOUALA, t0)
    radius.interim("s1", "alice", NAS_DOUALA, t0 + dt.timedelta(minutes=10), 200, 2000)
    radius.interim("s1", "alice", NAS_DOUALA, t0 + dt.timedelta(minutes=10), 200, 2000)  # dup
    radius.interim("s1", "alice", NAS_DOUALA, t0 + dt.timedelta(minutes=5), 100, 1000)  # late
    assert daily(su, "alice") == {dt.date(2026, 11, 21): (200, 2000)}
    upd = su.execute("SELECT acctupdatetime, acctinputoctets FROM radacct").fetchone()
    assert upd == (t0 + dt.timedelta(minutes=10), 200)
    assert radius.stop("s1", "alice", NAS_DOUALA, t0 + dt.timedelta(minutes=20), 300, 3000,
                       session_time=1200) == "update"
    # Interim after Stop: matches no open row, the INSERT conflicts: nothing changes, and
    # the last query finds the session standing (a duplicate: acknowledged, not buffered).
    assert radius.interim("s1", "alice", NAS_DOUALA, t0 + dt.timedelta(minutes=25),
                          900, 9000) == "select"
    # A duplicate Stop touches no row: nothing changes; found standing, it is done.
    assert radius.stop("s1", "alice", NAS_DOUALA, t0 + dt.timedelta(minutes=40), 300, 3000,
                       cause="Lost-Carrier") == "select"
    row = su.execute("SELECT acctstoptime, acctterminatecause, acctinputoctets FROM radacct"
                     ).fetchone()
    assert row == (t0 + dt.timedelta(minutes=20), "User-Request", 300)
    assert daily(su, "alice") == {dt.date(2026, 11, 21): (300, 3000)}


def test_stop_without_start_and_interim_without_start(radius, su):
    t = ts("2026-11-21T10:00:00", "Africa/Douala")
    assert radius.interim("s9", "alice", NAS_DOUALA, t, 50, 60, session_time=600) == "insert"
    assert radius.stop("s8", "alice", NAS_DOUALA, t, 7, 8, session_time=60) == "insert"
    assert daily(su, "alice") == {dt.date(2026, 11, 21): (57, 68)}
    # A Start arriving after the interim created the row goes through ON CONFLICT DO UPDATE:
    # it must not count the interim's bytes again, nor move AcctUpdateTime back.
    radius.start("s9", "alice", NAS_DOUALA, t - dt.timedelta(minutes=10))
    assert daily(su, "alice") == {dt.date(2026, 11, 21): (57, 68)}
    assert su.execute("SELECT acctupdatetime FROM radacct WHERE acctsessionid = 's9'"
                      ).fetchone()[0] == t


def test_accounting_on_closes_open_sessions_of_that_nas_only(radius, su):
    t0 = ts("2026-11-21T08:00:00", "Africa/Douala")
    radius.start("a", "alice", NAS_DOUALA, t0)
    radius.interim("a", "alice", NAS_DOUALA, t0 + dt.timedelta(minutes=5), 10, 10)
    radius.start("b", "benoit", NAS_DOUALA, t0)
    radius.start("c", "carol", NAS_PARIS, t0)
    radius.accounting_on(NAS_DOUALA, t0 + dt.timedelta(hours=1))
    rows = dict(su.execute("SELECT acctsessionid, acctterminatecause FROM radacct "
                           "WHERE acctstoptime IS NOT NULL").fetchall())
    assert rows == {"a": "NAS-Reboot", "b": "NAS-Reboot"}
    assert su.execute("SELECT count(*) FROM radacct WHERE acctstoptime IS NULL"
                      ).fetchone()[0] == 1
    assert daily(su, "alice") == {dt.date(2026, 11, 21): (10, 10)}  # bytes kept, not doubled


def test_stale_closed_session_takes_the_real_stop(radius, su):
    t0 = ts("2026-11-21T08:00:00", "Africa/Douala")
    radius.start("s1", "alice", NAS_DOUALA, t0)
    radius.interim("s1", "alice", NAS_DOUALA, t0 + dt.timedelta(minutes=5), 10, 10)
    su.execute("UPDATE radacct SET acctstoptime = acctupdatetime, "
               "acctterminatecause = 'Stale-Session'")
    assert radius.stop("s1", "alice", NAS_DOUALA, t0 + dt.timedelta(hours=2), 500, 500,
                       session_time=7200, cause="Idle-Timeout") == "update"
    row = su.execute("SELECT acctstoptime, acctterminatecause FROM radacct").fetchone()
    assert row == (t0 + dt.timedelta(hours=2), "Idle-Timeout")
    assert daily(su, "alice") == {dt.date(2026, 11, 21): (500, 500)}


# --------------------------------------------------------------------------------------------
# SQL periods == Python periods

CASES = [
    ("daily", "2026-11-21T23:30:00", Calendar("Africa/Douala")),
    ("daily", "2026-03-29T12:00:00", Calendar("Europe/Paris")),  # 23 h
    ("daily", "2026-10-25T01:30:00", Calendar("Europe/Paris")),  # 25 h
    ("weekly", "2026-11-18T10:00:00", Calendar("Africa/Douala", 1)),
    ("weekly", "2026-11-18T10:00:00", Calendar("Africa/Douala", 7)),
    ("weekly", "2026-11-15T22:59:59", Calendar("Africa/Douala", 7)),
    ("weekly", "2026-03-27T10:00:00", Calendar("Europe/Paris", 1)),
    ("monthly", "2026-01-31T23:30:00", Calendar("Africa/Douala")),  # month end
    ("monthly", "2026-02-28T23:30:00", Calendar("Africa/Douala")),
    ("monthly", "2028-02-29T12:00:00", Calendar("Africa/Douala")),
    ("monthly", "2026-12-31T23:30:00", Calendar("Europe/Paris", 1, 15)),
    ("monthly", "2026-03-14T23:30:00", Calendar("Europe/Paris", 1, 15)),
    ("monthly", "2026-03-28T00:00:00", Calendar("Europe/Paris", 1, 28)),
    ("daily", "2025-11-02T04:30:00", Calendar("America/Havana")),  # repeated midnight
    ("daily", "2025-09-07T05:00:00", Calendar("America/Santiago")),  # skipped midnight
    ("weekly", "2025-11-02T04:30:00", Calendar("America/Havana", 7)),
]


@pytest.mark.parametrize("name, instant, cal", CASES)
def test_sql_periods_match_python(su, name, instant, cal):
    at = ts(instant)
    p = period(name, at, cal)
    row = su.execute("SELECT * FROM captiva_period(%s, %s, %s, %s, %s)",
                     (name, at, cal.timezone, cal.week_start, cal.month_start_day)).fetchone()
    assert row == (p.first_day, p.end_day, p.start, p.end)


def test_sql_periods_match_python_over_a_year(su):
    instants = [ts("2025-12-30T00:17:00") + dt.timedelta(hours=7 * i + i % 5)
                for i in range(0, 1300)]
    for cal in (Calendar("Europe/Paris", 7, 28), Calendar("America/Havana", 3, 15)):
        for name in ("daily", "weekly", "monthly"):
            rows = su.execute(
                "SELECT t, p.* FROM unnest(%s::timestamptz[]) AS t, "
                "LATERAL captiva_period(%s, t, %s, %s, %s) AS p",
                (instants, name, cal.timezone, cal.week_start, cal.month_start_day)).fetchall()
            for t, *got in rows:
                p = period(name, t, cal)
                assert tuple(got) == (p.first_day, p.end_day, p.start, p.end), (name, t)


@pytest.mark.parametrize("n", [0, 12, 1023, 1024, 1536, 5 * GiB, 5 * GiB + 1, 1610612736,
                               3 * 1024**4 + 5, 1048575, 107374182400])
def test_format_bytes_sql_matches_python(su, n):
    assert su.execute("SELECT captiva_format_bytes(%s)", (n,)).fetchone()[0] == format_bytes(n)


# --------------------------------------------------------------------------------------------
# Login check and usage_for


def test_quota_login_accepts_with_remaining_and_rejects_when_used_up(db, radius, su):
    now = ts("2026-11-21T20:00:00", "Africa/Douala")
    radius.start("s1", "alice", NAS_DOUALA, now - dt.timedelta(hours=1))
    radius.interim("s1", "alice", NAS_DOUALA, now - dt.timedelta(minutes=1), 2 * GiB, GiB)
    with db.connect("freeradius") as fr:
        row = fr.execute("SELECT * FROM captiva_quota_login('alice', %s, %s)",
                         (NAS_DOUALA, now)).fetchone()
        assert row == (None, 2 * GiB, None)
        xlat = fr.execute("SELECT captiva_quota_login_xlat('alice', %s)", (NAS_DOUALA,)
                          ).fetchone()[0]
        assert xlat.startswith("accept|")
        radius.interim("s1", "alice", NAS_DOUALA, now, 4 * GiB, GiB)
        row = fr.execute("SELECT * FROM captiva_quota_login('alice', %s, %s)",
                         (NAS_DOUALA, now)).fetchone()
        assert row == ("Daily data quota of 5 GiB reached; resets 2026-11-22 00:00 "
                       "Africa/Douala", 0, None)
        # benoit reads French
        radius.start("s2", "benoit", NAS_DOUALA, now - dt.timedelta(hours=1))
        radius.interim("s2", "benoit", NAS_DOUALA, now, 6 * GiB, 0)
        msg = fr.execute("SELECT reject_message FROM captiva_quota_login('benoit', %s, %s)",
                         (NAS_DOUALA, now)).fetchone()[0]
        assert msg == ("Quota de données journalier de 5 GiB atteint ; renouvelé le "
                       "2026-11-22 00:00 Africa/Douala")


def test_quota_login_xlat_splits_64_bit_remaining(db, radius, su):
    with db.connect("freeradius") as fr:
        # guest1: total 1 GiB, nothing used -> 0 gigawords + 2^30
        assert fr.execute("SELECT captiva_quota_login_xlat('guest1', '')").fetchone()[0] == \
            "accept|0|1073741824|"
        # alice: daily 5 GiB -> 1 gigaword + 1 GiB
        assert fr.execute("SELECT captiva_quota_login_xlat('alice', %s)", (NAS_DOUALA,)
                          ).fetchone()[0] == "accept|1|1073741824|"
        # staff: unlimited; an admin's manual user without a captiva_user row too
        assert fr.execute("SELECT captiva_quota_login_xlat('carol', '')").fetchone()[0] == \
            "accept|||"
        assert fr.execute("SELECT captiva_quota_login_xlat('manual', '')").fetchone()[0] == \
            "accept|||"


def test_quota_login_total_quota_names_no_reset_and_expiry(db, radius, su):
    now = dt.datetime.now(UTC)
    radius.start("g", "guest1", NAS_DOUALA, now - dt.timedelta(hours=1))
    radius.interim("g", "guest1", NAS_DOUALA, now, GiB, 0)
    add_user(su, "old", "staff", "en", "active", now - dt.timedelta(days=1))
    add_user(su, "soon", "staff", "en", "active", now + dt.timedelta(hours=1))
    with db.connect("freeradius") as fr:
        assert fr.execute("SELECT captiva_quota_login_xlat('guest1', '')").fetchone()[0] == \
            "reject|Total data quota of 1 GiB reached; it does not reset"
        assert fr.execute("SELECT captiva_quota_login_xlat('old', '')").fetchone()[0] \
            .startswith("reject|Account expired on ")
        seconds = int(fr.execute("SELECT captiva_quota_login_xlat('soon', '')")
                      .fetchone()[0].split("|")[3])
        assert 3590 <= seconds <= 3600


def test_quota_login_names_the_period_that_frees_last(db, radius, su):
    now = ts("2026-11-21T20:00:00", "Africa/Douala")
    su.execute("UPDATE captiva_profile SET quota_monthly = quota_daily WHERE name = 'student'")
    radius.start("s1", "alice", NAS_DOUALA, now - dt.timedelta(hours=1))
    radius.interim("s1", "alice", NAS_DOUALA, now, 5 * GiB, 0)
    msg = su.execute("SELECT reject_message FROM captiva_quota_login('alice', %s, %s)",
                     (NAS_DOUALA, now)).fetchone()[0]
    assert msg == "Monthly data quota of 5 GiB reached; resets 2026-12-01 00:00 Africa/Douala"


def test_usage_for_matches_the_python_oracle(db, radius, su):
    now = ts("2026-11-21T20:00:00", "Africa/Douala")
    radius.start("s1", "alice", NAS_DOUALA, ts("2026-11-16T08:00:00", "Africa/Douala"))
    radius.interim("s1", "alice", NAS_DOUALA, ts("2026-11-16T09:00:00", "Africa/Douala"),
                   GiB, 0)
    radius.interim("s1", "alice", NAS_DOUALA, ts("2026-11-21T19:00:00", "Africa/Douala"),
                   GiB + 100, 50)
    with db.connect("portal") as portal:
        got = usage_for(portal, "alice", now)
    douala = Calendar("Africa/Douala", 1, 1)
    days = daily(su, "alice")
    for name, use in got.items():
        oracle = period(name, now, douala)
        assert (use.period.first_day, use.period.end_day, use.period.start, use.period.end) \
            == (oracle.first_day, oracle.end_day, oracle.start, oracle.end), name
        assert use.used == sum(i + o for day, (i, o) in days.items()
                               if oracle.first_day is None
                               or oracle.first_day <= day < oracle.end_day), name
        assert use.calendar == douala
    assert list(got) == ["daily", "weekly", "monthly", "total"]
    assert got["weekly"].used == GiB + 150  # Monday 16th onwards
    assert 0 < got["daily"].used < 150  # prorated share of the last interim
    assert got["daily"].remaining == 5 * GiB - got["daily"].used
    assert got["total"].limit is None and got["total"].remaining is None


# --------------------------------------------------------------------------------------------
# One calendar per user: the portal shows the figure the login check uses

PARIS = Calendar("Europe/Paris", 7, 15)  # the fixture's Paris site: Sunday weeks, months on 15


def test_a_user_on_another_site_sees_on_the_portal_what_the_login_check_uses(db, radius, su):
    """Paris weeks start on Sunday and months on the 15th; the campus default (Douala) starts
    them on Monday and the 1st, an hour behind Paris in summer. At 00:30 on Sunday in Paris
    it is still Saturday in Douala: under the campus calendar alice's week holds Saturday's
    1.5 GiB too, under her site's calendar only Sunday's 1 GiB."""
    su.execute("UPDATE captiva_profile SET quota_weekly = 3 * 1024^3 WHERE name = 'student'")
    now = ts("2026-07-19T00:30:00", "Europe/Paris")
    radius.start("sat", "alice", NAS_PARIS, ts("2026-07-18T20:00:00", "Europe/Paris"))
    radius.stop("sat", "alice", NAS_PARIS, ts("2026-07-18T21:00:00", "Europe/Paris"),
                GiB + GiB // 2, 0, session_time=3600)
    radius.start("sun", "alice", NAS_PARIS, ts("2026-07-19T00:05:00", "Europe/Paris"))
    radius.interim("sun", "alice", NAS_PARIS, ts("2026-07-19T00:20:00", "Europe/Paris"), GiB, 0)

    def login():
        with db.connect("freeradius") as fr:
            return fr.execute("SELECT * FROM captiva_quota_login('alice', %s, %s)",
                              (NAS_PARIS, now)).fetchone()

    def portal():
        with db.connect("portal") as conn:
            return data.dashboard(conn, "alice", now)

    def jobs():
        with db.connect("jobs") as conn:
            [alice] = [u for u in usage_all(conn, now) if u.username == "alice"]
            disconnect = conn.execute("SELECT reason, detail FROM "
                                      "captiva_sessions_to_disconnect(%s)", (now,)).fetchall()
        return alice, disconnect

    reject, remaining, _ = login()
    board = portal()
    assert reject is None and remaining == 2 * GiB
    assert board.usage["weekly"].remaining == remaining  # the smallest: this week's
    assert min(u.remaining for u in board.usage.values() if u.remaining is not None) \
        == remaining
    assert board.calendar == PARIS and board.as_dict()["timezone"] == "Europe/Paris"
    oracle = periods(now, PARIS)
    for name, use in board.usage.items():
        assert (use.period.start, use.period.end) == (oracle[name].start, oracle[name].end)
    assert [board.usage[p].used for p in ("daily", "weekly", "monthly")] == \
        [GiB, GiB, GiB * 5 // 2]
    alice, disconnect = jobs()
    assert {n: (u.used, u.limit) for n, u in alice.usage.items()} == \
        {n: (u.used, u.limit) for n, u in board.usage.items()}
    assert disconnect == []

    # Over the weekly quota: the login refuses, the page shows it used up, enforce cuts.
    radius.interim("sun", "alice", NAS_PARIS, ts("2026-07-19T00:25:00", "Europe/Paris"),
                   3 * GiB + 1, 0)
    reject, remaining, _ = login()
    board = portal()
    assert reject == "Weekly data quota of 3 GiB reached; resets 2026-07-26 00:00 Europe/Paris"
    assert board.usage["weekly"].exhausted and board.usage["weekly"].remaining == 0
    assert board.usage["weekly"].resets_at == ts("2026-07-26T00:00:00", "Europe/Paris")
    alice, disconnect = jobs()
    assert alice.usage["weekly"].exhausted
    assert disconnect == [("quota", "weekly quota used up")]


def test_usage_all_is_captiva_user_usage_of_every_user(db, radius, su):
    """The jobs' set-returning form computes bounds once per calendar: the same rows as the
    one-user form, for users of both sites, of none (campus default) and unknown to Captiva
    profiles."""
    now = ts("2026-07-19T00:30:00", "Europe/Paris")
    radius.start("p", "alice", NAS_PARIS, now - dt.timedelta(hours=30))
    radius.interim("p", "alice", NAS_PARIS, now - dt.timedelta(minutes=5), 3 * GiB, 5)
    radius.start("d", "benoit", NAS_DOUALA, now - dt.timedelta(days=3))
    radius.interim("d", "benoit", NAS_DOUALA, now - dt.timedelta(minutes=5), GiB, 7)
    radius.start("g", "guest1", "192.0.2.99", now - dt.timedelta(hours=1))
    radius.interim("g", "guest1", "192.0.2.99", now, 99, 1)
    with db.connect("jobs") as jobs:
        every = jobs.execute("SELECT * FROM captiva_usage_all(%s)", (now,)).fetchall()
        one = [(user, *row) for user in ("alice", "benoit", "carol", "guest1")
               for row in jobs.execute("SELECT * FROM captiva_user_usage(%s, %s)",
                                       (user, now)).fetchall()]
    assert every == one
    calendars = {row[0]: row[9:] for row in every}
    assert calendars == {"alice": ("Europe/Paris", 7, 15), "benoit": ("Africa/Douala", 1, 1),
                         "carol": ("Africa/Douala", 1, 1), "guest1": ("Africa/Douala", 1, 1)}


def test_the_admin_top_is_every_users_own_month_even_past_the_first_candidates(db, su):
    """top() reads only candidates ordered by their last 40 days; users whose bytes are all
    before this month rank high there and must not hide the real top (alice, in Paris's
    month from the 15th)."""
    now = ts("2026-07-19T12:00:00", "Europe/Paris")
    for n in range(9):
        add_user(su, f"old{n}", "student")
        su.execute("INSERT INTO captiva_usage_daily VALUES (%s, '2026-06-20', %s, 0)",
                   (f"old{n}", (n + 10) * GiB))
    su.execute("INSERT INTO captiva_usage_daily VALUES ('alice', '2026-07-16', %s, 0), "
               "('alice', '2026-07-02', %s, 0), ('benoit', '2026-07-10', 100, 0)",
               (3 * GiB, 50 * GiB))
    su.execute("INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, "
               "acctstarttime) VALUES ('p', 'p', 'alice', %s, %s)", (NAS_PARIS, now))
    with db.connect("portal") as portal:
        got = overview_data.top(portal, now, limit=2)
        every = sorted(((u.usage["monthly"].used, u.username) for u in usage_all(portal, now)
                        if u.usage["monthly"].used > 0), reverse=True)
    assert [(r["username"], r["bytes"]) for r in got] == [("alice", 3 * GiB), ("benoit", 100)]
    assert [(r["username"], r["bytes"]) for r in got] == [(n, b) for b, n in every[:2]]


def test_the_portal_bar_warns_at_the_profiles_first_alert_threshold(db, radius, su):
    now = ts("2026-11-21T20:00:00", "Africa/Douala")
    radius.start("s1", "alice", NAS_DOUALA, now - dt.timedelta(hours=2))
    radius.interim("s1", "alice", NAS_DOUALA, now - dt.timedelta(minutes=1), 3 * GiB, 0)  # 60 %
    portal = Portal(parse({"dsn": db.dsns["portal"],
                           "session_secret": "test-session-secret-0123456789abcdef",
                           "radius": {"server": "127.0.0.1", "secret": "unused"}}))

    def daily_bar(percents):
        su.execute("UPDATE captiva_profile SET alert_quota_percent = %s WHERE name = 'student'",
                   (percents,))
        with db.connect("portal") as conn:
            board = data.dashboard(conn, "alice", now)
        bars, peak = chart_bars(board.chart)
        page = portal.render(Request({"type": "http", "method": "GET", "path": "/me",
                                      "headers": [], "query_string": b""}),
                             "me.html", board=board, bars=bars, peak=peak, tz="UTC",
                             days_left=None, local=lambda m, t=True: m.isoformat()).body.decode()
        return page.split('data-period="daily"')[1].split('class="bar')[1].split('"')[0]

    assert daily_bar([50, 90]) == " warn"
    assert daily_bar([70]) == ""  # 60 % is below the profile's first threshold
    assert daily_bar([]) == ""  # no threshold: the jobs' default first one, 80 %


def test_migration_backfills_existing_accounting(pg_server, empty_db):
    """An upgrade: radacct rows present before 0051 are attributed once."""
    from ansible_collections.captiva.campus.plugins.module_utils.captiva_migrations import (
        load_migrations,
        migrate,
    )
    from pg_fixtures import MIGRATIONS_DIR

    migrations = load_migrations(MIGRATIONS_DIR)
    with empty_db.connect() as conn:
        migrate(conn, [m for m in migrations if m.version < 51])
        conn.execute("""INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress,
                            acctstarttime, acctupdatetime, acctinputoctets, acctoutputoctets)
                        VALUES ('old', 'u-old', 'alice', '10.0.0.1', '2026-01-01 10:00Z',
                                '2026-01-01 11:00Z', 7, 9)""")
        migrate(conn, migrations)
        assert daily(conn, "alice") == {dt.date(2026, 1, 1): (7, 9)}


# --------------------------------------------------------------------------------------------
# HOT interim updates (migration 0130)


def update_counts(su, before=(0, 0), total=None, timeout=15.0):
    """(updates, HOT updates) of radacct since ``before``, once the statistics of the
    accounting connection are in (a backend reports them about a second after going idle)."""
    deadline = dt.datetime.now() + dt.timedelta(seconds=timeout)
    while True:
        su.execute("SELECT pg_stat_clear_snapshot()")
        upd, hot = su.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                              "WHERE relname = 'radacct'").fetchone()
        counts = (upd - before[0], hot - before[1])
        if total is None or counts[0] >= total or dt.datetime.now() > deadline:
            return counts
        su.execute("SELECT pg_sleep(0.2)")


def test_interim_updates_are_hot(radius, su):
    """The interim-update FreeRADIUS sends (the deployed query, through the usage trigger)
    writes no index entry: it changes no indexed column (0130 dropped the index on
    acctupdatetime) and fits on its page (fillfactor 75). 600 sessions fill pages as the
    Starts of a campus do, then every one sends interims."""
    t0 = ts("2026-11-21T08:00:00", "Africa/Douala")
    sessions = 600
    for i in range(sessions):
        radius.start(f"h{i}", f"user{i % 50}", NAS_DOUALA, t0, ip=f"10.5.{i // 250}.{i % 250}")
    before = update_counts(su)
    for round_ in (1, 2):
        for i in range(sessions):
            assert radius.interim(f"h{i}", f"user{i % 50}", NAS_DOUALA,
                                  t0 + dt.timedelta(minutes=5 * round_), 1000 * round_, 10,
                                  300 * round_, ip=f"10.5.{i // 250}.{i % 250}") == "update"
    updates, hot = update_counts(su, before, total=2 * sessions)
    assert updates == 2 * sessions
    assert hot >= 0.95 * updates, f"{hot} of {updates} interim updates were HOT"
    # The index 0130 dropped would make every interim write every index of radacct.
    su.execute("CREATE INDEX radacct_open_update_idx ON radacct (acctupdatetime) "
               "WHERE acctstoptime IS NULL")
    start = update_counts(su)
    for i in range(sessions):
        radius.interim(f"h{i}", f"user{i % 50}", NAS_DOUALA, t0 + dt.timedelta(minutes=15),
                       3000, 10, 900, ip=f"10.5.{i // 250}.{i % 250}")
    updates, hot = update_counts(su, start, total=sessions)
    assert (updates, hot) == (sessions, 0)
