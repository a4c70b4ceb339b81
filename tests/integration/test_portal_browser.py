"""The portal in headless Chromium (Debian's /usr/bin/chromium driven by Playwright).

A real ``captiva-portal`` process (uvicorn) on 127.0.0.1, a real FreeRADIUS checking the
passwords, accounting written by FreeRADIUS (the admin part sends a real Accounting-Start).
Screenshots of a phone-sized and a desktop viewport go to artifacts/portal/.
"""

from __future__ import annotations

from pathlib import Path

import browser_fixtures
import pytest
import radius_fixtures
from browser_fixtures import VIEWPORTS, log_in
from portal_fixtures import ADMIN
from radius_fixtures import wait_for

radius_server = radius_fixtures.radius_server
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = browser_fixtures.ARTIFACTS / "portal"
NOW = browser_fixtures.NOW
browser = browser_fixtures.browser
portal = browser_fixtures.portal


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_student_sees_bars_and_sessions_switches_language_and_logs_out(portal, browser,
                                                                       viewport):
    context = browser.new_context(viewport=VIEWPORTS[viewport], locale="fr-FR",
                                  extra_http_headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    page = context.new_page()
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    log_in(page, portal.url, "STU2025001")
    assert page.url.endswith("/me")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("h2#usage-h").inner_text() == "Consommation"
    assert page.locator("svg.bar[role=progressbar]").count() == 3  # daily, weekly, monthly
    assert page.locator("svg.chart rect.day").count() == 30
    assert "AA:BB:CC:00:00:03" in page.locator("[data-test=active-sessions]").inner_text()
    assert page.locator("[data-test=history] tbody tr").count() == 17
    assert "jour(s) restant(s)" in page.locator("[data-test=expiry]").inner_text()
    # the page is not wider than the screen (tables scroll inside their card)
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[viewport]["width"]
    page.screenshot(path=str(ARTIFACTS / f"student-{viewport}-fr.png"), full_page=True)

    page.click("[data-test=lang-switch]")
    page.wait_for_load_state()
    assert page.url.endswith("/me")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h2#usage-h").inner_text() == "Usage"
    page.screenshot(path=str(ARTIFACTS / f"student-{viewport}-en.png"), full_page=True)
    page.reload()
    assert page.locator("h2#usage-h").inner_text() == "Usage"  # the choice is kept

    page.click("[data-test=logout]")
    page.wait_for_load_state()
    assert page.url.endswith("/login")
    page.goto(f"{portal.url}/me")
    assert "/login" in page.url
    page.screenshot(path=str(ARTIFACTS / f"login-{viewport}-en.png"), full_page=True)
    # CSP: no inline code anywhere, so the browser reports no violation
    assert not [e for e in errors if "Content Security Policy" in e], errors
    context.close()


def test_admin_sees_a_session_started_by_real_accounting(portal, browser, radius_server):
    radius_server.account("STU2025002", "Start", "browser-acct-1",
                          Framed_IP_Address="10.5.50.123",
                          Calling_Station_Id="AA:BB:CC:00:00:77")

    def started():
        with radius_server.db.connect() as conn:
            return conn.execute("SELECT 1 FROM radacct WHERE acctsessionid = 'browser-acct-1'"
                                " AND acctstoptime IS NULL").fetchone()

    wait_for(started, timeout=30)
    for viewport in ("desktop", "phone"):
        context = browser.new_context(viewport=VIEWPORTS[viewport], locale="en-US")
        page = context.new_page()
        log_in(page, portal.url, ADMIN)
        assert page.url.endswith("/admin")
        online = page.locator("[data-test=online]").inner_text()
        assert "AA:BB:CC:00:00:77" in online and "10.5.50.123" in online
        assert "Access-Reject" in page.locator("[data-test=failures]").inner_text()
        assert "L3-INFO-2025" in page.locator("[data-test=promotions]").inner_text()
        page.screenshot(path=str(ARTIFACTS / f"admin-{viewport}-en.png"), full_page=True)
        with page.expect_download() as download:
            page.click("a[href='/admin/export/online.csv']")
        assert "AA:BB:CC:00:00:77" in Path(download.value.path()).read_text()
        context.close()
