"""A minimal RADIUS codec for load generation (RFC 2865, 2866, 2869, 3579).

Only what a hotspot sends: Access-Request with PAP (User-Password) or CHAP, always signed with
a Message-Authenticator, and Accounting-Request. Per request only the identifier, the
authenticator and the password/signature are computed; the rest of each packet is prebuilt
bytes, so one core encodes tens of thousands of packets a second (pyrad spends most of its
time in its dictionary layer).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import struct

ACCESS_REQUEST = 1
ACCESS_ACCEPT = 2
ACCESS_REJECT = 3
ACCOUNTING_REQUEST = 4
ACCOUNTING_RESPONSE = 5

USER_NAME = 1
USER_PASSWORD = 2
CHAP_PASSWORD = 3
NAS_IP_ADDRESS = 4
SERVICE_TYPE = 6
FRAMED_IP_ADDRESS = 8
CALLED_STATION_ID = 30
CALLING_STATION_ID = 31
ACCT_STATUS_TYPE = 40
ACCT_INPUT_OCTETS = 42
ACCT_OUTPUT_OCTETS = 43
ACCT_SESSION_ID = 44
ACCT_SESSION_TIME = 46
ACCT_INPUT_GIGAWORDS = 52
ACCT_OUTPUT_GIGAWORDS = 53
EVENT_TIMESTAMP = 55
CHAP_CHALLENGE = 60
NAS_PORT_TYPE = 61
MESSAGE_AUTHENTICATOR = 80

STATUS_START = 1
STATUS_STOP = 2
STATUS_INTERIM = 3
WIRELESS_80211 = 19

_HEADER = struct.Struct("!BBH16s")


def attribute(kind: int, value: bytes) -> bytes:
    if len(value) > 253:
        raise ValueError(f"RADIUS attribute {kind}: {len(value)} bytes (at most 253)")
    return bytes((kind, len(value) + 2)) + value


def integer(kind: int, value: int) -> bytes:
    return attribute(kind, struct.pack("!I", value))


def address(kind: int, value: str) -> bytes:
    return attribute(kind, socket.inet_aton(value))


def encrypt_password(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """RFC 2865 5.2: the password padded to 16-byte blocks, each XORed with an MD5 chain."""
    padded = password + bytes(-len(password) % 16 or (16 if not password else 0))
    out = bytearray()
    previous = authenticator
    for start in range(0, len(padded), 16):
        key = hashlib.md5(secret + previous, usedforsecurity=False).digest()
        block = bytes(a ^ b for a, b in zip(padded[start:start + 16], key, strict=True))
        out += block
        previous = block
    return bytes(out)


def access_request(identifier: int, secret: bytes, static: bytes, password: bytes, *,
                   chap: bool = False) -> tuple[bytes, bytes]:
    """An Access-Request: ``static`` attributes (User-Name, NAS...) plus the password and a
    Message-Authenticator. Returns (packet, request authenticator)."""
    authenticator = os.urandom(16)
    if chap:
        chap_id = authenticator[:1]
        # CHAP (RFC 1994) is MD5 by definition; the Request Authenticator is the challenge.
        digest = hashlib.md5(chap_id + password + authenticator, usedforsecurity=False).digest()
        secret_part = attribute(CHAP_PASSWORD, chap_id + digest)
    else:
        secret_part = attribute(USER_PASSWORD, encrypt_password(password, secret, authenticator))
    attributes = static + secret_part + bytes((MESSAGE_AUTHENTICATOR, 18)) + bytes(16)
    length = 20 + len(attributes)
    unsigned = _HEADER.pack(ACCESS_REQUEST, identifier, length, authenticator) + attributes
    signature = hmac.digest(secret, unsigned, "md5")
    return unsigned[:-16] + signature, authenticator


def accounting_request(identifier: int, secret: bytes, attributes: bytes) -> tuple[bytes, bytes]:
    """An Accounting-Request (RFC 2866 3: the authenticator is an MD5 over the packet)."""
    length = 20 + len(attributes)
    head = struct.pack("!BBH", ACCOUNTING_REQUEST, identifier, length)
    authenticator = hashlib.md5(head + bytes(16) + attributes + secret,
                                usedforsecurity=False).digest()
    return head + authenticator + attributes, authenticator


def reply_valid(reply: bytes, request_authenticator: bytes, secret: bytes) -> bool:
    """The Response Authenticator of a reply (RFC 2865 3) matches its request."""
    if len(reply) < 20:
        return False
    length = struct.unpack_from("!H", reply, 2)[0]
    expected = hashlib.md5(reply[:4] + request_authenticator + reply[20:length] + secret,
                           usedforsecurity=False).digest()
    return hmac.compare_digest(expected, reply[4:20])


def decode_attributes(data: bytes) -> list[tuple[int, bytes]]:
    """The attributes of a packet, in order (for tests and debugging)."""
    length = struct.unpack_from("!H", data, 2)[0]
    out, offset = [], 20
    while offset < length:
        kind, size = data[offset], data[offset + 1]
        out.append((kind, data[offset + 2:offset + size]))
        offset += size
    return out
