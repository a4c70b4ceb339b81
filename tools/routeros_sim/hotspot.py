"""The hotspot's HTTP login, as RouterOS does it with RADIUS (``--hotspot-listen``).

A minimal emulation for end-to-end tests of what a client's browser (the kiosk page) does:

- ``GET`` or ``POST /login`` with ``username``, ``password`` (PAP) and optional ``dst``. The
  client is named by the test: header ``X-Sim-Mac`` (required) and ``X-Sim-Ip`` (default the
  connection's address), since there is no real layer 2 here.
- A client that already has a session in ``/ip/hotspot/active`` (same MAC) is "already logged
  in": no RADIUS, the session is unchanged (RouterOS shows alogin.html).
- Otherwise a real Access-Request goes to the enabled ``/radius`` entries of service hotspot
  (address, secret, authentication-port, timeout), in order, each tried twice: User-Name,
  User-Password, NAS-IP-Address (the API's address), NAS-Identifier (/system/identity),
  NAS-Port, NAS-Port-Type Wireless-802.11, Called-Station-Id (the hotspot server), Calling-
  Station-Id (the MAC, upper case), Framed-IP-Address, Acct-Session-Id, Message-Authenticator.
- Access-Accept: the session is added to ``/ip/hotspot/active`` with ``session-time-left``
  from Session-Timeout and ``idle-timeout`` from Idle-Timeout; the user profile is the reply's
  Mikrotik-Group (else ``default``). An Accounting-Request Start follows (accounting-port).
  Access-Reject: no session; the answer carries the Reply-Message as RouterOS's $(error) does.
- A session that ends (Disconnect-Request, ``/captiva-sim/active/expire`` standing for its
  Session-Timeout, which a test cannot wait for) gets an Accounting-Request Stop with
  Acct-Session-Time and Acct-Terminate-Cause.

Answers are JSON (``result``: accepted, rejected, already-logged-in, no-radius; ``error``;
``session``); with a ``dst``, accepted and already-logged-in redirect there (302), as
alogin.html does. ``/captiva-sim/hotspot/print`` lists the logins (user, mac, result,
profile, session-timeout, reply-message).

The RADIUS coding is written from RFC 2865/2866/2869 like coa.py's, independent of pyrad.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import json
import os
import queue
import socket
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import model

ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT = 1, 2, 3
ACCOUNTING_REQUEST, ACCOUNTING_RESPONSE = 4, 5
USER_NAME, USER_PASSWORD, NAS_IP_ADDRESS, NAS_PORT, FRAMED_IP_ADDRESS = 1, 2, 4, 5, 8
REPLY_MESSAGE, VENDOR_SPECIFIC, SESSION_TIMEOUT, IDLE_TIMEOUT = 18, 26, 27, 28
CALLED_STATION_ID, CALLING_STATION_ID, NAS_IDENTIFIER = 30, 31, 32
ACCT_STATUS_TYPE, ACCT_SESSION_ID, ACCT_SESSION_TIME, ACCT_AUTHENTIC = 40, 44, 46, 45
ACCT_TERMINATE_CAUSE, EVENT_TIMESTAMP, NAS_PORT_TYPE, MESSAGE_AUTHENTICATOR = 49, 55, 61, 80
MIKROTIK, MIKROTIK_GROUP = 14988, 3
WIRELESS_802_11 = 19
START, STOP = 1, 2
TERMINATE_CAUSES = {"user-request": 1, "idle-timeout": 4, "session-timeout": 5,
                    "admin-reset": 6}


# -- RADIUS coding ----------------------------------------------------------------------------
def _attribute(kind: int, value: bytes) -> bytes:
    return bytes([kind, len(value) + 2]) + value


def _integer(value: int) -> bytes:
    return struct.pack("!I", value)


def _hide_password(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """RFC 2865 5.2: the password padded to 16 bytes, XORed with MD5 chains."""
    padded = password + bytes(-len(password) % 16 or (16 if not password else 0))
    out, last = b"", authenticator
    for start in range(0, len(padded), 16):
        key = hashlib.md5(secret + last).digest()  # noqa: S324 - RADIUS
        block = bytes(a ^ b for a, b in zip(padded[start:start + 16], key, strict=True))
        out += block
        last = block
    return out


def _packet(code: int, ident: int, authenticator: bytes, attributes: bytes) -> bytes:
    return struct.pack("!BBH", code, ident, 20 + len(attributes)) + authenticator + attributes


def access_request(ident: int, secret: bytes, attributes: list[tuple[int, bytes]],
                   password: str) -> tuple[bytes, bytes]:
    """(datagram, request authenticator), with a Message-Authenticator (RFC 3579 3.2)."""
    authenticator = os.urandom(16)
    body = b"".join(_attribute(k, v) for k, v in attributes)
    body += _attribute(USER_PASSWORD, _hide_password(password.encode(), secret, authenticator))
    body += _attribute(MESSAGE_AUTHENTICATOR, bytes(16))
    data = _packet(ACCESS_REQUEST, ident, authenticator, body)
    mac = hmac.new(secret, data, hashlib.md5).digest()
    return data[:-16] + mac, authenticator


def accounting_request(ident: int, secret: bytes, attributes: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(_attribute(k, v) for k, v in attributes)
    unsigned = _packet(ACCOUNTING_REQUEST, ident, bytes(16), body)
    authenticator = hashlib.md5(unsigned + secret).digest()  # noqa: S324 - RFC 2866
    return _packet(ACCOUNTING_REQUEST, ident, authenticator, body)


def parse_reply(data: bytes, ident: int, request_auth: bytes, secret: bytes):
    """(code, attributes) of a genuine answer to the request, else None."""
    if len(data) < 20:
        return None
    code, got_ident, length = struct.unpack("!BBH", data[:4])
    if got_ident != ident or length > len(data) or length < 20:
        return None
    data = data[:length]
    expected = hashlib.md5(  # noqa: S324 - RADIUS Response Authenticator
        data[:4] + request_auth + data[20:] + secret).digest()
    if not hmac.compare_digest(expected, data[4:20]):
        return None
    attributes, pos = [], 20
    while pos + 2 <= length:
        kind, size = data[pos], data[pos + 1]
        if size < 2:
            return None
        attributes.append((kind, data[pos + 2:pos + size]))
        pos += size
    return code, attributes


def _vendor(attributes, vendor: int, kind: int) -> bytes | None:
    for attr, value in attributes:
        if attr == VENDOR_SPECIFIC and len(value) >= 6 and struct.unpack(
                "!I", value[:4])[0] == vendor and value[4] == kind:
            return value[6:4 + value[5]]
    return None


def _first(attributes, kind: int) -> bytes | None:
    return next((v for k, v in attributes if k == kind), None)


# -- the hotspot --------------------------------------------------------------------------------
class Hotspot:
    """The HTTP login of one simulated router (``router``: server.Router)."""

    def __init__(self, router, address: tuple[str, int], nas_address: str):
        self.router = router
        self.nas_address = nas_address
        self.logins: list[dict[str, str]] = []
        self.sessions: dict[str, dict] = {}  # .id of /ip/hotspot/active -> accounting data
        self._next_port = 0x81a00000
        self._stops: queue.Queue = queue.Queue()
        hotspot = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                url = urllib.parse.urlsplit(self.path)
                hotspot.http(self, url.path, urllib.parse.parse_qs(url.query))

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                hotspot.http(self, urllib.parse.urlsplit(self.path).path, form)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(address, Handler)
        self.server.daemon_threads = True
        self.address = self.server.server_address[:2]
        threading.Thread(target=self._send_stops, daemon=True).start()

    def serve(self) -> None:
        self.server.serve_forever()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._stops.put(None)

    # -- HTTP ---------------------------------------------------------------------------------
    def http(self, handler: BaseHTTPRequestHandler, path: str, form: dict) -> None:
        if path != "/login":
            self._answer(handler, 404, {"result": "error", "error": "no such page"})
            return
        mac = (handler.headers.get("X-Sim-Mac") or "").upper().replace("-", ":")
        ip = handler.headers.get("X-Sim-Ip") or handler.client_address[0]
        username = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
        dst = (form.get("dst") or [""])[0]
        if not mac:
            self._answer(handler, 400, {"result": "error", "error": "X-Sim-Mac is required"})
            return
        answer = self.login(username, password, mac, ip)
        if dst and answer["result"] in ("accepted", "already-logged-in"):
            self._answer(handler, 302, answer, location=dst)
        else:
            self._answer(handler, 200, answer)

    @staticmethod
    def _answer(handler, status: int, answer: dict, location: str | None = None) -> None:
        body = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        if location:
            handler.send_header("Location", location)
        handler.end_headers()
        handler.wfile.write(body)

    # -- login ----------------------------------------------------------------------------------
    def login(self, username: str, password: str, mac: str, ip: str) -> dict:
        active = self.router.menus["/ip/hotspot/active"]
        with self.router.lock:
            current = next((r for r in active.rows if r.get("mac-address") == mac), None)
            servers = self._radius_servers()
            identity = self.router.menus["/system/identity"].rows[0].get("name", "MikroTik")
            self._next_port += 1
            nas_port = self._next_port
        session_id = f"{nas_port:08x}"
        if current is not None:
            return self._log(username, mac, "already-logged-in", session=dict(current))
        if not servers:
            return self._log(username, mac, "no-radius", error="RADIUS server is not responding")
        attributes = [
            (USER_NAME, username.encode()),
            (NAS_IP_ADDRESS, socket.inet_aton(self.nas_address)),
            (NAS_IDENTIFIER, identity.encode()),
            (NAS_PORT, _integer(nas_port & 0xFFFFFFFF)),
            (NAS_PORT_TYPE, _integer(WIRELESS_802_11)),
            (CALLED_STATION_ID, b"hotspot1"),
            (CALLING_STATION_ID, mac.encode()),
            (FRAMED_IP_ADDRESS, socket.inet_aton(ip)),
            (ACCT_SESSION_ID, session_id.encode()),
        ]
        reply, server = None, None
        for server in servers:
            reply = self._exchange(server, lambda ident, secret: access_request(
                ident, secret, attributes, password), server["auth_port"])
            if reply is not None:
                break
        if reply is None:
            return self._log(username, mac, "no-radius", error="RADIUS server is not responding")
        code, answer = reply
        message = " ".join(v.decode("utf-8", "replace") for k, v in answer
                           if k == REPLY_MESSAGE)
        if code != ACCESS_ACCEPT:
            return self._log(username, mac, "rejected", error=message or "invalid username "
                             "or password")
        timeout = _first(answer, SESSION_TIMEOUT)
        idle = _first(answer, IDLE_TIMEOUT)
        group = _vendor(answer, MIKROTIK, MIKROTIK_GROUP)
        profile = group.decode() if group else "default"
        row = {"user": username, "address": ip, "mac-address": mac, "login-by": "http-pap",
               "session-id": session_id}
        if timeout is not None:
            seconds = struct.unpack("!I", timeout)[0]
            row["session-time-left"] = model.format_duration_ms(seconds * 1000)
        if idle is not None:
            row["idle-timeout"] = model.format_duration_ms(struct.unpack("!I", idle)[0] * 1000)
        with self.router.lock:
            new_id = active.add(row, internal=True)
            self.sessions[new_id] = {"server": server, "started": time.time(),
                                     "attributes": attributes, "user": username}
            self.router.mark_dirty()
            session = dict(active.rows[-1])
        self._account(server, START, attributes)
        return self._log(username, mac, "accepted", session=session, profile=profile,
                         session_timeout=str(struct.unpack("!I", timeout)[0]) if timeout
                         else "", reply_message=message)

    def _log(self, username, mac, result, *, error="", session=None, profile="",
             session_timeout="", reply_message="") -> dict:
        entry = {"user": username, "mac-address": mac, "result": result, "profile": profile,
                 "session-timeout": session_timeout, "reply-message": reply_message or error}
        with self.router.lock:
            self.logins.append(entry)
        answer = {"result": result, "error": error}
        if session is not None:
            answer["session"] = {**session, "profile": profile} if profile else session
        return answer

    def _radius_servers(self) -> list[dict]:
        servers = []
        for entry in self.router.menus["/radius"].rows:
            if entry.get("disabled") == "true" or "hotspot" not in entry.get(
                    "service", "").split(","):
                continue
            try:
                ipaddress.ip_address(entry.get("address", ""))
                timeout = model.parse_duration_ms(entry.get("timeout") or "300ms") / 1000
            except ValueError:
                continue
            servers.append({"address": entry["address"], "secret": entry.get("secret", ""),
                            "auth_port": int(entry.get("authentication-port") or 1812),
                            "acct_port": int(entry.get("accounting-port") or 1813),
                            "timeout": max(timeout, 0.3)})
        return servers

    def _exchange(self, server: dict, build, port: int):
        """Send one request (twice at most) and return (code, attributes) or None."""
        secret = server["secret"].encode()
        family = socket.AF_INET6 if ":" in server["address"] else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.bind((self.nas_address if family == socket.AF_INET else "::", 0))
            sock.settimeout(server["timeout"])
            ident = int.from_bytes(os.urandom(1), "big")
            built = build(ident, secret)
            data, authenticator = built if isinstance(built, tuple) else (built, built[4:20])
            for _attempt in range(2):
                sock.sendto(data, (server["address"], port))
                try:
                    while True:
                        answer, _ = sock.recvfrom(4096)
                        parsed = parse_reply(answer, ident, authenticator, secret)
                        if parsed is not None:
                            return parsed
                except TimeoutError:
                    continue
        return None

    # -- accounting -----------------------------------------------------------------------------
    def _account(self, server: dict, status: int, attributes, extra=()) -> None:
        keep = {USER_NAME, NAS_IP_ADDRESS, NAS_IDENTIFIER, NAS_PORT, NAS_PORT_TYPE,
                CALLED_STATION_ID, CALLING_STATION_ID, FRAMED_IP_ADDRESS, ACCT_SESSION_ID}
        request = [(k, v) for k, v in attributes if k in keep]
        request += [(ACCT_STATUS_TYPE, _integer(status)), (ACCT_AUTHENTIC, _integer(1)),
                    (EVENT_TIMESTAMP, _integer(int(time.time()))), *extra]
        self._exchange(server, lambda ident, secret: accounting_request(ident, secret, request),
                       server["acct_port"])

    def ended(self, rows: list[dict], cause: str) -> None:
        """Sessions removed from /ip/hotspot/active (called under the router's lock): their
        Accounting Stop is sent in the background."""
        for row in rows:
            data = self.sessions.pop(row.get(".id"), None)
            if data is not None:
                self._stops.put((data, cause))

    def expire(self, user: str) -> int:
        """End ``user``'s sessions as their Session-Timeout would (under the router's lock)."""
        active = self.router.menus["/ip/hotspot/active"]
        doomed = [r for r in active.rows if r.get("user") == user]
        for row in doomed:
            active.rows.remove(row)
        self.ended(doomed, "session-timeout")
        self.router.mark_dirty()
        return len(doomed)

    def _send_stops(self) -> None:
        while True:
            item = self._stops.get()
            if item is None:
                return
            data, cause = item
            with contextlib.suppress(OSError):
                self._account(data["server"], STOP, data["attributes"], (
                    (ACCT_SESSION_TIME, _integer(int(time.time() - data["started"]))),
                    (ACCT_TERMINATE_CAUSE, _integer(TERMINATE_CAUSES[cause]))))
