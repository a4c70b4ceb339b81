"""The helpdesk's console in the real portal app, against real PostgreSQL and FreeRADIUS
(staff log in through RADIUS like students; portal_fixtures seeds the campus).

Roles come from captiva_staff: the admin acts, a viewer only reads; every action needs the
session's CSRF token and leaves an audit row.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import psycopg
import pytest
import radius_fixtures
from portal_fixtures import (
    ADMIN,
    GiB,
    csrf_of,
    password,
    portal_config,
    seed_accounting,
    seed_campus,
)
from starlette.testclient import TestClient

from captiva.portal.app import create_app

radius_server = radius_fixtures.radius_server
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
VIEWER = "STU2025002"
STUDENT = "STU2025001"


@pytest.fixture(scope="module")
def campus(radius_server):
    seed_campus(radius_server.db, NOW)
    seed_accounting(radius_server.db, NOW)
    with radius_server.db.connect() as conn:
        conn.execute("INSERT INTO captiva_staff (username, role) VALUES (%s, 'viewer')",
                     (VIEWER,))
        conn.execute("INSERT INTO radgroupreply (groupname, attribute, op, value, managed_by)"
                     " VALUES ('captiva-wifi-off', 'Reply-Message', ':=',"
                     " 'WiFi suspendu pour votre promotion', 'captiva')")
    return radius_server


def client_for(campus, username, **config):
    app = create_app(portal_config(campus.db, campus, **config), now=lambda: NOW)
    client = TestClient(app, base_url="https://portal.test", follow_redirects=False,
                        client=("192.0.2.10", 50000))
    client.__enter__()
    page = client.get("/login")
    response = client.post("/login", data={"csrf": csrf_of(page.text), "username": username,
                                           "password": password(username)})
    assert response.status_code == 303
    return client, response.headers["location"]


@pytest.fixture
def admin(campus):
    client, target = client_for(campus, ADMIN)
    assert target == "/admin"
    yield client
    client.__exit__(None, None, None)


@pytest.fixture
def viewer(campus):
    client, target = client_for(campus, VIEWER)
    assert target == "/admin"  # staff, whatever their role
    yield client
    client.__exit__(None, None, None)


def search(client, **params):
    response = client.get("/api/admin/users", params=params)
    assert response.status_code == 200
    return [row["username"] for row in response.json()["rows"]]


def test_search_by_username_name_email_mac_and_ip(admin):
    assert search(admin, q="stu2025001")[0] == STUDENT
    assert search(admin, q="Ngono") == [STUDENT]  # last name
    assert search(admin, q="aa:bb:cc:00:00:03") == [STUDENT]  # the open session's MAC
    assert search(admin, q="AA-BB-CC-00-00-0") == [STUDENT, VIEWER]  # a MAC prefix
    assert search(admin, q="10.5.50.90") == [VIEWER]  # Paul's framed IP
    assert search(admin, q="10.5.50.64/26") == [STUDENT, VIEWER]  # a network
    assert search(admin, q="zzz-nobody") == []


def test_the_list_has_presence_filters_paging_and_csv(admin):
    rows = {r["username"]: r for r in admin.get("/api/admin/users").json()["rows"]}
    assert rows[STUDENT]["presence"] == "online" and rows[STUDENT]["online_ip"] == "10.5.50.78"
    assert rows["STU2024009"]["presence"] == "never"
    assert search(admin, status="online") == [STUDENT, VIEWER]
    assert search(admin, status="never") == [ADMIN, "STU2024009"]
    assert search(admin, status="wifi-off") == ["STU2024009"]
    assert search(admin, promotion="L3-INFO-2025") == [STUDENT, VIEWER]
    page = admin.get("/admin/users", params={"q": "Ngono"})  # the server-rendered fallback
    assert page.status_code == 200 and f'data-username="{STUDENT}"' in page.text
    assert "/static/console.js" in page.text
    exported = admin.get("/admin/users.csv", params={"status": "online"})
    assert exported.headers["content-type"].startswith("text/csv")
    assert [r["username"] for r in csv.DictReader(io.StringIO(exported.text))] == [STUDENT,
                                                                                    VIEWER]


def test_the_user_page_says_why_and_where_the_profile_comes_from(admin):
    page = admin.get("/admin/users/STU2024009")
    assert page.status_code == 200
    assert 'data-rule="wifi-off"' in page.text
    assert "WiFi suspendu pour votre promotion" in page.text  # what FreeRADIUS replies
    assert "profil de sa promotion" in page.text or "promotion&#39;s profile" in page.text
    assert "Access-Reject" in page.text  # the last failure
    student = admin.get(f"/admin/users/{STUDENT}")
    assert 'data-rule="none"' in student.text or 'data-rule="simultaneous-use"' in student.text
    assert "Git" in student.text  # nothing here edits the roster
    assert admin.get("/admin/users/nobody-here").status_code == 404


def test_the_user_page_links_to_the_line_that_declares_the_user(campus):
    source = "https://git.campus.test/wifi/inventory/-/blob/main/group_vars/all/users.yml"
    client, _ = client_for(campus, ADMIN, roster_source=source)
    page = client.get(f"/admin/users/{STUDENT}").text
    # A text fragment: the forge's file view scrolls to and highlights that user's entry.
    assert f'href="{source}#:~:text=username%3A%20{STUDENT}"' in page


def test_a_viewer_reads_but_cannot_act(viewer, campus):
    assert viewer.get(f"/admin/users/{STUDENT}").status_code == 200
    page = viewer.get(f"/admin/users/{STUDENT}")
    assert 'data-test="grant-form"' not in page.text and 'data-test="disconnect"' not in page.text
    token = csrf_of(page.text)
    refused = viewer.post(f"/admin/users/{STUDENT}/grant", data={
        "csrf": token, "kind": "extra", "period": "weekly", "amount": "1", "reason": "x",
        "expires": (NOW + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")})
    assert refused.status_code == 403
    assert viewer.post(f"/admin/users/{STUDENT}/disconnect",
                       data={"csrf": token, "radacctid": "1"}).status_code == 403
    with campus.db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM captiva_quota_grant").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM captiva_audit WHERE actor = %s",
                            (VIEWER,)).fetchone()[0] == 0


def test_every_action_needs_the_csrf_token(admin, campus):
    for action, data in (("grant", {"kind": "extra", "period": "weekly", "amount": "1",
                                    "reason": "x"}),
                         ("disconnect", {"radacctid": "1"})):
        assert admin.post(f"/admin/users/{STUDENT}/{action}", data=data).status_code == 403
        assert admin.post(f"/admin/users/{STUDENT}/{action}",
                          data={**data, "csrf": "forged"}).status_code == 403
    with campus.db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM captiva_audit").fetchone()[0] == 0


def test_the_admin_grants_and_disconnects_and_the_history_shows_it(admin, campus):
    page = admin.get(f"/admin/users/{STUDENT}")
    token = csrf_of(page.text)
    expires = (NOW + dt.timedelta(days=3)).astimezone(dt.UTC)
    done = admin.post(f"/admin/users/{STUDENT}/grant", data={
        "csrf": token, "kind": "extra", "period": "weekly", "amount": "5",
        "reason": "thesis defence", "expires": expires.strftime("%Y-%m-%dT%H:%M+00:00")})
    assert done.status_code == 303 and done.headers["location"].endswith("done=console.granted")
    refused = admin.post(f"/admin/users/{STUDENT}/grant", data={
        "csrf": token, "kind": "extra", "period": "weekly", "amount": "5", "reason": ""})
    assert refused.headers["location"].endswith("error=console.reason_required")
    with campus.db.connect() as conn:
        session = conn.execute("SELECT radacctid FROM radacct WHERE username = %s"
                               " AND acctstoptime IS NULL", (STUDENT,)).fetchone()[0]
    sent = admin.post(f"/admin/users/{STUDENT}/disconnect",
                      data={"csrf": token, "radacctid": str(session)})
    assert sent.headers["location"].endswith("done=console.disconnect_requested")
    page = admin.get(sent.headers["location"])
    assert "thesis defence" in page.text
    assert re.search(r'data-result="pending"', page.text)  # the jobs have not sent it yet
    # the weekly bar includes the grant: the profile's 5 GiB + 5 GiB
    assert "10 GiB" in page.text
    with psycopg.connect(campus.db.dsns["jobs"]) as conn:
        listed = conn.execute("SELECT radacctid, reason FROM captiva_sessions_to_disconnect()"
                              ).fetchall()
    assert (session, "console") in listed  # the enforce job sends it from the RADIUS host
    with campus.db.connect() as conn:
        audit = conn.execute("SELECT actor, actor_role, action FROM captiva_audit"
                             " WHERE username = %s ORDER BY id", (STUDENT,)).fetchall()
        quota = conn.execute("SELECT quota FROM captiva_user_usage(%s, %s)"
                             " WHERE period = 'weekly'", (STUDENT, NOW)).fetchone()[0]
    assert audit == [(ADMIN, "admin", "grant"), (ADMIN, "admin", "disconnect")]
    assert quota == 10 * GiB
    history = page.text[page.text.index('data-test="history"'):]
    assert history.index("disconnect") < history.index("grant")  # newest first
