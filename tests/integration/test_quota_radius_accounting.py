"""Accounting replayed through real FreeRADIUS into usage per local day.

Start / Interim-Update / Stop / Accounting-On go to FreeRADIUS as a router sends them, are
acknowledged once in the detail buffer, and replayed by the buffered-sql server into radacct,
whose triggers attribute the bytes to the local days of the router's site
(captiva_usage_daily). Expected numbers are computed in this file with zoneinfo and
arithmetic (quota_radius_fixtures.expected_split), never by the code under test.

The last test stops the shared PostgreSQL while 500 accounting packets arrive.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

import pytest
import radius_fixtures
from pyrad import packet
from quota_radius_fixtures import (
    DOUALA,
    PARIS,
    PARIS_NAS,
    Nas,
    daily_usage,
    expected_split,
    provision,
    wait_replayed,
)
from radius_fixtures import postgres_stopped, wait_for
from rlm_sql import WRITE_LOG

from captiva.quota import jobs
from captiva.quota.usage import usage_for
from captiva.runtime.jobs_config import parse as parse_config

radius_server = radius_fixtures.radius_server

OUTAGE_USERS = 10
OUTAGE_SESSIONS = 10  # per user; Start, 3 Interim-Updates, Stop: 500 packets in all
OUTAGE_DAY = dt.date(2026, 11, 14)



def password(user: str) -> str:
    return f"{user}-Pass-0123"


def local(tz, *args) -> dt.datetime:
    """An unambiguous local time (none of the tests uses a repeated hour)."""
    return dt.datetime(*args, tzinfo=tz)


def outage_user(number: int) -> str:
    return f"out-{number:02d}"


@pytest.fixture(scope="module")
def server(radius_server):
    users = ["giga", "midnight", "spring", "autumn", "monthend", "replay", "on-a", "on-b",
             "on-c", "late", "archived", *(outage_user(n) for n in range(OUTAGE_USERS))]
    provision(radius_server, [
        {"username": user, "password": password(user), "promotion": "unlimited",
         "email": f"{user}@campus.test"} for user in users])
    with radius_server.db.connect() as conn:
        conn.execute(WRITE_LOG)
    return radius_server


def merge(*splits: dict[dt.date, int]) -> dict[dt.date, int]:
    total = Counter()
    for split in splits:
        total.update(split)
    return dict(total)


def totals(server, username: str) -> dict[dt.date, int]:
    return {day: bytes_in + bytes_out
            for day, (bytes_in, bytes_out) in daily_usage(server, username).items()}


def test_gigawords_are_counted_in_full(server):
    nas = Nas(server)
    start = local(DOUALA, 2026, 11, 10, 10, 0)
    final_in, final_out = 3 * 2**32 + 10, 2**32 + 2**31 + 7
    nas.session("giga", "giga-1", start, [
        (start + dt.timedelta(minutes=5), 2 * 2**32 + 5, 2**32 + 7),
        (start + dt.timedelta(minutes=10), final_in, final_out),
    ])
    wait_replayed(server)
    with server.db.connect() as conn:
        row = conn.execute("SELECT acctinputoctets, acctoutputoctets FROM radacct"
                           " WHERE username = 'giga'").fetchone()
        usage = usage_for(conn, "giga", local(DOUALA, 2026, 11, 10, 12, 0))
    assert row == (final_in, final_out)
    assert daily_usage(server, "giga") == {dt.date(2026, 11, 10): (final_in, final_out)}
    assert usage["daily"].used == final_in + final_out


def test_session_across_midnight_in_douala_counts_in_both_days(server):
    nas = Nas(server)
    # With an interim before midnight ...
    start = local(DOUALA, 2026, 11, 11, 23, 30)
    interim = local(DOUALA, 2026, 11, 11, 23, 50)
    stop = local(DOUALA, 2026, 11, 12, 0, 30)
    nas.session("midnight", "midnight-1", start, [(interim, 1200, 2400),
                                                  (stop, 1200 + 4800, 2400 + 9600)])
    # ... and without any interim.
    start2, stop2 = local(DOUALA, 2026, 11, 11, 23, 0), local(DOUALA, 2026, 11, 12, 1, 0)
    nas.session("midnight", "midnight-2", start2, [(stop2, 0, 7_200_000)])
    wait_replayed(server)

    expected = merge(
        expected_split(1200 + 2400, start, interim, DOUALA),
        expected_split(4800 + 9600, interim, stop, DOUALA),
        expected_split(7_200_000, start2, stop2, DOUALA),
    )
    nov11, nov12 = dt.date(2026, 11, 11), dt.date(2026, 11, 12)
    # 10 of the interim's 40 minutes, and 1 of the second session's 2 hours, before midnight.
    assert expected == {nov11: 3600 + 3600 + 3_600_000, nov12: 10800 + 3_600_000}
    assert totals(server, "midnight") == expected
    with server.db.connect() as conn:
        for day in (nov11, nov12):
            noon = local(DOUALA, day.year, day.month, day.day, 12, 0)
            assert usage_for(conn, "midnight", noon)["daily"].used == expected[day]


@pytest.mark.parametrize("user,start,stop,hours", [
    # Spring forward on 29 March 2026 (02:00 -> 03:00): a 23-hour day.
    ("spring", (2026, 3, 28, 23, 0), (2026, 3, 30, 1, 0), (1, 23, 1)),
    # Fall back on 25 October 2026 (03:00 -> 02:00): a 25-hour day.
    ("autumn", (2026, 10, 24, 23, 0), (2026, 10, 26, 1, 0), (1, 25, 1)),
])
def test_dst_day_in_paris_is_counted_in_local_days(server, user, start, stop, hours):
    # The Paris site's router (NAS-IP-Address 10.33.0.1): its site's timezone applies.
    nas = Nas(server, PARIS_NAS)
    start, stop = local(PARIS, *start), local(PARIS, *stop)
    per_hour = 3_600_000
    total = per_hour * sum(hours)
    nas.session(user, f"{user}-1", start, [(stop, total // 3, total - total // 3)])
    wait_replayed(server)
    expected = expected_split(total, start, stop, PARIS)
    first = start.date()
    assert expected == {first + dt.timedelta(days=n): per_hour * h for n, h in enumerate(hours)}
    assert totals(server, user) == expected


def test_month_end_splits_between_the_two_months(server):
    nas = Nas(server)
    start = local(DOUALA, 2026, 10, 31, 22, 0)
    points = [local(DOUALA, 2026, 10, 31, 23, 0), local(DOUALA, 2026, 11, 1, 1, 0),
              local(DOUALA, 2026, 11, 1, 2, 0)]
    counters = [(0, 1_800_000), (0, 1_800_000 + 7_200_000), (36_000, 9_000_000 + 3_600_000)]
    nas.session("monthend", "monthend-1", start,
                [(point, *counts) for point, counts in zip(points, counters, strict=True)])
    wait_replayed(server)
    bounds = [start, *points]
    expected = merge(*(expected_split(sum(now) - sum(before), since, until, DOUALA)
                       for since, until, before, now
                       in zip(bounds[:-1], bounds[1:], [(0, 0), *counters[:-1]], counters,
                              strict=True)))
    october = {day: n for day, n in expected.items() if day.month == 10}
    november = {day: n for day, n in expected.items() if day.month == 11}
    assert sum(october.values()) == 1_800_000 + 3_600_000
    assert totals(server, "monthend") == expected
    with server.db.connect() as conn:
        in_october = usage_for(conn, "monthend", local(DOUALA, 2026, 10, 31, 12, 0))
        in_november = usage_for(conn, "monthend", local(DOUALA, 2026, 11, 1, 12, 0))
    assert in_october["monthly"].used == sum(october.values())
    assert in_november["monthly"].used == sum(november.values())
    assert in_november["daily"].used == november[dt.date(2026, 11, 1)]


def test_duplicate_and_late_interims_do_not_change_the_totals(server):
    nas = Nas(server)
    start = local(DOUALA, 2026, 11, 13, 9, 0)

    def at(minutes):
        return start + dt.timedelta(minutes=minutes)

    def interim(minutes, bytes_in, bytes_out, status="Interim-Update"):
        nas.send(status, at=at(minutes), username="replay", session_id="replay-1",
                 bytes_in=bytes_in, bytes_out=bytes_out, session_time=minutes * 60)

    nas.send("Start", at=start, username="replay", session_id="replay-1")
    interim(5, 100, 1000)
    interim(10, 200, 2000)
    interim(10, 200, 2000)  # retransmitted
    interim(5, 100, 1000)  # late: arrives after a newer one
    interim(15, 300, 3000)
    interim(20, 400, 4000, "Stop")
    interim(20, 400, 4000, "Stop")  # retransmitted Stop
    interim(15, 300, 3000)  # an interim after the Stop
    wait_replayed(server)
    with server.db.connect() as conn:
        row = conn.execute(
            "SELECT acctinputoctets, acctoutputoctets, acctstoptime, acctsessiontime,"
            " acctterminatecause FROM radacct WHERE username = 'replay'").fetchall()
    assert row == [(400, 4000, at(20), 1200, "")]
    assert daily_usage(server, "replay") == {dt.date(2026, 11, 13): (400, 4000)}


def test_accounting_on_closes_the_open_sessions_of_that_nas(server):
    paris, douala = Nas(server, PARIS_NAS), Nas(server)
    started = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=2)
    for nas, user in ((paris, "on-a"), (paris, "on-b"), (douala, "on-c")):
        nas.session(user, f"{user}-1", started,
                    [(started + dt.timedelta(minutes=1), 5000, 50000)], stop=False)
    wait_replayed(server)
    before = {user: totals(server, user) for user in ("on-a", "on-b", "on-c")}
    # Simultaneous-Use 1: the open session blocks a second login.
    blocked = server.authenticate("on-a", password("on-a"))
    assert blocked is not None and blocked.code == packet.AccessReject
    assert blocked["Reply-Message"] == ["You are already logged in - access denied"]

    rebooted = dt.datetime.now(dt.UTC).replace(microsecond=0)
    paris.send("Accounting-On", at=rebooted, Acct_Session_Id="00000000")
    wait_replayed(server)
    with server.db.connect() as conn:
        rows = {user: rest for user, *rest in conn.execute(
            "SELECT username, acctstoptime, acctterminatecause FROM radacct"
            " WHERE username LIKE 'on-%'").fetchall()}
    assert rows == {"on-a": [rebooted, "NAS-Reboot"], "on-b": [rebooted, "NAS-Reboot"],
                    "on-c": [None, None]}
    # The reload is recorded although the statement closed sessions (it used not to be).
    assert reload_times(server) == {PARIS_NAS: rebooted}
    # Closing adds no bytes; the user may log in again.
    assert {user: totals(server, user) for user in before} == before
    again = server.authenticate("on-a", password("on-a"))
    assert again is not None and again.code == packet.AccessAccept


def reload_times(server) -> dict[str, dt.datetime]:
    with server.db.connect() as conn:
        return {str(nas): at for nas, at in conn.execute(
            "SELECT nasipaddress, reloadtime FROM nasreload").fetchall()}


def test_accounting_on_and_off_without_open_sessions_record_the_reload(server):
    nas = Nas(server, "10.33.0.9")  # a NAS with no session at all
    on = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=10)
    nas.send("Accounting-On", at=on, Acct_Session_Id="00000000")
    wait_replayed(server)
    assert reload_times(server)["10.33.0.9"] == on
    off = on + dt.timedelta(minutes=5)
    nas.send("Accounting-Off", at=off, Acct_Session_Id="00000000")
    # A replayed older Accounting-On never moves the reload time back.
    nas.send("Accounting-On", at=on, Acct_Session_Id="00000000")
    wait_replayed(server)
    assert reload_times(server)["10.33.0.9"] == off


def jobs_config(server, **close_stale):
    return parse_config({"dsn": server.db.dsns["jobs"], "close_stale": close_stale})


def test_late_stop_after_close_stale_takes_the_real_counters_stop_and_cause(server):
    nas = Nas(server)
    start = local(DOUALA, 2026, 11, 15, 10, 0)

    def send(status, minutes, bytes_in, bytes_out, **attributes):
        nas.send(status, at=start + dt.timedelta(minutes=minutes), username="late",
                 session_id="late-1", bytes_in=bytes_in, bytes_out=bytes_out,
                 session_time=minutes * 60, **attributes)

    def row():
        wait_replayed(server)
        with server.db.connect() as conn:
            return conn.execute(
                "SELECT acctstoptime, acctterminatecause, acctinputoctets, acctoutputoctets,"
                " acctsessiontime FROM radacct WHERE username = 'late'").fetchall()

    nas.send("Start", at=start, username="late", session_id="late-1")
    send("Interim-Update", 5, 1000, 20_000)
    assert row() == [(None, None, 1000, 20_000, 300)]
    # The router goes silent (an outage); 20 minutes later close-stale gives up on it ...
    with server.db.connect("jobs") as conn:
        closed = jobs.close_stale(conn, jobs_config(server, interim_interval=300),
                                  start + dt.timedelta(minutes=25))
    assert closed["closed"] == 1
    assert row() == [(start + dt.timedelta(minutes=5), "Stale-Session", 1000, 20_000, 300)]
    # ... but the session was alive: an older interim replayed late lowers nothing and
    # opens nothing, a newer one counts its bytes and opens the session again (the quota
    # jobs, Simultaneous-Use and the portal see it online), and its real Stop, arriving late,
    # replaces the jobs' stop time and cause with the router's.
    send("Interim-Update", 3, 500, 10_000)
    assert row() == [(start + dt.timedelta(minutes=5), "Stale-Session", 1000, 20_000, 300)]
    send("Interim-Update", 30, 3000, 60_000)
    assert row() == [(None, None, 3000, 60_000, 1800)]
    with server.db.connect() as conn:
        online = conn.execute("SELECT count(*) FROM captiva_open_sessions('late')").fetchone()
    assert online == (1,)
    # Silent again: close-stale closes it again, from its new last sign of life.
    with server.db.connect("jobs") as conn:
        closed = jobs.close_stale(conn, jobs_config(server, interim_interval=300),
                                  start + dt.timedelta(minutes=50))
    assert closed["closed"] == 1
    assert row() == [(start + dt.timedelta(minutes=30), "Stale-Session", 3000, 60_000, 1800)]
    send("Stop", 40, 4000, 80_000, Acct_Terminate_Cause="Lost-Carrier")
    final = [(start + dt.timedelta(minutes=40), "Lost-Carrier", 4000, 80_000, 2400)]
    assert row() == final
    # A duplicate Stop, and one with lower counters, change nothing.
    send("Stop", 40, 4000, 80_000, Acct_Terminate_Cause="Lost-Carrier")
    send("Stop", 45, 10, 10, Acct_Terminate_Cause="Admin-Reset")
    send("Interim-Update", 50, 9000, 90_000)
    assert row() == final
    assert totals(server, "late") == {dt.date(2026, 11, 15): 4000 + 80_000}


def test_stop_later_than_retention_counts_only_what_came_after_the_archived_row(server):
    # close-stale closed the session, then retention (radacct_days = 1) archived it; the
    # router's Stop comes 3 days later (a FreeRADIUS <-> database outage, replayed from the
    # buffer). 2025: no other test's session is old enough to be archived with it.
    nas = Nas(server)
    start = local(DOUALA, 2025, 6, 1, 22, 0)
    nas.send("Start", at=start, username="archived", session_id="archived-1")
    nas.send("Interim-Update", at=start + dt.timedelta(minutes=60), username="archived",
             session_id="archived-1", bytes_in=3600, bytes_out=36_000, session_time=3600)
    wait_replayed(server)
    with server.db.connect("jobs") as conn:
        config = parse_config({"dsn": server.db.dsns["jobs"], "retention": {"radacct_days": 1}})
        assert jobs.close_stale(conn, config, start + dt.timedelta(hours=2))["closed"] == 1
        assert jobs.retention(conn, config, start + dt.timedelta(days=2))["radacct"] == 1
    stop = start + dt.timedelta(days=3)
    for _ in range(2):  # the Stop, and a retransmission of it
        nas.send("Stop", at=stop, username="archived", session_id="archived-1",
                 bytes_in=3600 + 7100, bytes_out=36_000 + 71_000, session_time=3 * 86400,
                 Acct_Terminate_Cause="Lost-Carrier")
    wait_replayed(server)
    with server.db.connect() as conn:
        hot = conn.execute("SELECT acctstarttime, acctstoptime, acctterminatecause,"
                           " acctinputoctets, acctoutputoctets FROM radacct"
                           " WHERE username = 'archived'").fetchall()
        archived = conn.execute("SELECT acctstoptime, acctterminatecause, acctinputoctets"
                                " FROM radacct_history WHERE username = 'archived'").fetchall()
    last_seen = start + dt.timedelta(minutes=60)
    assert archived == [(last_seen, "Stale-Session", 3600)]
    # The Stop is kept: its cause and time, and the bytes after the archived row, once.
    assert hot == [(last_seen, stop, "Lost-Carrier", 7100, 71_000)]
    # 71 hours from the archived row's last interim to the Stop: no byte counted twice.
    assert totals(server, "archived") == merge(
        expected_split(3600 + 36_000, start, last_seen, DOUALA),
        expected_split(7100 + 71_000, last_seen, stop, DOUALA))
    assert sum(totals(server, "archived").values()) == 3600 + 7100 + 36_000 + 71_000


def outage_counters(user: int, session: int, step: int) -> tuple[int, int]:
    """Totals at Interim-Update ``step`` (1-3), or the Stop (4), of one outage session."""
    return step * (1000 * (user + 1) + session), step * (2**20 * (user + 1) + 7 * session)


def test_500_packets_while_postgres_is_down_all_land_once(server):
    nas = Nas(server)
    sent = 0
    sent_at = time.monotonic()
    with postgres_stopped(server.db.server):
        for user in range(OUTAGE_USERS):
            for session in range(OUTAGE_SESSIONS):
                start = local(DOUALA, OUTAGE_DAY.year, OUTAGE_DAY.month, OUTAGE_DAY.day,
                              8, 0) + dt.timedelta(minutes=10 * session)
                updates = [(start + dt.timedelta(minutes=2 * step),
                            *outage_counters(user, session, step)) for step in range(1, 5)]
                # Each packet is acknowledged at once: it is safe in the buffer.
                nas.session(outage_user(user), f"outage-{user}-{session}", start, updates)
                sent += 5
        assert sent == 500
        assert time.monotonic() - sent_at < 60, "the buffer did not acknowledge promptly"
        time.sleep(2)  # the reader keeps failing while the database is down

    def stopped_sessions():
        with server.db.connect() as conn:
            return conn.execute("SELECT count(*) FROM radacct WHERE username LIKE 'out-%'"
                                " AND acctstoptime IS NOT NULL").fetchone()[0]

    wait_for(lambda: stopped_sessions() == OUTAGE_USERS * OUTAGE_SESSIONS, timeout=120)
    wait_replayed(server, timeout=30)
    time.sleep(2 * 4)  # two reader retry intervals: no late replay

    with server.db.connect() as conn:
        writes = Counter(conn.execute(
            "SELECT acctsessionid, op, stopped FROM test_radacct_writes"
            " WHERE acctsessionid LIKE 'outage-%'").fetchall())
        rows = conn.execute("SELECT acctsessionid, acctinputoctets, acctoutputoctets"
                            " FROM radacct WHERE username LIKE 'out-%'").fetchall()
    expected_writes = Counter()
    for user in range(OUTAGE_USERS):
        for session in range(OUTAGE_SESSIONS):
            name = f"outage-{user}-{session}"
            expected_writes[(name, "INSERT", False)] += 1
            expected_writes[(name, "UPDATE", False)] += 3
            expected_writes[(name, "UPDATE", True)] += 1
    # Every Start, Interim and Stop written exactly once.
    assert writes == expected_writes
    assert sorted(rows) == sorted(
        (f"outage-{user}-{session}", *outage_counters(user, session, 4))
        for user in range(OUTAGE_USERS) for session in range(OUTAGE_SESSIONS))
    for user in range(OUTAGE_USERS):
        expected_in = sum(outage_counters(user, s, 4)[0] for s in range(OUTAGE_SESSIONS))
        expected_out = sum(outage_counters(user, s, 4)[1] for s in range(OUTAGE_SESSIONS))
        assert daily_usage(server, outage_user(user)) == {
            OUTAGE_DAY: (expected_in, expected_out)}
