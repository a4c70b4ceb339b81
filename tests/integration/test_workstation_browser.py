"""The workstations' console and kiosk page in headless Chromium (Playwright, /usr/bin/chromium)
against a real ``captiva-portal`` process, PostgreSQL and FreeRADIUS.

An operator issues a session on a phone; the kiosk page (the workstation's address comes
through the trusted proxy's X-Forwarded-For, as nginx sends it) shows it; the workstation
logs in through FreeRADIUS; the kiosk counts down; added time shows within a second;
warnings appear in the member's language; terminating ends the kiosk's session.
Screenshots of phone and desktop viewports go to artifacts/workstations/.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import browser_fixtures
import pytest
import radius_fixtures
from portal_fixtures import password, portal_config_dict, seed_campus, start_portal
from pyrad import packet
from quota_radius_fixtures import daytime_zone
from test_workstation_portal import MEMBER, OPERATOR, PCS

radius_server = radius_fixtures.radius_server
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = browser_fixtures.ARTIFACTS / "workstations"
browser = browser_fixtures.browser
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def portal(radius_server, tmp_path_factory):
    seed_campus(radius_server.db, dt.datetime.now(dt.UTC))
    with radius_server.db.connect() as conn:
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
    config = portal_config_dict(radius_server.db, radius_server,
                                trusted_proxies=["127.0.0.1/32"])
    process = start_portal(tmp_path_factory.mktemp("portal"), config)
    try:
        yield process
    finally:
        process.stop()


def remaining_now(text: str) -> int:
    parts = [int(p) for p in text.strip().split(":")]
    return sum(p * 60 ** i for i, p in enumerate(reversed(parts)))


def set_remaining(radius_server, seconds):
    """Time passes: the running session has ``seconds`` left."""
    with radius_server.db.connect() as conn:
        conn.execute("UPDATE captiva_workstation_session SET running_since = now() -"
                     " make_interval(secs => granted_seconds - used_seconds - %s)"
                     " WHERE workstation = 'BIB-PC-01' AND state = 'running'", (seconds,))


def test_operator_issues_the_kiosk_counts_down_added_time_warnings_and_the_end(
        portal, browser, radius_server):  # noqa: F811 - the fixture
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    staff = browser.new_context(viewport=PHONE, locale="fr-FR")
    console = staff.new_page()
    errors = []
    console.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    console.goto(f"{portal.url}/login")
    console.fill("input[name=username]", OPERATOR)
    console.fill("input[name=password]", password(OPERATOR))
    console.click("button[type=submit].primary")
    console.goto(f"{portal.url}/admin/workstations")  # one site: straight to its screen
    assert console.url.endswith("/admin/workstations/campus-ndogbong")
    card = console.locator("[data-test=ws-BIB-PC-01]")
    card.locator("input[name=member]").fill(MEMBER)
    card.locator("input[name=minutes][type=number]").fill("45")
    card.locator("[data-test=ws-issue]").click()
    console.wait_for_load_state()
    assert console.locator("[data-test=ws-notice]").inner_text() == "Session attribuée."
    code = re.search(r"P\d{15}", console.locator("[data-test=ws-code]").inner_text()).group(0)
    assert card.locator("[data-field=status]").inner_text() == "Code remis"

    kiosk_context = browser.new_context(viewport=DESKTOP, extra_http_headers={
        "X-Forwarded-For": PCS[0][2]})
    kiosk = kiosk_context.new_page()
    kiosk.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    kiosk.on("response", lambda r: errors.append(r.url) if r.status >= 400 else None)
    kiosk.goto(f"{portal.url}/kiosk")
    assert kiosk.locator("[data-test=kiosk-state]").inner_text() == (
        "Saisissez votre code de session sur la page de connexion.")

    # The workstation logs in with its code (the hotspot asks FreeRADIUS).
    reply = radius_server.authenticate(code, code, Calling_Station_Id=PCS[0][1])
    assert reply.code == packet.AccessAccept and reply["Session-Timeout"] == [2700]
    kiosk.locator("body[data-state=running]").wait_for(timeout=3000)
    first = remaining_now(kiosk.locator("[data-test=kiosk-clock]").inner_text())
    assert 2690 <= first <= 2701  # the clock rounds up
    time.sleep(1.5)
    assert remaining_now(kiosk.locator("[data-test=kiosk-clock]").inner_text()) < first
    # The console saw the login live, without a reload.
    console.locator("[data-test=ws-BIB-PC-01][data-status=running]").wait_for(timeout=3000)
    assert card.locator("[data-field=status]").inner_text() == "Occupé"
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        console.set_viewport_size(size)
        console.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)
        kiosk.set_viewport_size(size)
        kiosk.screenshot(path=str(ARTIFACTS / f"kiosk-{name}.png"), full_page=True)
    console.set_viewport_size(PHONE)

    # Add 10 minutes: the kiosk shows it within a second of the operator's answer.
    card.locator("input[name=minutes][type=text]").fill("+10")
    card.locator("[data-test=ws-add-time]").click()
    console.wait_for_load_state()
    done = time.monotonic()
    kiosk.locator("[data-test=kiosk-added]").wait_for(state="visible", timeout=1000)
    latency = time.monotonic() - done
    assert latency < 1.0
    assert remaining_now(kiosk.locator("[data-test=kiosk-clock]").inner_text()) > 3200

    # Warnings at each threshold, in the member's language (French).
    set_remaining(radius_server, 58)
    kiosk.locator("[data-test=kiosk-warning]").wait_for(state="visible", timeout=3000)
    assert kiosk.locator("[data-test=kiosk-warning]").inner_text() == (
        "Attention : il reste 1 min.")
    set_remaining(radius_server, 9)
    kiosk.locator("[data-test=kiosk-warning][data-threshold='10']").wait_for(timeout=3000)
    assert kiosk.locator("[data-test=kiosk-warning]").inner_text() == "Attention : il reste 10 s."
    kiosk.screenshot(path=str(ARTIFACTS / "kiosk-warning-desktop.png"))
    set_remaining(radius_server, 600)

    # Terminate: the kiosk says the session ended.
    console.reload()
    card.locator("[data-test=ws-terminate]").click()
    console.wait_for_load_state()
    assert console.locator("[data-test=ws-notice]").inner_text() == (
        "Session terminée, poste déconnecté.")
    kiosk.locator("body[data-state=ended]").wait_for(timeout=3000)
    assert kiosk.locator("[data-test=kiosk-state]").inner_text() == "Session terminée. Merci !"
    kiosk.screenshot(path=str(ARTIFACTS / "kiosk-ended-desktop.png"))
    assert not [e for e in errors if "Content Security Policy" in e], errors
    staff.close()
    kiosk_context.close()
