"""tools/routeros-sim's hotspot servlet over real HTTP and HTTPS (help.mikrotik.com "Hotspot
customisation", "HotSpot - Captive portal": pages, variables, login-by, cookies)."""

from __future__ import annotations

import hashlib
import http.client
import re
import ssl
import urllib.parse

import pytest
from routeros_fixtures import FakeRadius, make_certificate, radius_router, start_sim, stop_sim

SECRET = "sim-radius-secret-42"
MAC = "02:00:00:00:00:21"
OTHER_MAC = "02:00:00:00:00:22"
HTML = "text/html,application/xhtml+xml"
LOGIN_PAGE = """<html><title>$(identity)</title>
<form action="$(link-login-only)" method="post"><input name="dst" value="$(link-orig)"></form>
$(if error)<p id="error">$(error)</p>$(else)<p id="welcome">hello $(mac)</p>$(endif)
$(if chap-id)<p id="chap">$(chap-id)|$(chap-challenge)</p>$(endif)
$(if plain-passwd == yes)<p id="pap">pap</p>$(elif ssl-login == yes)<p id="tls">tls</p>$(endif)
<p id="unknown">[$(no-such-variable)]</p></html>"""
STATUS_PAGE = """<p id="user">$(username)</p><p id="ip">$(ip)</p><p id="by">$(login-by)</p>
$(if session-time-left)<p id="left">$(session-time-left)</p>$(endif)
<p id="bytes">$(bytes-in)/$(bytes-out)</p><a href="$(link-logout)">out</a>"""


def request(sim, method, path, mac=MAC, form=None, cookie="", tls=False, accept=HTML):
    """(status, headers, body) of one request, redirects not followed."""
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", sim.hotspot_tls_port, timeout=10,
                                           context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", sim.hotspot_port, timeout=10)
    headers = {"X-Sim-Mac": mac, "Accept": accept}
    if cookie:
        headers["Cookie"] = cookie
    body = None
    if form is not None and method == "POST":
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif form is not None:
        path += "?" + urllib.parse.urlencode(form)
    try:
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read().decode()
    finally:
        conn.close()


def element(page: str, ident: str) -> str | None:
    match = re.search(rf'id="{ident}">(.*?)</p>', page, re.S)
    return match.group(1) if match else None


@pytest.fixture
def hotspot(tmp_path):
    sim = start_sim(tmp_path, hotspot_tls=True)
    radius = FakeRadius(SECRET, {"alice": "alice-pw"})
    radius_router(sim, radius, SECRET)
    for name, contents in (("login.html", LOGIN_PAGE), ("status.html", STATUS_PAGE)):
        sim.command("/file/add", name=f"hotspot/{name}", contents=contents)
    sim.radius = radius
    yield sim
    radius.close()
    stop_sim(sim)


def set_profile(sim, **fields):
    sim.command("/ip/hotspot/profile/set", **{".id": "*0"}, **fields)


def test_pages_come_from_the_html_directory_with_variables_filled(hotspot):
    status, _, page = request(hotspot, "GET", "/login", form={"dst": "http://example.org/"})
    assert status == 200
    assert "<title>MikroTik</title>" in page
    assert f'action="http://127.0.0.1:{hotspot.hotspot_port}/login"' in page
    assert 'value="http://example.org/"' in page
    assert element(page, "welcome") == f"hello {MAC}" and element(page, "error") is None
    assert re.fullmatch(r"(\\[0-7]{3})\|(\\[0-7]{3}){16}", element(page, "chap"))
    assert element(page, "pap") == "pap" and element(page, "unknown") == "[]"
    # Another html-directory: the pages follow it, and a directory without them is a 404.
    set_profile(hotspot, **{"html-directory": "flash/hotspot"})
    assert request(hotspot, "GET", "/login")[0] == 404
    hotspot.command("/file/add", name="flash/hotspot/login.html", contents="flash $(ip)")
    assert request(hotspot, "GET", "/login")[2] == "flash 127.0.0.1"
    hotspot.command("/file/add", name="flash/hotspot/img/logo.svg", contents="<svg>$(ip)</svg>")
    assert request(hotspot, "GET", "/img/logo.svg")[2] == "<svg>$(ip)</svg>"  # not filled


def test_pap_login_redirects_shows_the_status_page_and_logs_out(hotspot):
    status, _, page = request(hotspot, "POST", "/login", form={
        "username": "alice", "password": "wrong", "dst": "http://example.org/"})
    assert status == 200 and element(page, "error") == "invalid username or password"
    status, headers, _ = request(hotspot, "POST", "/login", form={
        "username": "alice", "password": "alice-pw", "dst": "http://example.org/"})
    assert (status, headers["Location"]) == (302, "http://example.org/")
    assert "Set-Cookie" not in headers  # login-by has no cookie
    status, _, page = request(hotspot, "GET", "/status")
    assert (element(page, "user"), element(page, "by"), element(page, "bytes")) == (
        "alice", "http-pap", "0/0")
    # Without alogin.html, an empty dst goes to the status page.
    status, headers, _ = request(hotspot, "GET", "/login")
    assert (status, headers["Location"]) == (
        302, f"http://127.0.0.1:{hotspot.hotspot_port}/status")
    assert request(hotspot, "POST", "/logout")[0] == 302  # no logout.html: back to login
    assert hotspot.rows("/ip/hotspot/active") == []
    assert request(hotspot, "GET", "/status")[1]["Location"].endswith("/login")


def test_a_password_in_clear_needs_http_pap(hotspot):
    set_profile(hotspot, **{"login-by": "http-chap"})
    # A QR code's GET with the password: no challenge was given, nothing reaches RADIUS.
    status, _, page = request(hotspot, "GET", "/login", mac=OTHER_MAC,
                              form={"username": "alice", "password": "alice-pw"})
    assert status == 200 and "no CHAP challenge" in element(page, "error")
    _, _, page = request(hotspot, "GET", "/login")
    # After the page, a password in clear is taken as a CHAP response: refused.
    _, _, page = request(hotspot, "POST", "/login", form={"username": "alice",
                                                          "password": "alice-pw"})
    assert element(page, "error") == "invalid username or password"
    assert hotspot.rows("/ip/hotspot/active") == [] and hotspot.radius.access == []
    # The CHAP way: the page's challenge, MD5(id + password + challenge) as the password.
    _, _, page = request(hotspot, "GET", "/login")
    chap_id, challenge = element(page, "chap").split("|")

    def unescape(text):
        return bytes(int(o, 8) for o in re.findall(r"\\([0-7]{3})", text))

    digest = hashlib.md5(unescape(chap_id) + b"alice-pw" + unescape(challenge)).hexdigest()  # noqa: S324
    status, _, _ = request(hotspot, "POST", "/login", form={"username": "alice",
                                                            "password": digest})
    assert status == 302
    (row,) = hotspot.rows("/ip/hotspot/active")
    assert (row["user"], row["login-by"]) == ("alice", "http-chap")
    assert 3 in hotspot.radius.access[-1] and 2 not in hotspot.radius.access[-1]
    # Neither http-pap nor http-chap: credentials over plain HTTP never reach RADIUS.
    set_profile(hotspot, **{"login-by": "cookie"})
    before = len(hotspot.radius.access)
    _, _, page = request(hotspot, "POST", "/login", mac=OTHER_MAC,
                         form={"username": "alice", "password": "alice-pw"})
    assert "not allowed" in element(page, "error")
    assert len(hotspot.radius.access) == before


def test_https_login_needs_https_in_login_by_and_a_certificate_with_its_key(hotspot):
    set_profile(hotspot, **{"login-by": "https"})
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        request(hotspot, "GET", "/login", tls=True)  # no ssl-certificate: no handshake
    cert, key = make_certificate("hotspot.campus.test")
    hotspot.command("/file/add", name="hs.crt", contents=cert)
    hotspot.command("/certificate/import", **{"file-name": "hs.crt", "name": "hs"})
    set_profile(hotspot, **{"ssl-certificate": "hs"})
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        request(hotspot, "GET", "/login", tls=True)  # the certificate has no key yet
    hotspot.command("/file/add", name="hs.key", contents=key)
    hotspot.command("/certificate/import", **{"file-name": "hs.key"})
    status, _, page = request(hotspot, "GET", "/login", tls=True)
    assert status == 200 and element(page, "tls") == "tls" and element(page, "chap") is None
    assert f'action="https://127.0.0.1:{hotspot.hotspot_tls_port}/login"' in page
    # Plain HTTP sends the browser to the HTTPS login page, and takes no password.
    status, headers, _ = request(hotspot, "GET", "/login", form={"dst": "http://a.b/"})
    assert (status, headers["Location"]) == (
        302, f"https://127.0.0.1:{hotspot.hotspot_tls_port}/login?dst=http%3A%2F%2Fa.b%2F")
    _, _, page = request(hotspot, "POST", "/login", form={"username": "alice",
                                                          "password": "alice-pw"})
    assert "not allowed" in element(page, "error")
    status, _, _ = request(hotspot, "POST", "/login", tls=True, form={
        "username": "alice", "password": "alice-pw"})
    assert status == 302
    (row,) = hotspot.rows("/ip/hotspot/active")
    assert row["login-by"] == "https"
    # The name the pages link to is the profile's dns-name.
    set_profile(hotspot, **{"dns-name": "hotspot.campus.test"})
    _, _, page = request(hotspot, "GET", "/status", tls=True)
    assert 'href="http://hotspot.campus.test:' in page


def test_a_cookie_logs_the_same_mac_in_again_without_radius_until_erased(hotspot):
    set_profile(hotspot, **{"login-by": "http-pap,cookie", "http-cookie-lifetime": "1h"})
    status, headers, _ = request(hotspot, "POST", "/login", form={
        "username": "alice", "password": "alice-pw"})
    cookie = headers["Set-Cookie"].split(";")[0]
    assert status == 302 and "Max-Age=3600" in headers["Set-Cookie"]
    (entry,) = hotspot.rows("/ip/hotspot/cookie")
    assert (entry["user"], entry["mac-address"]) == ("alice", MAC) and "token" not in entry
    # The session ends (here: its Session-Timeout); the cookie outlives it (worst case).
    hotspot.command("/captiva-sim/active/expire", user="alice")
    asked = len(hotspot.radius.access)
    assert request(hotspot, "GET", "/login", cookie=cookie)[0] == 302
    (row,) = hotspot.rows("/ip/hotspot/active")
    assert (row["user"], row["login-by"]) == ("alice", "cookie")
    assert len(hotspot.radius.access) == asked  # RADIUS was not asked again
    # Another MAC with the same cookie gets the login page.
    status, _, page = request(hotspot, "GET", "/login", mac=OTHER_MAC, cookie=cookie)
    assert status == 200 and element(page, "welcome") == f"hello {OTHER_MAC}"
    # Logging out with erase-cookie (as Captiva's status page does) removes it.
    request(hotspot, "POST", "/logout", form={"erase-cookie": "on"})
    assert hotspot.rows("/ip/hotspot/cookie") == []
    assert request(hotspot, "GET", "/login", cookie=cookie)[0] == 200  # the login page
    # Without cookie in login-by, a cookie is never honoured.
    request(hotspot, "POST", "/login", form={"username": "alice", "password": "alice-pw"})
    (entry,) = hotspot.rows("/ip/hotspot/cookie")
    request(hotspot, "POST", "/logout")
    set_profile(hotspot, **{"login-by": "http-pap"})
    assert request(hotspot, "GET", "/login", cookie=cookie)[0] == 200


def test_json_answers_for_clients_that_do_not_ask_for_html(hotspot):
    status, _, body = request(hotspot, "GET", "/login", accept="*/*",
                              form={"username": "alice", "password": "alice-pw"})
    assert status == 200 and '"result": "accepted"' in body
    status, _, body = request(hotspot, "GET", "/login", accept="*/*",
                              form={"username": "alice", "password": "alice-pw"})
    assert '"result": "already-logged-in"' in body
