"""Sign-up with approval in headless Chromium, through nginx as roles/portal configures it, in
front of a real captiva-portal process, with a real SMTP server: the form from the login page,
the mail's link confirmed, an admin's approval in the console, then import-registrations and
the reconcile, and the new account signs in to the portal through real FreeRADIUS with the
password chosen on the form. Screenshots go to artifacts/portal/."""

from __future__ import annotations

import re

import browser_fixtures
import radius_fixtures
import test_quota_jobs
import yaml
from portal_fixtures import portal_config_dict, start_nginx, start_portal
from test_signup import (
    STAFF,
    STUDENT_PASSWORD,
    apply_roster,
    campus_users,
    campus_variables,
    import_args,
    mails,
    router_accepts,
    write_inventory,
)

from captiva.onboarding.registrations import import_registrations

radius_server = radius_fixtures.radius_server
browser = browser_fixtures.browser
smtp_server = test_quota_jobs.smtp_server
ARTIFACTS = browser_fixtures.ARTIFACTS / "portal"
MATRICULE = "STU2026500"


def sign_in(page, url: str, user: str, secret: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", secret)
    with page.expect_navigation():
        page.click("button[type=submit].primary")


def test_a_sign_up_in_the_browser_becomes_an_account(radius_server, browser, smtp_server,
                                                    tmp_path):
    apply_roster(radius_server, campus_variables(campus_users()))
    config = portal_config_dict(
        radius_server.db, radius_server, trusted_proxies=["127.0.0.1/32"],
        password={"public_url": "https://wifi.campus.test"},
        signup={"enabled": True},
        smtp={"host": "localhost", "port": smtp_server["port"], "username": "captiva",
              "password": "mail-pass", "from": "wifi@campus.test", "ca_file": smtp_server["ca"]})
    (tmp_path / "portal").mkdir()
    portal = start_portal(tmp_path / "portal", config)
    try:
        nginx = start_nginx(tmp_path / "nginx", portal.port)
        try:
            student = browser.new_context(
                ignore_https_errors=True, locale="fr-FR", viewport={"width": 390, "height": 844},
                extra_http_headers={"Accept-Language": "fr-FR,fr;q=0.9"})
            page = student.new_page()
            page.goto(f"{nginx.url}/login")
            with page.expect_navigation():
                page.click("[data-test=signup-link]")
            page.fill("input[name=matricule]", MATRICULE)
            page.fill("input[name=first_name]", "Fatou")
            page.fill("input[name=last_name]", "Sow")
            page.fill("input[name=email]", "fatou@mail.test")
            page.select_option("select[name=promotion]", "unlimited")
            page.fill("input[name=password]", STUDENT_PASSWORD)
            page.fill("input[name=confirm]", STUDENT_PASSWORD)
            with page.expect_navigation():
                page.click("[data-test=signup-submit]")
            assert page.locator("[data-test=signup-sent]").inner_text().startswith(
                "Demande reçue")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "signup-phone-fr.png"), full_page=True)

            mail = mails(smtp_server, 1)[0]
            assert "confirmez votre adresse" in mail["Subject"]  # the page's language
            text = mail.get_body(("plain",)).get_content()
            verify = re.search(r"https://wifi\.campus\.test(/signup/verify/\S+)", text).group(1)
            page.goto(nginx.url + verify)
            with page.expect_navigation():
                page.click("[data-test=signup-confirm]")
            state = page.locator("[data-test=signup-state]")
            assert state.get_attribute("data-state") == "pending"
            status_url = page.url

            admin = browser.new_context(ignore_https_errors=True, locale="en-GB",
                                        extra_http_headers={"Accept-Language": "en"})
            console = admin.new_page()
            sign_in(console, nginx.url, "helpdesk", STAFF["helpdesk"])
            with console.expect_navigation():
                console.click("[data-test=registrations]")
            row = console.locator("tr[data-state=pending]", has_text=MATRICULE)
            with console.expect_navigation():
                row.locator("[data-test=approve]").click()
            assert console.locator("[data-test=notice]").inner_text().startswith(
                "Request approved")
            console.screenshot(path=str(ARTIFACTS / "console-registrations-desktop-en.png"),
                               full_page=True)
            admin.close()
            assert "approuvée" in mails(smtp_server, 2)[1]["Subject"]
            page.goto(status_url)
            assert state.get_attribute("data-state") == "approved"

            inventory = tmp_path / "inventory"
            write_inventory(inventory, campus_variables(campus_users()))
            assert import_registrations(import_args(radius_server.db, inventory,
                                                    tmp_path)) == 0
            users = yaml.safe_load((inventory / "group_vars/all/users.yml").read_text())
            apply_roster(radius_server, campus_variables(users["captiva_users"]))
            assert router_accepts(radius_server, MATRICULE, STUDENT_PASSWORD)
            page.goto(status_url)
            assert state.get_attribute("data-state") == "imported"
            sign_in(page, nginx.url, MATRICULE, STUDENT_PASSWORD)
            assert page.url.endswith("/me")
            student.close()
        finally:
            nginx.stop()
    finally:
        portal.stop()
