"""The hotspot login page (roles/mikrotik): put on tools/routeros-sim by the role through
ansible-playbook, then driven in headless Chromium (Debian's /usr/bin/chromium, Playwright).

The browser gets the page exactly as the router holds it (read back from the simulator's
/file menu), with RouterOS's $(...) variables filled the way the hotspot servlet fills them,
from a local HTTP server that records each POST as the router would receive it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import browser_fixtures
import pytest
from ansible_collections.captiva.campus.plugins.module_utils.captiva_vouchers import (
    VoucherCodeError,
    normalise,
)
from browser_fixtures import page_in
from routeros_fixtures import ROOT, start_sim, stop_sim

browser = browser_fixtures.browser
PAGE = "flash/hotspot/login.html"
STATUS_PAGE = "flash/hotspot/status.html"
KIOSK_URL = "https://portal.campus.test/kiosk"
PAGE_TASK = "Put Captiva's hotspot login page on the router"


def ansible_playbook(tmp_path: Path, sim, *args: str, **variables):
    import subprocess

    host = {"ansible_host": sim.host, "ansible_connection": "local",
            "ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python"),
            "mikrotik_api_port": sim.port, "mikrotik_api_tls": False,
            "mikrotik_api_username": sim.user, "mikrotik_api_password": sim.password,
            "mikrotik_desired": {}, "mikrotik_hotspot_kiosk_url": KIOSK_URL, **variables}
    (tmp_path / "inventory.json").write_text(json.dumps({"routers": {"hosts": {"gw1": host}}}))
    (tmp_path / "play.yml").write_text(
        "- hosts: routers\n  gather_facts: false\n  roles: [{role: captiva.campus.mikrotik}]\n")
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(tmp_path / "inventory.json"),
         str(tmp_path / "play.yml"), *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    (task,) = [t for t in out["plays"][0]["tasks"] if t["task"]["name"].endswith(PAGE_TASK)]
    return {**task["hosts"]["gw1"], "play_changed": out["stats"]["gw1"]["changed"]}


def files(sim) -> dict[str, dict]:
    return {row["name"]: row for row in sim.rows("/file")}


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("hotspot")
    sim = start_sim(tmp_path)
    sim.tmp_path = tmp_path
    yield sim
    stop_sim(sim)


@pytest.fixture(scope="module")
def page_on_router(router):
    """The role's first real run; the page as the router then holds it."""
    result = ansible_playbook(router.tmp_path, router)
    assert result["changed"], result
    return files(router)[PAGE]["contents"]


def test_the_role_puts_the_page_and_a_second_run_changes_nothing(router, page_on_router):
    page = files(router)[PAGE]
    assert int(page["size"]) == len(page_on_router.encode())
    assert "Saisissez votre code" in page_on_router and "Enter your code" in page_on_router
    assert "$(link-login-only)" in page_on_router  # left for the router's servlet
    stamp = page["last-modified"]
    router.reset_stats()
    again = ansible_playbook(router.tmp_path, router)
    assert not again["changed"] and again["play_changed"] == 0  # the whole role: changed=0
    assert [f["action"] for f in again["files"]] == ["none", "none"]
    assert router.stats()["writes"] == 0
    assert files(router)[PAGE]["last-modified"] == stamp

    # Check mode is honest: it sees the change and writes nothing; the real run writes it.
    checked = ansible_playbook(router.tmp_path, router, "--check", "--diff",
                               mikrotik_hotspot_campus_name="Université de Douala")
    assert checked["changed"] and [f["action"] for f in checked["files"]] == ["update"] * 2
    # Sent over the ASCII API with character references, read back as the same text.
    assert "Universit&#233; de Douala" in checked["diff"][0]["after"]
    assert router.stats()["writes"] == 0
    assert files(router)[PAGE]["contents"] == page_on_router
    renamed = ansible_playbook(router.tmp_path, router,
                               mikrotik_hotspot_campus_name="Université de Douala")
    assert renamed["changed"]
    assert router.stats()["writes"] == 2  # both pages carry the title
    assert "<title>Universit&#233; de Douala</title>" in files(router)[PAGE]["contents"]
    # Back to the page the other tests use.
    assert ansible_playbook(router.tmp_path, router)["changed"]
    assert files(router)[PAGE]["contents"] == page_on_router


def test_the_simulator_keeps_files_like_routeros(tmp_path):
    """/file over the API as RouterOS 7.9+: add with contents, print size and contents, set
    by name or .id, 60 KB at most, directories without contents."""
    sim = start_sim(tmp_path)
    try:
        (ret,) = sim.command("/file/add", name="flash/hotspot/a.html", contents="hello")
        row = files(sim)["flash/hotspot/a.html"]
        assert (row[".id"], row["type"], row["size"], row["contents"]) == (
            ret["ret"], "file", 5, "hello")
        sim.command("/file/set", numbers="flash/hotspot/a.html", contents="hello again")
        assert files(sim)["flash/hotspot/a.html"]["size"] == 11
        with pytest.raises(Exception, match="too large"):
            sim.command("/file/set", **{".id": row[".id"]}, contents="x" * 60_001)
        assert files(sim)["flash/hotspot/a.html"]["contents"] == "hello again"
        with pytest.raises(Exception, match="already have"):
            sim.command("/file/add", name="flash/hotspot/a.html")
        sim.command("/file/add", name="flash/skins", type="directory")
        assert "contents" not in files(sim)["flash/skins"]
    finally:
        stop_sim(sim)


def test_check_mode_on_a_fresh_router_writes_nothing(tmp_path):
    sim = start_sim(tmp_path)
    try:
        result = ansible_playbook(tmp_path, sim, "--check")
        assert result["changed"] and [f["action"] for f in result["files"]] == ["create"] * 2
        assert files(sim) == {}
        assert sim.stats()["writes"] == 0
    finally:
        stop_sim(sim)


# ----------------------------------------------------------------------------------------------
# In the browser


def octal(data: bytes) -> str:
    """Bytes as RouterOS writes $(chap-id) and $(chap-challenge): one octal escape each."""
    return "".join(f"\\{byte:03o}" for byte in data)


def servlet(page: str, action: str, error: str = "", chap: tuple[bytes, bytes] | None = None,
            more: dict[str, str] | None = None) -> str:
    """The page as RouterOS's hotspot servlet sends it: $(if x)...$(endif) and $(x) filled.
    ``chap``: (id, challenge) when the server's login-by has http-chap, else empty; ``more``:
    the other variables the page uses."""
    values = {"link-login-only": action, "link-orig": "http://example.org/news",
              "error": error, "chap-id": octal(chap[0]) if chap else "",
              "chap-challenge": octal(chap[1]) if chap else "", **(more or {})}

    def condition(match: re.Match) -> str:
        return match.group(2) if values[match.group(1)] else ""

    page = re.sub(r"\$\(if ([\w-]+)\)(.*?)\$\(endif\)", condition, page, flags=re.S)
    return re.sub(r"\$\(([\w-]+)\)", lambda m: values[m.group(1)], page)


class Hotspot:
    """The router's web side: GET /login serves the page, POST /login is recorded."""

    def __init__(self, page: str, chap: tuple[bytes, bytes] | None = None, error: str = ""):
        self.posts: list[dict[str, str]] = []
        self.gets: list[str] = []  # the paths the browser asked for
        self.page = page
        self.chap = chap
        hotspot = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hotspot.gets.append(self.path)
                body = servlet(hotspot.page, f"http://127.0.0.1:{hotspot.port}/login",
                               error, hotspot.chap).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):  # noqa: N802
                length = int(self.headers["Content-Length"])
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                hotspot.posts.append({k: v[0] for k, v in form.items()})
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(b"<html><body>You are logged in</body></html>")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def hotspot(page_on_router):
    server = Hotspot(page_on_router)
    yield server
    server.close()


LABELS = {"fr": ("Saisissez votre code", "Utiliser le code", "Se connecter"),
          "en": ("Enter your code", "Use the code", "Log in")}


@pytest.mark.parametrize(("locale", "lang"), [("fr-FR", "fr"), ("en-US", "en")])
def test_typing_a_code_sends_the_compact_code_as_username_and_password(hotspot, browser,
                                                                       locale, lang):
    with page_in(browser, locale) as page:
        page.goto(f"http://127.0.0.1:{hotspot.port}/login")
        enter, use, log_in = LABELS[lang]
        assert page.get_by_text(enter).is_visible()
        assert page.get_by_text(log_in).is_visible()
        other = LABELS["en" if lang == "fr" else "fr"][0]
        assert not page.get_by_text(other).is_visible()  # one language at a time
        before = len(hotspot.posts)
        page.fill("#code", "k7hm 3xpw 9h")
        with page.expect_navigation():
            page.get_by_role("button", name=use).click()
        assert hotspot.posts[before:] == [{"username": "K7HM3XPW9H", "password": "K7HM3XPW9H",
                                           "dst": "http://example.org/news", "popup": "true"}]


def test_a_mistyped_code_is_refused_in_both_languages_before_the_router_sees_it(hotspot,
                                                                                browser):
    with page_in(browser, "fr-FR") as page:
        page.goto(f"http://127.0.0.1:{hotspot.port}/login")
        before = len(hotspot.posts)
        page.fill("#code", "K7HM-3XPW-9J")  # one character wrong: the check catches it
        page.click("#code-submit")
        assert page.locator("#code-error").inner_text() == "Code mal saisi, vérifiez-le"
        page.click("#lang-en")
        assert page.locator("#code-error").inner_text() == "Code mistyped, please check it"
        assert page.get_by_text("Enter your code").is_visible()
        assert len(hotspot.posts) == before


def test_the_student_form_posts_what_was_typed(hotspot, browser):
    with page_in(browser, "en-GB") as page:
        page.goto(f"http://127.0.0.1:{hotspot.port}/login")
        before = len(hotspot.posts)
        page.fill("#student-username", "alice.mbarga")
        page.fill("#student-password", "s3cret Pass")
        with page.expect_navigation():
            page.click("#student-submit")
        assert hotspot.posts[before:] == [{"username": "alice.mbarga", "password": "s3cret Pass",
                                           "dst": "http://example.org/news", "popup": "true"}]


TYPED = ["k7hm 3xpw 9h", "K7HM-3XPW-9H", "k7hm3xpw9h", " K7HM_3XPW.9H ", "K7HM-3XPW-9J",
         "K7HM-3XPW-9", "K7HM-3XPW-9HH", "K7HO-3XPW-9H", "K1HM-3XPW-9H", "", "7KHM-3XPW-9H",
         "2222-2222-22", "S5ZG-B8AC-EF"]


def test_the_page_reads_codes_as_the_python_rule_does(hotspot, browser):
    """captiva_vouchers.normalise is the rule; the page's copy must agree on every input."""
    page = browser.new_page()
    try:
        page.goto(f"http://127.0.0.1:{hotspot.port}/login")
        for typed in TYPED:
            got = page.evaluate("typed => captivaNormalise(typed)", typed)
            try:
                expected = normalise(typed)
            except VoucherCodeError:
                assert "error" in got, (typed, got)
            else:
                assert got == {"code": expected}, typed
    finally:
        page.close()


# A CHAP id and challenge with bytes above 127 and an escape-looking byte (\ is 0o134).
CHAP_ID = b"\xe7"
CHAP_CHALLENGE = bytes([0x5c, 0x00, 0xff, 0x22, 0x27, 0x80]) + bytes(range(1, 200, 20))


def chap_digest(secret: str) -> str:
    """What RouterOS checks (as RADIUS CHAP-Password): MD5(id + password + challenge)."""
    return hashlib.md5(CHAP_ID + secret.encode("latin-1") + CHAP_CHALLENGE).hexdigest()  # noqa: S324


@pytest.fixture(scope="module")
def chap_hotspot(page_on_router):
    server = Hotspot(page_on_router, chap=(CHAP_ID, CHAP_CHALLENGE))
    yield server
    server.close()


@pytest.mark.parametrize(("locale", "lang"), [("fr-FR", "fr"), ("en-US", "en")])
def test_with_chap_a_code_is_sent_as_its_digest_and_never_in_clear(chap_hotspot, browser,
                                                                  locale, lang):
    with page_in(browser, locale) as page:
        page.goto(f"http://127.0.0.1:{chap_hotspot.port}/login")
        before = len(chap_hotspot.posts)
        page.fill("#code", "k7hm 3xpw 9h")
        with page.expect_navigation():
            page.get_by_role("button", name=LABELS[lang][1]).click()
        assert chap_hotspot.posts[before:] == [{
            "username": "K7HM3XPW9H", "password": chap_digest("K7HM3XPW9H"),
            "dst": "http://example.org/news", "popup": "true"}]


def test_with_chap_the_student_password_is_sent_as_its_digest(chap_hotspot, browser):
    with page_in(browser, "fr-FR") as page:
        page.goto(f"http://127.0.0.1:{chap_hotspot.port}/login")
        before = len(chap_hotspot.posts)
        page.fill("#student-username", "alice.mbarga")
        page.fill("#student-password", "s3cret Pass")
        with page.expect_navigation():
            page.click("#student-submit")
        assert chap_hotspot.posts[before:] == [{
            "username": "alice.mbarga", "password": chap_digest("s3cret Pass"),
            "dst": "http://example.org/news", "popup": "true"}]
        # A mistyped code is still refused on the page, before any digest is sent.
        page.goto(f"http://127.0.0.1:{chap_hotspot.port}/login")
        page.fill("#code", "K7HM-3XPW-9J")
        page.click("#code-submit")
        assert page.locator("#code-error").inner_text() == "Code mal saisi, vérifiez-le"
        assert len(chap_hotspot.posts) == before + 1


def test_the_page_md5_is_md5_on_every_block_boundary(hotspot, browser):
    """The page's own MD5 against hashlib: around the 55/56/64-byte padding edges, and
    bytes 0-255 (CHAP ids and challenges are binary)."""
    page = browser.new_page()
    try:
        page.goto(f"http://127.0.0.1:{hotspot.port}/login")
        inputs = [bytes(range(n)) for n in (0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128)]
        inputs += [bytes(range(256)), b"The quick brown fox jumps over the lazy dog"]
        for data in inputs:
            got = page.evaluate("bytes => captivaMd5(bytes)", data.decode("latin-1"))
            assert got == hashlib.md5(data).hexdigest(), len(data)  # noqa: S324
    finally:
        page.close()


# ----------------------------------------------------------------------------------------------
# The status page


@pytest.fixture(scope="module")
def status_page(router, page_on_router):
    return files(router)[STATUS_PAGE]["contents"]


# What the servlet fills the status page with for a logged-in client (login-by https).
STATUS_VALUES = {"ip": "10.5.60.11", "uptime": "1m5s", "session-time-left": "59m55s",
                 "link-logout": "http://10.5.60.1/logout", "refresh-timeout": "1m",
                 "refresh-timeout-secs": "60"}
LOGIN_ONLY = "https://login.campus.test/login"


@pytest.mark.parametrize(("username", "to_kiosk"), [
    ("P482913750246813", True), ("p-48291-37502-46813", True), (" P48291 37502 46813", True),
    ("alice.mbarga", False), ("K7HM3XPW9H", False), ("P48291375024681", False),
    ("P4829137502468133", False), ("PP482913750246813", False), ("P48291375", False)])
def test_the_status_page_sends_only_workstation_sessions_to_the_kiosk(status_page, browser,
                                                                      username, to_kiosk):
    kiosk_requests = []

    def portal(route):
        kiosk_requests.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p id='kiosk'>kiosk</p>")

    body = servlet(status_page, LOGIN_ONLY, more={**STATUS_VALUES, "username": username})
    with page_in(browser, "en-US") as page:
        page.route("https://portal.campus.test/**", portal)
        page.route("http://10.5.60.1/status", lambda route: route.fulfill(
            status=200, content_type="text/html; charset=utf-8", body=body))
        page.goto("http://10.5.60.1/status")
        if to_kiosk:
            page.wait_for_url("https://portal.campus.test/**")
            assert kiosk_requests == [
                f"{KIOSK_URL}?login={urllib.parse.quote(LOGIN_ONLY, safe='')}"]
        else:
            assert page.locator("#username").inner_text() == username.strip()
            assert page.locator("#time-left").inner_text() == "59m55s"
            assert page.get_by_text("Time left").is_visible()
            page.wait_for_timeout(300)
            assert kiosk_requests == []


def test_without_a_kiosk_url_the_status_page_never_redirects(tmp_path, browser):
    sim = start_sim(tmp_path)
    try:
        ansible_playbook(tmp_path, sim, mikrotik_hotspot_kiosk_url="")
        body = servlet(files(sim)[STATUS_PAGE]["contents"], LOGIN_ONLY,
                       more={**STATUS_VALUES, "username": "P482913750246813"})
    finally:
        stop_sim(sim)
    page = browser.new_page()
    try:
        page.route("http://10.5.60.1/status", lambda route: route.fulfill(
            status=200, content_type="text/html; charset=utf-8", body=body))
        page.goto("http://10.5.60.1/status")
        page.wait_for_timeout(300)
        assert page.url == "http://10.5.60.1/status"
        assert page.locator("#username").inner_text() == "P482913750246813"
    finally:
        page.close()


@pytest.mark.parametrize("typed", ["p-48291-37502-46813", " P48291 37502 46813 ",
                                   "P482913750246813"])
def test_a_workstation_code_in_the_code_form_logs_in_and_returns_to_the_kiosk(hotspot, browser,
                                                                             typed):
    page = browser.new_page()
    try:
        page.goto(f"http://127.0.0.1:{hotspot.port}/login")
        before = len(hotspot.posts)
        page.fill("#code", typed)
        with page.expect_navigation():
            page.click("#code-submit")
        action = f"http://127.0.0.1:{hotspot.port}/login"
        assert hotspot.posts[before:] == [{
            "username": "P482913750246813", "password": "P482913750246813", "popup": "true",
            "dst": f"{KIOSK_URL}?login={urllib.parse.quote(action, safe='')}"}]
    finally:
        page.close()


def test_with_chap_a_workstation_code_is_sent_as_its_digest(chap_hotspot, browser):
    page = browser.new_page()
    try:
        page.goto(f"http://127.0.0.1:{chap_hotspot.port}/login")
        before = len(chap_hotspot.posts)
        page.fill("#code", "p-48291-37502-46813")
        with page.expect_navigation():
            page.click("#code-submit")
        (post,) = chap_hotspot.posts[before:]
        assert (post["username"], post["password"]) == ("P482913750246813",
                                                        chap_digest("P482913750246813"))
        assert post["dst"].startswith(f"{KIOSK_URL}?login=")
    finally:
        page.close()


# A voucher card's QR code: the login page with the code in the URL's fragment


CARD_CODE = "K7HM3XPW9H"


def test_a_cards_qr_url_logs_in_with_the_code_and_never_sends_it_in_a_url(hotspot, browser):
    with page_in(browser, "fr-FR") as page:
        before_posts, before_gets = len(hotspot.posts), len(hotspot.gets)
        with page.expect_navigation(url="**/login"):
            page.goto(f"http://127.0.0.1:{hotspot.port}/login#code={CARD_CODE}")
        # PAP as the form sends it (login-by https or http-pap): the code twice
        assert hotspot.posts[before_posts:] == [{"username": CARD_CODE, "password": CARD_CODE,
                                                 "dst": "http://example.org/news",
                                                 "popup": "true"}]
        # the router saw the page's address without the code: a fragment stays in the browser
        asked = [path for path in hotspot.gets[before_gets:] if path != "/favicon.ico"]
        assert asked == ["/login"]


def test_a_cards_qr_url_sends_the_code_as_its_digest_when_the_router_offers_chap(chap_hotspot,
                                                                                 browser):
    with page_in(browser, "en-US") as page:
        before = len(chap_hotspot.posts)
        with page.expect_navigation(url="**/login"):
            page.goto(f"http://127.0.0.1:{chap_hotspot.port}/login#code=k7hm-3xpw-9h")
        assert chap_hotspot.posts[before:] == [{
            "username": CARD_CODE, "password": chap_digest(CARD_CODE),
            "dst": "http://example.org/news", "popup": "true"}]


def test_after_a_refused_login_the_cards_code_waits_in_the_form(page_on_router, browser):
    refused = Hotspot(page_on_router, error="Code expir\u00e9 / Code expired")
    with page_in(browser, "en-US") as page:
        page.goto(f"http://127.0.0.1:{refused.port}/login#code={CARD_CODE}")
        page.wait_for_timeout(300)
        assert refused.posts == []  # not sent again by itself
        assert page.input_value("#code") == CARD_CODE
        assert page.evaluate("window.location.hash") == ""  # off the address and its history
        refused.close()
