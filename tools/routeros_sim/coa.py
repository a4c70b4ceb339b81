"""The router's RADIUS Disconnect/CoA listener (RFC 5176), as RouterOS behaves.

- Listens only while ``/radius/incoming accept=yes`` (on ``--coa-listen``, default port 3799).
- Accepts a request only from the ``address`` of an enabled ``/radius`` entry, checked with
  that entry's ``secret``: anything else is dropped silently (no answer), like RouterOS.
- Checks the Request Authenticator and, when present, the Message-Authenticator (RFC 5176
  3.3, RFC 3579 3.2); a bad one is dropped silently.
- Requires an Event-Timestamp within ``time_window`` seconds of its clock (replay
  protection, RFC 5176 3.5); missing or outside: dropped silently.
- A retransmission (same source, Identifier and Request Authenticator) gets the cached answer
  again and changes nothing (RFC 5080 2.2.2).
- A Disconnect-Request that names an active hotspot session (User-Name, Framed-IP-Address,
  Acct-Session-Id: every one present must match) removes it from /ip/hotspot/active and is
  answered Disconnect-ACK; otherwise Disconnect-NAK with Error-Cause (402 nothing to identify
  a session, 403 NAS-IP-Address not ours, 503 no such session). A CoA-Request for an
  existing session applies Session-Timeout, Idle-Timeout, Mikrotik-Rate-Limit, Mikrotik-Group
  (an unknown user profile: NAK 407) and Mikrotik-Recv/Xmit-Limit, and is acknowledged;
  otherwise NAKed the same way.
- Modes for tests: ``normal``, ``silent`` (drop everything), ``nak`` (NAK everything with
  ``nak_cause``, default 501 Administratively Prohibited); ``delay`` seconds before each
  answer (a slow router; the request itself is acted on at once).

The packet coding is written here from the RFCs, independent of the pyrad code Captiva's
sender uses, so the two check each other.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import queue
import socket
import struct
import threading
import time
from collections import OrderedDict

from . import accounting

DISCONNECT_REQUEST, DISCONNECT_ACK, DISCONNECT_NAK = 40, 41, 42
COA_REQUEST, COA_ACK, COA_NAK = 43, 44, 45
USER_NAME, NAS_IP_ADDRESS, FRAMED_IP_ADDRESS = 1, 4, 8
ACCT_SESSION_ID, EVENT_TIMESTAMP, MESSAGE_AUTHENTICATOR, ERROR_CAUSE = 44, 55, 80, 101
MISSING_ATTRIBUTE, NAS_MISMATCH, PROHIBITED, NO_SESSION = 402, 403, 501, 503
MODES = ("normal", "silent", "nak")
COUNTERS = ("received", "dropped-source", "dropped-auth", "dropped-timestamp",
            "dropped-silent", "duplicates", "ack", "nak", "removed")


def parse(data: bytes) -> tuple[int, int, bytes, list[tuple[int, bytes]]] | None:
    """(code, identifier, authenticator, attributes) or None when malformed."""
    if len(data) < 20:
        return None
    code, ident, length = struct.unpack("!BBH", data[:4])
    if length < 20 or length > len(data):
        return None
    attributes, pos = [], 20
    while pos < length:
        if pos + 2 > length:
            return None
        kind, size = data[pos], data[pos + 1]
        if size < 2 or pos + size > length:
            return None
        attributes.append((kind, data[pos + 2:pos + size]))
        pos += size
    return code, ident, data[4:20], attributes


def request_valid(data: bytes, secret: bytes) -> bool:
    """Request Authenticator (RFC 5176 3.3) and Message-Authenticator if present."""
    length = struct.unpack("!H", data[2:4])[0]
    data = data[:length]
    zeroed = data[:4] + bytes(16) + data[20:]
    if not hmac.compare_digest(hashlib.md5(zeroed + secret).digest(),  # noqa: S324
                               data[4:20]):
        return False
    pos, blank = 20, bytearray(zeroed)
    while pos < length:
        kind, size = data[pos], data[pos + 1]
        if kind == MESSAGE_AUTHENTICATOR:
            if size != 18:
                return False
            blank[pos + 2:pos + 18] = bytes(16)
            expected = hmac.new(secret, bytes(blank), hashlib.md5).digest()
            return hmac.compare_digest(expected, data[pos + 2:pos + 18])
        pos += size
    return True


def reply(code: int, ident: int, request_auth: bytes, secret: bytes,
          error_cause: int | None = None) -> bytes:
    """An answer with a Message-Authenticator (and an Error-Cause for a NAK)."""
    attributes = bytes([MESSAGE_AUTHENTICATOR, 18]) + bytes(16)
    if error_cause is not None:
        attributes += struct.pack("!BBI", ERROR_CAUSE, 6, error_cause)
    header = struct.pack("!BBH", code, ident, 20 + len(attributes))
    # Message-Authenticator of a reply: over the reply with the Request Authenticator.
    mac = hmac.new(secret, header + request_auth + attributes, hashlib.md5).digest()
    attributes = attributes[:2] + mac + attributes[18:]
    response_auth = hashlib.md5(  # noqa: S324 - RADIUS Response Authenticator
        header + request_auth + attributes + secret).digest()
    return header + response_auth + attributes


class CoaListener:
    """UDP Disconnect/CoA server of one simulated router (``router``: server.Router)."""

    def __init__(self, router, address: tuple[str, int], *, mode: str = "normal",
                 nak_cause: int = PROHIBITED, time_window: int = 300, delay: float = 0.0):
        self.router = router
        self.mode = mode
        self.delay = delay
        self.nak_cause = nak_cause
        self.time_window = time_window
        self.stats = dict.fromkeys(COUNTERS, 0)
        self._answers: OrderedDict[tuple, tuple[float, bytes]] = OrderedDict()
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.address = self.sock.getsockname()[:2]
        self._stop = threading.Event()
        self._delayed: queue.Queue = queue.Queue()  # (due, answer, peer), in arrival order
        threading.Thread(target=self._send_delayed, daemon=True).start()

    def serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            answer = self.handle(data, peer[0], peer[1])
            if answer is None:
                continue
            if self.delay > 0:
                self._delayed.put((time.monotonic() + self.delay, answer, peer))
            else:
                self._send(answer, peer)

    def _send_delayed(self) -> None:
        while not self._stop.is_set():
            try:
                due, answer, peer = self._delayed.get(timeout=0.2)
            except queue.Empty:
                continue
            time.sleep(max(0.0, due - time.monotonic()))
            self._send(answer, peer)

    def _send(self, answer: bytes, peer) -> None:
        with contextlib.suppress(OSError):  # closed meanwhile
            self.sock.sendto(answer, peer)

    def close(self) -> None:
        self._stop.set()
        self.sock.close()

    def settings(self) -> dict[str, str]:
        return {"address": f"{self.address[0]}:{self.address[1]}", "mode": self.mode,
                "nak-cause": str(self.nak_cause), "time-window": str(self.time_window),
                "delay": f"{self.delay:g}",
                **{k: str(v) for k, v in self.stats.items()}}

    # -- one datagram --------------------------------------------------------------------------
    def _secret_for(self, source: str) -> bytes | None:
        menus = self.router.menus
        if menus["/radius/incoming"].rows[0].get("accept") != "true":
            return None
        for entry in menus["/radius"].rows:
            if entry.get("disabled") == "true" or not entry.get("secret"):
                continue
            try:
                if ipaddress.ip_address(entry.get("address", "")) == ipaddress.ip_address(
                        source):
                    return entry["secret"].encode()
            except ValueError:
                continue
        return None

    def handle(self, data: bytes, source: str, source_port: int) -> bytes | None:
        """The answer to send back, or None to drop the datagram."""
        with self.router.lock:
            self.stats["received"] += 1
            if self.mode == "silent":
                self.stats["dropped-silent"] += 1
                return None
            packet = parse(data)
            if packet is None or packet[0] not in (DISCONNECT_REQUEST, COA_REQUEST):
                self.stats["dropped-auth"] += 1
                return None
            code, ident, authenticator, attributes = packet
            secret = self._secret_for(source)
            if secret is None:
                self.stats["dropped-source"] += 1
                return None
            if not request_valid(data, secret):
                self.stats["dropped-auth"] += 1
                return None
            now = time.time()
            key = (source, source_port, ident, authenticator)
            self._forget(now)
            if key in self._answers:
                self.stats["duplicates"] += 1
                return self._answers[key][1]
            values: dict[int, bytes] = {}
            for kind, value in attributes:
                values.setdefault(kind, value)
            stamp = values.get(EVENT_TIMESTAMP)
            if stamp is None or len(stamp) != 4 or abs(
                    now - struct.unpack("!I", stamp)[0]) > self.time_window:
                self.stats["dropped-timestamp"] += 1
                return None
            ack, nak = (DISCONNECT_ACK, DISCONNECT_NAK) if code == DISCONNECT_REQUEST else (
                COA_ACK, COA_NAK)
            cause = self.nak_cause if self.mode == "nak" else self._act(code, values,
                                                                         attributes)
            answer = reply(nak if cause else ack, ident, authenticator, secret, cause)
            self.stats["nak" if cause else "ack"] += 1
            self._answers[key] = (now, answer)
            return answer

    def _forget(self, now: float) -> None:
        while self._answers and next(iter(self._answers.values()))[0] < now - self.time_window:
            self._answers.popitem(last=False)

    def _act(self, code: int, values: dict[int, bytes], attributes) -> int | None:
        """Error-Cause, or None once done (the session removed for a Disconnect, the
        attributes applied for a CoA)."""
        own = ipaddress.ip_address(self.address[0])
        if NAS_IP_ADDRESS in values and not own.is_unspecified and (
                socket.inet_ntoa(values[NAS_IP_ADDRESS]) != str(own)):
            return NAS_MISMATCH
        wanted = {}
        if USER_NAME in values:
            wanted["user"] = values[USER_NAME].decode("utf-8", "replace")
        if FRAMED_IP_ADDRESS in values and len(values[FRAMED_IP_ADDRESS]) == 4:
            wanted["address"] = socket.inet_ntoa(values[FRAMED_IP_ADDRESS])
        if ACCT_SESSION_ID in values:
            wanted["session-id"] = values[ACCT_SESSION_ID].decode("utf-8", "replace")
        if not wanted:
            return MISSING_ATTRIBUTE
        active = self.router.menus["/ip/hotspot/active"]
        # One key first (thousands of sessions), then the others; a session injected without
        # a session id matches on the other attributes.
        first, value = next(iter(wanted.items()))
        matches = [row for row in active.rows if row.get(first, value if first == "session-id"
                                                         else None) == value]
        matches = [row for row in matches
                   if all(row.get(k, v if k == "session-id" else None) == v
                          for k, v in wanted.items())]
        if not matches:
            return NO_SESSION
        if code == DISCONNECT_REQUEST:
            for row in matches:
                active.rows.remove(row)
            doomed = matches
            self.stats["removed"] += len(doomed)
            self.router.mark_dirty()
            if getattr(self.router, "hotspot", None) is not None:
                self.router.hotspot.ended(doomed, "admin-reset")  # its Accounting Stop
            return None
        # CoA ("RADIUS", "Change of Authorization"): Session-Timeout, Idle-Timeout,
        # Mikrotik-Rate-Limit, Mikrotik-Group, Mikrotik-Recv/Xmit-Limit.
        if getattr(self.router, "hotspot", None) is not None:
            return self.router.hotspot.coa(matches, attributes)
        for row in matches:
            accounting.apply_to_row(row, attributes)
        self.router.mark_dirty()
        return None
