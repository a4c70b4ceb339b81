"""captiva.runtime.coa: what a Disconnect- and a CoA-Request carry (RFC 5176), decoded with an
independent reading of the packet (RFC 2865 attribute layout, RFC 3579 Message-Authenticator)."""

from __future__ import annotations

import hashlib
import hmac

from captiva.runtime.coa import RouterChannel, Session

SECRET = "coa-unit-secret-0123"


def attributes(raw: bytes) -> dict[int, bytes]:
    out, pos = {}, 20
    while pos < len(raw):
        out[raw[pos]] = raw[pos + 2:pos + raw[pos + 1]]
        pos += raw[pos + 1]
    return out


def signed(raw: bytes) -> bool:
    """Both authenticators of a Disconnect- or CoA-Request (RFC 5176 3.5, RFC 3579 3.2):
    the Message-Authenticator is HMAC-MD5 over the packet with it and the Request
    Authenticator zeroed; the Request Authenticator is MD5 over the packet with that field
    zeroed, then the secret."""
    attrs, pos = attributes(raw), 20
    while raw[pos] != 80:
        pos += raw[pos + 1]
    header = raw[:4] + bytes(16)
    zeroed = header + raw[20:pos + 2] + bytes(16) + raw[pos + 18:]
    mac_ok = hmac.new(SECRET.encode(), zeroed, hashlib.md5).digest() == attrs[80]
    request = hashlib.md5(header + raw[20:] + SECRET.encode()).digest()  # noqa: S324
    return mac_ok and request == raw[4:20]


def build(change=()):
    channel = RouterChannel("192.0.2.1", 3799, SECRET)
    session = Session("P123456789012345", "81a00001", "10.5.60.11")
    return channel._build(7, session, change).RequestPacket()  # noqa: SLF001 - the coding


def test_a_coa_request_carries_the_new_session_timeout_and_names_the_session():
    raw = build((("Session-Timeout", 2700),))
    assert raw[0] == 43 and raw[1] == 7  # CoA-Request, its Identifier
    attrs = attributes(raw)
    assert int.from_bytes(attrs[27], "big") == 2700  # Session-Timeout
    assert attrs[1] == b"P123456789012345" and attrs[44] == b"81a00001"
    assert attrs[8] == bytes([10, 5, 60, 11])  # Framed-IP-Address
    assert 55 in attrs and 4 not in attrs  # Event-Timestamp, no NAS-IP-Address
    assert signed(raw)


def test_a_disconnect_request_carries_no_attribute_to_change():
    raw = build()
    assert raw[0] == 40  # Disconnect-Request
    assert 27 not in attributes(raw) and signed(raw)
