"""tools/routeros-sim as a client sees it: librouteros for the API, raw sockets for the wire."""

from __future__ import annotations

import hashlib
import io
import socket
import sys
import time
from pathlib import Path

import librouteros
import pytest
from librouteros.exceptions import FatalError, TrapError
from librouteros.query import Key
from pyrad import dictionary
from pyrad import packet as rpacket
from routeros_fixtures import (  # noqa: F401
    PASSWORD,
    USER,
    api,
    routeros_sim,
    start_sim,
    stop_sim,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from routeros_sim import protocol  # noqa: E402


class Raw:
    """A bare socket speaking sentences, to see exactly what the server sends."""

    def __init__(self, sim):
        self.sock = socket.create_connection((sim.host, sim.port), timeout=5)

    def send(self, *words: str, raw: bytes | None = None) -> None:
        self.sock.sendall(raw if raw is not None else protocol.encode_sentence(words))

    def read_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def sentence(self) -> list[str]:
        return protocol.read_sentence(self.read_exactly)

    def until_done(self) -> list[list[str]]:
        out = []
        while True:
            out.append(self.sentence())
            if out[-1][0] in ("!done", "!fatal"):
                return out

    def login(self) -> None:
        self.send("/login", f"=name={USER}", f"=password={PASSWORD}")
        assert self.until_done() == [["!done"]]


@pytest.fixture
def raw(routeros_sim):  # noqa: F811
    client = Raw(routeros_sim)
    yield client
    client.sock.close()


def test_wrong_password_is_refused(routeros_sim):  # noqa: F811
    with pytest.raises(TrapError, match=r"invalid user name or password \(6\)"):
        librouteros.connect(host=routeros_sim.host, port=routeros_sim.port, username=USER,
                            password="wrong", timeout=5)


def test_commands_before_login_are_fatal(raw):
    raw.send("/ip/hotspot/user/print")
    assert raw.sentence() == ["!fatal", "not logged in"]
    with pytest.raises((ConnectionError, OSError)):
        raw.sentence()


def test_system_resource_reports_the_version(api):  # noqa: F811
    """A router that sends !empty runs 7.18 or later: the simulator says so."""
    (resource,) = api("/system/resource/print")
    assert resource["version"] == "7.19.4 (stable)"
    with pytest.raises(TrapError, match="no such command"):
        tuple(api("/system/resource/set", version="8"))


def test_without_empty_the_version_is_older_than_7_18(tmp_path):
    sim = start_sim(tmp_path, "--no-empty")
    try:
        (resource,) = sim.rows("/system/resource")
        assert resource["version"] == "7.16.1 (stable)"
    finally:
        stop_sim(sim)


def test_add_set_remove_with_routeros_ids_and_values(api):  # noqa: F811
    profiles = api.path("ip", "hotspot", "user", "profile")
    first = profiles.add(name="etudiant", **{"rate-limit": "2000k/10000000",
                                             "session-timeout": "01:00:00"})
    second = profiles.add(name="personnel")
    assert (first, second) == ("*1", "*2")
    (row,) = [r for r in profiles if r["name"] == "etudiant"]
    assert row["rate-limit"] == "2M/10M"
    assert row["session-timeout"] == "1h"
    assert row["add-mac-cookie"] is True  # default filled on add, printed as true
    assert row["shared-users"] == 1
    profiles.update(**{".id": first, "transparent-proxy": "yes", "shared-users": "unlimited"})
    (row,) = [r for r in profiles if r[".id"] == first]
    assert row["transparent-proxy"] is True and row["shared-users"] == "unlimited"
    profiles.remove(first, second)
    assert [r["name"] for r in profiles] == ["default"]  # the built-in entry stays


def test_schema_rules_are_enforced(api):  # noqa: F811
    profiles = api.path("ip", "hotspot", "user", "profile")
    profiles.add(name="etudiant")
    with pytest.raises(TrapError, match="unknown parameter colour"):
        profiles.add(name="x", colour="blue")
    with pytest.raises(TrapError, match="already have profile with such name"):
        profiles.add(name="etudiant")
    with pytest.raises(TrapError, match="no such item"):
        profiles.remove("*99")
    with pytest.raises(TrapError, match="not specified"):
        api.path("ip", "hotspot").add(name="hs1")  # interface is required


def test_settings_menus_take_set_without_id(api):  # noqa: F811
    incoming = api.path("radius", "incoming")
    (before,) = incoming
    assert before == {"accept": False, "port": 3799}
    incoming.update(accept=True, port=1700)
    assert list(incoming) == [{"accept": True, "port": 1700}]
    with pytest.raises(TrapError, match="unknown parameter .id"):
        incoming.update(**{".id": "*1", "accept": False})
    with pytest.raises(TrapError, match="no such command"):
        incoming.add(accept=True)
    api.path("system", "identity").update(name="campus-gw")
    assert list(api.path("system", "identity")) == [{"name": "campus-gw"}]


def test_queries_proplist_and_count_only(api):  # noqa: F811
    users = api.path("ip", "hotspot", "user")
    for name, profile in (("alice", "a"), ("bob", "b"), ("carol", "a")):
        users.add(name=name, profile=profile)
    name, profile = Key("name"), Key("profile")
    rows = list(users.select(name).where(profile == "a"))
    assert rows == [{"name": "alice"}, {"name": "carol"}]
    rows = list(users.select(name).where(name.In("alice", "bob")))
    assert rows == [{"name": "alice"}, {"name": "bob"}]
    rows = list(users.select(name).where(profile != "a"))
    assert rows == [{"name": "bob"}]
    assert list(users("print", **{"count-only": True})) == [{"ret": 3}]
    rows = list(api.rawCmd("/ip/hotspot/user/print", "?profile=a", "?name=carol", "?#&!",
                           "=.proplist=name"))
    assert rows == [{"name": "alice"}, {"name": "bob"}]


def test_empty_print_sends_empty_then_done(raw):
    raw.login()
    raw.send("/ip/hotspot/walled-garden/print")
    assert raw.until_done() == [["!empty"], ["!done"]]


def test_tags_are_echoed_only_when_sent(raw):
    raw.login()
    raw.send("/system/identity/print", ".tag=7")
    assert raw.until_done() == [["!re", "=name=MikroTik", ".tag=7"], ["!done", ".tag=7"]]
    raw.send("/system/identity/print")
    assert raw.until_done() == [["!re", "=name=MikroTik"], ["!done"]]
    raw.send("/radius/add", "=bogus=1", ".tag=8")
    assert raw.until_done() == [["!trap", "=category=1", "=message=unknown parameter bogus",
                                 ".tag=8"], ["!done", ".tag=8"]]


def test_cancel_interrupts_a_follow(raw):
    raw.login()
    raw.send("/ip/hotspot/active/print", "=follow=", ".tag=f")
    raw.send("/cancel", "=tag=f", ".tag=c")
    assert raw.until_done() == [
        ["!trap", "=category=2", "=message=interrupted", ".tag=f"], ["!done", ".tag=f"]]
    assert raw.until_done() == [["!done", ".tag=c"]]


def test_every_length_form_over_the_wire(raw):
    raw.login()
    comment = "c" * 0x200010  # 4-byte length form
    words = [("/radius/add", 1), (f"=comment={'x' * 200}", 2), ("=secret=" + "s" * 0x5000, 3),
             (f"=comment={comment}", 4)]
    data = b""
    for word, size in words:
        encoded = protocol.encode_word(word)
        assert protocol.length_size(encoded[0]) == size
        data += encoded
    # The 5-byte form (0xF0 + 32-bit length) is legal for any length: send a short word so.
    short = b"=address=10.0.0.9"
    data += b"\xf0" + len(short).to_bytes(4, "big") + short + b"\x00"
    raw.send(raw=data)
    assert raw.until_done() == [["!done", "=ret=*1"]]
    raw.send("/radius/print", "=.proplist=address,comment")
    reply = raw.until_done()
    assert reply[0] == ["!re", "=address=10.0.0.9", f"=comment={comment}"]


def test_quit_ends_the_session(raw):
    raw.login()
    raw.send("/quit")
    assert raw.sentence() == ["!fatal", "session terminated on request"]


def test_hotspot_sessions_are_injected_and_disconnected(api, routeros_sim):  # noqa: F811
    with pytest.raises(TrapError, match="no such command"):
        tuple(api("/ip/hotspot/active/add", user="alice", address="10.5.0.2"))
    (ret,) = api("/captiva-sim/active/add", user="alice", address="10.5.0.2",
                 **{"mac-address": "02:00:00:00:00:01"})
    session = ret["ret"]
    (row,) = api.rawCmd("/ip/hotspot/active/print", "?=user=alice")
    assert row[".id"] == session and row["address"] == "10.5.0.2"
    routeros_sim.reset_stats()
    api.path("ip", "hotspot", "active").remove(session)
    assert list(api.path("ip", "hotspot", "active")) == []
    assert routeros_sim.stats()["writes"] == 1


def test_stats_count_sentences_and_writes(api, routeros_sim):  # noqa: F811
    routeros_sim.reset_stats()
    profiles = api.path("ip", "hotspot", "profile")
    profiles.add(name="captiva")
    list(profiles)
    with pytest.raises(TrapError):
        profiles.add(name="captiva")
    stats = routeros_sim.stats()
    # stats() logs in on its own connection: one more sentence, not a write.
    assert (stats["sentences"], stats["writes"], stats["prints"]) == (4, 2, 1)


def test_state_survives_a_restart(tmp_path):
    sim = start_sim(tmp_path)
    try:
        api = sim.connect()
        api.path("ip", "hotspot", "user", "profile").add(name="kept")
        tuple(api("/captiva-sim/active/add", user="alice", address="10.5.0.2"))
        api.close()
    finally:
        stop_sim(sim)
    sim = start_sim(tmp_path)
    try:
        names = [r["name"] for r in sim.rows("/ip/hotspot/user/profile")]
        assert names == ["default", "kept"]
        assert sim.rows("/ip/hotspot/active") == []  # a restart is a reboot: sessions gone
        api = sim.connect()
        assert api.path("ip", "hotspot", "user", "profile").add(name="next") == "*2"
        api.close()
    finally:
        stop_sim(sim)


def test_fatal_after_quit_is_a_librouteros_error(api):  # noqa: F811
    with pytest.raises(FatalError, match="session terminated"):
        tuple(api("/quit"))


# --------------------------------------------------------------------------------------------
# The RADIUS Disconnect/CoA listener (RFC 5176), as RouterOS: requests are coded here with
# pyrad and sent from a bound source address over a plain UDP socket.

COA_SECRET = "router-radius-secret-0123"
RADIUS_HOST = "127.0.0.1"  # the address of the router's /radius entry
OTHER_HOST = "127.0.0.2"  # loopback too, but not a /radius entry
COA_DICT = dictionary.Dictionary(io.StringIO(
    "ATTRIBUTE\tUser-Name\t1\tstring\nATTRIBUTE\tNAS-IP-Address\t4\tipaddr\n"
    "ATTRIBUTE\tFramed-IP-Address\t8\tipaddr\nATTRIBUTE\tAcct-Session-Id\t44\tstring\n"
    "ATTRIBUTE\tEvent-Timestamp\t55\tinteger\nATTRIBUTE\tError-Cause\t101\tinteger\n"))


def coa_request(code=rpacket.DisconnectRequest, secret=COA_SECRET, stamp_offset=0,
                stamp=True, ma=True, **attributes) -> tuple[rpacket.CoAPacket, bytes]:
    if stamp:
        attributes["Event_Timestamp"] = int(time.time()) + stamp_offset
    request = rpacket.CoAPacket(code=code, secret=secret.encode(), dict=COA_DICT,
                                message_authenticator=ma, **attributes)
    return request, request.RequestPacket()


def send_udp(sim, raw: bytes, source: str = RADIUS_HOST, wait: float = 1.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(wait)
        sock.sendto(raw, (sim.host, sim.coa_port))
        try:
            return sock.recv(4096)
        except TimeoutError:
            return None


def answer(request, raw_reply: bytes) -> rpacket.Packet:
    reply = request.CreateReply(packet=raw_reply)
    assert request.VerifyReply(reply, raw_reply), "answer not signed with the router's secret"
    return reply


@pytest.fixture
def coa_sim(routeros_sim):  # noqa: F811
    routeros_sim.accept_disconnects((RADIUS_HOST, COA_SECRET))
    routeros_sim.add_sessions([
        {"user": "alice", "address": "10.5.0.2", "session-id": "81a00001"},
        {"user": "bob", "address": "10.5.0.3", "session-id": "81a00002"},
    ])
    return routeros_sim


def active_users(sim) -> set[str]:
    return {row["user"] for row in sim.rows("/ip/hotspot/active")}


def test_disconnect_removes_the_hotspot_session(coa_sim):
    request, raw = coa_request(User_Name="alice", Acct_Session_Id="81a00001",
                               Framed_IP_Address="10.5.0.2")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((RADIUS_HOST, 0))
        sock.settimeout(2)
        sock.sendto(raw, (coa_sim.host, coa_sim.coa_port))
        assert answer(request, sock.recv(4096)).code == rpacket.DisconnectACK
        assert active_users(coa_sim) == {"bob"}  # seen through the API
        # A retransmission (same packet, same socket) gets the same ACK, not a 503 NAK.
        sock.sendto(raw, (coa_sim.host, coa_sim.coa_port))
        assert answer(request, sock.recv(4096)).code == rpacket.DisconnectACK
    stats = coa_sim.coa()
    assert (stats["removed"], stats["duplicates"]) == (1, 1)
    # The session id is matched, never printed (RouterOS prints none there).
    assert all("session-id" not in row for row in coa_sim.rows("/ip/hotspot/active"))


def test_requests_from_other_addresses_or_secrets_are_dropped_silently(coa_sim):
    _, raw = coa_request(User_Name="alice", Framed_IP_Address="10.5.0.2")
    assert send_udp(coa_sim, raw, source=OTHER_HOST, wait=0.5) is None
    _, wrong = coa_request(secret="not-the-secret", User_Name="alice")
    assert send_udp(coa_sim, wrong, wait=0.5) is None
    assert active_users(coa_sim) == {"alice", "bob"}
    stats = coa_sim.coa()
    assert (stats["dropped-source"], stats["dropped-auth"], stats["ack"]) == (1, 1, 0)
    # The same request from the /radius entry's address is honoured.
    request, raw = coa_request(User_Name="alice", Framed_IP_Address="10.5.0.2")
    assert answer(request, send_udp(coa_sim, raw)).code == rpacket.DisconnectACK


def test_nothing_is_accepted_while_incoming_is_off(coa_sim):
    coa_sim.command("/radius/incoming/set", accept="no")
    _, raw = coa_request(User_Name="alice")
    assert send_udp(coa_sim, raw, wait=0.5) is None
    assert active_users(coa_sim) == {"alice", "bob"}


def test_event_timestamp_is_required_within_the_window(coa_sim):
    for kwargs in ({"stamp": False}, {"stamp_offset": -400}, {"stamp_offset": 400}):
        _, raw = coa_request(User_Name="alice", **kwargs)
        assert send_udp(coa_sim, raw, wait=0.5) is None, kwargs
    assert coa_sim.coa()["dropped-timestamp"] == 3
    assert active_users(coa_sim) == {"alice", "bob"}


def test_a_forged_message_authenticator_is_dropped(coa_sim):
    _, raw = coa_request(User_Name="alice")
    data = bytearray(raw)
    pos = 20
    while data[pos] != 80:
        pos += data[pos + 1]
    data[pos + 2] ^= 0xFF  # Message-Authenticator altered: Request Authenticator redone
    data[4:20] = hashlib.md5(bytes(data[:4]) + bytes(16) + bytes(data[20:])  # noqa: S324
                             + COA_SECRET.encode()).digest()
    assert send_udp(coa_sim, bytes(data), wait=0.5) is None
    assert coa_sim.coa()["dropped-auth"] == 1


def test_nak_with_error_cause_when_it_cannot_act(coa_sim):
    cases = [
        ({"User_Name": "carol"}, 503),  # no such session
        ({"User_Name": "alice", "Acct_Session_Id": "81a00002"}, 503),  # every one must match
        ({}, 402),  # nothing names a session
        ({"User_Name": "alice", "NAS_IP_Address": "10.99.0.1"}, 403),  # not this router
    ]
    for attributes, cause in cases:
        request, raw = coa_request(**attributes)
        reply = answer(request, send_udp(coa_sim, raw))
        assert (reply.code, reply["Error-Cause"][0]) == (rpacket.DisconnectNAK, cause)
    assert active_users(coa_sim) == {"alice", "bob"}
    coa_sim.command("/captiva-sim/coa/set", mode="nak")
    request, raw = coa_request(User_Name="alice")
    reply = answer(request, send_udp(coa_sim, raw))
    assert (reply.code, reply["Error-Cause"][0]) == (rpacket.DisconnectNAK, 501)
    assert active_users(coa_sim) == {"alice", "bob"}


def test_coa_request_is_acknowledged_for_a_session(coa_sim):
    request, raw = coa_request(code=rpacket.CoARequest, User_Name="bob")
    assert answer(request, send_udp(coa_sim, raw)).code == rpacket.CoAACK
    request, raw = coa_request(code=rpacket.CoARequest, User_Name="nobody")
    assert answer(request, send_udp(coa_sim, raw)).code == rpacket.CoANAK
    assert active_users(coa_sim) == {"alice", "bob"}


def test_silent_mode_drops_everything(coa_sim):
    coa_sim.command("/captiva-sim/coa/set", mode="silent")
    _, raw = coa_request(User_Name="alice")
    assert send_udp(coa_sim, raw, wait=0.5) is None
    assert active_users(coa_sim) == {"alice", "bob"}
