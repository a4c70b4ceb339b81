"""A student's own password, end to end (docs/portal.md, "For students"): the real portal
app, real FreeRADIUS configured by the role, real PostgreSQL written by the real reconcile,
and a real SMTP server (aiosmtpd, STARTTLS + AUTH) for the forgotten-password links.

What a user notices: after a change on the portal, the router's Access-Request with the old
password is rejected and with the new one accepted; a new password in the roster (an admin
reset) then wins; a reset link arrives in the student's language, works once, and a new
password chosen with it logs in.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import time

import psycopg
import pytest
import radius_fixtures
from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import reconcile
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from portal_fixtures import csrf_of, portal_config
from pyrad import packet
from quota_radius_fixtures import provision, roster_variables, wait_replayed
from starlette.testclient import TestClient
from test_quota_jobs import smtp_server  # noqa: F401  (fixture)

from captiva.portal.app import create_app

radius_server = radius_fixtures.radius_server

ROSTER_PASSWORD = {"alice": "Roster-alice-0123", "bruno": "Roster-bruno-0123",
                   "chloe": "Roster-chloe-0123"}
NEW_PASSWORD = "violet-tandem-harbour-42"


def roster(passwords: dict[str, str]) -> list[dict]:
    return [{"username": user, "password": secret, "promotion": "unlimited",
             "language": "fr" if user == "chloe" else "en", "first_name": user.title(),
             "last_name": "Test", "email": f"{user}@campus.test"}
            for user, secret in passwords.items()]


@pytest.fixture(scope="module")
def campus(radius_server):
    provision(radius_server, roster(ROSTER_PASSWORD))
    return radius_server


def router_accepts(server, user: str, secret: str) -> bool:
    """An Access-Request as a router sends it (PAP from the router's client)."""
    reply = server.authenticate(user, secret)
    assert reply is not None, server.log_tail()
    return reply.code == packet.AccessAccept


def portal(server, smtp=None, **password_settings):
    settings = {"public_url": "https://portal.test", **password_settings}
    overrides = {"password": settings}
    if smtp is not None:
        overrides["smtp"] = {"host": "localhost", "port": smtp["port"], "username": "captiva",
                             "password": "mail-pass", "from": "wifi@campus.test",
                             "ca_file": smtp["ca"]}
    return browser_of(create_app(portal_config(server.db, server, **overrides)))


def browser_of(app, address: str = "192.0.2.10", start: bool = True):
    """A client of ``app`` (one device: its own cookies); ``start``: run the app's lifespan
    (its database pool), which a second device of the same app shares."""
    client = TestClient(app, base_url="https://portal.test", follow_redirects=False,
                        client=(address, 50000), headers={"accept-language": "en"})
    if start:
        client.__enter__()
    return client


def sign_in(client, user: str, secret: str) -> None:
    page = client.get("/login")
    response = client.post("/login", data={"csrf": csrf_of(page.text), "username": user,
                                           "password": secret})
    assert (response.status_code, response.headers.get("location")) == (303, "/me"), \
        response.text


def change(client, current: str, new: str, confirm: str | None = None, **extra):
    page = client.get("/password")
    assert page.status_code == 200
    return client.post("/password", data={"csrf": csrf_of(page.text), "current": current,
                                          "new": new, "confirm": new if confirm is None
                                          else confirm, **extra})


def audit(server, user: str) -> list[tuple[str, str, str]]:
    with server.db.connect() as conn:
        return conn.execute("SELECT actor, actor_role, action FROM captiva_audit"
                            " WHERE username = %s ORDER BY id", (user,)).fetchall()


def apply_roster(server, passwords: dict[str, str], check_mode: bool = False,
                 storage: str = "hashed") -> dict:
    variables = roster_variables(roster(passwords))
    variables["captiva_password_storage"] = storage
    variables, errors = validate(variables)
    assert errors == [], errors
    with server.db.connect("reconcile") as conn:
        return reconcile(conn, variables, now=dt.datetime.now(dt.UTC), check_mode=check_mode,
                         change_context={"user": "helpdesk-git"})


def test_a_change_on_the_portal_is_what_the_router_accepts_until_an_admin_reset(campus):
    student = portal(campus)
    other_device = browser_of(student.app, "192.0.2.11", start=False)
    try:
        sign_in(student, "alice", ROSTER_PASSWORD["alice"])
        sign_in(other_device, "alice", ROSTER_PASSWORD["alice"])
        page = student.get("/password")
        assert "sha512-crypt" in page.text  # what is stored, said on the page
        # alice's phone is online: a hotspot session the router reported
        campus.account("alice", "Start", "alice-phone-1", Framed_IP_Address="10.5.50.31")
        wait_replayed(campus)

        done = change(student, ROSTER_PASSWORD["alice"], NEW_PASSWORD, end_sessions="1")
        assert (done.status_code, done.headers["location"]) == (303, "/password?done=1&ended=1")
        assert "Password changed" in student.get(done.headers["location"]).text
        # the student's other portal session ended at their choice; this one goes on
        assert other_device.get("/me").status_code == 303
        assert student.get("/me").status_code == 200
        # and the phone's session is asked to end, as the console's "Disconnect now" (the
        # enforce job sends the router its Disconnect-Request: test_console_disconnect.py)
        with campus.db.connect() as conn:
            assert conn.execute(
                "SELECT d.username, d.requested_by FROM captiva_console_disconnect AS d"
                " JOIN radacct AS a USING (radacctid) WHERE a.acctsessionid = 'alice-phone-1'"
            ).fetchall() == [("alice", "alice")]
        # the router ends it (Simultaneous-Use 1 would refuse the logins below otherwise)
        campus.account("alice", "Stop", "alice-phone-1", Framed_IP_Address="10.5.50.31",
                       Acct_Session_Time=60, Acct_Terminate_Cause="Admin-Reset")
        wait_replayed(campus)

        assert not router_accepts(campus, "alice", ROSTER_PASSWORD["alice"])
        assert router_accepts(campus, "alice", NEW_PASSWORD)
        assert router_accepts(campus, "bruno", ROSTER_PASSWORD["bruno"])  # nobody else's
        assert audit(campus, "alice") == [("alice", "student", "password-change")]
        with campus.db.connect() as conn:  # stored hashed, never the password
            stored = conn.execute("SELECT attribute, value FROM captiva_student_credential"
                                  " WHERE username = 'alice'").fetchone()
        assert stored[0] == "Crypt-Password" and stored[1].startswith("$6$")
        assert NEW_PASSWORD not in stored[1]

        # The same roster again: the plan says the student's password is kept, changes
        # nothing (no drift), and the new password still logs in.
        planned = apply_roster(campus, ROSTER_PASSWORD, check_mode=True)
        assert planned["changed"] is False
        assert "1 student-set password kept" in planned["summary"]
        assert apply_roster(campus, ROSTER_PASSWORD)["changed"] is False
        assert router_accepts(campus, "alice", NEW_PASSWORD)

        # An admin reset: a new password for alice in the roster replaces hers.
        reset = dict(ROSTER_PASSWORD, alice="Admin-reset-alice-77")
        planned = apply_roster(campus, reset, check_mode=True)
        assert planned["changed"] is True
        assert "0 student-set passwords kept, 1 replaced by an admin reset" \
            in planned["summary"]
        assert router_accepts(campus, "alice", NEW_PASSWORD)  # check mode changed nothing
        applied = apply_roster(campus, reset)
        assert applied["student_passwords"] == {"kept": 0, "replaced": 1}
        assert not router_accepts(campus, "alice", NEW_PASSWORD)
        assert router_accepts(campus, "alice", "Admin-reset-alice-77")
        assert audit(campus, "alice")[-1] == ("helpdesk-git", "roster", "password-roster-reset")
    finally:
        student.__exit__(None, None, None)
        apply_roster(campus, ROSTER_PASSWORD)


@pytest.mark.parametrize(("new", "confirm", "message"), [
    ("short-1", None, "at least 10 characters"),
    ("bruno-is-my-name-1", None, "must not contain your username"),
    ("password1234", None, "too common"),
    ("qwertyuiop123", None, "too common"),
    ("violet-tandem-harbour-42", "violet-tandem-harbour-43", "differ"),
])
def test_the_policy_refuses_and_nothing_changes(campus, new, confirm, message):
    client = portal(campus)
    try:
        sign_in(client, "bruno", ROSTER_PASSWORD["bruno"])
        refused = change(client, ROSTER_PASSWORD["bruno"], new, confirm)
        assert refused.status_code == 400
        assert message in refused.text
        assert router_accepts(campus, "bruno", ROSTER_PASSWORD["bruno"])
        assert audit(campus, "bruno") == []
    finally:
        client.__exit__(None, None, None)


def test_a_wrong_current_password_or_a_missing_csrf_token_changes_nothing(campus):
    client = portal(campus)
    try:
        sign_in(client, "bruno", ROSTER_PASSWORD["bruno"])
        wrong = change(client, "not-my-password-9", NEW_PASSWORD)
        assert wrong.status_code == 401 and "current password is wrong" in wrong.text
        forged = client.post("/password", data={"current": ROSTER_PASSWORD["bruno"],
                                                "new": NEW_PASSWORD, "confirm": NEW_PASSWORD})
        assert forged.status_code == 403
        assert router_accepts(campus, "bruno", ROSTER_PASSWORD["bruno"])
        assert not router_accepts(campus, "bruno", NEW_PASSWORD)
    finally:
        client.__exit__(None, None, None)


def wait_for_mail(handler, count: int, timeout: float = 15.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(handler.messages) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return handler.messages


def forgot(client, username: str):
    page = client.get("/password/forgot")
    return client.post("/password/forgot", data={"csrf": csrf_of(page.text),
                                                 "username": username})


def test_a_reset_link_by_mail_in_the_students_language_works_once(campus, smtp_server):  # noqa: F811
    handler = smtp_server["handler"]
    client = portal(campus, smtp_server, reset_per_account=2)
    try:
        unknown = forgot(client, "nobody-here")
        known = forgot(client, "chloe")
        # the same answer whether or not the account exists
        assert unknown.status_code == known.status_code == 200
        strip = re.compile(r'name="csrf" value="[^"]+"')
        assert strip.sub("", unknown.text) == strip.sub("", known.text)
        messages = wait_for_mail(handler, 1)
        time.sleep(0.5)  # nothing more comes: the unknown account got no mail
        assert len(messages) == 1
        assert messages[0]["to"] == ["chloe@campus.test"] and messages[0]["tls"]
        mail = email.message_from_string(messages[0]["data"], policy=email.policy.default)
        assert mail["Subject"] == "Wi-Fi : choisir un nouveau mot de passe"  # chloe reads French
        body = mail.get_content()
        link = re.search(r"https://portal\.test(/password/reset/[A-Za-z0-9_-]+)", body).group(1)
        with campus.db.connect() as conn:  # only the token's hash is stored
            stored = conn.execute("SELECT token_hash FROM captiva_password_reset").fetchall()
        assert link.rsplit("/", 1)[1].encode() not in b"".join(bytes(r[0]) for r in stored)

        page = client.get(link)
        assert page.status_code == 200
        done = client.post(link, data={"csrf": csrf_of(page.text), "new": NEW_PASSWORD,
                                       "confirm": NEW_PASSWORD})
        assert done.status_code == 200 and 'data-test="reset-done"' in done.text
        assert router_accepts(campus, "chloe", NEW_PASSWORD)
        assert not router_accepts(campus, "chloe", ROSTER_PASSWORD["chloe"])
        again = client.get(link)  # single use
        assert again.status_code == 410
        assert [a[2] for a in audit(campus, "chloe")] == ["password-reset-request",
                                                          "password-reset"]

        # two links an hour per account: the third request gets the same page, and no mail
        forgot(client, "chloe")
        assert len(wait_for_mail(handler, 2)) == 2
        third = forgot(client, "chloe")
        assert third.status_code == 200 and 'data-test="forgot-sent"' in third.text
        time.sleep(1.0)
        assert len(handler.messages) == 2
    finally:
        client.__exit__(None, None, None)
        apply_roster(campus, dict(ROSTER_PASSWORD, chloe="Roster-chloe-0124"))


def test_with_cleartext_storage_a_students_password_logs_in_by_chap(campus):
    """captiva_password_storage: cleartext (the routers' http-chap): the student's password
    is stored as the roster's is, and CHAP, which needs it, accepts the new one only."""
    apply_roster(campus, ROSTER_PASSWORD, storage="cleartext")
    client = portal(campus)
    try:
        assert campus.authenticate("bruno", ROSTER_PASSWORD["bruno"], chap=True).code \
            == packet.AccessAccept
        sign_in(client, "bruno", ROSTER_PASSWORD["bruno"])
        page = client.get("/password")
        assert "stored in cleartext in the RADIUS database" in page.text  # said plainly
        done = change(client, ROSTER_PASSWORD["bruno"], NEW_PASSWORD)
        assert done.status_code == 303
        assert campus.authenticate("bruno", NEW_PASSWORD, chap=True).code == packet.AccessAccept
        assert campus.authenticate("bruno", ROSTER_PASSWORD["bruno"], chap=True).code \
            == packet.AccessReject
        assert router_accepts(campus, "bruno", NEW_PASSWORD)  # PAP too
        with campus.db.connect("portal") as conn:  # the portal's role reads no credential
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT value FROM captiva_student_credential")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT * FROM captiva_student_credential_current('bruno')")
            # nor writes a student's audit row of its own: only the password functions do
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT captiva_audit_record('bruno', 'password-change', 'bruno',"
                             " NULL, '{}')")
        # back to hashed storage: the roster's rows change, so every student password set
        # over them is replaced (its kind would no longer be the roster's)
        assert apply_roster(campus, ROSTER_PASSWORD)["student_passwords"]["replaced"] == 1
        assert router_accepts(campus, "bruno", ROSTER_PASSWORD["bruno"])
    finally:
        client.__exit__(None, None, None)


def test_forgotten_password_requests_are_limited_per_client_address(campus):
    client = portal(campus, reset_per_address=3)
    try:
        for name in ("nobody-1", "nobody-2", "chloe"):  # any accounts, known or not
            assert forgot(client, name).status_code == 200
        refused = forgot(client, "nobody-3")
        assert refused.status_code == 429 and "Too many attempts" in refused.text
        assert int(refused.headers["retry-after"]) > 0
    finally:
        client.__exit__(None, None, None)
