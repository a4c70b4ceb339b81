"""The status portal against real PostgreSQL and a real FreeRADIUS (radius_fixtures).

FreeRADIUS is configured by roles/freeradius with the portal's own client (127.0.0.2); the
portal checks passwords with Access-Requests to it. Accounting rows are written with
FreeRADIUS's own queries as captiva_freeradius, so captiva_usage_daily is filled by the
migration's trigger. Every security property has a test that fails without it.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import csv
import datetime as dt
import io
import logging
import re
import socket
import threading
import time
import zoneinfo

import httpx
import psycopg
import psycopg.sql
import pytest
import radius_fixtures
from portal_fixtures import (
    ADMIN,
    TIMEZONE,
    GiB,
    csrf_of,
    flood,
    password,
    portal_config,
    portal_config_dict,
    role_defaults,
    seed_accounting,
    seed_campus,
    start_nginx,
    start_portal,
)
from starlette.testclient import TestClient

import captiva
from captiva.portal import radius_auth
from captiva.portal.app import CSP, create_app
from captiva.portal.config import ConfigError, parse
from captiva.portal.formats import fmt_bytes
from captiva.portal.security import LoginLimiter
from captiva.portal.student import data
from captiva.quota.usage import usage_for

radius_server = radius_fixtures.radius_server


def _one_campus_day() -> dt.datetime:
    """The tests' "now": today's seeded sessions (from 200 minutes before it,
    portal_fixtures.seed_accounting) must lie in one campus day, or the day's figure the
    tests expect is 0. In the first 4 hours of a Douala day, the previous day's 23:30."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    local = now.astimezone(zoneinfo.ZoneInfo(TIMEZONE))
    if local.hour < 4:
        now -= dt.timedelta(hours=local.hour, minutes=local.minute + 30, seconds=local.second)
    return now


NOW = _one_campus_day()
STUDENT = "STU2025001"
SESSION_COOKIE = "__Host-captiva"
LOGIN_COOKIE = "__Host-captiva-login"
# Cookieless GET /login in the flood test; bench/portal_bench.py --flood sends 100,000.
FLOOD_REQUESTS = 5000


class Clock:
    """A monotonic clock the tests move forward."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def campus(radius_server):
    seed_campus(radius_server.db, NOW)
    seed_accounting(radius_server.db, NOW)
    return radius_server


def make_client(campus, base_url="https://portal.test", clock=None, peer="192.0.2.10",
                **overrides):
    config = portal_config(campus.db, campus, **overrides)
    kwargs = {"now": lambda: NOW}
    if clock is not None:
        kwargs["clock"] = clock
    app = create_app(config, **kwargs)
    return TestClient(app, base_url=base_url, follow_redirects=False, client=(peer, 50000))


@pytest.fixture
def client(campus):
    with make_client(campus) as client:
        yield client


def login(client, username=STUDENT, secret=None, headers=None):
    page = client.get("/login")
    token = csrf_of(page.text)
    return client.post("/login", data={"csrf": token, "username": username,
                                       "password": secret or password(username)},
                       headers=headers or {})


def set_cookie_headers(response) -> list[str]:
    return response.headers.get_list("set-cookie")


def cookie_names(response) -> set[str]:
    return {c.split("=", 1)[0] for c in set_cookie_headers(response)}


def xff(address: str) -> dict[str, str]:
    return {"x-forwarded-for": address}


def http_login(http: httpx.Client, username: str) -> str:
    """Log in over real HTTP; the Cookie header of the session. (httpx keeps Secure cookies
    to itself over http://, so the cookies travel by hand.)"""
    page = http.get("/login")
    cookie = page.headers["set-cookie"].split(";")[0]
    response = http.post("/login", headers={"cookie": cookie}, data={
        "csrf": csrf_of(page.text), "username": username, "password": password(username)})
    assert response.status_code == 303, response.text
    return response.headers["set-cookie"].split(";")[0]


# --- login through FreeRADIUS ------------------------------------------------------------------


def test_student_logs_in_with_radius_and_sees_the_dashboard(client):
    response = login(client)
    assert response.status_code == 303 and response.headers["location"] == "/me"
    page = client.get("/me")
    assert page.status_code == 200
    assert "Awa Ngono" in page.text and "ndogbong-gw1" in page.text
    assert 'role="progressbar"' in page.text
    assert "AA:BB:CC:00:00:03" in page.text  # the open session's MAC


def test_wrong_password_is_refused_by_radius(client):
    response = login(client, secret="not-the-password")
    assert response.status_code == 401
    assert client.get("/me").status_code == 303


def test_status_group_user_is_refused(client):
    """wifi-off: FreeRADIUS rejects (Auth-Type := Reject) whatever the password."""
    assert login(client, "STU2024009").status_code == 401


def test_radius_down_is_a_503_not_a_login(campus):
    with make_client(campus, radius={"port": 9, "timeout": 0.5}) as client:
        response = login(client)
    assert response.status_code == 503


def test_a_burst_of_logins_waits_its_turn_while_pages_are_served(campus):
    # login.concurrency 1: a login holding the slot (its RADIUS answer held back here) makes
    # the next one wait, at most the RADIUS check's own time (0.5 s x 1 attempt), then be told
    # to retry; pages are served meanwhile.
    gate, checking = threading.Event(), threading.Event()

    def held_back(*args):
        checking.set()
        gate.wait(10)
        return radius_auth.authenticate(*args)

    config = portal_config(campus.db, campus, login={"concurrency": 1},
                           radius={"timeout": 0.5})
    app = create_app(config, now=lambda: NOW, authenticate=held_back)
    with TestClient(app, base_url="https://portal.test", follow_redirects=False,
                    client=("192.0.2.10", 50000)) as client, \
            concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(login, client)
        assert checking.wait(5)
        started = time.monotonic()
        assert client.get("/healthz").status_code == 200
        assert client.get("/login").status_code == 200
        assert time.monotonic() - started < 0.4
        started = time.monotonic()
        second = login(client)
        waited = time.monotonic() - started
        gate.set()
        assert first.result(10).status_code == 303  # the first login goes through
    assert second.status_code == 503
    assert "Trop de connexions en ce moment" in second.text  # the default language
    assert 0.5 <= waited < 3


# --- usage figures are captiva.quota.usage's ----------------------------------------------------


def test_api_me_usage_matches_captiva_usage(client, campus):
    login(client)
    body = client.get("/api/me").json()
    with psycopg.connect(campus.db.dsns["portal"]) as conn:
        expected = usage_for(conn, STUDENT, NOW)
    for name, usage in expected.items():
        got = body["usage"][name]
        assert got["used"] == usage.used
        assert got["limit"] == usage.limit
        assert got["remaining"] == usage.remaining
        assert got["resets_at"] == (usage.resets_at.isoformat() if usage.resets_at else None)
    assert expected["daily"].used > 0 and expected["total"].used > expected["monthly"].used / 2
    # the chart's 30 days sum what captiva_usage_daily holds for them
    assert len(body["daily_usage"]) == 30
    assert body["daily_usage"][-1]["bytes"] == expected["daily"].used
    assert body["days_left"] in (44, 45)
    assert [s["mac"] for s in body["active_sessions"]] == ["AA:BB:CC:00:00:03"]
    assert {d["mac"] for d in body["devices"]} == {
        "AA:BB:CC:00:00:01", "AA:BB:CC:00:00:02", "AA:BB:CC:00:00:03"}


def test_dashboard_prints_the_same_percentages(client, campus):
    login(client)
    page = client.get("/me").text
    with psycopg.connect(campus.db.dsns["portal"]) as conn:
        expected = usage_for(conn, STUDENT, NOW)
    for name in ("daily", "weekly", "monthly"):
        value = f'{expected[name].percent:.0f}'
        block = page.split(f'data-period="{name}"')[1].split("</li>")[0]
        assert f'aria-valuenow="{value}"' in block
        assert f"{value} %" in block


def test_history_is_paginated(campus):
    """17 sessions (15 past days, one closed today, one open), 5 a page."""
    with make_client(campus, dashboard={"history_page_size": 5}) as client:
        login(client)
        pages = [client.get(f"/api/me?page={n}").json()["history"] for n in (1, 2, 3, 4)]
        assert [len(p["sessions"]) for p in pages] == [5, 5, 5, 2]
        assert [p["has_more"] for p in pages] == [True, True, True, False]
        starts = [s["started"] for p in pages for s in p["sessions"]]
        assert starts == sorted(starts, reverse=True) and len(set(starts)) == 17
        assert pages[0]["sessions"][0]["stopped"] is None  # the open session first
        html = client.get("/me?page=2", headers={"accept-language": "en"}).text
        assert 'href="/me?page=1#history-h"' in html and 'href="/me?page=3#history-h"' in html


# --- admin ---------------------------------------------------------------------------------


def test_admin_sees_online_failures_top_promotions_and_csv(client):
    login(client, ADMIN)
    page = client.get("/admin")
    assert page.status_code == 200
    assert "STU2025002" in page.text and "Access-Reject" in page.text
    online = client.get("/api/admin/online").json()["rows"]
    assert {row["account"] for row in online} == {"STU2025001", "STU2025002"}
    top = client.get("/api/admin/top").json()["rows"]
    assert top[0]["username"] in ("STU2025001", "STU2025002")
    promotions = {r["promotion"]: r for r in client.get("/api/admin/promotions").json()["rows"]}
    assert promotions["L3-INFO-2025"]["online_sessions"] == 2
    assert promotions["L3-GESTION-2024"]["wifi_enabled"] is False
    failures = client.get("/api/admin/failures").json()["rows"]
    assert failures and "pass" not in failures[0]
    exported = client.get("/admin/export/online.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {row["account"] for row in rows} == {"STU2025001", "STU2025002"}


def test_student_is_not_an_admin(client):
    login(client)
    assert client.get("/admin").status_code == 403
    assert client.get("/api/admin/online").status_code == 403
    assert client.get("/admin/export/online.csv").status_code == 403


def test_api_needs_a_session(client):
    assert client.get("/api/me").status_code == 401
    assert client.get("/api/admin/online").status_code == 401


def test_healthz_checks_the_database(client, campus):
    # The version a campus runs (galaxy.yml's), for the smoke test and monitoring.
    assert client.get("/healthz").json() == {"status": "ok", "version": captiva.__version__}
    dsn = re.sub(r"port=\d+", "port=9", campus.db.dsns["portal"])
    with make_client(campus, dsn=dsn, database={"pool_min_size": 0, "timeout": 1}) as broken:
        response = broken.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "database unavailable", "version": captiva.__version__}
    # the database down at start: the portal waits pool_timeout for its pool, then answers
    with make_client(campus, dsn=dsn, database={"pool_min_size": 1, "timeout": 1}) as broken:
        assert broken.get("/healthz").status_code == 503


# --- security ------------------------------------------------------------------------------


def test_every_post_route_refuses_a_missing_or_foreign_csrf_token(campus, client):
    post_routes = [r.path for r in client.app.routes
                   if getattr(r, "methods", None) and "POST" in r.methods]
    # the console's actions (grant, disconnect) share one route: CSRF is checked first
    assert sorted(post_routes) == ["/admin/registrations/{request_id}/{decision}",
                                   "/admin/users/{username}/devices/{action}",
                                   "/admin/users/{username}/{action:str}",
                                   "/admin/vouchers/revoke", "/admin/workstations/{site}/act",
                                   "/devices/{action}", "/lang", "/login", "/logout",
                                   "/password", "/password/forgot", "/password/reset/{token}",
                                   "/signup", "/signup/verify/{token}"]
    login(client)
    with make_client(campus) as other:
        foreign = csrf_of(other.get("/login").text)
    for path in post_routes:
        data = {"username": STUDENT, "password": password(STUDENT), "lang": "en"}
        assert client.post(path, data=data).status_code == 403, path
        assert client.post(path, data={**data, "csrf": foreign}).status_code == 403, path
    assert client.get("/me").status_code == 200  # the refused logout did nothing


def test_login_without_a_session_cookie_is_refused(client):
    """Login CSRF: a cross-site form post lacks the pre-session cookie its token is bound to."""
    response = client.post("/login", data={"csrf": "x", "username": STUDENT,
                                           "password": password(STUDENT)})
    assert response.status_code == 403


def test_session_cookie_flags(client):
    page = client.get("/login")
    for response, name in ((page, LOGIN_COOKIE), (login(client), SESSION_COOKIE)):
        cookie = next(c for c in set_cookie_headers(response) if c.startswith(name + "="))
        attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
        assert {"httponly", "secure", "samesite", "path"} <= attrs
        assert "samesite=lax" in cookie.lower() and "path=/" in cookie.lower()
        assert "domain" not in attrs


def test_no_session_before_login_and_a_new_one_at_each_login(client):
    assert SESSION_COOKIE not in cookie_names(client.get("/login"))
    assert login(client).status_code == 303
    first = client.cookies.get(SESSION_COOKIE)
    client.cookies.delete(SESSION_COOKIE)
    assert login(client).status_code == 303
    second = client.cookies.get(SESSION_COOKIE)
    assert first and second and first != second
    for cookie in (first, second):  # two devices, two sessions
        client.cookies.set(SESSION_COOKIE, cookie, domain="portal.test")
        assert client.get("/api/me").status_code == 200


def test_a_planted_session_cookie_is_not_adopted_at_login(client):
    """Session fixation: a cookie an attacker set before the login never becomes a session."""
    planted = "attacker-chosen-id.0123456789abcdef0123456789abcdef"
    client.cookies.set(SESSION_COOKIE, planted, domain="portal.test")
    assert login(client).status_code == 303
    assert client.cookies.get(SESSION_COOKIE) != planted
    client.cookies.set(SESSION_COOKIE, planted, domain="portal.test")
    assert client.get("/api/me").status_code == 401


def test_logout_ends_the_session_on_the_server(client):
    login(client)
    cookie = client.cookies.get("__Host-captiva")
    token = csrf_of(client.get("/me").text)
    assert client.post("/logout", data={"csrf": token}).status_code == 303
    client.cookies.set("__Host-captiva", cookie, domain="portal.test")
    assert client.get("/api/me").status_code == 401


def test_forged_cookie_is_ignored(client):
    login(client)
    sid, mac = client.cookies.get("__Host-captiva").rsplit(".", 1)
    client.cookies.set("__Host-captiva", f"{sid}.{'0' * len(mac)}", domain="portal.test")
    assert client.get("/api/me").status_code == 401


def test_idle_timeout(campus):
    clock = Clock()
    with make_client(campus, clock=clock, session={"idle_timeout": 600}) as client:
        login(client)
        clock.t += 599
        assert client.get("/api/me").status_code == 200  # activity renews the idle timer
        clock.t += 599
        assert client.get("/api/me").status_code == 200
        clock.t += 601
        assert client.get("/api/me").status_code == 401
        response = client.get("/me")
        assert response.headers["location"] == "/login?expired=1"


def test_absolute_timeout(campus):
    clock = Clock()
    with make_client(campus, clock=clock, session={"idle_timeout": 600,
                                                   "absolute_timeout": 1800}) as client:
        login(client)
        for _ in range(3):
            clock.t += 500
            assert client.get("/api/me").status_code == 200
        clock.t += 500  # 2000 s after login, though active every 500 s
        assert client.get("/api/me").status_code == 401


def test_rate_limit_per_user_and_address(campus):
    with make_client(campus, login={"max_failures_per_user_address": 3}) as client:
        for _ in range(3):
            assert login(client, secret="wrong-password").status_code == 401
        blocked = login(client)  # even the right password: throttled from this address
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) > 0
        assert login(client, "STU2025002").status_code == 303  # other accounts are not


def test_failures_from_one_address_pace_it_but_never_lock_it_out(campus):
    """Past max_failures_per_address failures an address (a campus behind one NAT address)
    is paced, not locked out: each password check takes a slot, a failed check keeps it
    (refilled at pace_rate), a correct one gives it back. Slots: 2 here, and no wait."""
    clock = Clock()
    with make_client(campus, clock=clock, login={"max_failures_per_address": 4,
                                                 "max_failures_per_user_address": 4}) as client:
        limiter = client.app.state.portal.limiter
        limiter.pace_burst, limiter.max_wait = 2, 0
        for i in range(4):
            assert login(client, f"nobody{i}", secret="x").status_code == 401
        assert login(client).status_code == 303  # paced: the right password still signs in
        client.cookies.clear()
        for i in range(2):  # the failures take the two slots
            assert login(client, f"other{i}", secret="x").status_code == 401
        refused = login(client, "STU2025002")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) == 1
        clock.t += 1 / limiter.pace_rate  # one slot back
        assert login(client, "STU2025002").status_code == 303
        client.cookies.clear()
        assert login(client).status_code == 303  # a success gave its slot back


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(campus):
    limits = {"max_failures_per_address": 10, "max_failures_per_user_address": 2}
    # untrusted peer: a forged X-Forwarded-For does not escape the limit of the peer's address
    with make_client(campus, login=limits) as client:
        for i in range(2):
            login(client, STUDENT, "x", headers=xff(f"192.0.2.{i}"))
        assert login(client, headers=xff("192.0.2.99")).status_code == 429
    # from the trusted proxy (nginx), each forwarded client is counted on its own
    with make_client(campus, login=limits, peer="127.0.0.1",
                     trusted_proxies=["127.0.0.1"]) as client:
        for _ in range(2):
            login(client, STUDENT, "x", headers=xff("198.51.100.7"))
        assert login(client, headers=xff("198.51.100.7")).status_code == 429
        assert login(client, headers=xff("198.51.100.8")).status_code == 303


# --- the portal under abuse --------------------------------------------------------------------


def test_a_visitor_switches_the_language_without_a_session(client):
    page = client.get("/login", headers={"accept-language": "fr"})
    assert "Connexion" in page.text
    response = client.post("/lang", data={"csrf": csrf_of(page.text), "lang": "en",
                                          "next": "/login"})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert "Sign in" in client.get("/login", headers={"accept-language": "fr"}).text
    assert len(client.app.state.portal.store) == 0


def test_a_flood_of_login_pages_stores_nothing_and_logs_nobody_out(campus, tmp_path):
    """Cookieless GET /login by the thousand, against a real uvicorn: no session is stored
    (none is offered), so even a store capped at 1,000 keeps the student who signed in."""
    config = portal_config_dict(campus.db, campus, session={"max_sessions": 1000})
    portal = start_portal(tmp_path, config)
    try:
        with httpx.Client(base_url=portal.url, follow_redirects=False) as http:
            student = http_login(http, STUDENT)
            result = flood(portal.port, FLOOD_REQUESTS)
            assert result.statuses == {200: FLOOD_REQUESTS}
            assert SESSION_COOKIE not in result.cookies  # no session before a login
            assert result.cookies[LOGIN_COOKIE] == FLOOD_REQUESTS
            assert http.get("/api/me", headers={"cookie": student}).status_code == 200
    finally:
        portal.stop()


def test_nginx_limits_login_requests_per_address(campus, tmp_path):
    """roles/portal's nginx site (its defaults: 10 r/s, burst 50) in front of a real portal:
    a burst of /login beyond the limit gets 429 from nginx; other paths are not limited."""
    burst = role_defaults()["portal_nginx_login_burst"]
    (tmp_path / "portal").mkdir()
    portal = start_portal(tmp_path / "portal", portal_config_dict(campus.db, campus))
    try:
        nginx = start_nginx(tmp_path / "nginx", portal.port)
        try:
            with httpx.Client(base_url=nginx.url, verify=False) as http:  # noqa: S501
                start = time.monotonic()
                logins = collections.Counter(http.get("/login").status_code
                                             for _ in range(3 * burst))
                elapsed = time.monotonic() - start
                health = collections.Counter(http.get("/healthz").status_code
                                             for _ in range(3 * burst))
        finally:
            nginx.stop()
    finally:
        portal.stop()
    assert set(logins) == {200, 429}
    assert burst < logins[200] <= burst + 1 + 10 * elapsed + 1, (logins, elapsed)
    assert health == {200: 3 * burst}


def test_nginx_logs_no_link_token(campus, tmp_path):
    """roles/portal's nginx site with an access log, as Debian's nginx.conf has one: the
    password-reset and sign-up links' tokens (their URLs) are not written to it."""
    (tmp_path / "portal").mkdir()
    portal = start_portal(tmp_path / "portal", portal_config_dict(campus.db, campus))
    log = tmp_path / "access.log"
    links = ["/password/reset/LINKTOKEN1", "/signup/verify/7.LINKTOKEN2",
             "/signup/status/7.LINKTOKEN3"]
    try:
        nginx = start_nginx(tmp_path / "nginx", portal.port, access_log=log)
        try:
            with httpx.Client(base_url=nginx.url, verify=False) as http:  # noqa: S501
                assert http.get("/login").status_code == 200
                answers = [http.get(link).status_code for link in links]
        finally:
            nginx.stop()
    finally:
        portal.stop()
    assert answers == [410, 404, 404]  # the portal answered each (links it does not know)
    written = log.read_text()
    assert '"GET /login HTTP/1.1" 200' in written
    assert "LINKTOKEN" not in written


def test_the_login_form_token_is_signed_bound_to_its_cookie_and_short_lived(campus):
    clock = Clock()
    with make_client(campus, clock=clock, login={"form_validity": 600}) as client:
        page = client.get("/login")
        assert cookie_names(page) == {LOGIN_COOKIE}
        assert len(client.app.state.portal.store) == 0  # nothing stored for a visitor
        token = csrf_of(page.text)
        credentials = {"username": STUDENT, "password": password(STUDENT)}
        # the token with another visitor's pre-session cookie: refused
        with make_client(campus, clock=clock) as other:
            other.get("/login")
            assert other.post("/login", data={**credentials, "csrf": token}).status_code == 403
        # a forged signature or timestamp: refused
        stamp, mac = token.split(".", 1)
        for forged in (f"{stamp}.{'0' * len(mac)}", f"{int(stamp) + 500}.{mac}"):
            assert client.post("/login", data={**credentials, "csrf": forged}).status_code == 403
        clock.t += 601
        expired = client.post("/login", data={**credentials, "csrf": token})
        assert expired.status_code == 403
        assert client.get("/api/me").status_code == 401
        # the refusal is a fresh form that works
        fresh = csrf_of(expired.text)
        assert client.post("/login", data={**credentials, "csrf": fresh}).status_code == 303
        assert client.get("/api/me").status_code == 200


def test_one_account_cannot_fill_the_session_store(campus):
    """Valid credentials are not rate limited: signing in again and again replaces the
    account's oldest sessions, never another student's."""
    with make_client(campus, session={"max_sessions": 10, "max_sessions_per_user": 3}) as client:
        login(client)
        student = client.cookies.get(SESSION_COOKIE)
        cookies = []
        for _ in range(12):
            client.cookies.clear()
            assert login(client, "STU2025002").status_code == 303
            cookies.append(client.cookies.get(SESSION_COOKIE))
        alive = []
        for cookie in [student, *cookies]:
            client.cookies.set(SESSION_COOKIE, cookie, domain="portal.test")
            alive.append(client.get("/api/me").status_code == 200)
        assert alive == [True] + [False] * 9 + [True] * 3


def test_parallel_wrong_passwords_reach_radius_at_most_the_limit(campus, tmp_path):
    """50 wrong passwords at once, through a real uvicorn to the real FreeRADIUS (which holds
    each reject a second): each attempt is counted before RADIUS is asked, so only the limit
    gets there (FreeRADIUS logs every request it rejects in radpostauth)."""
    limit, target, parallel = 5, "race.target", 50
    config = portal_config_dict(campus.db, campus, login={
        "max_failures_per_user_address": limit, "max_failures_per_address": 100})
    portal = start_portal(tmp_path, config)
    try:
        page = httpx.get(portal.url + "/login")
        cookie, token = page.headers["set-cookie"].split(";")[0], csrf_of(page.text)

        async def race():
            async with httpx.AsyncClient(base_url=portal.url, timeout=30,
                                         limits=httpx.Limits(max_connections=parallel)) as http:
                responses = await asyncio.gather(*(http.post(
                    "/login", headers={"cookie": cookie},
                    data={"csrf": token, "username": target, "password": "wrong-password"})
                    for _ in range(parallel)))
            return collections.Counter(r.status_code for r in responses)

        statuses = asyncio.run(race())
    finally:
        portal.stop()
    with campus.db.connect() as conn:
        reached = conn.execute("SELECT count(*) FROM radpostauth WHERE username = %s",
                               (target,)).fetchone()[0]
    assert 1 <= reached <= limit
    assert statuses == {401: reached, 429: parallel - reached}


def test_a_student_failing_behind_a_nat_locks_out_nobody_else(campus):
    """Many students share the router's address: one who mistypes (or an attacker guessing
    their password) blocks that username from that address only."""
    limits = {"max_failures_per_user_address": 3, "max_failures_per_address": 100}
    with make_client(campus, login=limits, peer="127.0.0.1",
                     trusted_proxies=["127.0.0.1"]) as client:
        nat, elsewhere = xff("198.51.100.20"), xff("203.0.113.5")
        for _ in range(3):
            assert login(client, "STU2025002", "wrong-password", nat).status_code == 401
        assert login(client, "STU2025002", headers=nat).status_code == 429
        client.cookies.clear()
        assert login(client, STUDENT, headers=nat).status_code == 303  # the rest of the site
        client.cookies.clear()
        assert login(client, "STU2025002", headers=elsewhere).status_code == 303


def test_ipv6_clients_are_counted_per_64(campus):
    """An IPv6 client picks any address of its /64: they are all one client."""
    limits = {"max_failures_per_user_address": 2, "max_failures_per_address": 4}
    with make_client(campus, login=limits, peer="127.0.0.1",
                     trusted_proxies=["127.0.0.1"]) as client:
        # paced with no slot and no wait: a paced /64 is refused at once
        client.app.state.portal.limiter.pace_burst = client.app.state.portal.limiter.max_wait = 0
        for i in range(2):
            assert login(client, "STU2025002", "x",
                         xff(f"2001:db8:1:2::{i + 1:x}")).status_code == 401
        assert login(client, "STU2025002", headers=xff("2001:db8:1:2:aa::1")).status_code == 429
        for i in range(2):
            assert login(client, f"nobody{i}", "x",
                         xff(f"2001:db8:1:2:{i + 7:x}::1")).status_code == 401
        assert login(client, headers=xff("2001:db8:1:2:ffff:ffff:ffff:ffff")).status_code == 429
        assert login(client, headers=xff("2001:db8:1:3::1")).status_code == 303  # next /64


def test_attempts_of_usernames_never_tried_again_are_forgotten():
    """Each username tried from each address is a counter: old ones must not pile up."""
    clock = Clock()
    limiter = LoginLimiter(5, 100, window=900, clock=clock)
    for i in range(LoginLimiter.SWEEP_AT // 2):
        limiter.reserve(f"guess{i}", f"2001:db8:{i // 65536:x}:{i % 65536:x}::1")
    assert len(limiter) == LoginLimiter.SWEEP_AT  # one username and one /64 each
    clock.t += 901
    limiter.reserve("late", "198.51.100.1")
    assert len(limiter) == 2


def test_login_limits_are_checked(campus):
    def config(**login):
        return portal_config_dict(campus.db, campus, login=login)

    with pytest.raises(ConfigError, match="login.max_failures_per_address: must not be lower"):
        parse(config(max_failures_per_user_address=10, max_failures_per_address=5))
    with pytest.raises(ConfigError, match="max_failures_per_account.*max_failures_per_user_"):
        parse(config(max_failures_per_account=5))
    with pytest.raises(ConfigError, match="login: unknown keys: max_failure_per_address"):
        parse(config(max_failure_per_address=5))


def test_a_username_cannot_forge_a_log_line(client, caplog):
    forged = "nobody\nINFO captiva.portal: login of admin.wifi from 10.0.0.1"
    caplog.set_level(logging.INFO, logger="captiva.portal")
    assert login(client, forged, "wrong-password").status_code == 401
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("captiva.portal")]
    assert any("nobody" in m for m in messages)
    assert all("\n" not in m and "\r" not in m for m in messages), messages


def test_security_headers(client):
    for path in ("/login", "/me", "/api/me", "/healthz", "/static/portal.css", "/nope"):
        response = client.get(path)
        headers = response.headers
        assert headers["content-security-policy"] == CSP, path
        assert "unsafe-inline" not in CSP and "frame-ancestors 'none'" in CSP
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["strict-transport-security"].startswith("max-age=")
    assert client.get("/me").headers["cache-control"] == "no-store"


def test_hsts_only_behind_tls(campus):
    with make_client(campus, base_url="http://portal.test") as plain:
        assert "strict-transport-security" not in plain.get("/login").headers
        # a client cannot claim TLS with X-Forwarded-Proto unless it is a trusted proxy
        forged = plain.get("/login", headers={"x-forwarded-proto": "https"})
        assert "strict-transport-security" not in forged.headers
    with make_client(campus, base_url="http://portal.test", peer="127.0.0.1",
                     trusted_proxies=["127.0.0.1"]) as proxied:
        response = proxied.get("/login", headers={"x-forwarded-proto": "https"})
        assert "strict-transport-security" in response.headers


def test_templates_have_no_inline_script_or_style():
    from pathlib import Path

    import captiva.portal

    for template in (Path(captiva.portal.__file__).parent / "templates").glob("*.html"):
        text = template.read_text()
        # scripts only from /static (the console's), never inline code
        assert not re.search(r'<script(?![^>]*\ssrc="/static/)', text), template
        assert not re.search(r"<script[^>]*>[^<]", text), template
        assert "<style" not in text, template
        assert not re.search(r"\sstyle=", text), template
        assert not re.search(r"\son[a-z]+=", text), template


def test_portal_role_cannot_read_passwords(campus):
    with psycopg.connect(campus.db.dsns["portal"]) as conn, pytest.raises(
            psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT value FROM radcheck LIMIT 1")


def test_figure_cache_is_per_session_and_ends_with_it(campus):
    """With the cache on, a page is never served to another session, language or after logout."""
    with make_client(campus, dashboard={"cache_seconds": 60}) as client:
        login(client)
        assert "Awa Ngono" in client.get("/me").text
        assert "Awa Ngono" in client.get("/me").text  # served from the cache
        assert "My usage" in client.get("/me", headers={"accept-language": "en"}).text
        cookie = client.cookies.get("__Host-captiva")
        token = csrf_of(client.get("/me").text)
        assert client.post("/logout", data={"csrf": token}).status_code == 303
        login(client, "STU2025002")
        page = client.get("/me").text
        assert "Paul Mbarga" in page and "Awa Ngono" not in page
        client.cookies.set("__Host-captiva", cookie, domain="portal.test")
        assert client.get("/me").status_code == 303  # the logged-out session's page is gone


# --- the figure cache under load: refreshed ahead, one read per key, bounded -------------------


class CountedReads:
    """data.dashboard as the portal calls it, counted; reads after the first ``free`` wait
    for ``release`` (a refresh the test holds)."""

    def __init__(self, monkeypatch, free: int = 1):
        self.real = data.dashboard
        self.reads: list[str] = []
        self.free = free
        self.release = threading.Event()
        monkeypatch.setattr(data, "dashboard", self)

    def __call__(self, conn, username, *args):
        if username == "":  # a new pool connection's warm-up (shell.py), not a page's read
            return self.real(conn, username, *args)
        self.reads.append(username)
        if len(self.reads) > self.free:
            assert self.release.wait(20), "the test never released the read"
        return self.real(conn, username, *args)


@contextlib.contextmanager
def more_usage_today(campus, username: str, extra: int):
    """``extra`` bytes more in the user's last day of captiva_usage_daily, then back."""
    change = ("UPDATE captiva_usage_daily SET bytes_in = bytes_in + %s WHERE username = %s"
              " AND day = (SELECT max(day) FROM captiva_usage_daily WHERE username = %s)")
    with campus.db.connect() as conn:
        conn.execute(change, (extra, username, username))
    try:
        yield
    finally:
        with campus.db.connect() as conn:
            conn.execute(change, (-extra, username, username))


def daily_used(client) -> int:
    response = client.get("/api/me")
    assert response.status_code == 200, response.text
    return response.json()["usage"]["daily"]["used"]


def daily_block(page: str) -> str:
    return page.split('data-period="daily"')[1].split("</li>")[0]


def wait_refreshed(portal) -> None:
    deadline = time.monotonic() + 20
    while portal.figures.refreshing and time.monotonic() < deadline:
        time.sleep(0.02)
    assert portal.figures.refreshing == 0


def test_a_due_page_is_served_at_once_while_one_refresh_reads_the_new_figures(campus,
                                                                               monkeypatch):
    clock = Clock()
    reads = CountedReads(monkeypatch)
    with make_client(campus, clock=clock, dashboard={"cache_seconds": 30}) as client:
        portal = client.app.state.portal
        login(client)
        before = daily_used(client)
        page = client.get("/me").text
        with more_usage_today(campus, STUDENT, GiB):
            clock.t += 30 * 0.75  # past any entry's refresh point, younger than the TTL
            started = time.monotonic()
            for _ in range(5):  # the refresh waits for the test: these must not
                assert daily_used(client) == before
                assert daily_block(client.get("/me").text) == daily_block(page)
            assert time.monotonic() - started < 10
            assert reads.reads == [STUDENT, STUDENT]  # the first read and exactly one refresh
            reads.release.set()
            wait_refreshed(portal)
            assert daily_used(client) == before + GiB
            assert fmt_bytes(before + GiB) in daily_block(client.get("/me").text)
            assert len(reads.reads) == 2


def test_no_figure_older_than_cache_seconds_is_served(campus, monkeypatch):
    clock = Clock()
    reads = CountedReads(monkeypatch, free=10)
    with make_client(campus, clock=clock, dashboard={"cache_seconds": 30}) as client:
        login(client)
        before = daily_used(client)
        with more_usage_today(campus, STUDENT, GiB):
            clock.t += 30  # nobody asked in between: the next request reads itself
            assert daily_used(client) == before + GiB
        assert len(reads.reads) == 2


def test_the_first_page_after_a_login_reads_fresh_figures(campus):
    with make_client(campus, dashboard={"cache_seconds": 60}) as client:
        login(client)
        before = daily_used(client)
        with more_usage_today(campus, STUDENT, GiB):
            assert daily_used(client) == before  # the same session: cached
            token = csrf_of(client.get("/me").text)
            assert client.post("/logout", data={"csrf": token}).status_code == 303
            login(client)
            assert daily_used(client) == before + GiB


def test_the_first_page_after_a_login_is_read_by_the_login(campus, monkeypatch):
    """The login reads the figures its redirect leads to (with the staff role): the first
    page is served from them, it does not wait for the database (docs/portal.md)."""
    reads = CountedReads(monkeypatch, free=1)  # a second read would wait 20 s and fail
    with make_client(campus, dashboard={"cache_seconds": 30}) as client:
        response = login(client)
        assert response.status_code == 303 and response.headers["location"] == "/me"
        assert reads.reads == [STUDENT]
        assert STUDENT in client.get("/me").text
    assert reads.reads == [STUDENT]


class WarmUps:
    """data.dashboard as the portal calls it, with a new pool connection's warm-up (shell.py,
    username "") slowed by ``delay`` and, with ``fail``, failing on the server first."""

    def __init__(self, monkeypatch, delay: float = 0.0, fail: bool = False):
        self.real = data.dashboard
        self.delay = delay
        self.fail = fail
        self.done = 0
        monkeypatch.setattr(data, "dashboard", self)

    def __call__(self, conn, username, *args):
        if username != "":
            return self.real(conn, username, *args)
        time.sleep(self.delay)
        if self.fail:
            self.done += 1
            conn.execute("SELECT 1 / 0")  # PostgreSQL's own error, on the new connection
        figures = self.real(conn, username, *args)
        self.done += 1
        return figures


def test_the_pool_is_open_and_warmed_before_the_first_request(campus, monkeypatch):
    """docs/portal.md, "The first seconds": every connection of pool_min_size is open and
    has read nobody's figures before the portal answers (a slow warm-up included)."""
    warm = WarmUps(monkeypatch, delay=0.5)
    with make_client(campus, database={"pool_min_size": 3, "pool_max_size": 4}) as client:
        portal = client.app.state.portal
        assert warm.done == 3
        assert portal.pool.get_stats()["pool_available"] == 3
        assert login(client).status_code == 303
        assert "Awa Ngono" in client.get("/me").text


def test_a_failed_warm_up_is_logged_and_the_connection_serves_as_it_is(campus, monkeypatch,
                                                                        caplog):
    warm = WarmUps(monkeypatch, fail=True)
    with caplog.at_level(logging.WARNING, logger="captiva.portal"), \
            make_client(campus, database={"pool_min_size": 2, "pool_max_size": 2}) as client:
        portal = client.app.state.portal
        assert warm.done == 2
        failures = [r.getMessage() for r in caplog.records
                    if r.getMessage().startswith("warming a database connection failed")]
        assert failures == ["warming a database connection failed (DivisionByZero)"] * 2
        # both connections joined the pool and serve the students' pages
        assert portal.pool.get_stats()["pool_available"] == 2
        assert client.get("/healthz").status_code == 200
        assert login(client).status_code == 303
        page = client.get("/me")
        assert page.status_code == 200 and "Awa Ngono" in page.text
        stats = portal.pool.get_stats()
        assert stats["connections_num"] == 2 and "returns_bad" not in stats  # none replaced


def test_concurrent_misses_of_one_student_do_a_single_read(campus, monkeypatch):
    clock = Clock()
    reads = CountedReads(monkeypatch, free=1)  # the login's
    with make_client(campus, clock=clock, dashboard={"cache_seconds": 30}) as client:
        login(client)
        clock.t += 30  # the login's figures are as old as the TTL: every request misses
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            answers = [pool.submit(client.get, "/api/me") for _ in range(6)]
            time.sleep(0.5)  # all six wait for the one read
            reads.release.set()
            bodies = [answer.result(timeout=20) for answer in answers]
    assert [b.status_code for b in bodies] == [200] * 6
    assert len({b.text for b in bodies}) == 1
    assert reads.reads == [STUDENT, STUDENT]


def test_devices_cover_the_last_30_days_and_history_the_archive_too(campus):
    """Paul: his open session, one closed 40 days ago and one archived by retention."""
    now = NOW
    with campus.db.connect() as conn:
        for table, session, mac, days in (("radacct", "paul-old", "AA:BB:CC:00:00:07", 40),
                                          ("radacct_history", "paul-archived",
                                           "AA:BB:CC:00:00:08", 400)):
            conn.execute(psycopg.sql.SQL(
                "INSERT INTO {} (radacctid, acctsessionid, acctuniqueid, username, nasipaddress,"
                " acctstarttime, acctupdatetime, acctstoptime, acctsessiontime,"
                " acctinputoctets, acctoutputoctets, callingstationid, framedipaddress)"
                " VALUES (nextval(pg_get_serial_sequence('radacct', 'radacctid')), %s, %s,"
                " 'STU2025002', %s, %s, %s, %s, 3600, 0, 0, %s, '10.5.50.91')").format(
                    psycopg.sql.Identifier(table)),
                (session, session, radius_fixtures.ROUTER_ADDRESS,
                 now - dt.timedelta(days=days, hours=1), now - dt.timedelta(days=days),
                 now - dt.timedelta(days=days), mac))
    try:
        with make_client(campus) as client:
            login(client, "STU2025002")
            body = client.get("/api/me").json()
            page = client.get("/me", headers={"accept-language": "en"}).text
    finally:
        with campus.db.connect() as conn:
            for table in ("radacct", "radacct_history"):
                conn.execute(psycopg.sql.SQL(
                    "DELETE FROM {} WHERE acctsessionid IN ('paul-old', 'paul-archived')")
                    .format(psycopg.sql.Identifier(table)))
    assert [d["mac"] for d in body["devices"]] == ["AA:BB:CC:00:00:09"]
    assert body["devices_days"] == 30
    assert [s["mac"] for s in body["history"]["sessions"]] == [
        "AA:BB:CC:00:00:09", "AA:BB:CC:00:00:07", "AA:BB:CC:00:00:08"]
    assert "Sessions started in the last 30 days, and the open ones." in page


class Cuttable:
    """A TCP relay to PostgreSQL that the test can cut (the database is down for the portal:
    open connections drop, new ones are closed at once) and restore."""

    def __init__(self, port: int):
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = False
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut:
                client.close()
                continue
            server = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def down(self):
        self.cut = True
        with self.lock:
            for s in self.open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            self.open.clear()

    def up(self):
        self.cut = False

    def close(self):
        self.down()
        self.listener.close()


def test_database_down_serves_the_cached_page_until_cache_seconds_then_a_503(campus, caplog):
    clock = Clock()
    port = int(re.search(r"port=(\d+)", campus.db.dsns["portal"]).group(1))
    relay = Cuttable(port)
    dsn = re.sub(r"port=\d+", f"port={relay.port}", campus.db.dsns["portal"])
    try:
        with make_client(campus, clock=clock, dsn=dsn, dashboard={"cache_seconds": 30},
                         database={"pool_min_size": 0, "timeout": 1}) as client:
            portal = client.app.state.portal
            login(client)
            page = client.get("/me").text
            relay.down()
            clock.t += 30 * 0.75  # due: the refresh fails, the student still gets the page
            assert daily_block(client.get("/me").text) == daily_block(page)
            wait_refreshed(portal)
            assert "figure refresh of 'STU2025001' page 1 failed" in caplog.text
            assert daily_block(client.get("/me").text) == daily_block(page)
            assert client.get("/api/me").status_code == 200
            clock.t += 30 * 0.25  # as old as cache_seconds: not served any more
            response = client.get("/me", headers={"accept-language": "en"})
            assert response.status_code == 503
            assert "Temporarily unavailable" in response.text
            assert client.get("/api/me").json() == {"error": "database unavailable"}
            relay.up()
            # It recovers on its own: once the pool has a connection again (its reconnection
            # backs off after failures, so allow it a few seconds), the figures are back.
            deadline = time.monotonic() + 15
            while (response := client.get("/me")).status_code == 503:
                assert time.monotonic() < deadline, "the portal did not recover"
                time.sleep(0.2)
            assert daily_block(response.text) == daily_block(page)
    finally:
        relay.close()
