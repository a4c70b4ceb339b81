"""The workstations' console and kiosk in the real portal app, against real PostgreSQL and
FreeRADIUS (staff log in through RADIUS; the workstation logs in with its session code).

Operators act on their sites only, viewers read; every action needs the session's CSRF
token; refusals say why in the operator's language; the kiosk is found by its address.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import radius_fixtures
from portal_fixtures import ADMIN, csrf_of, password, portal_config, seed_campus
from pyrad import packet
from quota_radius_fixtures import daytime_zone
from starlette.testclient import TestClient

from captiva.portal.app import create_app

radius_server = radius_fixtures.radius_server
OPERATOR = "STU2025002"
MEMBER = "STU2025001"
PCS = [("BIB-PC-01", "02:00:5E:10:00:01", "10.5.60.11"),
       ("BIB-PC-02", "02:00:5E:10:00:02", "10.5.60.12")]


@pytest.fixture(scope="module")
def campus(radius_server):
    seed_campus(radius_server.db, dt.datetime.now(dt.UTC))
    with radius_server.db.connect() as conn:  # as the reconcile writes the roster
        conn.execute("INSERT INTO captiva_staff (username, role, sites) VALUES"
                     " (%s, 'operator', '{campus-ndogbong}')", (OPERATOR,))
        # A timezone where it is day now: the room closes at local midnight.
        conn.execute("UPDATE captiva_site SET timezone = %s WHERE name = 'campus-ndogbong'",
                     (daytime_zone(),))
        conn.execute("INSERT INTO captiva_workstation_rules VALUES ('campus-ndogbong', 3600,"
                     " 7200, 3, NULL, '{300,120,60,30,10}', 90)")
        for day in range(1, 8):
            conn.execute("INSERT INTO captiva_workstation_hours VALUES ('campus-ndogbong', %s,"
                         " 0, 1440)", (day,))
        for name, mac, ip in PCS:
            conn.execute("INSERT INTO captiva_workstation VALUES (%s, 'campus-ndogbong', %s,"
                         " %s, 'Bibliotheque', false)", (name, mac, ip))
    return radius_server


def staff_client(campus, username, lang="fr"):
    app = create_app(portal_config(campus.db, campus))
    client = TestClient(app, base_url="https://portal.test", follow_redirects=False,
                        client=("192.0.2.10", 50000), cookies={"captiva_lang": lang})
    client.__enter__()
    page = client.get("/login")
    response = client.post("/login", data={"csrf": csrf_of(page.text), "username": username,
                                           "password": password(username)})
    assert response.status_code == 303
    return client


def kiosk_client(campus, ip):
    client = TestClient(create_app(portal_config(campus.db, campus)),
                        base_url="https://portal.test", client=(ip, 50000))
    client.__enter__()
    return client


@pytest.fixture
def operator(campus):
    client = staff_client(campus, OPERATOR)
    yield client
    client.__exit__(None, None, None)


def act(client, **form):
    page = client.get("/admin/workstations/campus-ndogbong")
    assert page.status_code == 200, page.text
    response = client.post("/admin/workstations/campus-ndogbong/act",
                           data={"csrf": csrf_of(page.text), **form})
    assert response.status_code == 303, response.text
    return client.get(response.headers["location"])


def notice(page):
    found = re.search(r'data-test="ws-notice">([^<]*)<', page.text)
    return html.unescape(found.group(1)) if found else None


def board(client):
    rows = client.get("/api/admin/workstations/campus-ndogbong").json()["rows"]
    return {r["name"]: r for r in rows}


def test_issue_then_the_kiosk_counts_down_once_the_workstation_logs_in(campus, operator):
    page = act(operator, action="issue", workstation="BIB-PC-01", member=MEMBER, minutes="45")
    assert notice(page) == "Session attribuée."
    code = re.search(r"Code de session : (P\d{8,})", page.text).group(1)
    # The code is shown once, to its issuer: not in the URL, not on the board (issue 23).
    again = operator.get("/admin/workstations/campus-ndogbong")
    assert code not in again.text and code not in str(page.url)
    row = board(operator)["BIB-PC-01"]
    assert (row["status"], row["remaining"]) == ("issued", 2700) and "code" not in row
    assert f"session {row['session_id']}" in again.text
    assert "Ngono" in row["member"]
    kiosk = kiosk_client(campus, "10.5.60.11")
    try:
        state = kiosk.get("/api/kiosk").json()["row"]
        assert (state["state"], state["code"], state["needs_login"]) == ("issued", code, True)
        # The kiosk logs the code in through the hotspot: the router asks FreeRADIUS.
        reply = campus.authenticate(code, code, Calling_Station_Id="02:00:5E:10:00:01")
        assert reply.code == packet.AccessAccept and reply["Session-Timeout"] == [2700]
        state = kiosk.get("/api/kiosk").json()["row"]
        assert state["state"] == "running" and not state["needs_login"]
        assert 2695 <= state["ends_at"] - kiosk.get("/api/kiosk").json()["at"] <= 2701
        assert "Temps restant" in kiosk.get("/kiosk").text  # the member's language
        assert board(operator)["BIB-PC-01"]["online"] is True  # the kiosk is its heartbeat
        # Added time: the next read shows it, and the router must be given it again.
        page = act(operator, action="add-time", session=str(row["session_id"]), minutes="+10")
        assert notice(page) == "Temps modifié."
        state = kiosk.get("/api/kiosk").json()["row"]
        assert 3295 <= state["remaining"] <= 3300 and state["needs_login"] is True
        # Terminated: the kiosk says the session ended.
        act(operator, action="terminate", session=str(row["session_id"]))
        assert kiosk.get("/api/kiosk").json()["row"]["state"] == "ended"
    finally:
        kiosk.__exit__(None, None, None)


def test_refusals_are_clear_in_french_and_english(campus, operator):
    act(operator, action="issue", workstation="BIB-PC-02", member=MEMBER)
    page = act(operator, action="issue", workstation="BIB-PC-02", member=ADMIN)
    assert notice(page) == "Refusé : le poste est déjà occupé."
    english = staff_client(campus, OPERATOR, lang="en")
    try:
        page = act(english, action="issue", workstation="BIB-PC-02", member=ADMIN)
        assert notice(page) == "Refused: the workstation is already in use."
        page = act(english, action="issue", workstation="BIB-PC-01", member=ADMIN,
                   minutes="500")
        assert notice(page) == "Refused: a session lasts at most 120 min."
        page = act(english, action="maintenance-on", workstation="BIB-PC-01")
        assert notice(page) == "Workstation in maintenance."
        page = act(english, action="issue", workstation="BIB-PC-01", member=ADMIN)
        assert notice(page) == "Refused: the workstation is under maintenance."
        act(english, action="maintenance-off", workstation="BIB-PC-01")
    finally:
        english.__exit__(None, None, None)


def test_csrf_and_roles(campus, operator):
    response = operator.post("/admin/workstations/campus-ndogbong/act",
                             data={"action": "maintenance-on", "workstation": "BIB-PC-01"})
    assert response.status_code == 403
    with campus.db.connect() as conn:
        conn.execute("UPDATE captiva_staff SET role = 'viewer' WHERE username = %s",
                     (OPERATOR,))
    viewer = staff_client(campus, OPERATOR)
    try:
        page = viewer.get("/admin/workstations/campus-ndogbong")
        assert 'data-test="ws-issue"' not in page.text  # read-only: no action forms
        page = act(viewer, action="maintenance-on", workstation="BIB-PC-01")
        assert notice(page) == "Refusé : votre rôle ne permet pas d'agir sur ce site."
        assert board(viewer)["BIB-PC-01"]["status"] == "free"
    finally:
        viewer.__exit__(None, None, None)
        with campus.db.connect() as conn:
            conn.execute("UPDATE captiva_staff SET role = 'operator' WHERE username = %s",
                         (OPERATOR,))
    # The audit is searchable in the console, and names the action refused.
    page = operator.get("/admin/workstations/campus-ndogbong/audit", params={"q": "refused"})
    assert page.status_code == 200 and "maintenance-on → forbidden" in page.text


def test_an_address_that_is_no_workstation_gets_no_kiosk(campus):
    client = kiosk_client(campus, "192.0.2.99")
    try:
        assert client.get("/kiosk").status_code == 404
        assert client.get("/api/kiosk").status_code == 404
    finally:
        client.__exit__(None, None, None)


def test_the_kiosk_sends_its_code_only_to_a_hotspot_the_inventory_declares(campus, operator):
    """/kiosk?login= comes from the hotspot's status page; any link could carry another
    host. The page (and its code) is served only for the site's routers' hotspot dns_name or
    address (captiva_router, written by the reconcile); any other host is refused, clearly."""
    with campus.db.connect() as conn:
        conn.execute("UPDATE captiva_router SET hotspot_dns_name = 'wifi.ndogbong.test'"
                     " WHERE site = 'campus-ndogbong'")
        (address,) = conn.execute("SELECT host(nasipaddress) FROM captiva_router"
                                  " WHERE site = 'campus-ndogbong'").fetchone()
    row = None
    kiosk = kiosk_client(campus, "10.5.60.12")
    try:
        act(operator, action="issue", workstation="BIB-PC-02", member=MEMBER, minutes="30")
        row = board(operator)["BIB-PC-02"]
        code = kiosk.get("/api/kiosk").json()["row"]["code"]
        for url in ("http://wifi.ndogbong.test/login", "https://WIFI.ndogbong.test/login",
                    f"http://{address}/login"):
            page = kiosk.get("/kiosk", params={"login": url})
            assert page.status_code == 200 and url.replace("/", "\\/") in page.text or (
                url in page.text), url
        for url in ("http://attacker.example/login", "http://wifi.ndogbong.test.evil.example/",
                    "https://10.9.9.9/login"):
            page = kiosk.get("/kiosk", params={"login": url})
            assert page.status_code == 400, url
            assert "n'envoie son code qu'au hotspot de son site" in html.unescape(page.text)
            assert code not in page.text
    finally:
        kiosk.__exit__(None, None, None)
        if row is not None:
            act(operator, action="terminate", session=str(row["session_id"]))
