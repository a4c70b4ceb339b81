"""A student names and blocks a device in headless Chromium, through nginx as roles/portal
configures it, in front of a real captiva-portal process; FreeRADIUS (configured by the role)
then refuses that device for that account only; an admin unblocks it on the console's user
page. Screenshots go to artifacts/portal/."""

from __future__ import annotations

import datetime as dt

import browser_fixtures
import radius_fixtures
from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import reconcile
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from portal_fixtures import portal_config_dict, start_nginx, start_portal
from quota_radius_fixtures import roster_variables
from test_student_devices import router_login

radius_server = radius_fixtures.radius_server
browser = browser_fixtures.browser
ARTIFACTS = browser_fixtures.ARTIFACTS / "portal"
PASSWORDS = {"gina": "Roster-gina-0123", "helpdesk": "Roster-helpdesk-0123"}
PHONE = "AA:BB:CC:00:33:01"


def provision(server) -> None:
    variables = roster_variables([
        {"username": user, "password": secret, "promotion": "unlimited", "language": "fr",
         "first_name": user.title(), "last_name": "Test", "email": f"{user}@campus.test"}
        for user, secret in PASSWORDS.items()])
    variables["captiva_staff"] = [{"username": "helpdesk", "role": "admin"}]
    roster, errors = validate(variables)
    assert errors == [], errors
    with server.db.connect("reconcile") as conn:
        reconcile(conn, roster, now=dt.datetime.now(dt.UTC), check_mode=False)


def sign_in(page, url: str, user: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORDS[user])
    with page.expect_navigation():
        page.click("button[type=submit].primary")


def test_a_student_blocks_a_device_and_an_admin_unblocks_it(radius_server, browser, tmp_path):
    provision(radius_server)
    radius_server.account("gina", "Start", "gina-phone", Calling_Station_Id="AA-BB-CC-00-33-01",
                          Framed_IP_Address="10.5.50.61")
    (tmp_path / "portal").mkdir()
    portal = start_portal(tmp_path / "portal",
                          portal_config_dict(radius_server.db, radius_server,
                                             trusted_proxies=["127.0.0.1/32"]))
    try:
        nginx = start_nginx(tmp_path / "nginx", portal.port)
        try:
            context = browser.new_context(
                ignore_https_errors=True, locale="fr-FR", viewport={"width": 390, "height": 844},
                extra_http_headers={"Accept-Language": "fr-FR,fr;q=0.9"})
            page = context.new_page()
            sign_in(page, nginx.url, "gina")
            assert page.url.endswith("/me")
            with page.expect_navigation():
                page.click("[data-test=devices-menu]")
            row = page.locator(f"tr[data-mac='{PHONE}']")
            assert "En ligne" in row.inner_text()  # the router's dashes, shown as one address
            row.locator("input[name=name]").fill("Téléphone")
            with page.expect_navigation():
                row.locator("[data-test=rename]").click()
            assert page.locator("[data-test=notice]").inner_text() == "Nom enregistré."
            with page.expect_navigation():
                page.locator(f"tr[data-mac='{PHONE}'] [data-test=block]").click()
            assert page.locator("[data-test=notice]").inner_text().startswith("Appareil bloqué")
            assert page.locator(f"tr[data-mac='{PHONE}'] [data-test=blocked]").count() == 1
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "student-devices-phone-fr.png"), full_page=True)

            # the phone's session ends (else Simultaneous-Use refuses any second login first)
            radius_server.account("gina", "Stop", "gina-phone", Acct_Session_Time=60)
            accepted, message = router_login(radius_server, "gina", "aabb.cc00.3301",
                                             PASSWORDS["gina"])
            assert not accepted and message.startswith("Cet appareil est bloqué")
            assert router_login(radius_server, "gina", "AA:BB:CC:00:33:02",
                                PASSWORDS["gina"]) == (True, "")
            context.close()

            admin = browser.new_context(ignore_https_errors=True, locale="en-GB",
                                        extra_http_headers={"Accept-Language": "en"})
            page = admin.new_page()
            sign_in(page, nginx.url, "helpdesk")
            page.goto(f"{nginx.url}/admin/users/gina")
            row = page.locator(f"#devices tr[data-mac='{PHONE}']")
            assert "Téléphone" in row.inner_text() and "Blocked" in row.inner_text()
            row.locator("input[name=reason]").fill("phone found")
            with page.expect_navigation():
                row.locator("[data-test=device-unblock]").click()
            assert page.locator("[data-test=notice]").inner_text() == "Device unblocked."
            assert "phone found" in page.locator("body").inner_text()  # the history
            page.screenshot(path=str(ARTIFACTS / "console-devices-desktop-en.png"),
                            full_page=True)
            admin.close()
            assert router_login(radius_server, "gina", PHONE, PASSWORDS["gina"]) == (True, "")
        finally:
            nginx.stop()
    finally:
        portal.stop()
