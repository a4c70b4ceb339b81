"""A student's devices, end to end (docs/portal.md, "For students"): the real portal app, real
FreeRADIUS configured by the role, real PostgreSQL written by the real reconcile, the RouterOS
simulator's Disconnect listener and the quota jobs' enforce.

What a user notices: a device blocked on the portal is refused by FreeRADIUS for that account
with a clear message, whatever form the router writes its MAC address in, while the student's
other devices (and other students on that device) still log in; "disconnect" ends that
device's session on the router; staff see and do the same on the console, as their role
allows; every action is in the console's history.
"""

from __future__ import annotations

import datetime as dt

import pytest
import radius_fixtures
from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import reconcile
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from portal_fixtures import csrf_of, portal_config
from pyrad import packet
from quota_radius_fixtures import roster_variables
from routeros_fixtures import start_sim, stop_sim
from starlette.testclient import TestClient
from test_quota_jobs import SECRET
from test_quota_jobs import config as jobs_config

from captiva.portal.app import create_app
from captiva.quota import jobs

radius_server = radius_fixtures.radius_server

PASSWORDS = {"alice": "Roster-alice-0123", "bruno": "Roster-bruno-0123",
             "helpdesk": "Roster-helpdesk-0123", "library": "Roster-library-0123"}
PHONE = "AA:BB:CC:00:11:22"
LAPTOP = "AA:BB:CC:00:11:33"


@pytest.fixture(scope="module")
def campus(radius_server):
    variables = roster_variables([
        {"username": user, "password": secret, "promotion": "unlimited",
         "language": "fr" if user == "bruno" else "en", "first_name": user.title(),
         "last_name": "Test", "email": f"{user}@campus.test"}
        for user, secret in PASSWORDS.items()])
    variables["captiva_staff"] = [{"username": "helpdesk", "role": "admin"},
                                  {"username": "library", "role": "operator",
                                   "sites": ["campus-douala"]}]
    roster, errors = validate(variables)
    assert errors == [], errors
    with radius_server.db.connect("reconcile") as conn:
        reconcile(conn, roster, now=dt.datetime.now(dt.UTC), check_mode=False)
    return radius_server


def portal(server):
    client = TestClient(create_app(portal_config(server.db, server)),
                        base_url="https://portal.test", follow_redirects=False,
                        client=("192.0.2.10", 50000), headers={"accept-language": "en"})
    client.__enter__()
    return client


def sign_in(server, user: str):
    client = portal(server)
    page = client.get("/login")
    response = client.post("/login", data={"csrf": csrf_of(page.text), "username": user,
                                           "password": PASSWORDS[user]})
    assert response.status_code == 303, response.text
    return client


def post(client, page: str, action: str, **form):
    html = client.get(page).text
    return client.post(action, data={"csrf": csrf_of(html), **form})


def router_login(server, user: str, mac: str | None, password: str | None = None):
    """An Access-Request as the router sends it, from the device ``mac``."""
    attributes = {"Calling_Station_Id": mac} if mac is not None else {}
    reply = server.authenticate(user, password or PASSWORDS[user], **attributes)
    assert reply is not None, server.log_tail()
    messages = reply.get("Reply-Message", []) if reply.code == packet.AccessReject else []
    return reply.code == packet.AccessAccept, " ".join(messages)


def audit(server, user: str) -> list[tuple]:
    with server.db.connect() as conn:
        return conn.execute("SELECT actor, actor_role, action, detail->>'mac' FROM captiva_audit"
                            " WHERE username = %s AND action LIKE 'device-%%' ORDER BY id",
                            (user,)).fetchall()


def test_mac_forms_are_one_address_and_nonsense_is_none(campus):
    forms = {"aa:bb:cc:00:11:22": PHONE, "AA-BB-CC-00-11-22": PHONE,
             "aabb.cc00.1122": PHONE, "AABBCC001122": PHONE, " aa:bb:cc:00:11:22 ": PHONE,
             "aa:bb-cc:00:11:22": None, "aa:bb:cc:00:11": None, "aabb.cc00.112": None,
             "gg:bb:cc:00:11:22": None, "10.5.50.20": None, "": None}
    with campus.db.connect("portal") as conn:
        got = {form: conn.execute("SELECT captiva_mac_normal(%s)", (form,)).fetchone()[0]
               for form in forms}
    assert got == forms


def test_a_blocked_device_is_refused_for_that_account_only(campus):
    student = sign_in(campus, "alice")
    assert router_login(campus, "alice", PHONE) == (True, "")

    done = post(student, "/devices", "/devices/block", mac="aa-bb-cc-00-11-22")
    assert (done.status_code, done.headers["location"]) == (
        303, "/devices?done=devices.blocked_done&count=0")
    page = student.get(done.headers["location"])
    assert "Device blocked" in page.text
    assert 'data-mac="AA:BB:CC:00:11:22"' in page.text and 'data-test="blocked"' in page.text

    # The router writes the MAC in its own form; every form is the same device.
    for form in (PHONE, "aa-bb-cc-00-11-22", "aabb.cc00.1122"):
        accepted, message = router_login(campus, "alice", form)
        assert not accepted
        assert message == ("This device is blocked for this account (Wi-Fi portal, My devices)"
                           " / Cet appareil est bloqué pour ce compte (portail Wi-Fi, Mes"
                           " appareils)"), campus.log_tail()
    # each refusal is in the post-auth log, as any Access-Reject is (through the login
    # buffer: replayed in any order, each row at its login's time)
    campus.wait_logins_replayed()
    with campus.db.connect() as conn:
        logged = conn.execute("SELECT reply, callingstationid FROM radpostauth"
                              " WHERE username = 'alice' ORDER BY authdate DESC LIMIT 3").fetchall()
    assert logged == [("Access-Reject", form) for form in ("aabb.cc00.1122", "aa-bb-cc-00-11-22",
                                                           PHONE)]
    # her other devices, and another student on that very device, still log in
    assert router_login(campus, "alice", LAPTOP) == (True, "")
    assert router_login(campus, "bruno", PHONE) == (True, "")
    # a wrong password learns nothing about blocks
    assert router_login(campus, "alice", PHONE, password="wrong-password-1") == (False, "")
    # the portal's own login (its RADIUS client) is never refused for a device
    assert sign_in(campus, "alice").get("/devices").status_code == 200

    post(student, "/devices", "/devices/unblock", mac=PHONE)
    assert router_login(campus, "alice", PHONE) == (True, "")
    assert audit(campus, "alice") == [("alice", "student", "device-block", PHONE),
                                      ("alice", "student", "device-unblock", PHONE)]


def test_a_device_named_and_a_bad_address_refused(campus):
    student = sign_in(campus, "alice")
    post(student, "/devices", "/devices/rename", mac="aabb.cc00.1133", name="Mon portable")
    assert "Mon portable" in student.get("/devices").text
    assert "Mon portable" in student.get("/me").text
    refused = post(student, "/devices", "/devices/block", mac="not-a-mac")
    assert refused.headers["location"] == "/devices?error=devices.bad_mac"
    assert "Invalid MAC address." in student.get(refused.headers["location"]).text
    long_name = post(student, "/devices", "/devices/rename", mac=LAPTOP, name="x" * 41)
    assert long_name.headers["location"] == "/devices?error=devices.name_too_long"
    # no CSRF token, no action
    assert student.post("/devices/block", data={"mac": LAPTOP}).status_code == 403
    with campus.db.connect() as conn:
        assert conn.execute("SELECT name, blocked FROM captiva_device WHERE username = 'alice'"
                            " AND mac = %s", (LAPTOP,)).fetchone() == ("Mon portable", False)


def test_disconnect_ends_that_devices_session_on_the_router(campus, tmp_path):
    (tmp_path / "nas").mkdir()
    nas = start_sim(tmp_path / "nas")
    try:
        nas.accept_disconnects(("127.0.0.1", SECRET))
        with campus.db.connect() as conn:
            conn.execute("UPDATE captiva_router SET coa_port = %s WHERE name = 'gw-douala'",
                         (nas.coa_port,))
        for number, (mac, address) in enumerate(((PHONE, "10.5.50.31"),
                                                 ("aa-bb-cc-00-11-33", "10.5.50.32"))):
            campus.account("alice", "Start", f"dev-{number}", Calling_Station_Id=mac,
                           Framed_IP_Address=address)
        nas.add_sessions([{"user": "alice", "address": "10.5.50.31", "session-id": "dev-0"},
                          {"user": "alice", "address": "10.5.50.32", "session-id": "dev-1"}])
        student = sign_in(campus, "alice")
        page = student.get("/devices").text
        assert page.count('data-test="disconnect"') == 2  # both online
        done = post(student, "/devices", "/devices/disconnect", mac="aabb.cc00.1122")
        assert done.headers["location"] == "/devices?done=devices.disconnected&count=1"
        assert "Disconnect requested (1 session(s))" in student.get(done.headers["location"]).text

        cfg = jobs_config(campus.db, routers={"gw-douala": {"secret": SECRET,
                                                            "address": "127.0.0.1"}},
                          enforce={"timeout": 2})
        with campus.db.connect("jobs", autocommit=False) as conn:
            summary = jobs.enforce(conn, cfg, dt.datetime.now(dt.UTC))
        assert (summary["sessions"], summary["ack"]) == (1, 1)
        # the phone's session is gone from the router, the laptop's is still there
        assert [row["address"] for row in nas.rows("/ip/hotspot/active")] == ["10.5.50.32"]
        assert audit(campus, "alice")[-1] == ("alice", "student", "device-disconnect", PHONE)
    finally:
        stop_sim(nas)
        for number in range(2):
            campus.account("alice", "Stop", f"dev-{number}", Acct_Session_Time=60)


def test_staff_act_on_the_console_as_their_role_allows(campus):
    admin = sign_in(campus, "helpdesk")
    page = admin.get("/admin/users/bruno")
    assert page.status_code == 200 and 'id="devices"' in page.text
    done = post(admin, "/admin/users/bruno", "/admin/users/bruno/devices/block",
                mac="AABBCC001155", reason="stolen, reported at the desk")
    assert done.headers["location"] == (
        "/admin/users/bruno?done=devices.blocked_done&count=0#devices")
    shown = admin.get("/admin/users/bruno").text
    assert 'data-mac="AA:BB:CC:00:11:55"' in shown and 'data-test="blocked"' in shown
    accepted, message = router_login(campus, "bruno", "aa-bb-cc-00-11-55")
    assert not accepted and message.startswith("Cet appareil est bloqué")  # bruno reads French
    # the student sees what staff did, and may undo it
    assert 'data-mac="AA:BB:CC:00:11:55"' in sign_in(campus, "bruno").get("/devices").text

    # an operator reads the page but may not act on a student's devices
    operator = sign_in(campus, "library")
    assert 'data-mac="AA:BB:CC:00:11:55"' in operator.get("/admin/users/bruno").text
    assert 'data-test="device-unblock"' not in operator.get("/admin/users/bruno").text
    refused = post(operator, "/admin/users/bruno", "/admin/users/bruno/devices/unblock",
                   mac="AABBCC001155")
    assert refused.status_code == 403
    # a student may not act on another's devices through the console's route
    student = sign_in(campus, "alice")
    assert post(student, "/me", "/admin/users/bruno/devices/unblock",
                mac="AABBCC001155").status_code == 403
    assert router_login(campus, "bruno", "AA:BB:CC:00:11:55")[0] is False
    # nor may the portal's role forge a staff action in the database for a non-admin
    with campus.db.connect("portal") as conn, pytest.raises(Exception, match="may not"):
        conn.execute("SELECT captiva_device_act('library', 'bruno', 'AABBCC001155',"
                     " 'device-unblock', '', '')")
    # nor write a device's audit row but through the function that makes the change
    with campus.db.connect("portal") as conn, pytest.raises(Exception, match="own function"):
        conn.execute("SELECT captiva_audit_record('alice', 'device-block', 'alice', NULL, NULL)")
    history = admin.get("/admin/users/bruno").text
    assert "device-block" in history and "stolen, reported at the desk" in history
    assert audit(campus, "bruno") == [("helpdesk", "admin", "device-block", "AA:BB:CC:00:11:55")]
