"""The router's RADIUS client (help.mikrotik.com, "RADIUS"): packets coded from RFC 2865,
2866, 2869 and 3579 here, independent of the pyrad code Captiva's jobs send with.

- Access-Request: PAP (User-Password) or CHAP (CHAP-Password + CHAP-Challenge), always with a
  Message-Authenticator.
- Replies: the Response Authenticator must be right, else the reply is dropped. When the
  ``/radius`` entry has ``require-message-auth=yes-for-request-resp`` (RouterOS 7.15+ default)
  an Access-Accept/Reject without a Message-Authenticator is dropped; a wrong one is always
  dropped (RFC 3579 3.2). A dropped reply counts as no reply: the request is sent again, then
  the next server is tried.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import socket
import struct
import threading

from . import model

ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT = 1, 2, 3
ACCOUNTING_REQUEST, ACCOUNTING_RESPONSE = 4, 5
USER_NAME, USER_PASSWORD, CHAP_PASSWORD, NAS_IP_ADDRESS, NAS_PORT = 1, 2, 3, 4, 5
FRAMED_IP_ADDRESS, REPLY_MESSAGE, CLASS, VENDOR_SPECIFIC = 8, 18, 25, 26
SESSION_TIMEOUT, IDLE_TIMEOUT = 27, 28
CALLED_STATION_ID, CALLING_STATION_ID, NAS_IDENTIFIER = 30, 31, 32
ACCT_STATUS_TYPE, ACCT_DELAY_TIME, ACCT_INPUT_OCTETS, ACCT_OUTPUT_OCTETS = 40, 41, 42, 43
ACCT_SESSION_ID, ACCT_AUTHENTIC, ACCT_SESSION_TIME = 44, 45, 46
ACCT_INPUT_PACKETS, ACCT_OUTPUT_PACKETS, ACCT_TERMINATE_CAUSE = 47, 48, 49
ACCT_INPUT_GIGAWORDS, ACCT_OUTPUT_GIGAWORDS, EVENT_TIMESTAMP = 52, 53, 55
CHAP_CHALLENGE, NAS_PORT_TYPE, MESSAGE_AUTHENTICATOR, ACCT_INTERIM_INTERVAL = 60, 61, 80, 85
# Vendor 14988 (MikroTik), "MikroTik Specific RADIUS Attribute Numeric Values".
MIKROTIK = 14988
MT_RECV_LIMIT, MT_XMIT_LIMIT, MT_GROUP, MT_RATE_LIMIT = 1, 2, 3, 8
MT_RECV_LIMIT_GIGAWORDS, MT_XMIT_LIMIT_GIGAWORDS = 14, 15
MT_TOTAL_LIMIT, MT_TOTAL_LIMIT_GIGAWORDS = 17, 18
NAS_PORT_TYPES = {"async": 0, "sync": 1, "isdn-sync": 2, "isdn-async-v120": 3,
                  "isdn-async-v110": 4, "virtual": 5, "piafs": 6, "hdlc-clear-channel": 7,
                  "x.25": 8, "x.75": 9, "g.3-fax": 10, "sdsl": 11, "adsl-cap": 12,
                  "adsl-dmt": 13, "idsl": 14, "ethernet": 15, "xdsl": 16, "cable": 17,
                  "wireless-other": 18, "wireless-802.11": 19}
COUNTERS = ("access-requests", "accepts", "rejects", "dropped-bad-authenticator",
            "dropped-no-message-authenticator", "dropped-bad-message-authenticator",
            "timeouts", "accounting-start", "accounting-interim", "accounting-stop",
            "accounting-responses")


def attribute(kind: int, value: bytes) -> bytes:
    return bytes([kind, len(value) + 2]) + value


def integer(value: int) -> bytes:
    return struct.pack("!I", value & 0xFFFFFFFF)


def hide_password(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """RFC 2865 5.2: the password padded to 16 bytes, XORed with MD5 chains."""
    padded = password + bytes(-len(password) % 16 or (16 if not password else 0))
    out, last = b"", authenticator
    for start in range(0, len(padded), 16):
        key = hashlib.md5(secret + last).digest()  # noqa: S324 - RADIUS
        block = bytes(a ^ b for a, b in zip(padded[start:start + 16], key, strict=True))
        out += block
        last = block
    return out


def _packet(code: int, ident: int, authenticator: bytes, body: bytes) -> bytes:
    return struct.pack("!BBH", code, ident, 20 + len(body)) + authenticator + body


def access_request(ident: int, secret: bytes, attributes: list[tuple[int, bytes]],
                   password: str | None = None, chap: tuple[bytes, bytes] | None = None
                   ) -> tuple[bytes, bytes]:
    """(datagram, request authenticator). ``chap``: (CHAP-Password, CHAP-Challenge)."""
    authenticator = os.urandom(16)
    body = b"".join(attribute(k, v) for k, v in attributes)
    if chap is not None:
        body += attribute(CHAP_PASSWORD, chap[0]) + attribute(CHAP_CHALLENGE, chap[1])
    else:
        body += attribute(USER_PASSWORD, hide_password((password or "").encode(), secret,
                                                       authenticator))
    body += attribute(MESSAGE_AUTHENTICATOR, bytes(16))
    data = _packet(ACCESS_REQUEST, ident, authenticator, body)
    mac = hmac.new(secret, data, hashlib.md5).digest()
    return data[:-16] + mac, authenticator


def accounting_request(ident: int, secret: bytes, attributes: list[tuple[int, bytes]]
                       ) -> tuple[bytes, bytes]:
    body = b"".join(attribute(k, v) for k, v in attributes)
    unsigned = _packet(ACCOUNTING_REQUEST, ident, bytes(16), body)
    authenticator = hashlib.md5(unsigned + secret).digest()  # noqa: S324 - RFC 2866
    return _packet(ACCOUNTING_REQUEST, ident, authenticator, body), authenticator


def parse_attributes(data: bytes) -> list[tuple[int, bytes]] | None:
    attributes, pos = [], 20
    while pos + 2 <= len(data):
        kind, size = data[pos], data[pos + 1]
        if size < 2 or pos + size > len(data):
            return None
        attributes.append((kind, data[pos + 2:pos + size]))
        pos += size
    return attributes


def check_reply(data: bytes, ident: int, request_auth: bytes, secret: bytes,
                require_message_auth: bool):
    """(code, attributes) of a genuine answer, or a str naming why it is dropped."""
    if len(data) < 20:
        return "dropped-bad-authenticator"
    code, got_ident, length = struct.unpack("!BBH", data[:4])
    if got_ident != ident or length > len(data) or length < 20:
        return "dropped-bad-authenticator"
    data = data[:length]
    expected = hashlib.md5(  # noqa: S324 - RADIUS Response Authenticator
        data[:4] + request_auth + data[20:] + secret).digest()
    if not hmac.compare_digest(expected, data[4:20]):
        return "dropped-bad-authenticator"
    attributes = parse_attributes(data)
    if attributes is None:
        return "dropped-bad-authenticator"
    pos, found = 20, False
    while pos < length:
        kind, size = data[pos], data[pos + 1]
        if kind == MESSAGE_AUTHENTICATOR:
            found = True
            blank = data[:4] + request_auth + data[20:pos + 2] + bytes(16) + data[pos + 18:]
            mac = hmac.new(secret, blank, hashlib.md5).digest()
            if size != 18 or not hmac.compare_digest(mac, data[pos + 2:pos + 18]):
                return "dropped-bad-message-authenticator"
        pos += size
    if not found and require_message_auth and code in (ACCESS_ACCEPT, ACCESS_REJECT):
        return "dropped-no-message-authenticator"
    return code, attributes


def vendor(attributes, kind: int, vendor_id: int = MIKROTIK) -> bytes | None:
    for attr, value in attributes:
        if attr == VENDOR_SPECIFIC and len(value) >= 6 and struct.unpack(
                "!I", value[:4])[0] == vendor_id and value[4] == kind:
            return value[6:4 + value[5]]
    return None


def first(attributes, kind: int) -> bytes | None:
    return next((v for k, v in attributes if k == kind), None)


def as_int(value: bytes | None) -> int | None:
    return struct.unpack("!I", value)[0] if value is not None and len(value) == 4 else None


def limit(attributes, low: int, high: int) -> int | None:
    """A 64-bit byte limit from its low 32 bits and -Gigawords attribute (vendor 14988)."""
    low_value, high_value = as_int(vendor(attributes, low)), as_int(vendor(attributes, high))
    if low_value is None and high_value is None:
        return None
    return ((high_value or 0) << 32) + (low_value or 0)


class RadiusClient:
    """Sends requests to the enabled ``/radius`` entries of service hotspot, in order."""

    def __init__(self, router, nas_address: str):
        self.router = router
        self.nas_address = nas_address
        self.stats = dict.fromkeys(COUNTERS, 0)
        self._lock = threading.Lock()

    def count(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1

    def servers(self) -> list[dict]:
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
            servers.append({
                "address": entry["address"], "secret": entry.get("secret", ""),
                "auth_port": int(entry.get("authentication-port") or 1812),
                "acct_port": int(entry.get("accounting-port") or 1813),
                "timeout": max(timeout, 0.3),
                "require_message_auth": entry.get("require-message-auth",
                                                  "yes-for-request-resp") != "no"})
        return servers

    def exchange(self, server: dict, build, port: int):
        """Send one request (twice at most) and return (code, attributes) or None."""
        secret = server["secret"].encode()
        family = socket.AF_INET6 if ":" in server["address"] else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.bind((self.nas_address if family == socket.AF_INET else "::", 0))
            sock.settimeout(server["timeout"])
            ident = int.from_bytes(os.urandom(1), "big")
            data, authenticator = build(ident, secret)
            for _attempt in range(2):
                sock.sendto(data, (server["address"], port))
                try:
                    while True:
                        answer, _ = sock.recvfrom(4096)
                        checked = check_reply(answer, ident, authenticator, secret,
                                              server["require_message_auth"])
                        if isinstance(checked, str):
                            self.count(checked)
                            continue
                        return checked
                except TimeoutError:
                    self.count("timeouts")
                    continue
        return None

    def authenticate(self, attributes, password: str | None, chap=None):
        """(code, reply attributes, server) from the first server that answers, or None."""
        for server in self.servers():
            self.count("access-requests")
            reply = self.exchange(server, lambda ident, secret: access_request(
                ident, secret, attributes, password, chap), server["auth_port"])
            if reply is not None:
                self.count("accepts" if reply[0] == ACCESS_ACCEPT else "rejects")
                return reply[0], reply[1], server
        return None

    def account(self, server: dict, attributes) -> bool:
        reply = self.exchange(server, lambda ident, secret: accounting_request(
            ident, secret, attributes), server["acct_port"])
        if reply is not None and reply[0] == ACCOUNTING_RESPONSE:
            self.count("accounting-responses")
            return True
        return False
