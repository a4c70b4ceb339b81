"""Vouchers on the portal, against real FreeRADIUS (the portal's RADIUS client) and PostgreSQL.

A holder logs in with the code (checked by FreeRADIUS like a student's password) and sees
what is left, from captiva_voucher_status, built on the judgement FreeRADIUS applies at
login. Admins see each batch's codes counted by state, recent logins and a CSV. Accounting
rows are written with FreeRADIUS's own queries (portal_fixtures.Accounting).
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import psycopg
import pytest
import radius_fixtures
from ansible_collections.captiva.campus.plugins.module_utils.captiva_vouchers import (
    check_character,
    compile_vouchers,
    format_code,
    validate_batches,
)
from portal_fixtures import (
    ADMIN,
    TIMEZONE,
    Accounting,
    GiB,
    MiB,
    csrf_of,
    password,
    portal_config,
    seed_campus,
)
from psycopg import sql
from starlette.testclient import TestClient

from captiva.portal import radius_auth
from captiva.portal.app import create_app

radius_server = radius_fixtures.radius_server
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
TODAY = NOW.date()
SECRET = "voucher-secret-for-the-portal-0123456789"


def batch(name, **changes):
    item = {"name": name, "count": 6, "profile": "etudiant-standard", "time_credit": "1h",
            "data": "1GiB", "valid_from": (TODAY - dt.timedelta(days=1)).isoformat(),
            "valid_until": (TODAY + dt.timedelta(days=30)).isoformat()}
    item.update(changes)
    return item


BATCHES = [batch("conference", revoked=[3]),
           batch("ended", count=2, valid_from=(TODAY - dt.timedelta(days=9)).isoformat(),
                 valid_until=(TODAY - dt.timedelta(days=2)).isoformat()),
           batch("open-day", count=3, time_credit=None, data=None,
                 window_after_first_use="24h")]


def write_vouchers(conn, batches):
    """``compile_vouchers``'s rows in one transaction, as captiva_radius's reconcile writes
    them (the campus here is seeded without the roster's reconcile: portal_fixtures)."""
    compiled = compile_vouchers(batches)
    with conn.transaction():
        for table, rows in compiled["tables"].items():
            for row in rows:
                conn.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, row)),
                    sql.SQL(", ").join(sql.Placeholder() * len(row))), list(row.values()))
        for username, user in compiled["radius_users"].items():
            conn.execute("INSERT INTO radcheck (username, attribute, op, value, managed_by)"
                         " VALUES (%s, 'Cleartext-Password', ':=', %s, 'captiva')",
                         (username, user["password"]["value"]))
            conn.execute("INSERT INTO radusergroup (username, groupname, priority, managed_by)"
                         " VALUES (%s, %s, 1, 'captiva')", (username, user["group"]))


@pytest.fixture(scope="module")
def campus(radius_server):
    seed_campus(radius_server.db, NOW)
    batches, errors = validate_batches(
        {"captiva_voucher_batches": BATCHES, "captiva_voucher_secret": SECRET},
        profiles=["etudiant-standard"], usernames=[], sites={"campus-ndogbong": TIMEZONE},
        default_timezone=TIMEZONE, default_language="fr")
    assert errors == [], errors
    with radius_server.db.connect("reconcile") as conn:
        write_vouchers(conn, batches)
    codes = {b["name"]: b["codes"] for b in batches}
    conference = codes["conference"]
    with radius_server.db.connect("freeradius") as conn:
        acct = Accounting(conn)
        # 2: its hour used up; 4: online for 10 minutes, 300 MiB so far.
        acct.session("c2", conference[1], NOW - dt.timedelta(hours=3), ip="10.5.50.20",
                     mac="AA:BB:CC:00:01:02", octets_in=10 * MiB, octets_out=MiB,
                     stop=NOW - dt.timedelta(hours=2))
        acct.session("c4", conference[3], NOW - dt.timedelta(minutes=10), ip="10.5.50.21",
                     mac="AA:BB:CC:00:01:04", octets_in=250 * MiB, octets_out=50 * MiB,
                     stop=None, interims=1)
    with radius_server.db.connect() as conn:  # first uses, as post-auth records them
        for voucher, ago in ((conference[1], 3), (conference[3], 0.2), (conference[4], 1),
                             (codes["open-day"][0], 20)):
            conn.execute("INSERT INTO captiva_voucher_first_use (code, first_used_at)"
                         " VALUES (%s, %s)", (voucher, NOW - dt.timedelta(hours=ago)))
    radius_server.codes = codes
    return radius_server


@pytest.fixture
def client(campus):
    app = create_app(portal_config(campus.db, campus), now=lambda: NOW)
    with TestClient(app, base_url="https://portal.test", follow_redirects=False,
                    client=("192.0.2.10", 50000)) as client:
        yield client


def code_login(client, typed):
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"csrf": token, "code": typed})


def first_use(campus, voucher):
    with campus.db.connect() as conn:
        row = conn.execute("SELECT first_used_at FROM captiva_voucher_first_use"
                           " WHERE code = %s", (voucher,)).fetchone()
    return row and row[0]


def test_the_login_page_offers_the_code_form(client):
    page = client.get("/login", headers={"accept-language": "fr"})
    assert "Vous avez un code d&#39;accès ?" in page.text and 'name="code"' in page.text
    page = client.get("/login", headers={"accept-language": "en"})
    assert "Have an access code?" in page.text


def test_a_holder_logs_in_with_the_code_as_printed_and_sees_what_is_left(client, campus):
    voucher = campus.codes["conference"][0]
    response = code_login(client, format_code(voucher).lower().replace("-", " "))
    assert response.status_code == 303 and response.headers["location"] == "/voucher/me"
    assert client.get("/me").headers["location"] == "/voucher/me"
    page = client.get("/voucher/me", headers={"accept-language": "en"})
    assert page.status_code == 200
    assert "Card no. 1 of batch conference" in page.text
    assert '<dd data-test="time-left">1 h</dd>' in page.text
    assert '<dd data-test="data-left">1 GiB / 1 GiB</dd>' in page.text
    until = (TODAY + dt.timedelta(days=31)).isoformat()  # valid_until inclusive: to 24:00
    assert f'<dd data-test="valid-until">{until} 00:00 ({TIMEZONE})' in page.text
    assert "Not used yet" in page.text and "Code valid" in page.text
    # The portal's login only checks the code: the window does not start.
    assert first_use(campus, voucher) is None


def test_a_holder_online_sees_the_credit_and_data_counting_down(client, campus):
    voucher = campus.codes["conference"][3]
    assert code_login(client, voucher).status_code == 303
    page = client.get("/voucher/me", headers={"accept-language": "fr"})
    assert '<dd data-test="time-left">50 min</dd>' in page.text  # 10 of 60 minutes online
    assert '<dd data-test="data-left">724 MiB / 1 GiB</dd>' in page.text
    assert "Code valable" in page.text


def test_a_used_up_code_shows_why(client, campus):
    assert code_login(client, campus.codes["conference"][1]).status_code == 303
    page = client.get("/voucher/me")
    assert ('<p class="alert" role="alert" data-test="voucher-state">'
            "Crédit de temps épuisé / Time credit used up") in page.text
    assert '<dd data-test="time-left">0 s</dd>' in page.text


@pytest.mark.parametrize(("batch_name", "index"), [("conference", 3), ("ended", 1)])
def test_a_revoked_or_expired_code_cannot_sign_in(client, campus, batch_name, index):
    """FreeRADIUS judges the portal's login of a code too (policy.d/captiva_voucher,
    captiva_voucher_portal_xlat): revoked and expired codes are refused there."""
    response = code_login(client, campus.codes[batch_name][index - 1])
    assert response.status_code == 401
    assert "Code inconnu ou mal saisi." in response.text
    assert client.get("/voucher/me").status_code == 303  # no session


def test_a_window_shows_when_it_ends(client, campus):
    assert code_login(client, campus.codes["open-day"][0]).status_code == 303
    page = client.get("/voucher/me", headers={"accept-language": "en"})
    assert '<dd data-test="time-left">4 h</dd>' in page.text  # 24 h from 20 h ago
    assert '<dd data-test="data-left">no data limit</dd>' in page.text
    client.cookies.clear()  # another holder on the same browser
    fresh = code_login(client, campus.codes["open-day"][1])
    assert fresh.status_code == 303
    page = client.get("/voucher/me", headers={"accept-language": "en"})
    assert "1 d from the first login" in page.text


def test_a_mistyped_code_is_refused_before_radius_and_an_unknown_one_by_radius(campus):
    """The check character catches a mistyped code in the portal: no Access-Request leaves
    (counted around the real RADIUS client); a well-formed code nobody issued is RADIUS's."""
    sent = []

    def counting(*args, **kwargs):
        sent.append(args[1])
        return radius_auth.authenticate(*args, **kwargs)

    app = create_app(portal_config(campus.db, campus), now=lambda: NOW, authenticate=counting)
    with TestClient(app, base_url="https://portal.test", follow_redirects=False,
                    client=("192.0.2.11", 50000)) as client:
        voucher = campus.codes["conference"][0]
        for wrong in (voucher[:-1] + ("2" if voucher[-1] != "2" else "3"),  # one character
                      voucher[1] + voucher[0] + voucher[2:] if voucher[0] != voucher[1]
                      else voucher[:-1] + "X", "K7HM-3XPW", "alice"):
            response = code_login(client, wrong)
            assert response.status_code == 400, wrong
            assert "Code inconnu ou mal saisi." in response.text
        assert sent == []
        data = "".join(sorted(voucher[:9]))  # a right check character, but nobody's code
        unknown = data + check_character(data)
        response = code_login(client, unknown)
        assert response.status_code == 401 and sent == [unknown]
        assert client.get("/voucher/me").status_code == 303  # no session


def admin_login(client):
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"csrf": token, "username": ADMIN,
                                           "password": password(ADMIN)})
    assert response.status_code == 303


def test_admins_see_each_batch_counted_by_state_recent_logins_and_a_csv(client, campus):
    admin_login(client)
    view = client.get("/api/admin/vouchers").json()
    batches = {b["name"]: b for b in view["batches"]}
    assert batches["conference"]["counts"] == {
        "unused": 2, "in-use": 2, "exhausted": 1, "expired": 0, "revoked": 1}
    assert batches["conference"]["online"] == 1
    assert batches["ended"]["counts"] == {
        "unused": 0, "in-use": 0, "exhausted": 0, "expired": 2, "revoked": 0}
    assert batches["open-day"]["counts"]["in-use"] == 1
    assert batches["open-day"]["counts"]["unused"] == 2
    recent = batches["conference"]["recent"]
    assert [(r["index"], r["router"]) for r in recent] == [(4, "ndogbong-gw1"),
                                                           (2, "ndogbong-gw1")]
    page = client.get("/admin/vouchers", headers={"accept-language": "en"})
    assert page.status_code == 200
    assert '<tr data-batch="conference">' in page.text and "Recent logins" in page.text
    assert 'data-state="exhausted">1</td>' in page.text
    exported = client.get("/admin/vouchers.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 6 + 2 + 3
    by_card = {(r["batch"], r["index"]): r for r in rows}
    assert by_card[("conference", "2")]["state"] == "exhausted"
    assert by_card[("conference", "4")]["online"] == "1"
    # A code is a password: neither the page nor the CSV holds one.
    for voucher in campus.codes["conference"]:
        assert voucher not in exported.text and voucher not in page.text
        assert format_code(voucher) not in page.text


def test_a_student_sees_no_batch(client):
    token = csrf_of(client.get("/login").text)
    client.post("/login", data={"csrf": token, "username": "STU2025001",
                                "password": password("STU2025001")})
    assert client.get("/admin/vouchers").status_code == 403
    assert client.get("/api/admin/vouchers").status_code == 403
    assert client.get("/admin/vouchers.csv").status_code == 403


def test_the_portal_cannot_read_codes_but_can_judge_them(campus):
    with campus.db.connect("portal") as conn:
        rows = conn.execute("SELECT batch, state FROM captiva_voucher_states(now())").fetchall()
        assert len(rows) == 11
        assert conn.execute("SELECT count(*) FROM captiva_voucher_status('K7HM3XPW9H')"
                            ).fetchone()[0] == 0
        # The rule over every code is reached only through the functions built on it.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT code FROM captiva_voucher_judgements(NULL, now(), false)")
    assert GiB  # the data cap of the batches above


def test_the_shared_rule_stays_inlinable(campus):
    """captiva_voucher_judgements is the one rule for the login (one code) and the batch page
    (every code). PostgreSQL takes the login's code down to the indexes only when it inlines
    the function: plain SQL, STABLE, neither SECURITY DEFINER nor SET (else a login would
    aggregate all of radacct; test_voucher_scale.py measures it)."""
    with campus.db.connect() as conn:
        row = conn.execute(
            "SELECT l.lanname, p.provolatile, p.prosecdef, p.proisstrict, p.proconfig,"
            " p.proretset FROM pg_proc AS p JOIN pg_language AS l ON l.oid = p.prolang"
            " WHERE p.oid = 'captiva_voucher_judgements'::regproc").fetchone()
    assert row == ("sql", "s", False, False, None, True)


def revoke(client, typed, reason="photographed and shared"):
    token = csrf_of(client.get("/admin/vouchers").text)
    return client.post("/admin/vouchers/revoke",
                       data={"csrf": token, "code": typed, "reason": reason})


def test_an_admin_revokes_a_code_at_once_from_the_batch_page(client, campus):
    voucher = campus.codes["conference"][4]  # card 5, in use
    admin_login(client)
    response = revoke(client, format_code(voucher))
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/vouchers?revoked=conference%235"
    page = client.get(response.headers["location"], headers={"accept-language": "en"})
    assert "Card no. 5 of batch conference revoked" in page.text
    with campus.db.connect() as conn:
        assert conn.execute("SELECT source, reason FROM captiva_voucher_revocation"
                            " WHERE code = %s", (voucher,)).fetchone() == (
            "urgent", f"photographed and shared (by {ADMIN})")
        audit = conn.execute("SELECT actor, action, username, detail::text FROM captiva_audit"
                             " WHERE action = 'voucher-revoke'").fetchall()
    assert audit == [(ADMIN, "voucher-revoke", "conference#5",
                      '{"batch": "conference", "index": 5}')]
    # What FreeRADIUS's rule says from now on: revoked, and listed for the enforce job.
    with campus.db.connect("jobs") as conn:
        assert conn.execute("SELECT reason FROM captiva_voucher_judge(%s, NULL, now(), true)",
                            (voucher,)).fetchone() == ("revoked",)
    again = revoke(client, voucher.lower())
    assert again.headers["location"].endswith("&again=1")
    with campus.db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM captiva_audit WHERE action ="
                            " 'voucher-revoke'").fetchone() == (1,)
    assert revoke(client, "K7HM-3XPW-9H").headers["location"] == (
        "/admin/vouchers?error=voucher.failed")
    assert revoke(client, campus.codes["conference"][5], reason=" ").headers["location"] == (
        "/admin/vouchers?error=vouchers.reason_required")


def test_a_viewer_cannot_revoke(client, campus):
    with campus.db.connect() as conn:
        conn.execute("INSERT INTO captiva_staff (username, role) VALUES ('STU2025002', 'viewer')"
                     " ON CONFLICT DO NOTHING")
    token = csrf_of(client.get("/login").text)
    client.post("/login", data={"csrf": token, "username": "STU2025002",
                                "password": password("STU2025002")})
    page = client.get("/admin/vouchers")
    assert page.status_code == 200 and 'data-test="revoke-form"' not in page.text
    response = client.post("/admin/vouchers/revoke", data={
        "csrf": csrf_of(page.text), "code": campus.codes["conference"][5], "reason": "x"})
    assert response.status_code == 403
    with campus.db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM captiva_voucher_revocation WHERE code = %s",
                            (campus.codes["conference"][5],)).fetchone() == (0,)
