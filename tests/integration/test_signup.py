"""Sign-up with approval, end to end (docs/portal.md, "Sign-up"; docs/onboarding.md,
import-registrations): the real portal app, a real SMTP server (aiosmtpd, STARTTLS + AUTH),
real PostgreSQL, the real import-registrations command and the real reconcile, then real
FreeRADIUS configured by the role.

What a user notices: the form answers the same whether the matricule is new, already an
account, or not on the registrar's list (the mail to the address given says which); the
mail's link confirms the address once; staff who may decide approve or reject with a
reason and the student is told by mail; approval alone logs nobody in; after
import-registrations and the reconcile, the matricule logs in with the password chosen on
the form, and the status page says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email
import email.policy
import re
import time

import pytest
import radius_fixtures
import test_quota_jobs
import yaml
from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import reconcile
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from portal_fixtures import csrf_of, portal_config
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pyrad import packet
from quota_radius_fixtures import roster_variables
from starlette.testclient import TestClient

from captiva import authz
from captiva.onboarding.csv_import import CsvImportError
from captiva.onboarding.registrations import import_registrations
from captiva.portal.app import create_app

radius_server = radius_fixtures.radius_server
smtp_server = test_quota_jobs.smtp_server

STAFF = {"helpdesk": "Roster-helpdesk-0123", "library": "Roster-library-0123",
         "dean": "Roster-dean-0123"}
STUDENT_PASSWORD = "lantern-orchid-basalt-19"


def campus_users() -> list[dict]:
    users = [{"username": user, "password": secret, "promotion": "unlimited",
              "language": "en", "first_name": user.title(), "last_name": "Staff",
              "email": f"{user}@campus.test"} for user, secret in STAFF.items()]
    users.append({"username": "ALICE01", "password": "Roster-alice-0123",
                  "promotion": "unlimited", "email": "alice@campus.test"})
    return users


def campus_variables(users: list[dict]) -> dict:
    variables = roster_variables(users)
    variables["captiva_staff"] = [{"username": "helpdesk", "role": "admin"},
                                  {"username": "library", "role": "operator",
                                   "sites": ["campus-douala"]},
                                  {"username": "dean", "role": "viewer"}]
    return variables


def apply_roster(server, variables: dict) -> None:
    roster, errors = validate(variables)
    assert errors == [], errors
    with server.db.connect("reconcile") as conn:
        reconcile(conn, roster, now=dt.datetime.now(dt.UTC), check_mode=False)


@pytest.fixture(scope="module")
def campus(radius_server):
    apply_roster(radius_server, campus_variables(campus_users()))
    return radius_server


def portal(server, smtp, registrar_csv: str = "", per_client: int = 20, language: str = "en",
           address: str = "192.0.2.10"):
    config = portal_config(server.db, server, password={"public_url": "https://portal.test"},
                           signup={"enabled": True, "registrar_csv": registrar_csv,
                                   "per_client": per_client},
                           smtp={"host": "localhost", "port": smtp["port"],
                                 "username": "captiva", "password": "mail-pass",
                                 "from": "wifi@campus.test", "ca_file": smtp["ca"]})
    client = TestClient(create_app(config), base_url="https://portal.test",
                        follow_redirects=False, client=(address, 50000),
                        headers={"accept-language": language})
    client.__enter__()
    return client


def sign_in(client, user: str) -> None:
    page = client.get("/login")
    response = client.post("/login", data={"csrf": csrf_of(page.text), "username": user,
                                           "password": STAFF[user]})
    assert response.status_code == 303, response.text


def sign_up(client, matricule: str, **fields):
    page = client.get("/signup")
    assert page.status_code == 200
    form = {"csrf": csrf_of(page.text), "matricule": matricule, "first_name": "Bintou",
            "last_name": "Diallo", "email": f"{matricule.lower()}@mail.test",
            "promotion": "unlimited", "password": STUDENT_PASSWORD,
            "confirm": STUDENT_PASSWORD, **fields}
    return client.post("/signup", data=form)


def mails(smtp, count: int) -> list[email.message.EmailMessage]:
    handler = smtp["handler"]
    deadline = time.monotonic() + 10
    while len(handler.messages) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(handler.messages) == count, [m["data"][:200] for m in handler.messages]
    return [email.message_from_string(m["data"], policy=email.policy.default)
            for m in handler.messages]


def body(message) -> str:
    return message.get_body(("plain",)).get_content()


def link(message, kind: str) -> str:
    return re.search(rf"https://portal\.test(/signup/{kind}/[\w.-]+)", body(message)).group(1)


def answer(response) -> str:
    """The page without its per-request CSRF token."""
    return re.sub(r'name="csrf" value="[^"]*"', "", response.text)


def router_accepts(server, user: str, secret: str) -> bool:
    reply = server.authenticate(user, secret, Calling_Station_Id="AA:BB:CC:00:22:01")
    assert reply is not None, server.log_tail()
    return reply.code == packet.AccessAccept


def registrations(server) -> list[tuple]:
    with server.db.connect() as conn:
        return conn.execute("SELECT matricule, status FROM captiva_registration"
                            " ORDER BY id").fetchall()


def write_inventory(path, variables: dict) -> None:
    """An inventory as admins keep it: the roster's lists in group_vars/all, users apart."""
    all_dir = path / "group_vars" / "all"
    all_dir.mkdir(parents=True)
    users = variables.pop("captiva_users")
    (all_dir / "roster.yml").write_text(yaml.safe_dump(variables, sort_keys=False))
    (all_dir / "users.yml").write_text("---\n" + yaml.safe_dump({"captiva_users": users},
                                                                 sort_keys=False))


def import_args(db, inventory, tmp_path, **given) -> argparse.Namespace:
    """import-registrations' arguments: the reconcile role's DSN, its password in a file (a
    DSN holding one is refused)."""
    params = conninfo_to_dict(db.dsns["reconcile"])
    password_file = tmp_path / "reconcile-password"
    password_file.write_text(params.pop("password") + "\n")
    return argparse.Namespace(**{
        "inventory": str(inventory), "dsn": make_conninfo("", **params),
        "password_file": str(password_file), "vault_id": "default", "vault_password_file": None,
        "users_file": None, "dry_run": False, "diff": False, **given})


def test_sign_up_to_a_working_login_through_review_and_the_roster(campus, smtp_server,
                                                                 tmp_path, capsys):
    visitor = portal(campus, smtp_server)
    sent = sign_up(visitor, "STU2026042")
    assert sent.status_code == 200 and "Request received" in sent.text
    # an existing account's matricule: the very same answer, nothing stored but a dead row
    existing = sign_up(visitor, "ALICE01")
    assert existing.status_code == 200 and answer(existing) == answer(sent)
    verify_mail, exists_mail = mails(smtp_server, 2)
    assert verify_mail["To"] == "stu2026042@mail.test"
    assert "confirm your e-mail address" in verify_mail["Subject"]
    assert exists_mail["To"] == "alice01@mail.test"
    assert "already has an account" in body(exists_mail)
    assert STUDENT_PASSWORD not in body(verify_mail)
    with campus.db.connect() as conn:  # the password is kept hashed, never in clear
        stored = conn.execute("SELECT password_hash FROM captiva_registration"
                              " WHERE matricule = 'STU2026042'").fetchone()[0]
    assert stored.startswith("$6$") and STUDENT_PASSWORD not in stored

    status = link(verify_mail, "status")
    assert "Waiting for the confirmation" in visitor.get(status).text
    verify = link(verify_mail, "verify")
    assert visitor.get(verify).status_code == 200  # a button: opening the link changes nothing
    assert registrations(campus)[0] == ("STU2026042", "unverified")
    page = visitor.get(verify)
    confirmed = visitor.post(verify, data={"csrf": csrf_of(page.text)})
    assert confirmed.status_code == 303
    assert "Address confirmed" in visitor.get(confirmed.headers["location"]).text
    forged = verify.rsplit(".", 1)[0] + ".AAAA"
    assert visitor.get(forged).status_code == 404
    assert visitor.get(status.replace("/status/", "/verify/")).status_code == 404

    # Review: a viewer reads, an operator decides; the student is told by mail.
    dean = portal(campus, smtp_server)
    sign_in(dean, "dean")
    listed = dean.get("/admin/registrations").text
    assert "STU2026042" in listed and 'data-test="approve"' not in listed
    request_id = re.search(r'data-request="(\d+)" data-state="pending"', listed).group(1)
    refused = dean.post(f"/admin/registrations/{request_id}/approve",
                        data={"csrf": csrf_of(listed)})
    assert refused.headers["location"] == "/admin/registrations?error=review.read_only"
    library = portal(campus, smtp_server)
    sign_in(library, "library")
    page = library.get("/admin/registrations").text
    assert library.post(f"/admin/registrations/{request_id}/approve",
                        data={"csrf": "wrong"}).status_code == 403
    approved = library.post(f"/admin/registrations/{request_id}/approve",
                            data={"csrf": csrf_of(page)})
    assert approved.headers["location"] == "/admin/registrations?done=review.approved"
    approval_mail = mails(smtp_server, 3)[2]
    assert "approved" in approval_mail["Subject"]
    assert link(approval_mail, "status") == status
    assert "Approved" in visitor.get(status).text
    with campus.db.connect() as conn:
        assert conn.execute("SELECT actor, actor_role, action, username FROM captiva_audit"
                            " WHERE action LIKE 'registration-%' ORDER BY id").fetchall() == [
            ("STU2026042", "applicant", "registration-request", "STU2026042"),
            ("library", "operator", "registration-approve", "STU2026042")]
    # approval wrote nothing into RADIUS
    assert not router_accepts(campus, "STU2026042", STUDENT_PASSWORD)

    # make import-registrations: the approved request into users.yml, as the reconcile role
    inventory = tmp_path / "inventory"
    write_inventory(inventory, campus_variables(campus_users()))
    # A DSN holding the password (seen by every user of the host in ps): refused, unread.
    with pytest.raises(CsvImportError, match="--dsn holds a password"):
        import_registrations(import_args(campus.db, inventory, tmp_path,
                                         dsn=campus.db.dsns["reconcile"]))
    args = import_args(campus.db, inventory, tmp_path)
    assert import_registrations(args) == 0
    out = capsys.readouterr().out
    assert "users: +1 ~0 -0" in out
    # The command's action is audited: one row, kind registration, by the OS account that
    # ran it, naming the request and the file, never its password hash.
    actor = authz.current_os_actor()
    assert f"audited: 1 request(s) imported by {actor}" in out
    with campus.db.connect() as conn:
        imported = conn.execute(
            "SELECT kind, actor, actor_role, action, username, detail, row_to_json(a)::text"
            " FROM captiva_audit AS a WHERE action = 'registration-import'").fetchall()
    assert [row[:5] for row in imported] == [
        ("registration", actor, "os", "registration-import", "STU2026042")]
    assert imported[0][5] == {"request": int(request_id),
                              "file": str(inventory / "group_vars" / "all" / "users.yml")}
    assert stored not in imported[0][6] and "$6$" not in imported[0][6]
    users = yaml.safe_load((inventory / "group_vars" / "all" / "users.yml").read_text())
    added = users["captiva_users"][-1]
    assert added == {"username": "STU2026042", "first_name": "Bintou", "last_name": "Diallo",
                     "email": "stu2026042@mail.test", "promotion": "unlimited",
                     "language": "en", "password_hash": stored}
    # run again before the apply: nothing changes
    before = (inventory / "group_vars" / "all" / "users.yml").read_text()
    assert import_registrations(args) == 0
    assert (inventory / "group_vars" / "all" / "users.yml").read_text() == before
    with campus.db.connect() as conn:  # and no second audit row
        assert conn.execute("SELECT count(*) FROM captiva_audit"
                            " WHERE action = 'registration-import'").fetchone()[0] == 1

    # make apply (the reconcile of the reviewed users file), then a real Access-Request
    apply_roster(campus, campus_variables(users["captiva_users"]))
    assert router_accepts(campus, "STU2026042", STUDENT_PASSWORD)
    assert "Your account exists" in visitor.get(status).text
    assert import_registrations(args) == 0  # imported: no longer read
    assert "approved requests not in the roster yet: 0" in capsys.readouterr().out


def test_rejection_needs_a_reason_and_tells_the_student(campus, smtp_server):
    visitor = portal(campus, smtp_server, language="fr")  # the page's language is the mail's
    sign_up(visitor, "STU2026077")
    verify_mail = mails(smtp_server, 1)[0]
    verify = link(verify_mail, "verify")
    visitor.post(verify, data={"csrf": csrf_of(visitor.get(verify).text)})
    admin = portal(campus, smtp_server)
    sign_in(admin, "helpdesk")
    page = admin.get("/admin/registrations").text
    request_id = re.search(r'data-request="(\d+)" data-state="pending"', page).group(1)
    no_reason = admin.post(f"/admin/registrations/{request_id}/reject",
                           data={"csrf": csrf_of(page)})
    assert no_reason.headers["location"] == "/admin/registrations?error=review.reason_required"
    rejected = admin.post(f"/admin/registrations/{request_id}/reject",
                          data={"csrf": csrf_of(page), "reason": "Not enrolled this year"})
    assert rejected.headers["location"] == "/admin/registrations?done=review.rejected"
    again = admin.post(f"/admin/registrations/{request_id}/approve",
                       data={"csrf": csrf_of(page)})
    assert again.headers["location"] == "/admin/registrations?error=review.already_decided"
    reject_mail = mails(smtp_server, 2)[1]
    assert "Not enrolled this year" in body(reject_mail)
    assert "refusée" in reject_mail["Subject"]  # the student's language (the form's)
    status_page = visitor.get(link(reject_mail, "status")).text
    assert "Refusée. Motif : Not enrolled this year" in status_page


def test_the_portal_never_reads_a_requests_password_hash(campus):
    import psycopg

    with campus.db.connect("portal") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT password_hash FROM captiva_registration")
    with campus.db.connect("portal") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE captiva_registration SET status = 'approved'")
    with campus.db.connect("reconcile") as conn:  # import-registrations' role reads it
        conn.execute("SELECT password_hash FROM captiva_registration").fetchall()


def test_the_registrars_list_and_the_rate_limit(campus, smtp_server, tmp_path):
    registrar = tmp_path / "registrar.csv"
    registrar.write_text("Matricule;Nom;Prénom\nSTU2026100;Diallo;Bintou\n", encoding="utf-8")
    visitor = portal(campus, smtp_server, registrar_csv=str(registrar), per_client=3,
                     address="198.51.100.7")  # requests are counted per client
    listed = sign_up(visitor, "STU2026100")
    unlisted = sign_up(visitor, "STU2026999")
    assert answer(listed) == answer(unlisted)  # no enumeration of the registrar's list
    verify_mail, not_listed = mails(smtp_server, 2)
    assert "confirm" in verify_mail["Subject"]
    assert "not on the registrar's list" in body(not_listed)
    assert [m for m, _ in registrations(campus)].count("STU2026999") == 0
    # bad input is refused with the reason, and nothing is sent
    weak = sign_up(visitor, "STU2026101", password="password1234", confirm="password1234")
    assert weak.status_code == 400 and "too common" in weak.text
    assert sign_up(visitor, "bad matricule!").status_code == 400
    # the third request from this client in the hour is the last one
    assert sign_up(visitor, "STU2026102").status_code == 200
    throttled = sign_up(visitor, "STU2026103")
    assert throttled.status_code == 429 and "Too many requests" in throttled.text
    assert int(throttled.headers["retry-after"]) > 0
    assert len(mails(smtp_server, 3)) == 3
