"""The hotspot of a simulated router: logins with RADIUS, sessions, cookies, timers, CoA.

The HTTP side (pages, login-by, HTTPS) is hotspot_http.py, the RADIUS client
radius_client.py, accounting and session state accounting.py. docs/routeros.md, "The hotspot
login", says what is modelled and which documentation each behaviour follows.

- The hotspot server is the first enabled ``/ip/hotspot`` entry (its ``name`` and
  ``profile``); without one, a server ``hotspot1`` with the profile ``default``.
- ``use-radius=yes``: an Access-Request (PAP or CHAP) to the enabled ``/radius`` entries of
  service hotspot. ``use-radius=no``: the local ``/ip/hotspot/user`` entries (no accounting).
- Access-Accept: a session joins ``/ip/hotspot/active``; Session-Timeout, Idle-Timeout
  override the user profile's, Mikrotik-Group names the user profile, Mikrotik-Rate-Limit,
  Mikrotik-Total-Limit(-Gigawords) and Mikrotik-Recv/Xmit-Limit(-Gigawords) are kept;
  Accounting Start follows.
- An HTTP cookie (login-by cookie) lets the same MAC log in again without RADIUS until it
  expires (profile ``http-cookie-lifetime``), a logout with ``erase-cookie`` or
  ``/ip/hotspot/cookie/remove``. Whether RouterOS asks RADIUS again is undocumented: the
  simulator does not, the worst case for a public workstation; the cookie also outlives the
  session's end for any other reason.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import threading
import time

from . import accounting, model
from . import radius_client as rc
from .accounting import INTERIM, START, STOP, Session

UNKNOWN_GROUP = 407  # CoA-NAK Error-Cause: Invalid Attribute Value (RFC 5176 3.5)
TICK = 0.25


def _duration_s(text: str | None) -> int | None:
    if not text or text in ("none", "received", "0s"):
        return None
    try:
        seconds = model.parse_duration_ms(text) // 1000
    except ValueError:
        return None
    return seconds or None


class Hotspot:
    """The hotspot of one simulated router (``router``: server.Router)."""

    def __init__(self, router, nas_address: str):
        self.router = router
        self.nas_address = nas_address
        self.radius = rc.RadiusClient(router, nas_address)
        self.accountant = accounting.Accountant(self.radius)
        self.logins: list[dict[str, str]] = []
        self.sessions: dict[str, Session] = {}  # .id of /ip/hotspot/active -> session
        self.cookies: dict[str, dict] = {}  # .id of /ip/hotspot/cookie -> login to replay
        self.challenges: dict[str, tuple[bytes, bytes]] = {}  # MAC -> (chap-id, challenge)
        self._next_port = 0x81a00000
        self._stop = threading.Event()
        threading.Thread(target=self._tick, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self.accountant.close()

    # -- configuration --------------------------------------------------------------------------
    def server(self) -> tuple[str, dict[str, str]]:
        """(server name, hotspot profile row)."""
        menus = self.router.menus
        entry = next((r for r in menus["/ip/hotspot"].rows if r.get("disabled") != "true"),
                     {"name": "hotspot1", "profile": "default"})
        name = entry.get("profile", "default")
        profiles = menus["/ip/hotspot/profile"].rows
        profile = next((r for r in profiles if r.get("name") == name), profiles[0])
        return entry.get("name", "hotspot1"), profile

    def user_profile(self, name: str) -> dict[str, str] | None:
        return next((r for r in self.router.menus["/ip/hotspot/user/profile"].rows
                     if r.get("name") == name), None)

    def login_by(self) -> set[str]:
        return set(self.server()[1].get("login-by", "").split(","))

    def tls_pair(self) -> tuple[str, str] | None:
        """The PEM certificate and key the HTTPS login uses, or None: no HTTPS login."""
        _, profile = self.server()
        name = profile.get("ssl-certificate", "none")
        if "https" not in profile.get("login-by", "").split(",") or name in ("", "none"):
            return None
        return self.router.menus["/certificate"].pem_pair(name)

    def current(self, mac: str) -> Session | None:
        with self.router.lock:
            return next((s for s in self.sessions.values() if s.mac == mac), None)

    def challenge(self, mac: str) -> tuple[bytes, bytes]:
        """A fresh CHAP id and challenge for the login page shown to ``mac``."""
        with self.router.lock:
            self.challenges[mac] = (os.urandom(1), os.urandom(16))
            return self.challenges[mac]

    # -- login ----------------------------------------------------------------------------------
    def login(self, username: str, password: str, mac: str, ip: str, method: str) -> dict:
        """``method``: https, http-pap or http-chap (``password`` is then the page's MD5 hex
        response to the challenge last shown to ``mac``)."""
        with self.router.lock:
            if self.current(mac) is not None:
                return self._log(username, mac, "already-logged-in",
                                 session=self.current(mac))
            server_name, profile = self.server()
            identity = self.router.menus["/system/identity"].rows[0].get("name", "MikroTik")
            self._next_port += 1
            nas_port = self._next_port
            chap = None
            if method == "http-chap":
                chap_id, challenge = self.challenges.pop(mac, (None, None))
                try:
                    response = bytes.fromhex(password)
                except ValueError:
                    response = b""
                if chap_id is None or len(response) != 16:
                    return self._log(username, mac, "rejected",
                                     error="invalid username or password")
                chap = (chap_id + response, challenge)
        request = [
            (rc.USER_NAME, username.encode()),
            (rc.NAS_IP_ADDRESS, socket.inet_aton(self.nas_address)),
            (rc.NAS_IDENTIFIER, identity.encode()),
            (rc.NAS_PORT, rc.integer(nas_port)),
            (rc.NAS_PORT_TYPE, rc.integer(rc.NAS_PORT_TYPES.get(
                profile.get("nas-port-type", "wireless-802.11"), 19))),
            (rc.CALLED_STATION_ID, server_name.encode()),
            (rc.CALLING_STATION_ID, mac.encode()),
            (rc.FRAMED_IP_ADDRESS, socket.inet_aton(ip)),
            (rc.ACCT_SESSION_ID, f"{nas_port:08x}".encode()),
        ]
        if profile.get("use-radius") != "true":
            return self._local_login(username, password, chap, mac, ip, method, request)
        answer = self.radius.authenticate(request, password, chap)
        if answer is None:
            return self._log(username, mac, "no-radius", error="RADIUS server is not responding")
        code, reply, radius_server = answer
        message = " ".join(v.decode("utf-8", "replace") for k, v in reply
                           if k == rc.REPLY_MESSAGE)
        if code != rc.ACCESS_ACCEPT:
            return self._log(username, mac, "rejected",
                             error=message or "invalid username or password")
        session = self._open(username, mac, ip, method, radius_server, request, reply)
        return self._log(username, mac, "accepted", session=session, reply_message=message)

    def _local_login(self, username, password, chap, mac, ip, method, request) -> dict:
        user = next((r for r in self.router.menus["/ip/hotspot/user"].rows
                     if r.get("name") == username and r.get("disabled") != "true"), None)
        secret = (user or {}).get("password", "")
        if chap is not None:
            good = user is not None and chap[0][1:] == hashlib.md5(  # noqa: S324 - CHAP
                chap[0][:1] + secret.encode() + chap[1]).digest()
        else:
            good = user is not None and password == secret
        if not good:
            return self._log(username, mac, "rejected", error="invalid username or password")
        reply = [(rc.VENDOR_SPECIFIC, rc.MIKROTIK.to_bytes(4, "big") + bytes(
            [rc.MT_GROUP, len(user.get("profile", "default")) + 2])
            + user.get("profile", "default").encode())]
        session = self._open(username, mac, ip, method, None, request, reply)
        return self._log(username, mac, "accepted", session=session)

    def _open(self, username, mac, ip, method, radius_server, request, reply) -> Session:
        with self.router.lock:
            session_id = rc.first(request, rc.ACCT_SESSION_ID).decode()
            active = self.router.menus["/ip/hotspot/active"]
            server_name, profile = self.server()
            row_id = active.add({"user": username, "address": ip, "mac-address": mac,
                                 "server": server_name, "session-id": session_id},
                                internal=True)
            session = Session(row_id, username, mac, ip, session_id, method, radius_server,
                              request, reply)
            session.apply_reply(reply, {})
            user_profile = self.user_profile(session.profile) or {}
            if session.session_timeout is None:
                session.session_timeout = _duration_s(user_profile.get("session-timeout"))
            if session.idle_timeout is None:
                session.idle_timeout = _duration_s(user_profile.get("idle-timeout"))
            if not session.rate_limit:
                session.rate_limit = user_profile.get("rate-limit", "")
            interim = profile.get("radius-interim-update", "received")
            session.interim = (rc.as_int(rc.first(reply, rc.ACCT_INTERIM_INTERVAL))
                               if _duration_s(interim) is None else _duration_s(interim))
            if session.interim:
                session.next_interim = session.started + session.interim
            self.sessions[row_id] = session
            self._refresh(session)
            self.router.mark_dirty()
            if profile.get("radius-accounting", "true") == "true":
                self.accountant.send(session, START)
            if "cookie" in profile.get("login-by", "").split(","):
                session.cookie = self._add_cookie(session, profile)
            return session

    def _refresh(self, session: Session) -> None:
        row = next((r for r in self.router.menus["/ip/hotspot/active"].rows
                    if r[".id"] == session.row_id), None)
        if row is not None:
            row.update(session.row_fields())

    def _log(self, username, mac, result, *, error="", session=None, reply_message="") -> dict:
        with self.router.lock:
            profile = session.profile if session is not None and result == "accepted" else ""
            timeout = session.session_timeout if session is not None else None
            self.logins.append({
                "user": username, "mac-address": mac, "result": result, "profile": profile,
                "session-timeout": "" if timeout is None or result != "accepted"
                else str(timeout), "reply-message": reply_message or error})
            answer = {"result": result, "error": error}
            if session is not None:
                row = next((r for r in self.router.menus["/ip/hotspot/active"].print()
                            if r[".id"] == session.row_id), {})
                answer["session"] = {**row, "profile": profile} if profile else row
                answer["_session"] = session
            return answer

    # -- cookies (login-by cookie) --------------------------------------------------------------
    def _add_cookie(self, session: Session, profile: dict[str, str]) -> str:
        lifetime = _duration_s(profile.get("http-cookie-lifetime", "3d")) or 259200
        token = secrets.token_hex(16)
        cookies = self.router.menus["/ip/hotspot/cookie"]
        row_id = cookies.add({"user": session.user, "mac-address": session.mac,
                              "token": token}, internal=True)
        self.cookies[row_id] = {"session": session, "expires": time.monotonic() + lifetime,
                                "lifetime": lifetime}
        return token

    def cookie_login(self, token: str, mac: str, ip: str) -> dict | None:
        """Log ``mac`` in again with its cookie, without RADIUS; None when no valid cookie."""
        with self.router.lock:
            if not token or "cookie" not in self.login_by() or self.current(mac):
                return None
            now = time.monotonic()
            row = next((r for r in self.router.menus["/ip/hotspot/cookie"].rows
                        if r.get("token") == token and r.get("mac-address") == mac), None)
            kept = self.cookies.get(row[".id"]) if row else None
            if kept is None or kept["expires"] <= now:
                return None
            old = kept["session"]
            self._next_port += 1
            request = [(k, v) for k, v in old.request if k not in (
                rc.ACCT_SESSION_ID, rc.FRAMED_IP_ADDRESS, rc.NAS_PORT)]
            request += [(rc.NAS_PORT, rc.integer(self._next_port)),
                        (rc.FRAMED_IP_ADDRESS, socket.inet_aton(ip)),
                        (rc.ACCT_SESSION_ID, f"{self._next_port:08x}".encode())]
            session = self._open(old.user, mac, ip, "cookie", old.server, request, old.reply)
            return self._log(old.user, mac, "accepted", session=session)

    def erase_cookies(self, mac: str) -> int:
        with self.router.lock:
            menu = self.router.menus["/ip/hotspot/cookie"]
            doomed = [r for r in menu.rows if r.get("mac-address") == mac]
            for row in doomed:
                menu.rows.remove(row)
                self.cookies.pop(row[".id"], None)
            return len(doomed)

    # -- sessions that end ----------------------------------------------------------------------
    def end(self, session: Session, cause: str) -> None:
        """End a session (under the router's lock): out of /ip/hotspot/active, Stop sent."""
        active = self.router.menus["/ip/hotspot/active"]
        active.rows = [r for r in active.rows if r[".id"] != session.row_id]
        self.ended([{".id": session.row_id}], cause)

    def ended(self, rows: list[dict], cause: str) -> None:
        """Sessions already removed from /ip/hotspot/active: their Accounting Stop."""
        for row in rows:
            session = self.sessions.pop(row.get(".id"), None)
            if session is not None:
                self.accountant.send(session, STOP, cause)
        self.router.mark_dirty()

    def logout(self, mac: str, erase_cookie: bool) -> Session | None:
        with self.router.lock:
            session = self.current(mac)
            if session is not None:
                self.end(session, "user-request")
            if erase_cookie:
                self.erase_cookies(mac)
            return session

    def expire(self, user: str, cause: str = "session-timeout") -> int:
        """End ``user``'s sessions with ``cause`` (a test cannot wait the minutes)."""
        if cause not in accounting.TERMINATE_CAUSES:
            raise model.Trap(f"value of cause is invalid: {cause!r}")
        doomed = [s for s in self.sessions.values() if s.user == user]
        for session in doomed:
            self.end(session, cause)
        active = self.router.menus["/ip/hotspot/active"]
        injected = [r for r in active.rows if r.get("user") == user]
        active.rows = [r for r in active.rows if r not in injected]
        self.router.mark_dirty()
        return len(doomed) + len(injected)

    # -- traffic, interims, CoA -----------------------------------------------------------------
    def traffic(self, args: dict[str, str]) -> int:
        """Add counters to the sessions of ``user`` (and ``mac-address``): bytes-in (from the
        client), bytes-out (to it), packets-in/-out (default: one per 1500 bytes)."""
        try:
            added = {name: int(args.get(name, 0)) for name in (
                "bytes-in", "bytes-out", "packets-in", "packets-out")}
        except ValueError as exc:
            raise model.Trap(f"invalid number: {exc}") from exc
        for direction in ("in", "out"):
            if "packets-" + direction not in args:
                added["packets-" + direction] = -(-added["bytes-" + direction] // 1500)
        mac = args.get("mac-address", "").upper()
        chosen = [s for s in self.sessions.values() if s.user == args.get("user")
                  and (not mac or s.mac == mac)]
        for session in chosen:
            session.bytes_in += added["bytes-in"]
            session.bytes_out += added["bytes-out"]
            session.packets_in += added["packets-in"]
            session.packets_out += added["packets-out"]
            session.active_at = time.monotonic()
            self._refresh(session)
            if session.over_limit():
                self.end(session, "nas-request")
        return len(chosen)

    def interim_now(self, user: str | None = None) -> int:
        chosen = [s for s in self.sessions.values() if user in (None, "", s.user)]
        for session in chosen:
            self._refresh(session)
            self.accountant.send(session, INTERIM)
        return len(chosen)

    def coa(self, rows: list[dict], attributes) -> int | None:
        """Apply a CoA-Request to the sessions (under the router's lock): Error-Cause or None."""
        group = rc.vendor(attributes, rc.MT_GROUP)
        if group and self.user_profile(group.decode("utf-8", "replace")) is None:
            return UNKNOWN_GROUP
        for row in rows:
            session = self.sessions.get(row[".id"])
            if session is None:
                accounting.apply_to_row(row, attributes)
                continue
            session.apply_reply(attributes, {})
            self._refresh(session)
        self.router.mark_dirty()
        return None

    def _tick(self) -> None:
        while not self._stop.wait(TICK):
            with self.router.lock:
                now = time.monotonic()
                for session in list(self.sessions.values()):
                    self._refresh(session)
                    uptime, idle = session.uptime(now), int(now - session.active_at)
                    if session.session_timeout and uptime >= session.session_timeout:
                        self.end(session, "session-timeout")
                    elif session.idle_timeout and idle >= session.idle_timeout:
                        self.end(session, "idle-timeout")
                    elif session.over_limit():
                        self.end(session, "nas-request")
                    elif session.next_interim is not None and now >= session.next_interim:
                        session.next_interim = now + session.interim
                        self.accountant.send(session, INTERIM)
                menu = self.router.menus["/ip/hotspot/cookie"]
                for row in list(menu.rows):
                    kept = self.cookies.get(row[".id"])
                    if kept is None or kept["expires"] <= now:
                        menu.rows.remove(row)
                        self.cookies.pop(row[".id"], None)
                    else:
                        row["expires-in"] = model.format_duration_ms(
                            int(kept["expires"] - now) * 1000)
