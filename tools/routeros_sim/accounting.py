"""Hotspot sessions and their RADIUS accounting, as help.mikrotik.com "RADIUS" describes it.

- Start: the Access-Request's attributes (no password) + Acct-Status-Type, Acct-Authentic
  RADIUS, Acct-Delay-Time 0, Event-Timestamp, and every Class of the Access-Accept unchanged.
- Interim-Update and Stop add Acct-Session-Time, Acct-Input-Octets/-Gigawords/-Packets (from
  the client: ``bytes-in``) and Acct-Output-Octets/-Gigawords/-Packets (to the client:
  ``bytes-out``), the octets wrapping at 2^32 into the gigawords; Stop adds
  Acct-Terminate-Cause (RFC 2866 5.10).
- Interims: every ``radius-interim-update`` of the hotspot profile; ``received`` (or 0s) takes
  the Access-Accept's Acct-Interim-Interval (none: no interims) ("HotSpot Profile").
- Session-Timeout and Idle-Timeout end the session with those causes; the total limit
  (Mikrotik-Total-Limit + -Gigawords, in + out) and Mikrotik-Recv-/Xmit-Limit end it with
  NAS-Request ("traffic limit reached" is nas-request in "HotSpot - Captive portal", "MAC
  Cookie"); keepalive loss (``/captiva-sim/active/expire =cause=lost-carrier``) with
  Lost-Carrier; a logout with User-Request; /ip/hotspot/active/remove and a Disconnect-Request
  with Admin-Reset.

Requests go out one at a time in order (a session's Start before its Interims and Stop).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from dataclasses import dataclass, field

from . import model
from . import radius_client as rc

START, STOP, INTERIM = 1, 2, 3
TERMINATE_CAUSES = {"user-request": 1, "lost-carrier": 2, "idle-timeout": 4,
                    "session-timeout": 5, "admin-reset": 6, "nas-request": 10}
ACCOUNTED = {rc.USER_NAME, rc.NAS_IP_ADDRESS, rc.NAS_IDENTIFIER, rc.NAS_PORT, rc.NAS_PORT_TYPE,
             rc.CALLED_STATION_ID, rc.CALLING_STATION_ID, rc.FRAMED_IP_ADDRESS,
             rc.ACCT_SESSION_ID}
WRAP = 1 << 32


@dataclass
class Session:
    row_id: str
    user: str
    mac: str
    ip: str
    session_id: str
    login_by: str
    server: dict | None  # the /radius entry that accepted it (None: no accounting)
    request: list = field(default_factory=list)  # Access-Request attributes, for accounting
    reply: list = field(default_factory=list)  # the Access-Accept's attributes
    profile: str = "default"
    session_timeout: int | None = None  # seconds from the session's start
    idle_timeout: int | None = None
    interim: int | None = None
    rate_limit: str = ""
    limit_total: int | None = None
    limit_in: int | None = None
    limit_out: int | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    packets_in: int = 0
    packets_out: int = 0
    started: float = field(default_factory=time.monotonic)
    active_at: float = field(default_factory=time.monotonic)
    next_interim: float | None = None
    cookie: str = ""  # the HTTP cookie given at login (login-by cookie)

    def uptime(self, now: float | None = None) -> int:
        return int((now or time.monotonic()) - self.started)

    def over_limit(self) -> bool:
        return any(limit is not None and used >= limit for limit, used in (
            (self.limit_total, self.bytes_in + self.bytes_out),
            (self.limit_in, self.bytes_in), (self.limit_out, self.bytes_out)))

    def row_fields(self, now: float | None = None) -> dict[str, str]:
        """What /ip/hotspot/active prints of it."""
        now = now or time.monotonic()
        out = {"uptime": model.format_duration_ms(self.uptime(now) * 1000),
               "idle-time": model.format_duration_ms(int(now - self.active_at) * 1000),
               "bytes-in": str(self.bytes_in), "bytes-out": str(self.bytes_out),
               "packets-in": str(self.packets_in), "packets-out": str(self.packets_out),
               "login-by": self.login_by, "rate-limit": self.rate_limit,
               "profile": self.profile}
        if self.session_timeout is not None:
            out["session-time-left"] = model.format_duration_ms(self.session_timeout * 1000)
        if self.idle_timeout is not None:
            out["idle-timeout"] = model.format_duration_ms(self.idle_timeout * 1000)
        for name, value in (("limit-bytes-total", self.limit_total),
                            ("limit-bytes-in", self.limit_in),
                            ("limit-bytes-out", self.limit_out)):
            if value is not None:
                out[name] = str(value)
        return out

    def counters(self) -> list[tuple[int, bytes]]:
        return [(rc.ACCT_SESSION_TIME, rc.integer(self.uptime())),
                (rc.ACCT_INPUT_OCTETS, rc.integer(self.bytes_in % WRAP)),
                (rc.ACCT_INPUT_GIGAWORDS, rc.integer(self.bytes_in // WRAP)),
                (rc.ACCT_INPUT_PACKETS, rc.integer(self.packets_in)),
                (rc.ACCT_OUTPUT_OCTETS, rc.integer(self.bytes_out % WRAP)),
                (rc.ACCT_OUTPUT_GIGAWORDS, rc.integer(self.bytes_out // WRAP)),
                (rc.ACCT_OUTPUT_PACKETS, rc.integer(self.packets_out))]

    def apply_reply(self, attributes, profile_timeouts: dict[str, int | None]) -> None:
        """Access-Accept or CoA attributes: Session-Timeout and Idle-Timeout override the
        profile's, Mikrotik-Group names the user profile, Mikrotik-Rate-Limit, limits."""
        timeout = rc.as_int(rc.first(attributes, rc.SESSION_TIMEOUT))
        idle = rc.as_int(rc.first(attributes, rc.IDLE_TIMEOUT))
        if timeout is not None:
            self.session_timeout = timeout
        elif profile_timeouts.get("session") and self.session_timeout is None:
            self.session_timeout = profile_timeouts["session"]
        if idle is not None:
            self.idle_timeout = idle
        elif profile_timeouts.get("idle") and self.idle_timeout is None:
            self.idle_timeout = profile_timeouts["idle"]
        group = rc.vendor(attributes, rc.MT_GROUP)
        if group:
            self.profile = group.decode("utf-8", "replace")
        rate = rc.vendor(attributes, rc.MT_RATE_LIMIT)
        if rate:
            self.rate_limit = rate.decode("utf-8", "replace")
        for name, low, high in (("limit_total", rc.MT_TOTAL_LIMIT, rc.MT_TOTAL_LIMIT_GIGAWORDS),
                                ("limit_in", rc.MT_RECV_LIMIT, rc.MT_RECV_LIMIT_GIGAWORDS),
                                ("limit_out", rc.MT_XMIT_LIMIT, rc.MT_XMIT_LIMIT_GIGAWORDS)):
            value = rc.limit(attributes, low, high)
            if value is not None:
                setattr(self, name, value)


def apply_to_row(row: dict[str, str], attributes) -> None:
    """A CoA on a session injected with /captiva-sim/active/add (no accounting state)."""
    session = Session(row[".id"], row.get("user", ""), row.get("mac-address", ""),
                      row.get("address", ""), row.get("session-id", ""),
                      row.get("login-by", ""), None, profile=row.get("profile", "default"),
                      rate_limit=row.get("rate-limit", ""))
    session.apply_reply(attributes, {})
    fields = session.row_fields()
    for name in ("session-time-left", "idle-timeout", "rate-limit", "profile",
                 "limit-bytes-total", "limit-bytes-in", "limit-bytes-out"):
        if name in fields:
            row[name] = fields[name]


class Accountant:
    """Sends a hotspot's Accounting-Requests in order, from one background thread."""

    def __init__(self, client: rc.RadiusClient):
        self.client = client
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._run, daemon=True).start()

    def send(self, session: Session, status: int, cause: str | None = None) -> None:
        """Queue one request; its counters are taken now (under the router's lock)."""
        if session.server is None:
            return
        attributes = [(k, v) for k, v in session.request if k in ACCOUNTED]
        attributes += [(rc.ACCT_STATUS_TYPE, rc.integer(status)),
                       (rc.ACCT_AUTHENTIC, rc.integer(1)),
                       (rc.ACCT_DELAY_TIME, rc.integer(0)),
                       (rc.EVENT_TIMESTAMP, rc.integer(int(time.time())))]
        attributes += [(rc.CLASS, v) for k, v in session.reply if k == rc.CLASS]
        if status != START:
            attributes += session.counters()
        if status == STOP:
            attributes.append((rc.ACCT_TERMINATE_CAUSE, rc.integer(TERMINATE_CAUSES[cause])))
        name = {START: "accounting-start", INTERIM: "accounting-interim",
                STOP: "accounting-stop"}[status]
        self.client.count(name)
        self._queue.put((session.server, attributes))

    def pending(self) -> int:
        """Requests queued or not yet answered (or given up): 0 once every Start, Interim
        and Stop sent so far has its Accounting-Response."""
        return self._queue.unfinished_tasks

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                with contextlib.suppress(OSError):
                    self.client.account(*item)
            finally:
                self._queue.task_done()
