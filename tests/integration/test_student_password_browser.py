"""A student changes their password in headless Chromium, through nginx as roles/portal
configures it, in front of a real captiva-portal process; FreeRADIUS (configured by the role)
then answers the router's Access-Requests with the new password only. Screenshots go to
artifacts/portal/."""

from __future__ import annotations

import statistics
import time

import browser_fixtures
import httpx
import radius_fixtures
from portal_fixtures import csrf_of, portal_config_dict, start_nginx, start_portal
from pyrad import packet
from quota_radius_fixtures import provision
from test_quota_jobs import smtp_server  # noqa: F401  (fixture)

radius_server = radius_fixtures.radius_server
browser = browser_fixtures.browser
ARTIFACTS = browser_fixtures.ARTIFACTS / "portal"

OLD = "Roster-dana-0123"
NEW = "marmalade-cobalt-ferry-19"


def router_accepts(server, user: str, secret: str) -> bool:
    reply = server.authenticate(user, secret)
    assert reply is not None, server.log_tail()
    return reply.code == packet.AccessAccept


def sign_in(page, url: str, secret: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", "dana")
    page.fill("input[name=password]", secret)
    with page.expect_navigation():
        page.click("button[type=submit].primary")


def test_a_student_changes_their_password_in_the_browser(radius_server, browser, tmp_path):
    provision(radius_server, [{"username": "dana", "password": OLD, "promotion": "unlimited",
                               "language": "fr", "first_name": "Dana", "last_name": "Test",
                               "email": "dana@campus.test"}])
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
            errors = []  # script errors (refused forms log their HTTP status: not these)
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
                    and not msg.text.startswith("Failed to load resource") else None)
            sign_in(page, nginx.url, OLD)
            assert page.url.endswith("/me")

            with page.expect_navigation():
                page.click("[data-test=password-menu]")
            assert page.url.endswith("/password")
            storage = page.locator("[data-test=password-storage]").inner_text()
            assert "haché (sha512-crypt)" in storage
            page.fill("input[name=current]", OLD)
            page.fill("input[name=new]", "azertyuiop1")  # a common password: refused
            page.fill("input[name=confirm]", "azertyuiop1")
            with page.expect_navigation():
                page.click("[data-test=password-submit]")
            assert "trop courant" in page.locator("[data-test=password-error]").inner_text()

            page.fill("input[name=current]", OLD)
            page.fill("input[name=new]", NEW)
            page.fill("input[name=confirm]", NEW)
            page.check("[data-test=end-sessions]")
            with page.expect_navigation():
                page.click("[data-test=password-submit]")
            notice = page.locator("[data-test=password-changed]").inner_text()
            assert notice.startswith("Mot de passe changé")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "student-password-phone-fr.png"),
                            full_page=True)

            # the router's side: the old password is refused, the new one accepted
            assert not router_accepts(radius_server, "dana", OLD)
            assert router_accepts(radius_server, "dana", NEW)

            with page.expect_navigation():
                page.click("[data-test=logout]")
            sign_in(page, nginx.url, OLD)
            assert page.url.endswith("/login")
            sign_in(page, nginx.url, NEW)
            assert page.url.endswith("/me")
            assert errors == []
            context.close()
        finally:
            nginx.stop()
    finally:
        portal.stop()


def test_a_forgotten_password_request_answers_as_fast_for_an_unknown_account(
        radius_server, smtp_server, tmp_path):  # noqa: F811
    """Through nginx to a real portal process: the answer comes before the database and the
    mail server are asked, so an account that gets a mail (STARTTLS, AUTH, DATA) is answered
    as fast as an unknown one, and a watcher learns nothing from the time either."""
    provision(radius_server, [{"username": "emma", "password": OLD, "promotion": "unlimited",
                               "language": "en", "email": "emma@campus.test"}])
    config = portal_config_dict(
        radius_server.db, radius_server, trusted_proxies=["127.0.0.1/32"],
        password={"public_url": "https://wifi.campus.test", "reset_per_account": 100,
                  "reset_per_address": 100},
        smtp={"host": "localhost", "port": smtp_server["port"], "username": "captiva",
              "password": "mail-pass", "from": "wifi@campus.test", "ca_file": smtp_server["ca"]})
    (tmp_path / "portal").mkdir()
    portal = start_portal(tmp_path / "portal", config)
    try:
        nginx = start_nginx(tmp_path / "nginx", portal.port)
        try:
            times = {"emma": [], "nobody-at-all": []}
            with httpx.Client(base_url=nginx.url, verify=False) as http:  # noqa: S501
                for _ in range(8):
                    for username, spent in times.items():
                        token = csrf_of(http.get("/password/forgot").text)
                        start = time.perf_counter()
                        answer = http.post("/password/forgot",
                                           data={"csrf": token, "username": username})
                        spent.append(time.perf_counter() - start)
                        assert answer.status_code == 200
                        assert 'data-test="forgot-sent"' in answer.text
        finally:
            nginx.stop()
    finally:
        portal.stop()
    deadline = time.monotonic() + 20
    while len(smtp_server["handler"].messages) < 8 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [m["to"] for m in smtp_server["handler"].messages] == [["emma@campus.test"]] * 8
    known, unknown = (statistics.median(times[u]) for u in ("emma", "nobody-at-all"))
    print(f"forgot-password answer, median of 8: account with mail {known * 1000:.1f} ms, "
          f"unknown account {unknown * 1000:.1f} ms")
    assert abs(known - unknown) < 0.1, times
