"""A campus's first day, end to end, in headless Chromium (issue 22).

Real parts: PostgreSQL, FreeRADIUS (roles/freeradius), the portal (``captiva-portal``), the
enforce job, Chromium; the router is tools/routeros-sim, configured by Captiva itself: the
compiled roster reconciled onto it and the hotspot pages put in its html-directory by the
mikrotik role (ansible-playbook), the hotspot certificate imported from the roster. The
browser reaches the router's hotspot over HTTPS by its DNS name, and the simulator fills the
pages' RouterOS variables as the hotspot servlet does.

1. A student opens the router's login page, logs in and lands on the status page.
2. Accounting with interims and octets lands in radacct, in the usage and on the portal.
3. The student reaches the daily quota: the router cuts the session at its total limit; the
   browser's hotspot cookie brings the session back (the simulator's worst case) and the
   enforce job cuts it; after the logout the next login is refused with the quota message,
   shown on the router's page.
4. A guest opens a voucher card's QR URL and gets online.
5. A library member gets a session code, logs in on the workstation's MAC, sees the kiosk,
   gets more time by CoA and is logged out at the end.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import ssl
import subprocess

import psycopg
import pytest
import radius_fixtures
from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import reconcile
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_compile import (
    compile_routers,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_vouchers import batch_codes
from browser_fixtures import ARTIFACTS, CHROMIUM, FLAGS
from portal_fixtures import portal_config_dict, start_portal
from processes import missing
from quota_radius_fixtures import GIB, daytime_zone, roster_variables, wait_replayed
from radius_fixtures import ROOT, ROUTER_SECRET
from roster_base import HOTSPOT_DNS_NAME
from routeros_fixtures import start_sim, stop_sim

from captiva.quota import jobs
from captiva.runtime.jobs_config import parse
from captiva.vouchers.cards import default_login_url, login_url_for

radius_server = radius_fixtures.radius_server
SHOTS = ARTIFACTS / "first-day"
STUDENT, STUDENT_PASSWORD = "etu-premier", "etu-premier-Passw0rd"
MEMBER, OPERATOR = "lecteur1", "bib-accueil"
STUDENT_MAC, GUEST_MAC = "02:00:5E:22:00:01", "02:00:5E:22:00:02"
PC = {"name": "BIB-PC-01", "site": "campus-douala", "mac": "02:00:5E:10:00:01",
      "ip": "10.5.60.11", "room": "Bibliotheque"}
VOUCHER_SECRET = "first-day-voucher-secret-0123456789abcdef"
BATCH = "journee-portes-ouvertes"
MIB = 1024**2
ALL_DAY = dict.fromkeys(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                         "sunday"), "00:00-24:00")


def campus_roster():
    """The campus as its admins declare it: a student with a daily quota, a library member,
    an operator, a public workstation, a voucher batch (quota_radius_fixtures' sites)."""
    today = dt.datetime.now(dt.UTC).date()
    users = [{"username": STUDENT, "password": STUDENT_PASSWORD, "promotion": "daily-1g",
              "language": "fr"},
             {"username": MEMBER, "password": "lecteur1-Passw0rd", "promotion": "unlimited"},
             {"username": OPERATOR, "password": "bib-accueil-Passw0rd",
              "promotion": "unlimited"}]
    variables = roster_variables(users)
    for site in variables["captiva_sites"]:
        site["networks"] = ["10.5.60.0/24"] if site["name"] == "campus-douala" else \
            ["10.33.60.0/24"]
        if site["name"] == "campus-douala":
            site["timezone"] = daytime_zone()
    variables["captiva_staff"] = [{"username": OPERATOR, "role": "operator",
                                   "sites": ["campus-douala"]}]
    variables["captiva_workstations"] = [PC]
    variables["captiva_workstation_rules"] = [{
        "site": "campus-douala", "opening_hours": ALL_DAY, "default_session": "30m",
        "max_session": "2h"}]
    variables["captiva_voucher_secret"] = VOUCHER_SECRET
    variables["captiva_voucher_batches"] = [{
        "name": BATCH, "count": 5, "profile": "unlimited", "time_credit": "2h",
        "valid_from": (today - dt.timedelta(days=1)).isoformat(),
        "valid_until": (today + dt.timedelta(days=1)).isoformat(),
        "sites": ["campus-douala"]}]
    roster, errors = validate(variables)
    assert errors == [], errors
    return roster


def put_on_router(tmp_path, sim, desired, kiosk_url):
    """The mikrotik role, as site.yml runs it: the pages into the html-directory, then the
    reconcile of the compiled desired state (certificate import included)."""
    host = {"ansible_host": sim.host, "ansible_connection": "local",
            "ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python"),
            "mikrotik_api_port": sim.port, "mikrotik_api_tls": False,
            "mikrotik_api_username": sim.user, "mikrotik_api_password": sim.password,
            "mikrotik_desired": desired, "mikrotik_hotspot_kiosk_url": kiosk_url,
            "mikrotik_hotspot_html_directory": desired["/ip/hotspot/profile"][0][
                "html-directory"]}
    (tmp_path / "inventory.json").write_text(json.dumps({"routers": {"hosts": {"gw-douala":
                                                                                  host}}}))
    (tmp_path / "play.yml").write_text(
        "- hosts: routers\n  gather_facts: false\n  roles: [{role: captiva.campus.mikrotik}]\n")
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i",
         str(tmp_path / "inventory.json"), str(tmp_path / "play.yml")], cwd=ROOT,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"}, capture_output=True, text=True,
        timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def campus(radius_server, tmp_path_factory):
    """The roster reconciled, the portal running, the router configured by Captiva."""
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        missing("chromium is not installed (apt-get install chromium chromium-driver)")
    roster = campus_roster()
    with radius_server.db.connect("reconcile") as conn:
        reconcile(conn, roster, now=dt.datetime.now(dt.UTC), check_mode=False)
    tmp = tmp_path_factory.mktemp("first-day")
    portal = start_portal(tmp, portal_config_dict(radius_server.db, radius_server,
                                                  trusted_proxies=["127.0.0.1/32"]))
    sim = start_sim(tmp, hotspot_tls=True)
    try:
        desired = compile_routers(roster)["routeros"]["gw-douala"]
        # The router's RADIUS client points at this test's FreeRADIUS (its ports, and the
        # secret of its router client 127.0.0.1), as the inventory would point at the real one.
        desired["/radius"] = [{**entry, "address": "127.0.0.1", "secret": ROUTER_SECRET,
                               "authentication-port": radius_server.auth_port,
                               "accounting-port": radius_server.acct_port}
                              for entry in desired["/radius"][:1]]
        put_on_router(tmp, sim, desired, f"{portal.url}/kiosk")
        # By hand, once (docs/deploy.md, "The first apply"): the hotspot server on Captiva's
        # profile.
        sim.command("/ip/hotspot/add", name="hotspot1", interface="ether2",
                    profile=desired["/ip/hotspot/profile"][0]["name"])
        with radius_server.db.connect() as conn:
            conn.execute("UPDATE captiva_router SET coa_port = %s WHERE name = 'gw-douala'",
                         (sim.coa_port,))
        yield {"roster": roster, "portal": portal, "sim": sim, "desired": desired}
    finally:
        stop_sim(sim)
        portal.stop()


@pytest.fixture(scope="module")
def chromium():
    try:
        from playwright import sync_api
    except ImportError:
        missing("playwright is not installed (make venv installs requirements.txt)")
    with sync_api.sync_playwright() as playwright:
        # The hotspot's DNS name resolves to the simulated router, as the router's own DNS
        # answers its clients.
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=[*FLAGS, f"--host-resolver-rules=MAP {HOTSPOT_DNS_NAME} 127.0.0.1"])
        try:
            yield browser
        finally:
            browser.close()


def client(chromium, mac, ip, **headers):
    """A device on the hotspot network: the simulator learns its MAC and address from
    headers (it has no layer 2); the hotspot certificate is the lab's self-signed one."""
    return chromium.new_context(ignore_https_errors=True, locale="fr-FR", extra_http_headers={
        "X-Sim-Mac": mac, "X-Sim-Ip": ip, **headers})


def enforce(server):
    """One run of the enforce job (its timer's minute, now). In a thread of its own: the job
    runs an asyncio loop, and Playwright's sync API holds one in this thread."""
    config = parse({"dsn": server.db.dsns["jobs"], "enforce": {"timeout": 2},
                    "routers": {"gw-douala": {"secret": ROUTER_SECRET,
                                              "address": "127.0.0.1"}}})

    def run():
        with psycopg.connect(server.db.dsns["jobs"]) as conn:
            return jobs.enforce(conn, config, dt.datetime.now(dt.UTC))

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def active(sim, user):
    return [row for row in sim.rows("/ip/hotspot/active") if row["user"] == user]


def sql(server, query, *args, role="jobs"):
    with server.db.connect(role) as conn:
        return conn.execute(query, args).fetchone()


def test_a_campus_first_day(campus, chromium, radius_server):
    sim, portal, server = campus["sim"], campus["portal"], radius_server
    SHOTS.mkdir(parents=True, exist_ok=True)
    login_url = f"https://{HOTSPOT_DNS_NAME}:{sim.hotspot_tls_port}/login"
    # The HTTPS login serves the certificate Captiva imported from the roster.
    served = ssl.get_server_certificate(("127.0.0.1", sim.hotspot_tls_port))
    fingerprint = hashlib.sha256(ssl.PEM_cert_to_DER_cert(served)).hexdigest()
    profile = campus["desired"]["/ip/hotspot/profile"][0]
    assert profile["ssl-certificate"] == f"captiva-hotspot-{fingerprint[:12]}"

    # 1. The student opens the router's login page, logs in, lands on the status page.
    student = client(chromium, STUDENT_MAC, "10.5.50.21")
    page = student.new_page()
    page.goto(login_url)
    assert page.locator("#student-form").get_attribute("action") == login_url
    page.fill("#student-username", STUDENT)
    page.fill("#student-password", STUDENT_PASSWORD)
    page.click("#student-submit")
    page.locator("#session").wait_for(timeout=10000)
    assert page.locator("#username").inner_text() == STUDENT
    assert page.url.startswith(f"http://{HOTSPOT_DNS_NAME}:{sim.hotspot_port}/status")
    page.screenshot(path=str(SHOTS / "1-student-status.png"), full_page=True)
    (session,) = active(sim, STUDENT)
    assert (session["mac-address"], session["login-by"]) == (STUDENT_MAC, "https")
    assert int(session["limit-bytes-total"]) == GIB  # the day's quota left, from RADIUS

    # 2. Traffic and an interim: octets in radacct, the day's usage, the portal.
    sim.command("/captiva-sim/active/traffic", user=STUDENT, **{
        "bytes-in": str(100 * MIB), "bytes-out": str(200 * MIB)})
    sim.command("/captiva-sim/accounting/interim", user=STUDENT)
    # The Interim-Update goes out on the router's accounting thread, then through
    # FreeRADIUS's buffer into radacct.
    wait_replayed(server, sim)
    assert sql(server, "SELECT acctinputoctets, acctoutputoctets FROM radacct WHERE"
               " username = %s AND acctstoptime IS NULL", STUDENT) == (100 * MIB, 200 * MIB)
    used = sql(server, "SELECT sum(bytes_in + bytes_out) FROM captiva_usage_daily WHERE"
               " username = %s", STUDENT)[0]
    assert used == 300 * MIB
    page.goto(f"{portal.url}/login")
    page.fill("input[name=username]", STUDENT)
    page.fill("input[name=password]", STUDENT_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_load_state()
    bar = page.locator("svg.bar[role=progressbar]").first
    assert bar.get_attribute("aria-valuenow") == str(round(300 / 1024 * 100))
    assert STUDENT_MAC in page.locator("[data-test=active-sessions]").inner_text()
    page.screenshot(path=str(SHOTS / "2-student-portal.png"), full_page=True)

    # 3. The rest of the day's gigabyte: the router cuts the session at its total limit.
    sim.command("/captiva-sim/active/traffic", user=STUDENT, **{"bytes-out": str(800 * MIB)})
    assert not active(sim, STUDENT)  # the router ends it as it counts the traffic
    # Its Stop (sent by the router's accounting thread) closes the row with the octets.
    wait_replayed(server, sim)
    assert sql(server, "SELECT acctterminatecause, acctinputoctets + acctoutputoctets >= %s"
               " FROM radacct WHERE username = %s ORDER BY radacctid DESC LIMIT 1", GIB,
               STUDENT) == ("NAS-Request", True)
    # The browser's hotspot cookie (login-by has cookie) logs the student in again; the
    # simulator does it without RADIUS, the worst case RouterOS's documentation leaves open,
    # so the enforce job cuts that session of a user over quota.
    page.goto(login_url)
    page.locator("#session").wait_for(timeout=10000)
    assert active(sim, STUDENT)[0]["login-by"] == "cookie"
    wait_replayed(server, sim)
    summary = enforce(server)
    assert summary["ack"] == 1, summary
    assert not active(sim, STUDENT)
    assert sql(server, "SELECT reason FROM captiva_disconnect WHERE username = %s ORDER BY id"
               " DESC LIMIT 1", STUDENT)[0].startswith("quota")
    # The status page's logout erases the cookie; the next login asks RADIUS, which refuses
    # it with the quota message, shown on the router's login page.
    page.click("#logout")
    page.locator("#student-form").wait_for(timeout=10000)
    page.fill("#student-username", STUDENT)
    page.fill("#student-password", STUDENT_PASSWORD)
    page.click("#student-submit")
    error = page.locator("#router-error")
    error.wait_for(timeout=10000)
    # In the student's language (the roster's), with the moment the quota renews.
    assert error.inner_text().startswith(
        "Quota de données journalier de 1 GiB atteint ; renouvelé le "), error.inner_text()
    assert not active(sim, STUDENT)
    page.screenshot(path=str(SHOTS / "3-student-quota.png"), full_page=True)
    student.close()

    # 4. A guest scans a voucher card's QR code: the login page with the code filled in.
    code = batch_codes(VOUCHER_SECRET, BATCH, 5)[0]
    qr = login_url_for(default_login_url(f"{HOTSPOT_DNS_NAME}:{sim.hotspot_tls_port}",
                                         ["https", "cookie"]), code)
    guest = client(chromium, GUEST_MAC, "10.5.50.22")
    page = guest.new_page()
    page.goto(qr)
    page.locator("#session").wait_for(timeout=10000)
    assert page.locator("#username").inner_text() == code
    (session,) = active(sim, code)
    assert session["mac-address"] == GUEST_MAC
    page.screenshot(path=str(SHOTS / "4-guest-status.png"), full_page=True)
    guest.close()

    # 5. A library member at the workstation.
    with server.db.connect("portal") as conn:
        session_id, ws_code, reason, _ = conn.execute(
            "SELECT * FROM captiva_workstation_issue(%s, %s, %s, NULL, 1800)",
            (OPERATOR, PC["name"], MEMBER)).fetchone()
    assert reason is None
    workstation = client(chromium, PC["mac"], PC["ip"], **{"X-Forwarded-For": PC["ip"]})
    page = workstation.new_page()
    page.goto(login_url)
    page.fill("#code", ws_code)
    page.click("#code-submit")
    # The router's status page sends a session code on to the portal's kiosk.
    # 30 s: in a full `.ci/run` on 2 cores, the login and the kiosk's first poll once took
    # more than 15 s.
    page.locator("body[data-state=running]").wait_for(timeout=30000)
    assert page.url.startswith(f"{portal.url}/kiosk")
    (session,) = active(sim, ws_code)
    assert (session["mac-address"], session["session-time-left"]) == (PC["mac"], "30m")
    page.screenshot(path=str(SHOTS / "5-kiosk.png"), full_page=True)
    # +15 minutes: the kiosk shows it, the enforce job gives the router's session the new
    # Session-Timeout by CoA, and the member never leaves the network.
    with server.db.connect("portal") as conn:
        conn.execute("SELECT * FROM captiva_workstation_add_time(%s, %s, 'add', 900)",
                     (OPERATOR, session_id))
    page.locator("[data-test=kiosk-added]").wait_for(state="visible", timeout=3000)
    before = active(sim, ws_code)[0][".id"]
    summary = enforce(server)
    assert summary["coa"]["ack"] == 1, summary
    (session,) = active(sim, ws_code)
    assert session[".id"] == before  # the same router session, no re-login
    left = session["session-time-left"]
    minutes = int(re.match(r"(\d+)m", left).group(1))
    assert 44 <= minutes <= 45, left
    assert page.locator("body[data-state=running]").count() == 1
    # The end: the time is up (the clock, and the router's end, moved to now: a test cannot
    # wait 45 minutes); the sweep ends the session and the router's is disconnected.
    with server.db.connect() as conn:
        conn.execute("UPDATE captiva_workstation_session SET running_since = now() -"
                     " make_interval(secs => granted_seconds), router_until = now()"
                     " WHERE id = %s", (session_id,))
    summary = enforce(server)
    assert summary["ack"] == 1, summary
    assert not active(sim, ws_code)
    page.locator("body[data-state=ended]").wait_for(timeout=5000)
    assert page.locator("[data-test=kiosk-state]").inner_text() == "Session terminée. Merci !"
    page.screenshot(path=str(SHOTS / "5-kiosk-ended.png"), full_page=True)
    # Then the kiosk logs the browser out of the hotspot with erase-cookie: the router keeps
    # no cookie of the workstation, and the next person gets the login page.
    page.wait_for_url(re.compile(rf"https://{re.escape(HOTSPOT_DNS_NAME)}:\d+/login"),
                      timeout=15000)
    page.locator("#code-form").wait_for(timeout=5000)
    assert not [row for row in sim.rows("/ip/hotspot/cookie")
                if row.get("mac-address") == PC["mac"]]
    page.goto(login_url)
    assert not active(sim, ws_code)
    workstation.close()
