"""The servlet's requests: /, /login, /status, /logout and the html-directory's other files
(hotspot_http.py says which page answers what, and how login-by is enforced)."""

from __future__ import annotations

import re
import urllib.parse
from http.cookies import CookieError, SimpleCookie

from .hotspot_http import _FILLED, _TYPES, COOKIE, render

_HEX32 = re.compile(r"[0-9a-fA-F]{32}")


def _first(form: dict, name: str) -> str:
    return (form.get(name) or [""])[0]


def _cookie(handler) -> str:
    try:
        jar = SimpleCookie(handler.headers.get("Cookie") or "")
    except CookieError:
        return ""
    return jar[COOKIE].value if COOKIE in jar else ""


def method_for(servlet, tls: bool, mac: str, password: str) -> tuple[str | None, str]:
    """(login method, refusal) for credentials arriving over this connection."""
    hotspot = servlet.hotspot
    login_by = hotspot.login_by()
    if tls:
        return "https", ""
    chap_ready = "http-chap" in login_by and mac in hotspot.challenges
    if chap_ready and (_HEX32.fullmatch(password) or "http-pap" not in login_by):
        return "http-chap", ""
    if "http-pap" in login_by:
        return "http-pap", ""
    if "http-chap" in login_by:
        return None, "no CHAP challenge was given to this client: open the login page first"
    return None, "login over plain HTTP is not allowed (login-by has neither http-pap nor " \
                 "http-chap)"


def dispatch(servlet, handler, tls, path, form, mac, ip, as_json) -> None:
    hotspot = servlet.hotspot
    session = hotspot.current(mac)
    if path == "/":
        links = servlet.links(tls)
        target = links["link-status"] if session else links["link-login-only"]
        servlet.reply(handler, 302, "", headers={"Location": target})
    elif path == "/login":
        _login(servlet, handler, tls, form, mac, ip, as_json)
    elif path == "/status":
        _page_or_redirect(servlet, handler, tls, form, mac, ip, session,
                          "status.html" if session else "fstatus.html")
    elif path == "/logout":
        _logout(servlet, handler, tls, form, mac, ip, as_json)
    else:
        name = urllib.parse.unquote(path).lstrip("/")
        contents = servlet.page(name) if name and ".." not in name else None
        if contents is None:
            servlet.reply(handler, 404, "Error 404: not found\n", "text/plain")
            return
        suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if suffix in _FILLED:
            contents = render(contents, servlet.values(tls, mac, ip, form, session))
        servlet.reply(handler, 200, contents, _TYPES.get(suffix, "application/octet-stream"))


def _page_or_redirect(servlet, handler, tls, form, mac, ip, session, name, error=""):
    contents = servlet.page(name)
    if contents is None and name in ("fstatus.html", "flogout.html"):
        servlet.reply(handler, 302, "", headers={
            "Location": servlet.links(tls)["link-login-only"]})
        return
    if contents is None:
        servlet.reply(handler, 404, "Error 404: not found\n", "text/plain")
        return
    values = servlet.values(tls, mac, ip, form, session, error)
    servlet.reply(handler, 200, render(contents, values))


def _login(servlet, handler, tls, form, mac, ip, as_json) -> None:
    hotspot = servlet.hotspot
    username, password, dst = _first(form, "username"), _first(form, "password"), \
        _first(form, "dst")
    if hotspot.current(mac) is not None:
        answer = hotspot.login(username, password, mac, ip, "https")  # already logged in
    elif username:
        method, refusal = method_for(servlet, tls, mac, password)
        answer = (hotspot.login(username, password, mac, ip, method) if method
                  else hotspot._log(username, mac, "refused", error=refusal))
    else:
        answer = hotspot.cookie_login(_cookie(handler), mac, ip)
        if answer is None:
            _login_page(servlet, handler, tls, form, mac, ip, as_json)
            return
    session = answer.get("_session")
    headers = {}
    if answer["result"] == "accepted" and session is not None and session.cookie:
        lifetime = int(next(iter(c["lifetime"] for c in hotspot.cookies.values()
                                 if c["session"] is session), 0))
        headers["Set-Cookie"] = f"{COOKIE}={session.cookie}; Path=/; Max-Age={lifetime}"
    if answer["result"] not in ("accepted", "already-logged-in"):
        if as_json:
            servlet.json(handler, answer)
            return
        name = "flogin.html" if servlet.page("flogin.html") is not None else "login.html"
        _page_or_redirect(servlet, handler, tls, form, mac, ip, None, name, answer["error"])
        return
    if as_json:
        servlet.json(handler, answer, location=dst or None, headers=headers)
        return
    alogin = servlet.page("alogin.html")
    if alogin is not None:
        values = servlet.values(tls, mac, ip, form, session)
        servlet.reply(handler, 200, render(alogin, values), headers=headers)
        return
    headers["Location"] = dst or servlet.links(tls)["link-status"]
    servlet.reply(handler, 302, "", headers=headers)


def _login_page(servlet, handler, tls, form, mac, ip, as_json) -> None:
    hotspot = servlet.hotspot
    login_by = hotspot.login_by()
    if as_json:
        servlet.json(handler, {"result": "login", "error": ""})
        return
    if (not tls and servlet.tls_address is not None and hotspot.tls_pair() is not None
            and not login_by & {"http-pap", "http-chap"}):
        query = urllib.parse.urlencode({k: v[0] for k, v in form.items()})
        target = servlet.links(tls)["link-login-only"] + (f"?{query}" if query else "")
        servlet.reply(handler, 302, "", headers={"Location": target})
        return
    _page_or_redirect(servlet, handler, tls, form, mac, ip, None, "login.html")


def _logout(servlet, handler, tls, form, mac, ip, as_json) -> None:
    hotspot = servlet.hotspot
    session = hotspot.current(mac)
    values = servlet.values(tls, mac, ip, form, session) if session else None
    erase = bool(_first(form, "erase-cookie")) and _first(form, "erase-cookie") not in (
        "false", "no")
    hotspot.logout(mac, erase)
    headers = {"Set-Cookie": f"{COOKIE}=; Path=/; Max-Age=0"} if erase else {}
    if as_json:
        servlet.json(handler, {"result": "logged-out" if session else "not-logged-in",
                               "error": ""}, headers=headers)
        return
    contents = servlet.page("logout.html" if session else "flogout.html")
    if contents is None:
        headers["Location"] = servlet.links(tls)["link-login-only"]
        servlet.reply(handler, 302, "", headers=headers)
        return
    servlet.reply(handler, 200, render(contents, values or servlet.values(
        tls, mac, ip, form)), headers=headers)
