"""Public workstations through real FreeRADIUS (roles/freeradius) and PostgreSQL (migration
0120 + functions/7*_workstation_*.sql), the console's actions as the portal calls them, and the
enforce job's Disconnect-Requests to tools/routeros-sim.

Workstations, rules and staff come from a roster reconciled by captiva_radius.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
import urllib.parse
import urllib.request
from zoneinfo import ZoneInfo

import psycopg
import pytest
import radius_fixtures
import yaml
from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import reconcile
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from pyrad import packet
from quota_radius_fixtures import Nas, daytime_zone, roster_variables, wait_replayed
from routeros_fixtures import start_sim, stop_sim

from captiva.quota import jobs
from captiva.runtime.jobs_config import parse

radius_server = radius_fixtures.radius_server

ALL_DAY = dict.fromkeys(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                         "sunday"), "00:00-24:00")
MEMBERS = [f"etu{n}" for n in range(1, 15)]
STAFF = [("op-douala", "operator", ["campus-douala"]), ("op-paris", "operator",
                                                       ["campus-paris"]),
         ("viewer1", "viewer", []), ("chief", "admin", [])]
COA_SECRET = "workstation-coa-secret-01"
# The workstations' site: where it is day now (its room closes at local midnight).
ZONE = ZoneInfo(daytime_zone())
# The setting both the routers' profile and FreeRADIUS's Mikrotik-Group come from.
WORKSTATION_PROFILE = yaml.safe_load(
    (radius_fixtures.ROOT / "group_vars" / "captiva_defaults.yml").read_text())[
    "captiva_workstation_profile"]


def pc(n):
    return {"name": f"BIB-PC-{n:02d}", "site": "campus-douala",
            "mac": f"02:00:5E:10:00:{n:02X}", "ip": f"10.5.60.{10 + n}", "room": "Bibliotheque"}


@pytest.fixture(scope="module")
def server(radius_server):
    users = [{"username": u, "password": f"{u}-password-123", "promotion": "unlimited"}
             for u in MEMBERS + [s[0] for s in STAFF]]
    variables = roster_variables(users)
    for site in variables["captiva_sites"]:
        site["networks"] = ["10.5.60.0/24"] if site["name"] == "campus-douala" else \
            ["10.33.60.0/24"]
        if site["name"] == "campus-douala":
            site["timezone"] = ZONE.key
    variables["captiva_staff"] = [{"username": u, "role": r, "sites": s} for u, r, s in STAFF]
    variables["captiva_workstations"] = [pc(n) for n in range(1, 15)]
    variables["captiva_workstation_rules"] = [{
        "site": "campus-douala", "opening_hours": ALL_DAY, "default_session": "1h",
        "max_session": "2h", "daily_sessions": 3, "daily_time": "3h",
        "guest_retention_days": 30}]
    roster, errors = validate(variables)
    assert errors == [], errors
    with radius_server.db.connect("reconcile") as conn:
        reconcile(conn, roster, now=dt.datetime.now(dt.UTC), check_mode=False)
    return radius_server


def call(server, sql, *args, role="portal"):
    with server.db.connect(role) as conn:
        return conn.execute(sql, args).fetchone()


def issue(server, ws, member, seconds=None, actor="op-douala"):
    return call(server, "SELECT session_id, code, reason, detail FROM"
                " captiva_workstation_issue(%s, %s, %s, NULL, %s)", actor, ws, member, seconds)


def login(server, code, mac, typed=None):
    reply = server.authenticate(typed or code, typed or code, Calling_Station_Id=mac)
    assert reply is not None, server.log_tail()
    return reply


def rejected(server, code, mac):
    reply = login(server, code, mac)
    assert reply.code == packet.AccessReject, server.log_tail()
    assert "Session-Timeout" not in reply
    return reply["Reply-Message"][0] if "Reply-Message" in reply else None


def remaining(server, session_id):
    return call(server, "SELECT captiva_workstation_remaining(granted_seconds, used_seconds,"
                " running_since, now()) FROM captiva_workstation_session WHERE id = %s",
                session_id)[0]


def test_a_code_works_only_from_its_workstations_mac(server):
    session_id, code, reason, detail = issue(server, "BIB-PC-01", "etu1")
    assert reason is None and detail["granted_seconds"] == 3600
    # 15 digits from a cryptographic generator (functions/72_workstation_issue.sql).
    assert re.fullmatch(r"P[0-9]{15}", code)
    # The reject names no workstation: whoever holds a code learns nothing about where it works.
    message = rejected(server, code, "02:00:5E:10:00:02")
    assert message == ("Code valable uniquement sur son poste / Code valid only on its own "
                       "workstation") and "BIB" not in message
    reply = login(server, code, "02-00-5e-10-00-01",
                  typed=f"p-{code[1:6]}-{code[6:11]}-{code[11:]}")
    assert reply.code == packet.AccessAccept
    assert reply["Session-Timeout"] == [3600]
    # The router puts the session in the workstations' profile, the one without MAC cookie.
    assert reply["Mikrotik-Group"] == [WORKSTATION_PROFILE]
    assert call(server, "SELECT state FROM captiva_workstation_session WHERE id = %s",
                session_id) == ("running",)
    # A code nobody issued has no password.
    assert login(server, "P000000000000001", "02:00:5E:10:00:01").code == packet.AccessReject


def test_without_a_primary_a_code_logs_in_and_its_clock_starts_at_the_login(server):
    """While no member takes writes (docs/ha.md, "What a replica answers"), the login is
    judged from reads and accepted; the clock's start waits in the login buffer and, once
    writes are back, starts at the login's time, not the replay's."""
    session_id, code, _, _ = issue(server, "BIB-PC-14", "etu14")
    server.wait_logins_replayed()
    server.read_only(True)
    try:
        before = dt.datetime.now(dt.UTC)
        reply = login(server, code, pc(14)["mac"])
        assert reply.code == packet.AccessAccept, server.log_tail()
        assert reply["Session-Timeout"] == [3600]
        assert reply["Mikrotik-Group"] == [WORKSTATION_PROFILE]
        # From another MAC it is still refused, from reads alone.
        assert rejected(server, code, "02:00:5E:10:00:02") == (
            "Code valable uniquement sur son poste / Code valid only on its own workstation")
        time.sleep(2)
        assert call(server, "SELECT state FROM captiva_workstation_session WHERE id = %s",
                    session_id) == ("issued",)
    finally:
        server.read_only(False)
    server.wait_logins_replayed()
    state, since = call(server, "SELECT state, running_since FROM captiva_workstation_session"
                        " WHERE id = %s", session_id)
    assert state == "running"
    assert before <= since <= before + dt.timedelta(seconds=2), (before, since)


def test_a_student_login_keeps_its_own_profile(server):
    """Only workstation codes are put in the workstations' profile: a student (here on a
    workstation's MAC, even) gets the Mikrotik-Group of their roster profile."""
    for mac in (pc(9)["mac"], "02:00:5E:99:99:99"):
        reply = server.authenticate("etu9", "etu9-password-123", Calling_Station_Id=mac)
        assert reply is not None and reply.code == packet.AccessAccept, server.log_tail()
        assert reply["Mikrotik-Group"] == ["unlimited"]


def test_time_runs_out_and_the_end_is_audited(server):
    session_id, code, _, _ = issue(server, "BIB-PC-02", "etu2", 1800)
    assert login(server, code, pc(2)["mac"]).code == packet.AccessAccept
    with server.db.connect() as conn:  # 31 minutes later
        conn.execute("UPDATE captiva_workstation_session SET running_since = now() -"
                     " interval '31 minutes' WHERE id = %s", (session_id,))
    assert rejected(server, code, pc(2)["mac"]) == "Temps écoulé / Time is up"
    assert call(server, "SELECT captiva_workstation_sweep(now())", role="jobs")[0] >= 1
    assert call(server, "SELECT state, end_reason, used_seconds FROM "
                "captiva_workstation_session WHERE id = %s", session_id) == (
        "ended", "time-up", 1800)
    assert call(server, "SELECT actor, action FROM captiva_audit WHERE"
                " session_id = %s ORDER BY id DESC LIMIT 1", session_id) == ("system", "time-up")
    # The code is dead: no password any more.
    assert rejected(server, code, pc(2)["mac"]) is None


def test_add_time_extends_and_two_operators_at_once_both_count(server):
    session_id, code, _, _ = issue(server, "BIB-PC-03", "etu3", 1800)
    assert login(server, code, pc(3)["mac"])["Session-Timeout"] == [1800]
    barrier = threading.Barrier(2)

    def add(actor):
        with server.db.connect("portal") as conn, conn.transaction():
            conn.execute("SELECT 1")
            barrier.wait()
            conn.execute("SELECT * FROM captiva_workstation_add_time(%s, %s, 'add', 600)",
                         (actor, session_id))

    threads = [threading.Thread(target=add, args=(a,)) for a in ("op-douala", "chief")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert call(server, "SELECT granted_seconds FROM captiva_workstation_session WHERE"
                " id = %s", session_id) == (3000,)
    (timeout,) = login(server, code, pc(3)["mac"])["Session-Timeout"]
    assert 2990 <= timeout <= 3000
    # An absolute value, then minus, then over the maximum (2 h): capped.
    assert call(server, "SELECT reason FROM captiva_workstation_add_time('op-douala', %s,"
                " 'set', 600)", session_id) == (None,)
    assert 595 <= remaining(server, session_id) <= 600
    call(server, "SELECT * FROM captiva_workstation_add_time('op-douala', %s, 'add', -300)",
         session_id)
    assert 295 <= remaining(server, session_id) <= 300
    _, detail = call(server, "SELECT * FROM captiva_workstation_add_time('op-douala', %s,"
                     " 'add', 99999)", session_id)
    assert detail["capped"] == "max" and 7190 <= detail["remaining"] <= 7200
    assert call(server, "SELECT count(*) FROM captiva_audit WHERE session_id = %s"
                " AND action = 'add-time'", session_id) == (5,)


@pytest.fixture
def router(server, tmp_path):
    sim = start_sim(tmp_path)
    sim.accept_disconnects(("127.0.0.1", COA_SECRET))
    with server.db.connect() as conn:
        conn.execute("UPDATE captiva_router SET coa_port = %s WHERE name = 'gw-douala'",
                     (sim.coa_port,))
    yield sim
    stop_sim(sim)


def online(server, router, code, n, session_no):
    """The router's session of ``code`` on workstation ``n``: accounting Start + hotspot row."""
    sid = f"ws-{n}-{session_no}"
    Nas(server).send("Start", at=dt.datetime.now(dt.UTC).replace(microsecond=0),
                     username=code, session_id=sid, Framed_IP_Address=pc(n)["ip"],
                     Calling_Station_Id=pc(n)["mac"])
    wait_replayed(server)
    router.add_sessions([{"user": code, "address": pc(n)["ip"], "session-id": sid}])
    return sid


def enforce(server, secret=COA_SECRET):
    config = parse({"dsn": server.db.dsns["jobs"], "enforce": {"timeout": 2},
                    "routers": {"gw-douala": {"secret": secret, "address": "127.0.0.1"}}})
    with psycopg.connect(server.db.dsns["jobs"]) as conn:
        return jobs.enforce(conn, config, dt.datetime.now(dt.UTC))


def hotspot_users(router):
    return {row["user"] for row in router.rows("/ip/hotspot/active")}


def test_suspend_disconnects_resume_continues_terminate_disconnects(server, router):
    session_id, code, _, _ = issue(server, "BIB-PC-04", "etu4", 3600)
    assert login(server, code, pc(4)["mac"]).code == packet.AccessAccept
    online(server, router, code, 4, 1)
    with server.db.connect() as conn:  # 10 minutes used
        conn.execute("UPDATE captiva_workstation_session SET running_since = now() -"
                     " interval '10 minutes' WHERE id = %s", (session_id,))
    assert call(server, "SELECT reason FROM captiva_workstation_change('op-douala', %s,"
                " 'suspend')", session_id) == (None,)
    summary = enforce(server)
    assert summary["ack"] == 1, summary
    assert code not in hotspot_users(router)
    assert call(server, "SELECT reason, result FROM captiva_disconnect WHERE username = %s",
                code, role="jobs") == ("workstation-suspended (BIB-PC-04)", "ack")
    assert rejected(server, code, pc(4)["mac"]) == (
        "Session suspendue : voyez l'accueil / Session suspended: see the desk")
    Nas(server).send("Stop", at=dt.datetime.now(dt.UTC).replace(microsecond=0), username=code,
                     session_id="ws-4-1", session_time=600, Acct_Terminate_Cause="Admin-Reset")
    wait_replayed(server)
    # Resume: the same code logs in again for the 50 minutes left.
    assert call(server, "SELECT reason FROM captiva_workstation_change('op-douala', %s,"
                " 'resume')", session_id) == (None,)
    (timeout,) = login(server, code, pc(4)["mac"])["Session-Timeout"]
    assert 2990 <= timeout <= 3000
    online(server, router, code, 4, 2)
    assert code in hotspot_users(router)
    assert call(server, "SELECT reason FROM captiva_workstation_change('op-douala', %s,"
                " 'terminate')", session_id) == (None,)
    assert enforce(server)["ack"] == 1
    assert code not in hotspot_users(router)
    assert rejected(server, code, pc(4)["mac"]) is None  # ended: the code is dead


def test_time_cut_below_the_routers_timeout_disconnects_for_a_relogin(server, router):
    session_id, code, _, _ = issue(server, "BIB-PC-05", "etu5", 3600)
    assert login(server, code, pc(5)["mac"])["Session-Timeout"] == [3600]
    online(server, router, code, 5, 1)
    assert enforce(server)["sessions"] == 0  # nothing to cut
    call(server, "SELECT * FROM captiva_workstation_add_time('op-douala', %s, 'set', 300)",
         session_id)
    assert enforce(server)["ack"] == 1
    assert code not in hotspot_users(router)
    # The kiosk logs in again: the router gets the new, shorter time.
    (timeout,) = login(server, code, pc(5)["mac"])["Session-Timeout"]
    assert 295 <= timeout <= 300


def test_limits_maintenance_in_use_and_roles_are_refused(server):
    for n in (6, 7, 8):
        session_id, _code, reason, _ = issue(server, f"BIB-PC-0{n}", "etu6", 1800)
        assert reason is None
        if n != 8:
            call(server, "SELECT * FROM captiva_workstation_change('op-douala', %s,"
                 " 'terminate')", session_id)
    assert issue(server, "BIB-PC-08", "etu7")[2] == "in-use"
    assert issue(server, "BIB-PC-09", "etu6")[2:] == ("daily-sessions", {"limit": 3})
    # 3 h a day: two sessions of 2 h cannot be (the first is cut at midnight, the site's
    # closing, when the test runs late: what it got counts).
    _, _, reason, granted = issue(server, "BIB-PC-09", "etu7", 7200)
    assert reason is None
    reason, detail = issue(server, "BIB-PC-07", "etu7", 7200)[2:]
    assert reason == "daily-time" and detail == {
        "limit_seconds": 10800, "left_seconds": 10800 - granted["granted_seconds"]}
    # A session ended unused counts for nothing.
    call(server, "SELECT (captiva_workstation_change('op-douala', id, 'terminate')).reason"
         " FROM captiva_workstation_session WHERE username = 'etu7' AND state <> 'ended'")
    assert issue(server, "BIB-PC-09", "etu8", 3 * 3600)[2:] == ("too-long",
                                                                {"max_seconds": 7200})
    assert call(server, "SELECT reason FROM captiva_workstation_set_maintenance('op-douala',"
                " 'BIB-PC-09', true)") == (None,)
    assert issue(server, "BIB-PC-09", "etu8")[2] == "maintenance"
    call(server, "SELECT * FROM captiva_workstation_set_maintenance('op-douala', 'BIB-PC-09',"
         " false)")
    assert issue(server, "BIB-PC-09", "etu8", actor="viewer1")[2] == "forbidden"
    assert issue(server, "BIB-PC-09", "etu8", actor="op-paris")[2] == "forbidden"
    assert call(server, "SELECT count(*) FROM captiva_audit WHERE action ="
                " 'refused'")[0] >= 7


def set_hours(server, opens: dt.datetime | None, closes: dt.datetime | None):
    local_now = dt.datetime.now(ZONE)
    with server.db.connect() as conn:
        conn.execute("DELETE FROM captiva_workstation_hours WHERE site = 'campus-douala'"
                     " AND weekday = %s", (local_now.isoweekday(),))
        if opens is not None:
            conn.execute("INSERT INTO captiva_workstation_hours VALUES ('campus-douala', %s,"
                         " %s, %s)", (local_now.isoweekday(), opens.hour * 60 + opens.minute,
                                      closes.hour * 60 + closes.minute))


def test_never_past_closing_time(server):
    now = dt.datetime.now(ZONE)
    if now.hour == 23 and now.minute >= 40 or now.hour == 0 and now.minute < 5:
        pytest.skip("too close to midnight for a same-day closing time")
    closes = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=11)
    try:
        set_hours(server, now.replace(hour=0, minute=0), closes)
        session_id, code, reason, detail = issue(server, "BIB-PC-09", "etu9", 3600)
        assert reason is None and detail["capped"] == "closing"
        assert 600 <= detail["granted_seconds"] <= 660
        (timeout,) = login(server, code, pc(9)["mac"])["Session-Timeout"]
        assert 600 <= timeout <= 660
        set_hours(server, None, None)  # closed now
        assert rejected(server, code, pc(9)["mac"]) == "Salle fermée / Room closed"
        assert issue(server, "BIB-PC-01", "etu9")[2] == "closed"
    finally:
        set_hours(server, now.replace(hour=0, minute=0), now.replace(hour=23, minute=59))


def test_the_audit_is_append_only_for_the_portal(server):
    # Written only by the SECURITY DEFINER functions, which read the actor's role themselves
    # (migration 0140): the portal may not even insert a row of its own.
    with server.db.connect("portal") as conn:
        for statement in ("UPDATE captiva_audit SET actor = 'x'",
                          "DELETE FROM captiva_audit",
                          "INSERT INTO captiva_audit (kind, actor, actor_role, action, site)"
                          " VALUES ('workstation', 'op-douala', 'admin', 'note',"
                          " 'campus-douala')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()


def test_guests_consent_revocation_and_retention_erase_their_data(server):
    def register(name):
        return call(server, "SELECT guest_id, reason FROM captiva_workstation_register_guest("
                    "'op-douala', 'campus-douala', %s, 'CNI', %s, current_date)", name,
                    f"ID-{name}")

    kept, _ = register("Awa Ngono")
    old, _ = register("Jean Mbarga")
    revoked, _ = register("Paul Biya")
    assert call(server, "SELECT guest_id, reason FROM captiva_workstation_register_guest("
                "'op-douala', 'campus-douala', 'X', 'CNI', '1', NULL)") == (None, "no-consent")
    assert call(server, "SELECT captiva_workstation_revoke_consent('op-douala', %s)",
                revoked) == (None,)
    with server.db.connect() as conn:
        conn.execute("UPDATE captiva_workstation_guest SET last_used_at = now() - interval"
                     " '31 days' WHERE id = %s", (old,))
    assert call(server, "SELECT captiva_workstation_erase_guests(now())", role="jobs") == (1,)
    with server.db.connect() as conn:
        rows = {r[0]: r[1:] for r in conn.execute(
            "SELECT id, full_name, id_number, erased_at IS NOT NULL FROM"
            " captiva_workstation_guest WHERE id = ANY(%s)", ([kept, old, revoked],))}
        assert rows[kept] == ("Awa Ngono", "ID-Awa Ngono", False)
        assert rows[old] == (None, None, True)
        assert rows[revoked] == (None, None, True)
        # Nothing of theirs is left in the audit either.
        assert conn.execute("SELECT count(*) FROM captiva_audit WHERE"
                            " detail::text LIKE '%Mbarga%'").fetchone() == (0,)
    # A guest whose consent is revoked gets no session.
    with server.db.connect("portal") as conn:
        assert conn.execute("SELECT reason FROM captiva_workstation_issue('op-douala',"
                            " 'BIB-PC-01', NULL, %s)", (revoked,)).fetchone() == (
            "no-consent",)


# ----------------------------------------------------------------------------------------------
# The kiosk's login through the router's hotspot (tools/routeros-sim --hotspot-listen): real
# Access-Requests and accounting from the simulated router, its Disconnect listener.


@pytest.fixture
def hotspot_router(server, tmp_path):
    """A router whose hotspot authenticates against the test FreeRADIUS, as the mikrotik role
    leaves it: /radius with the router's secret, /radius/incoming accept=yes."""
    sim = start_sim(tmp_path, hotspot=True)
    sim.command("/radius/add", address="127.0.0.1", secret=radius_fixtures.ROUTER_SECRET,
                service="hotspot", timeout="2s",
                **{"authentication-port": str(server.auth_port),
                   "accounting-port": str(server.acct_port)})
    sim.command("/radius/incoming/set", accept="yes")
    with server.db.connect() as conn:
        conn.execute("UPDATE captiva_router SET coa_port = %s WHERE name = 'gw-douala'",
                     (sim.coa_port,))
    yield sim
    stop_sim(sim)


def hotspot_login(sim, code, n):
    """What the kiosk page's GET <link-login-only>?username=..&password=.. does, from
    workstation ``n`` (its MAC and address, which the simulator takes from headers)."""
    query = urllib.parse.urlencode({"username": code, "password": code})
    request = urllib.request.Request(f"http://127.0.0.1:{sim.hotspot_port}/login?{query}",
                                     headers={"X-Sim-Mac": pc(n)["mac"], "X-Sim-Ip": pc(n)["ip"]})
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
        return json.load(answer)


def last_login(sim):
    return sim.command("/captiva-sim/hotspot/print")[-1]


def duration(text):
    """Seconds of a RouterOS duration as the API prints it (``39m55s``, ``1h``)."""
    seconds, number = 0, ""
    for char in text:
        if char.isdigit():
            number += char
        else:
            seconds += int(number) * {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}[char]
            number = ""
    return seconds


def kiosk_needs_login(server, n):
    return call(server, "SELECT needs_login FROM captiva_workstation_kiosk(%s, now())",
                pc(n)["ip"])[0]


def first_login(server, sim, n, seconds):
    """Issue a session on workstation ``n`` and log it in through the hotspot, as the kiosk
    does: the router holds a session of the workstations' profile, with accounting."""
    session_id, code, reason, _ = issue(server, f"BIB-PC-{n:02d}", f"etu{n}", seconds)
    assert reason is None
    answer = hotspot_login(sim, code, n)
    assert answer["result"] == "accepted", answer
    wait_replayed(server, sim)  # the router's Accounting Start reached radacct
    return session_id, code


def test_the_kiosk_logs_in_through_the_hotspot_and_added_time_reaches_the_router_by_coa(
        server, hotspot_router):
    sim = hotspot_router
    session_id, code, reason, _ = issue(server, "BIB-PC-10", "etu10", 1800)
    assert reason is None
    # From another workstation: FreeRADIUS refuses, the router opens nothing.
    answer = hotspot_login(sim, code, 11)
    assert answer == {"result": "rejected", "error": (
        "Code valable uniquement sur son poste / Code valid only on its own workstation")}
    assert sim.rows("/ip/hotspot/active") == []
    # From its own: a hotspot session of the workstations' profile for the time granted.
    answer = hotspot_login(sim, code, 10)
    assert answer["result"] == "accepted", answer
    (row,) = sim.rows("/ip/hotspot/active")
    assert (row["user"], row["mac-address"], row["address"], row["session-time-left"]) == (
        code, pc(10)["mac"], pc(10)["ip"], "30m")
    login = last_login(sim)
    assert (login["profile"], int(login["session-timeout"])) == (WORKSTATION_PROFILE, 1800)
    wait_replayed(server, sim)  # the router's Accounting Start reached radacct
    assert call(server, "SELECT callingstationid, host(framedipaddress) FROM radacct WHERE"
                " username = %s AND acctstoptime IS NULL", code, role="jobs") == (
        pc(10)["mac"], pc(10)["ip"])
    assert kiosk_needs_login(server, 10) is False

    # +10 min: nothing is cut (the member's work goes on) and the kiosk waits: the enforce
    # job gives the router's live session the new Session-Timeout by CoA.
    call(server, "SELECT * FROM captiva_workstation_add_time('op-douala', %s, 'add', 600)",
         session_id)
    assert kiosk_needs_login(server, 10) is False
    summary = enforce(server, radius_fixtures.ROUTER_SECRET)
    assert summary["sessions"] == 0, summary  # no Disconnect-Request
    assert summary["coa"] == {"sessions": 1, "ack": 1, "nak": 0, "timeout": 0, "error": 0}
    (row,) = sim.rows("/ip/hotspot/active")
    assert row["user"] == code
    assert 2390 <= duration(row["session-time-left"]) <= 2410, row  # same session, 40 min
    until, = call(server, "SELECT extract(epoch FROM router_until - now())::integer FROM"
                  " captiva_workstation_session WHERE id = %s", session_id)
    assert 2390 <= until <= 2400
    assert kiosk_needs_login(server, 10) is False  # no re-login, no gap
    assert call(server, "SELECT action, detail ->> 'result' FROM captiva_audit"
                " WHERE session_id = %s ORDER BY id DESC LIMIT 1", session_id) == (
        "router-time", "ack")
    assert enforce(server, radius_fixtures.ROUTER_SECRET)["coa"]["sessions"] == 0  # done

    # Terminate: the enforce job's Disconnect-Request (ACKed) removes the router's session.
    assert call(server, "SELECT reason FROM captiva_workstation_change('op-douala', %s,"
                " 'terminate')", session_id) == (None,)
    summary = enforce(server, radius_fixtures.ROUTER_SECRET)
    assert summary["ack"] == 1, summary
    assert sim.rows("/ip/hotspot/active") == []
    wait_replayed(server, sim)  # the router's Accounting Stop closed the RADIUS session
    assert call(server, "SELECT count(*) FROM radacct WHERE username = %s AND acctstoptime"
                " IS NULL", code, role="jobs") == (0,)
    assert hotspot_login(sim, code, 10)["result"] == "rejected"  # the code is dead


def test_a_coa_nak_falls_back_to_the_kiosks_relogin(server, hotspot_router):
    """A router that NAKs the CoA (or does not answer): the grant is recorded as failed, not
    tried again every minute, and the kiosk logs the code in once the router's session ends
    at its old Session-Timeout; that login gets the new time."""
    sim = hotspot_router
    session_id, code = first_login(server, sim, 12, 1800)
    sim.command("/captiva-sim/coa/set", mode="nak", **{"nak-cause": "501"})
    call(server, "SELECT * FROM captiva_workstation_add_time('op-douala', %s, 'add', 600)",
         session_id)
    summary = enforce(server, radius_fixtures.ROUTER_SECRET)
    assert summary["coa"] == {"sessions": 1, "ack": 0, "nak": 1, "timeout": 0, "error": 0}
    assert summary["sessions"] == 0 and summary["failed"] == 0, summary
    assert kiosk_needs_login(server, 12) is True  # the fallback
    assert call(server, "SELECT detail ->> 'result' FROM captiva_audit WHERE"
                " session_id = %s AND action = 'router-time'", session_id) == ("nak 501",)
    assert enforce(server, radius_fixtures.ROUTER_SECRET)["coa"]["sessions"] == 0
    # While the router holds the session the kiosk's login changes nothing ...
    assert hotspot_login(sim, code, 12)["result"] == "already-logged-in"
    assert sim.rows("/ip/hotspot/active")[0]["session-time-left"] == "30m"
    # ... once the router ends it at the old Session-Timeout, the login gets the new time.
    assert sim.command("/captiva-sim/active/expire", user=code) == [{"ret": 1}]
    wait_replayed(server, sim)
    assert hotspot_login(sim, code, 12)["result"] == "accepted"
    assert 2390 <= int(last_login(sim)["session-timeout"]) <= 2400
    assert kiosk_needs_login(server, 12) is False
    # Another change is tried by CoA again.
    sim.command("/captiva-sim/coa/set", mode="normal")
    call(server, "SELECT * FROM captiva_workstation_add_time('op-douala', %s, 'add', 300)",
         session_id)
    assert enforce(server, radius_fixtures.ROUTER_SECRET)["coa"]["ack"] == 1
    call(server, "SELECT reason FROM captiva_workstation_change('op-douala', %s, 'terminate')",
         session_id)
    assert enforce(server, radius_fixtures.ROUTER_SECRET)["ack"] == 1


def test_a_session_ends_on_time_whichever_way_the_router_counts_a_coas_session_timeout(
        server, hotspot_router):
    """RouterOS's manual does not say whether a CoA's Session-Timeout counts from the
    session's start (the simulator's reading) or from the CoA, which would keep the router's
    session up to its uptime longer than granted. Either way the member gets no more than
    granted: once the time is up, enforce's sweep ends the session in the database and its
    Disconnect-Request ends the router's session (docs/workstations.md)."""
    sim = hotspot_router
    session_id, code = first_login(server, sim, 11, 1800)
    call(server, "SELECT * FROM captiva_workstation_add_time('op-douala', %s, 'add', 600)",
         session_id)
    assert enforce(server, radius_fixtures.ROUTER_SECRET)["coa"]["ack"] == 1
    # 41 minutes later by the database's clock (40 granted); the router's timer, read either
    # way, has not run out: its session is still there.
    with server.db.connect() as conn:
        conn.execute("UPDATE captiva_workstation_session SET running_since = now() -"
                     " interval '41 minutes' WHERE id = %s", (session_id,))
    assert code in hotspot_users(sim)
    summary = enforce(server, radius_fixtures.ROUTER_SECRET)
    assert summary["ack"] == 1, summary
    assert code not in hotspot_users(sim)
    assert call(server, "SELECT state, end_reason FROM captiva_workstation_session WHERE"
                " id = %s", session_id) == ("ended", "time-up")
    assert call(server, "SELECT reason, result FROM captiva_disconnect WHERE username = %s"
                " ORDER BY id DESC LIMIT 1", code, role="jobs") == (
        "workstation-time-up (BIB-PC-11)", "ack")


def hotspot_get(sim, n, path, cookie=None):
    """A GET to the hotspot from workstation ``n``: the JSON answer and the cookie it sets."""
    headers = {"X-Sim-Mac": pc(n)["mac"], "X-Sim-Ip": pc(n)["ip"]}
    if cookie:
        headers["Cookie"] = f"hotspot-cookie={cookie}"
    request = urllib.request.Request(f"http://127.0.0.1:{sim.hotspot_port}{path}",
                                     headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
        set_cookie = answer.headers.get("Set-Cookie", "")
        token = set_cookie.split(";")[0].partition("=")[2] if set_cookie else None
        return json.load(answer), token


def test_the_end_of_a_session_leaves_nothing_the_next_person_can_reuse(server, hotspot_router):
    """After a workstation's session ends, neither its code, nor the workstation's MAC (a
    login-by=mac request), nor the hotspot's HTTP cookie gives the next person anything. The
    simulator's cookie logs the MAC in again without RADIUS (whether RouterOS asks RADIUS
    again is undocumented: the worst case); enforce disconnects that session of a dead code."""
    sim = hotspot_router
    sim.command("/ip/hotspot/profile/set", **{".id": "*0"}, **{
        "login-by": "http-chap,http-pap,cookie"})
    session_id, code, reason, _ = issue(server, "BIB-PC-13", "etu13", 1800)
    assert reason is None
    answer, cookie = hotspot_get(sim, 13, "/login?" + urllib.parse.urlencode(
        {"username": code, "password": code}))
    assert answer["result"] == "accepted" and cookie, answer
    wait_replayed(server, sim)
    assert call(server, "SELECT reason FROM captiva_workstation_change('op-douala', %s,"
                " 'terminate')", session_id) == (None,)
    assert enforce(server, radius_fixtures.ROUTER_SECRET)["ack"] == 1
    assert sim.rows("/ip/hotspot/active") == []
    wait_replayed(server, sim)
    # The old code: refused by RADIUS, the router opens nothing.
    assert hotspot_login(sim, code, 13)["result"] == "rejected"
    assert sim.rows("/ip/hotspot/active") == []
    # login-by=mac: the router sends the MAC as User-Name (radius-mac-format): refused.
    reply = server.authenticate(pc(13)["mac"].upper(), "", Calling_Station_Id=pc(13)["mac"])
    assert reply is not None and reply.code == packet.AccessReject
    # The browser's cookie: the simulated router restores the dead code's session by itself.
    answer, _ = hotspot_get(sim, 13, "/login", cookie=cookie)
    assert answer["result"] == "accepted", answer
    assert code in hotspot_users(sim)
    wait_replayed(server, sim)
    # The next enforce run (every minute) cuts it.
    summary = enforce(server, radius_fixtures.ROUTER_SECRET)
    assert summary["ack"] == 1, summary
    assert code not in hotspot_users(sim)
    assert call(server, "SELECT reason, result FROM captiva_disconnect WHERE username = %s"
                " ORDER BY id DESC LIMIT 1", code, role="jobs") == (
        "workstation-terminated (BIB-PC-13)", "ack")
