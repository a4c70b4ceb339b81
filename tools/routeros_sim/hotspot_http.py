"""The hotspot's HTTP and HTTPS servlet (help.mikrotik.com, "Hotspot customisation").

Pages come from the hotspot profile's ``html-directory`` in ``/file``. ``/login``: alogin.html
after a login (else a redirect to ``dst`` or the status page), flogin.html after a failure
(else login.html with ``$(error)``), login.html otherwise; ``/status``: status.html (else a
redirect to the login page); ``/logout``: logout.html (else a redirect); ``/``: a redirect to
the status or login page; other files of the directory as they are, with variables filled in
.html, .htm and .txt files. ``$(var)`` and ``$(if var)``, ``$(if var == value)``,
``$(if var != value)``, ``$(elif ...)``, ``$(else)``, ``$(endif)`` are filled like the
servlet; an unknown variable is empty.

login-by, as the simulator enforces it (the docs name the methods; the exact refusals are
the simulator's, stricter where the docs are silent):
- HTTPS (``--hotspot-tls-listen``): only with ``https`` in login-by and an ``ssl-certificate``
  that has its private key; otherwise the TLS handshake is refused.
- plain HTTP: a CHAP response (``http-chap``; ``$(chap-id)`` and ``$(chap-challenge)`` are
  only given on plain HTTP) or a password in clear (``http-pap`` only, GET or POST).
  Without either, the login page redirects to HTTPS when it is enabled, and credentials
  are refused without asking RADIUS.
- ``cookie``: a later visit from the same MAC with the hotspot's cookie logs in again.

No layer 2 here: the client names itself with the header ``X-Sim-Mac`` (required) and
``X-Sim-Ip`` (default: the connection's address). A request whose ``Accept`` does not name
``text/html`` gets the JSON answer of earlier simulators (``result``: accepted, rejected,
already-logged-in, no-radius, refused; ``error``; ``session``) instead of pages.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import tempfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from . import model

COOKIE = "hotspot-cookie"
_TOKEN = re.compile(r"\$\((if|elif) ([^)]*)\)|\$\((else|endif)\)|\$\(([\w.-]+)\)")
_FILLED = (".html", ".htm", ".txt")
_TYPES = {".html": "text/html", ".htm": "text/html", ".txt": "text/plain",
          ".css": "text/css", ".js": "application/javascript", ".json": "application/json",
          ".png": "image/png", ".jpg": "image/jpeg", ".gif": "image/gif",
          ".svg": "image/svg+xml", ".ico": "image/x-icon"}


def _condition(text: str, values: dict[str, str]) -> bool:
    match = re.fullmatch(r"\s*([\w.-]+)\s*(?:(==|!=)\s*(.*?))?\s*", text)
    if not match:
        return False
    name, op, expected = match.groups()
    value = values.get(name, "")
    if op is None:
        return value != ""
    expected = expected.strip('"')
    return (value == expected) == (op == "==")


def render(text: str, values: dict[str, str]) -> str:
    """Fill $(var) and resolve $(if)/$(elif)/$(else)/$(endif), nested, as the servlet does."""
    out, pos, active = [], 0, True
    levels: list[dict] = []  # per open $(if): the enclosing activity, a branch taken yet
    for match in _TOKEN.finditer(text):
        if active:
            out.append(text[pos:match.start()])
        pos = match.end()
        keyword, condition, bare, name = match.groups()
        if keyword == "if":
            levels.append({"outer": active, "taken": False})
        if keyword in ("if", "elif") and levels:
            level = levels[-1]
            active = level["outer"] and not level["taken"] and _condition(condition, values)
            level["taken"] = level["taken"] or active
        elif bare == "else" and levels:
            level = levels[-1]
            active = level["outer"] and not level["taken"]
            level["taken"] = True
        elif bare == "endif" and levels:
            active = levels.pop()["outer"]
        elif name is not None and active:
            out.append(values.get(name, ""))
    if active:
        out.append(text[pos:])
    return "".join(out)


def octal(data: bytes) -> str:
    return "".join(f"\\{byte:03o}" for byte in data)


class TLSServer(ThreadingHTTPServer):
    """HTTPS with the certificate the hotspot profile names, looked up per connection: no
    certificate (with its key), no handshake."""

    def __init__(self, address, handler, hotspot):
        self.hotspot = hotspot
        self._contexts: dict[str, ssl.SSLContext] = {}
        super().__init__(address, handler)

    def _context(self) -> ssl.SSLContext | None:
        with self.hotspot.router.lock:
            pair = self.hotspot.tls_pair()
        if pair is None:
            return None
        if pair[0] not in self._contexts:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            with tempfile.TemporaryDirectory() as tmp:
                cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
                cert.write_text(pair[0])
                key.write_text(pair[1])
                context.load_cert_chain(cert, key)
            self._contexts[pair[0]] = context
        return self._contexts[pair[0]]

    def get_request(self):
        sock, address = super().get_request()
        context = self._context()
        if context is None:
            sock.close()
            raise OSError("no hotspot certificate: HTTPS login refused")
        sock.settimeout(10)
        return context.wrap_socket(sock, server_side=True), address


class Servlet:
    """The HTTP (and HTTPS) listeners of one hotspot (``hotspot``: hotspot.Hotspot)."""

    def __init__(self, hotspot, address: tuple[str, int],
                 tls_address: tuple[str, int] | None = None):
        self.hotspot = hotspot
        servlet = self

        def handler(tls: bool):
            class Handler(BaseHTTPRequestHandler):
                def do_GET(self):  # noqa: N802
                    url = urllib.parse.urlsplit(self.path)
                    servlet.handle(self, tls, url.path, urllib.parse.parse_qs(url.query))

                def do_POST(self):  # noqa: N802
                    length = int(self.headers.get("Content-Length") or 0)
                    form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                    query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                    servlet.handle(self, tls, urllib.parse.urlsplit(self.path).path,
                                   {**query, **form})

                def log_message(self, *args):
                    pass
            return Handler

        self.http = ThreadingHTTPServer(address, handler(False))
        self.http.daemon_threads = True
        self.address = self.http.server_address[:2]
        self.https = None
        self.tls_address = None
        if tls_address is not None:
            self.https = TLSServer(tls_address, handler(True), hotspot)
            self.https.daemon_threads = True
            self.tls_address = self.https.server_address[:2]
        for server in (self.http, self.https):
            if server is not None:
                threading.Thread(target=server.serve_forever, daemon=True).start()

    def close(self) -> None:
        for server in (self.http, self.https):
            if server is not None:
                server.shutdown()
                server.server_close()

    # -- pages ------------------------------------------------------------------------------
    def page(self, name: str) -> str | None:
        _, profile = self.hotspot.server()
        directory = (profile.get("html-directory-override") or
                     profile.get("html-directory") or "hotspot").strip("/")
        for row in self.hotspot.router.menus["/file"].rows:
            if row.get("name", "").strip("/") == f"{directory}/{name}" and (
                    row.get("type") != "directory"):
                return row.get("contents", "")
        return None

    def links(self, tls: bool) -> dict[str, str]:
        _, profile = self.hotspot.server()
        host = profile.get("dns-name") or self.address[0]
        http = f"http://{host}" + ("" if self.address[1] == 80 else f":{self.address[1]}")
        login = http
        if self.tls_address is not None and self.hotspot.tls_pair() is not None:
            port = self.tls_address[1]
            login = f"https://{host}" + ("" if port == 443 else f":{port}")
        return {"hostname": host, "link-login-only": f"{login}/login",
                "link-logout": f"{http}/logout", "link-status": f"{http}/status",
                "server-address": f"{self.address[0]}:{self.address[1]}",
                "ssl-login": "yes" if tls else "no"}

    def values(self, tls: bool, mac: str, ip: str, form: dict, session=None,
               error: str = "") -> dict[str, str]:
        with self.hotspot.router.lock:
            return self._values(tls, mac, ip, form, session, error)

    def _values(self, tls, mac, ip, form, session, error) -> dict[str, str]:
        hotspot = self.hotspot
        server_name, profile = hotspot.server()
        login_by = hotspot.login_by()
        dst = (form.get("dst") or [""])[0]
        values = {**self.links(tls), "identity": hotspot.router.menus[
            "/system/identity"].rows[0].get("name", "MikroTik"),
            "server-name": server_name, "plain-passwd": "yes" if "http-pap" in login_by
            else "no", "mac": mac, "ip": ip, "link-orig": dst, "error": error,
            "error-orig": error, "popup": "true", "logged-in": "no", "trial": "no",
            "session-id": (form.get("session-id") or [""])[0],
            "var": (form.get("var") or [""])[0]}
        values["link-login"] = values["link-login-only"] + (
            "?dst=" + urllib.parse.quote(dst, safe="") if dst else "")
        if not tls and "http-chap" in login_by and session is None:
            chap_id, challenge = hotspot.challenge(mac)
            values["chap-id"], values["chap-challenge"] = octal(chap_id), octal(challenge)
        if session is not None:
            values.update(self._session_values(session))
        return values

    def _session_values(self, session) -> dict[str, str]:
        uptime = session.uptime()
        user_profile = self.hotspot.user_profile(session.profile) or {}
        refresh = user_profile.get("status-autorefresh", "none")
        refresh_s = 0 if refresh in ("none", "") else model.parse_duration_ms(refresh) // 1000
        left = None if not session.session_timeout else max(
            session.session_timeout - uptime, 0)

        def duration(seconds):
            return model.format_duration_ms(seconds * 1000) if seconds else ""

        return {
            "logged-in": "yes", "username": session.user, "login-by": session.login_by,
            "uptime": model.format_duration_ms(uptime * 1000), "uptime-secs": str(uptime),
            "session-time-left": duration(left), "session-time-left-secs": str(left or 0),
            "session-timeout": duration(left), "session-timeout-secs": str(left or 0),
            "idle-timeout": duration(session.idle_timeout),
            "idle-timeout-secs": str(session.idle_timeout or 0),
            "refresh-timeout": duration(refresh_s), "refresh-timeout-secs": str(refresh_s),
            "bytes-in": str(session.bytes_in), "bytes-out": str(session.bytes_out),
            "bytes-in-nice": str(session.bytes_in), "bytes-out-nice": str(session.bytes_out),
            "packets-in": str(session.packets_in), "packets-out": str(session.packets_out),
            "limit-bytes-in": str(session.limit_in) if session.limit_in else "---",
            "limit-bytes-out": str(session.limit_out) if session.limit_out else "---",
            "remain-bytes-in": str(session.limit_in - session.bytes_in)
            if session.limit_in else "---",
            "remain-bytes-out": str(session.limit_out - session.bytes_out)
            if session.limit_out else "---"}

    # -- requests ---------------------------------------------------------------------------
    def handle(self, handler, tls: bool, path: str, form: dict) -> None:
        mac = (handler.headers.get("X-Sim-Mac") or "").upper().replace("-", ":")
        ip = handler.headers.get("X-Sim-Ip") or handler.client_address[0]
        as_json = "text/html" not in (handler.headers.get("Accept") or "")
        if not mac:
            self.reply(handler, 400, "X-Sim-Mac is required (the client's MAC address)\n",
                       "text/plain")
            return
        from .hotspot_requests import dispatch

        dispatch(self, handler, tls, path, form, mac, ip, as_json)

    @staticmethod
    def reply(handler, status: int, body: str | bytes, kind: str = "text/html",
              headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Cache-Control", "no-cache")
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def json(self, handler, answer: dict, location: str | None = None,
             headers: dict[str, str] | None = None) -> None:
        body = json.dumps({k: v for k, v in answer.items() if not k.startswith("_")})
        headers = dict(headers or {})
        if location:
            headers["Location"] = location
        self.reply(handler, 302 if location else 200, body, "application/json", headers)


def probe_tls(address: tuple[str, int]) -> bool:
    """Whether a TLS handshake succeeds (tests, lab checks)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(address, timeout=3) as sock, context.wrap_socket(sock):
            return True
    except (OSError, ssl.SSLError):
        return False
