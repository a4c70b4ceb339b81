"""The helpdesk's console in headless Chromium (Debian's /usr/bin/chromium, Playwright): search
as you type, the user page, a quota grant, a disconnect; phone and desktop, French and
English. A real ``captiva-portal`` process, FreeRADIUS checking the admin's password, real
PostgreSQL. Screenshots go to artifacts/portal/.
"""

from __future__ import annotations

import datetime as dt

import browser_fixtures
import pytest
import radius_fixtures
from browser_fixtures import VIEWPORTS, log_in
from portal_fixtures import ADMIN

radius_server = radius_fixtures.radius_server
browser = browser_fixtures.browser
portal = browser_fixtures.portal
ARTIFACTS = browser_fixtures.ARTIFACTS / "portal"
NOW = browser_fixtures.NOW
STUDENT = "STU2025001"
TEXT = {
    "fr": {"granted": "Crédit enregistré.", "requested": "Demande de déconnexion enregistrée",
           "pending": "en attente d'envoi", "why": "Pourquoi ne peut-il pas se connecter ?"},
    "en": {"granted": "Grant recorded.", "requested": "Disconnect recorded",
           "pending": "waiting to be sent", "why": "Why can't they connect?"},
}


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_search_user_page_grant_and_disconnect(portal, browser, radius_server, viewport,  # noqa: F811
                                               lang):
    context = browser.new_context(viewport=VIEWPORTS[viewport],
                                  locale="fr-FR" if lang == "fr" else "en-US",
                                  extra_http_headers={"Accept-Language": lang})
    page = context.new_page()
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    log_in(page, portal.url, ADMIN)
    page.click("[data-test=console-users]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == lang
    assert page.locator("#users tr[data-username]").count() == 4  # server-rendered
    rendered = page.locator(f"#users tr[data-username='{STUDENT}'] td").nth(4).inner_text()
    # as you type: the script fetches /api/admin/users and redraws the table, no submit
    page.locator("[data-test=search]").press_sequentially("Ngono", delay=40)
    from playwright.sync_api import expect

    expect(page.locator("#users tr[data-username]")).to_have_count(1, timeout=10_000)
    assert page.url.endswith("/admin/users")  # the page did not reload
    # the script shows the last login in the campus timezone, as the server does
    assert page.locator(f"#users tr[data-username='{STUDENT}'] td").nth(4).inner_text() \
        == rendered
    page.screenshot(path=str(ARTIFACTS / f"console-search-{viewport}-{lang}.png"),
                    full_page=True)

    page.click(f"#users a[href='/admin/users/{STUDENT}']")
    page.wait_for_load_state()
    assert page.locator("h2#why-h").inner_text() == TEXT[lang]["why"]
    before = page.locator("[data-test=grants] tbody tr").count()
    page.fill("[data-test=amount]", "5")
    expires = (NOW + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    page.fill("[data-test=expires]", expires)
    page.fill("[data-test=reason]", f"thesis defence {viewport} {lang}")
    page.click("[data-test=grant]")
    page.wait_for_load_state()
    assert page.locator("[data-test=notice]").inner_text() == TEXT[lang]["granted"]
    assert page.locator("[data-test=grants] tbody tr").count() == before + 1
    assert f"thesis defence {viewport} {lang}" in page.locator("[data-test=grants]").inner_text()

    page.click("[data-test=disconnect]")
    page.wait_for_load_state()
    assert TEXT[lang]["requested"] in page.locator("[data-test=notice]").inner_text()
    assert TEXT[lang]["pending"] in page.locator("[data-test=disconnects]").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[viewport]["width"]
    page.screenshot(path=str(ARTIFACTS / f"console-user-{viewport}-{lang}.png"), full_page=True)
    assert not [e for e in errors if "Content Security Policy" in e], errors
    context.close()

    with radius_server.db.connect() as conn:
        audit = conn.execute("SELECT action FROM captiva_audit WHERE reason = %s",
                             (f"thesis defence {viewport} {lang}",)).fetchall()
    assert audit == [("grant",)]
